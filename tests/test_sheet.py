"""Sample sheet: bad sheets fail before any job, naming line and column; reserved column
names are refused; what build_dataset carries from the sheet (URLs redacted, file size)."""

import json
from pathlib import Path

import pandas as pd
import pytest
import yaml

from vidcurate.archives import member_ids
from vidcurate.columns import (
    CAPTION_METADATA_COLUMNS,
    CLIP_COLUMNS,
    CLIP_METADATA_COLUMNS,
    VIDEO_COLUMNS,
)
from vidcurate.dataset import build_dataset
from vidcurate.errors import SheetError
from vidcurate.ids import MAX_ID_LENGTH, id_problem, safe_id
from vidcurate.sheet import DERIVED_COLUMNS, RESERVED_COLUMNS, fill_splits, load_sheet
from vidcurate.sources import source_extension, source_kind
from vidcurate.splits import assign_split
from vidcurate.web import redact_source

REPO = Path(__file__).resolve().parents[1]
SCHEMA = REPO / "config" / "schemas" / "samples.schema.yaml"


def write_sheet(tmp_path, text):
    (tmp_path / "videos").mkdir(exist_ok=True)
    (tmp_path / "videos" / "a.mp4").write_bytes(b"x")
    (tmp_path / "videos" / "b.MOV").write_bytes(b"x")
    sheet = tmp_path / "sheet.tsv"
    sheet.write_text(text.replace("|", "\t"))
    return sheet


def test_good_sheet(tmp_path):
    sheet = write_sheet(
        tmp_path,
        "video_id|source|split|mouse|dose\n"
        "a1|videos/a.mp4|train|m3|0.5\n"
        f"b.2|{tmp_path}/videos/b.MOV|val|m4|\n"
        "c-3|https://example.org/v/clip.webm?x=1|test|m5|1\n"
        "d_4|https://www.youtube.com/watch?v=abc|train|m6|2\n",
    )
    table = load_sheet(sheet, SCHEMA)
    assert list(table.index) == ["a1", "b.2", "c-3", "d_4"]
    assert list(table["source_kind"]) == ["local", "local", "http", "ytdlp"]
    assert list(table["ext"]) == ["mp4", "mov", "webm", "mp4"]
    assert table.loc["a1", "source_path"] == str((tmp_path / "videos" / "a.mp4").resolve())
    assert table.loc["a1", "mouse"] == "m3" and table.loc["b.2", "dose"] == ""


def test_sheet_without_split_column_gets_splits_by_video(tmp_path):
    sheet = write_sheet(tmp_path, "video_id|source\na1|videos/a.mp4\nb2|videos/b.MOV\n")
    table = fill_splits(load_sheet(sheet, SCHEMA), 0, {"train": 0.8, "val": 0.1, "test": 0.1})
    assert list(table["split"]) == [
        assign_split("a1", 0, {"train": 0.8, "val": 0.1, "test": 0.1}),
        assign_split("b2", 0, {"train": 0.8, "val": 0.1, "test": 0.1}),
    ]
    assert set(table["split"]) <= {"train", "val", "test"}
    assert list(table["split_source"]) == ["assigned", "assigned"]


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ("video_id|split\na|train\n", r"missing column\(s\) source"),
        (
            "video_id|source|split\na|videos/a.mp4|train\na|videos/b.MOV|val\n",
            r"line 3, column 'video_id': 'a' repeats line 2",
        ),
        ("video_id|source|split\n../x|videos/a.mp4|train\n", r"line 2, column 'video_id': '../x'"),
        ("video_id|source|split\n.hidden|videos/a.mp4|train\n", r"line 2, column 'video_id'"),
        (
            "video_id|source|split\na|videos/a.mp4|training\n",
            r"line 2, column 'split': 'training' is not one of train, val, test",
        ),
        (
            "video_id|source|split\na|videos/a.mp4|train\nb|videos/nope.mp4|val\n",
            r"line 3, column 'source': local file .*nope.mp4 does not exist",
        ),
        ("video_id|source|split\na||train\n", r"line 2, column 'source': is empty"),
    ],
)
def test_bad_sheets(tmp_path, rows, message):
    with pytest.raises(SheetError, match=message):
        load_sheet(write_sheet(tmp_path, rows), SCHEMA)


def test_missing_sheet(tmp_path):
    with pytest.raises(SheetError, match="does not exist"):
        load_sheet(tmp_path / "nope.tsv", SCHEMA)


@pytest.mark.parametrize(
    ("source", "kind", "ext"),
    [
        ("/data/rig1/m3.mp4", "local", "mp4"),
        ("rel/path/video.MKV", "local", "mkv"),
        ("file:///data/x.avi", "local", "avi"),
        ("http://127.0.0.1:8000/a/b.mp4", "http", "mp4"),
        ("https://host/v.webm?token=1", "http", "webm"),
        ("https://vimeo.com/12345", "ytdlp", "mp4"),
        ("https://host/page.html", "ytdlp", "mp4"),
    ],
)
def test_source_classification(source, kind, ext):
    assert source_kind(source) == kind
    assert source_extension(source, kind) == ext


