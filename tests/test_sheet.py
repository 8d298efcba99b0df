"""Sample-sheet validation: bad sheets fail before any job, naming line and column."""

from pathlib import Path

import pytest

from vidcurate.errors import SheetError
from vidcurate.sheet import load_sheet, source_extension, source_kind

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


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ("video_id|source\na|videos/a.mp4\n", r"missing column\(s\) split"),
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
