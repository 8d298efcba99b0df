"""The README's install and quick start, run exactly as written in a fresh clone: the
commands of its code blocks, in order, in one shell, and the output it promises."""

import os
import re
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest
from test_deploy import git

from conftest import REPO, SNAKEMAKE
from vidcurate.deploy import ProjectError, new_project


def section(text: str, heading: str) -> str:
    start = text.index(f"\n## {heading}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else None]


def code_blocks(text: str, language: str) -> list[str]:
    """The fenced blocks of ``language`` ("" for plain ones), in order."""
    blocks, current, lang = [], None, None
    for line in text.splitlines(keepends=True):
        if current is None and line.startswith("```"):
            current, lang = [], line[3:].strip()
        elif current is not None and line.rstrip() == "```":
            if lang == language:
                blocks.append("".join(current))
            current = None
        elif current is not None:
            current.append(line)
    return blocks


def fresh_clone(root: Path) -> Path:
    """This working tree as a user's clone (what git tracks or would track), its
    virtual environment the one this suite runs in (installing 6.9 GB again would only
    test pip)."""
    clone = root / "vidcurate"
    listed = git(REPO, "ls-files", "-z", "--cached", "--others", "--exclude-standard")
    for name in filter(None, listed.split("\0")):
        if (REPO / name).is_file():
            (clone / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, clone / name)
    git(clone, "init", "-q")
    git(clone, "add", "-A")
    git(clone, "commit", "-qm", "clone")
    (clone / ".venv").symlink_to(REPO / ".venv")
    # installed as make setup leaves it: its stamp newer than the clone's pyproject.toml
    stamp = REPO / ".venv" / ".installed"
    assert stamp.is_file(), "run `make setup` first"
    os.utime(clone / "pyproject.toml", (stamp.stat().st_mtime - 1,) * 2)
    return clone


@pytest.mark.workflow
def test_readme_quick_start_runs_as_written(tmp_path):
    readme = (REPO / "README.md").read_text()
    install, quick = section(readme, "Install"), section(readme, "Quick start")
    commands = code_blocks(install, "bash") + code_blocks(quick, "bash")
    assert any("make project" in block for block in commands)
    (expected_summary,) = code_blocks(quick, "")
    planned = int(re.search(r"`total (\d+)`", quick).group(1))

    clone = fresh_clone(tmp_path)
    script = "set -euo pipefail\n" + "".join(commands)
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    proc = subprocess.run(
        ["bash", "-c", script], cwd=clone, env=env, capture_output=True, text=True, timeout=1200
    )
    printed = proc.stdout + proc.stderr
    assert proc.returncode == 0, printed[-6000:]

    project = tmp_path / "myproject"
    # the dry run's job table, as the README says
    assert re.search(rf"^total\s+{planned}$", printed, re.M), printed[-3000:]
    # the run ends with the summary table the README shows, line for line
    assert expected_summary.strip() in printed, printed[-3000:]
    # and that table is the dataset's: kept clips per video
    metadata = pd.read_parquet(project / "results/dataset/metadata.parquet")
    kept = metadata[metadata["keep"]].groupby("video_id").size().to_dict()
    checked = set()
    for line in expected_summary.splitlines():
        fields = line.split()
        if fields and fields[0] in kept:
            # video, split, status, [stage,] kept, ...: the first number is the kept clips
            printed_kept = next(int(f) for f in fields[2:] if f.isdigit())
            assert printed_kept == kept[fields[0]], line
            checked.add(fields[0])
    assert checked == set(kept)
    assert sum(kept.values()) == len(list((project / "results/dataset/clips").rglob("*.mp4")))
    # the report, one HTML file, opening on the run's numbers
    report = (project / "report.html").read_text()
    videos = len(pd.read_parquet(project / "results/dataset/videos.parquet"))
    assert f"{videos} videos in, " in report and "No run numbers yet" not in report
    # a project deployed from a clone lints clean (a path relative to workflow/)
    lint = subprocess.run(
        [SNAKEMAKE, "--lint"], cwd=project, capture_output=True, text=True, timeout=300
    )
    assert lint.returncode == 0, lint.stdout + lint.stderr
    # a quiet console: no per-job blocks, no library chatter
    for noise in ("Shell command:", "loading annotations into memory", "Running on CPU", " INFO "):
        assert noise not in printed


def test_a_project_points_at_its_clone(tmp_path):
    """What make project writes: the clone's config (its example videos with their
    licences) and profiles, and a module whose Snakefile is the clone's, by a path
    relative to workflow/; a folder in use is refused."""
    project = tmp_path / "labs" / "myproject"
    snakefile = new_project(REPO, project)
    (declared,) = re.findall(r'snakefile:\s*\n\s*"([^"]+)"', snakefile.read_text())
    assert not Path(declared).is_absolute()
    assert (snakefile.parent / declared).resolve() == (REPO / "Snakefile").resolve()
    assert "use rule * from vidcurate" in snakefile.read_text()
    sheet = pd.read_csv(project / "config/videos.tsv", sep="\t")
    assert len(sheet) == 3  # the README's three example videos
    for source in sheet["source"]:
        assert (project / "config" / source).read_bytes() == (REPO / "config" / source).read_bytes()
    for copied in ("config/examples/PROVENANCE.md", "profiles/slurm/profile.yaml"):
        assert (project / copied).read_bytes() == (REPO / copied).read_bytes()
    with pytest.raises(ProjectError, match="already exists and is not empty"):
        new_project(REPO, project)
    with pytest.raises(ProjectError, match="is not a vidcurate clone"):
        new_project(tmp_path, tmp_path / "other")