# --- sheet columns the workflow writes itself ----------------------------------


@pytest.mark.parametrize(
    ("column", "where"),
    [
        ("clip", "metadata.parquet, windows.parquet"),
        ("start_s", "metadata.parquet, windows.parquet"),
        ("status", "videos.parquet, windows.parquet"),
        ("reason", "metadata.parquet, videos.parquet, windows.parquet"),
        ("n_clips", "videos.parquet"),
        ("size_bytes", "videos.parquet"),
        ("window", "metadata.parquet, windows.parquet"),
        ("fps", "metadata.parquet"),
        ("source_path", "derived from source"),
        ("ext", "derived from source"),
    ],
)
def test_reserved_column_is_rejected(tmp_path, column, where):
    sheet = write_sheet(tmp_path, f"video_id|source|split|{column}\na|videos/a.mp4|train|x\n")
    with pytest.raises(SheetError) as caught:
        load_sheet(sheet, SCHEMA)
    assert str(caught.value) == (
        f"{sheet}: column(s) {column} are reserved, the workflow writes its own "
        f"'{column}' ({where}); rename them"
    )


def test_every_reserved_column_is_named(tmp_path):
    sheet = write_sheet(
        tmp_path, "video_id|source|split|mouse|clip|n_windows\na|videos/a.mp4|train|m|1|2\n"
    )
    with pytest.raises(SheetError) as caught:
        load_sheet(sheet, SCHEMA)
    assert str(caught.value) == (
        f"{sheet}: column(s) clip, n_windows are reserved, the workflow writes its own "
        "'clip' (metadata.parquet, windows.parquet) and 'n_windows' (videos.parquet); "
        "rename them"
    )


def test_reserved_columns_are_the_tables_columns():
    written = {
        *CLIP_METADATA_COLUMNS,
        *CAPTION_METADATA_COLUMNS,
        *VIDEO_COLUMNS,
        *CLIP_COLUMNS,
        *DERIVED_COLUMNS,
    }
    assert set(RESERVED_COLUMNS) == written - {"video_id", "split"}
    # every column the sheet's schema defines (the per-video overrides) stays allowed
    columns = yaml.safe_load(SCHEMA.read_text())["properties"]
    assert {"tracks", "scenes", "deface", "motion", "arena"} <= set(columns)
    assert not set(columns) & set(RESERVED_COLUMNS)


# --- what build_dataset carries from the sheet ----------------------------------

PROBE = {
    "video_id": "web",
    "duration_s": 2.04,
    "width": 640,
    "height": 360,
    "avg_frame_rate": "25/1",
    "codec": "h264",
    "size_bytes": 123456,
    "color_primaries": "bt709",
    "color_transfer": "bt709",
    "hdr": False,
    "content_sha256": "0" * 64,
}


def fake_stage_outputs(tmp_path, video_id="web"):
    """One video's clip table (a clip and a dropped window), clip, keyframe and probe."""
    clips, keys = tmp_path / "clips", tmp_path / "keyframes"
    clips.mkdir()
    keys.mkdir()
    (clips / "0001.mp4").write_bytes(b"mp4")
    (keys / "0001.jpg").write_bytes(b"jpg")
    table = pd.DataFrame(
        [
            [
                video_id,
                1,
                0.0,
                1.0,
                0,
                "clip",
                "",
                "0001",
                25,
                640,
                360,
                "0001.mp4",
                "0001.jpg",
                "",
            ],
            [video_id, 2, 1.0, 2.0, -1, "dropped", "flash", "", 0, 0, 0, "", "", ""],
        ],
        columns=CLIP_COLUMNS[:14],
    ).reindex(columns=CLIP_COLUMNS)  # no motion scores: a video without motion analysis
    table.to_csv(tmp_path / "clips.tsv", sep="\t", index=False)
    (tmp_path / "probe.json").write_text(json.dumps({**PROBE, "video_id": video_id}))
    curated = pd.DataFrame(
        [{"video_id": video_id, "clip": "0001", "start_s": 0.0, "end_s": 1.0, "split": "x"}]
    ).assign(keep=True, reason="", duplicate_of="", sharpness=50.0, phash_key="0" * 16)
    curated.to_parquet(tmp_path / "curated.parquet")
    return {
        "curated_parquet": str(tmp_path / "curated.parquet"),
        "clip_tables": {video_id: str(tmp_path / "clips.tsv")},
        "clip_dirs": {video_id: str(clips)},
        "keyframe_dirs": {video_id: str(keys)},
        "probes": {video_id: str(tmp_path / "probe.json")},
    }


def run_build_dataset(tmp_path, sheet_row):
    out = tmp_path / "dataset"
    build_dataset(
        [sheet_row],
        **fake_stage_outputs(tmp_path, sheet_row["video_id"]),
        fps=25,
        out_clips=str(out / "clips"),
        out_keyframes=str(out / "keyframes"),
        out_metadata=str(out / "metadata.parquet"),
        out_windows=str(out / "windows.parquet"),
        out_videos=str(out / "videos.parquet"),
    )
    return out


def test_signed_url_query_never_reaches_the_dataset(tmp_path):
    row = {
        "video_id": "web",
        "source": "https://user:hunter2@host/v.mp4?X-Amz-Signature=secret#t=secret",
        "split": "train",
        "lab": "rig1",
    }
    out = run_build_dataset(tmp_path, row)
    tables = sorted(out.glob("*.parquet"))
    assert [t.name for t in tables] == ["metadata.parquet", "videos.parquet", "windows.parquet"]
    for path in tables:
        assert b"secret" not in path.read_bytes() and b"hunter2" not in path.read_bytes()
        text = pd.read_parquet(path).astype(str).to_csv()
        assert "secret" not in text and "hunter2" not in text, path.name
    meta = pd.read_parquet(out / "metadata.parquet")
    videos = pd.read_parquet(out / "videos.parquet")
    assert list(meta.source) == ["https://host/v.mp4"]
    assert list(videos.source) == ["https://host/v.mp4"]
    assert list(meta.lab) == ["rig1"]
    assert row["source"].endswith("#t=secret")  # the caller's row is left as it was


def test_videos_table_carries_the_probed_file_size(tmp_path):
    row = {"video_id": "rig", "source": "/data/rig#1.mp4", "split": "val"}
    out = run_build_dataset(tmp_path, row)
    videos = pd.read_parquet(out / "videos.parquet")
    assert list(videos.columns) == ["video_id", "source", "split", *VIDEO_COLUMNS]
    assert videos.to_dict("records") == [
        {
            **row,
            "n_windows": 2,
            "n_scored": 1,
            "n_clips": 1,
            "status": "ok",
            "rejected_at": "",
            "reason": "",
            **{k: v for k, v in PROBE.items() if k != "video_id"},
        }
    ]
    assert videos.size_bytes.dtype == "int64"
    meta = pd.read_parquet(out / "metadata.parquet")
    assert list(meta.source) == ["/data/rig#1.mp4"]  # a local path is not a URL
    assert (out / "clips" / "val" / "rig" / "0001.mp4").read_bytes() == b"mp4"


@pytest.mark.parametrize(
    ("source", "written"),
    [
        ("https://user:pw@host:8443/a/v.mp4?sig=1&e=2#frag", "https://host:8443/a/v.mp4"),
        ("http://[::1]:8000/v.webm?token=x", "http://[::1]:8000/v.webm"),
        ("https://www.youtube.com/watch?v=abc", "https://www.youtube.com/watch"),
        ("file:///data/x.avi?x=1", "file:///data/x.avi"),
        ("/data/rig1/m3?.mp4", "/data/rig1/m3?.mp4"),
        ("videos/a#1.mp4", "videos/a#1.mp4"),
        ("C:\\videos\\a.mp4", "C:\\videos\\a.mp4"),
    ],
)
def test_redact_source(source, written):
    assert redact_source(source) == written


@pytest.mark.parametrize(
    ("video_id", "problem"),
    [
        ("rec_" + "a" * 24, "ends in 'a' repeated 20 or more times"),
        ("cam" + "-b1" * 20, "ends in '-b1' repeated 20 or more times"),
        ("x" * 121, "has 121 characters, more than 120"),
    ],
)
def test_ids_snakemake_cannot_plan_are_refused_naming_line_and_column(tmp_path, video_id, problem):
    video = tmp_path / "a.mp4"
    video.write_bytes(b"x")
    sheet = tmp_path / "videos.tsv"
    sheet.write_text(f"video_id\tsource\nok\ta.mp4\n{video_id}\ta.mp4\n")
    with pytest.raises(SheetError) as err:
        load_sheet(sheet, SCHEMA)
    assert f"{sheet} line 3, column 'video_id': " in str(err.value)
    assert problem in str(err.value)


@pytest.mark.parametrize(
    "name",
    ["rec_" + "a" * 24, "x" * 300, "ab" * 40, "take_" + "1" * 30 + "_" + "2" * 30, "___", "é" * 30],
)
def test_ids_made_from_names_always_pass(name):
    made = safe_id(name)
    assert id_problem(made) == "", made
    (member,) = member_ids("pack." + "a" * 18, [f"{name}.mp4"])
    assert member.startswith("pack." + "a" * 18 + ".")
    assert id_problem(member, max_length=2 * MAX_ID_LENGTH + 1) == "", member
