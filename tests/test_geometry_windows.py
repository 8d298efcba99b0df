"""Window math, scaling math and per-video skip reasons."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from vidcurate.clips import ClipSettings
from vidcurate.columns import read_windows, start_frame, windows_frame
from vidcurate.geometry import clip_size, displayed_size
from vidcurate.settings import frames_per_clip
from vidcurate.windows import WindowSettings, contiguous_windows, video_skip_reason, windows_stage


@pytest.mark.parametrize(
    ("size", "expected"),
    [
        ((1280, 720), (640, 360)),
        ((1920, 1080), (640, 360)),
        ((640, 480), (480, 360)),
        ((480, 640), (360, 480)),  # portrait keeps its orientation
        ((340, 256), (340, 256)),  # already small: never upscaled
        ((176, 144), (176, 144)),
        ((321, 241), (320, 240)),  # odd sides become even without growing
        ((720, 404), (642, 360)),
        ((1, 1), (0, 0)),
    ],
)
def test_clip_size(size, expected):
    assert clip_size(*size, max_short_side=360) == expected


@pytest.mark.parametrize("size", [(1280, 720), (853, 480), (721, 361), (4096, 2160), (362, 9000)])
def test_clip_size_properties(size):
    width, height = clip_size(*size, max_short_side=360)
    assert width % 2 == 0 and height % 2 == 0
    assert min(width, height) <= 360
    assert width <= size[0] and height <= size[1]
    # aspect kept within the one-pixel rounding of each side
    assert abs(width / height - size[0] / size[1]) <= 2 / min(width, height)


def test_clip_size_rejects_nonsense():
    with pytest.raises(ValueError, match="positive"):
        clip_size(0, 10, 360)


@pytest.mark.parametrize(
    ("rotation", "expected"),
    [(0, (1280, 720)), (-180, (1280, 720)), (90, (720, 1280)), (-90, (720, 1280))],
)
def test_displayed_size(rotation, expected):
    assert displayed_size(1280, 720, rotation) == expected


def test_contiguous_windows_cover_whole_seconds():
    windows = contiguous_windows(77.66589, 1.0)
    assert len(windows) == 77
    assert (windows[0].start_s, windows[0].end_s) == (0.0, 1.0)
    assert (windows[-1].start_s, windows[-1].end_s) == (76.0, 77.0)
    assert [w.window for w in windows] == list(range(1, 78))


def test_contiguous_windows_edges():
    assert len(contiguous_windows(3.0, 1.0)) == 3  # exactly three seconds: three clips
    assert len(contiguous_windows(2.9999999, 1.0)) == 3  # float noise is not a lost clip
    assert contiguous_windows(0.96, 1.0) == []
    assert len(contiguous_windows(5.0, 2.0)) == 2


def test_frames_per_clip():
    assert frames_per_clip(1.0, 25) == 25
    assert frames_per_clip(2.0, 30) == 60
    with pytest.raises(ValueError, match="whole number"):
        frames_per_clip(0.3, 25)
    with pytest.raises(ValueError, match="whole number"):
        ClipSettings(seconds=0.5, fps=25)


def test_start_frame_maps_seconds_to_output_frames():
    assert start_frame(0.0, 25) == 0
    assert start_frame(1.0, 25) == 25
    assert start_frame(76.0, 25) == 1900
    assert start_frame(0.1 * 3, 10) == 3  # 0.30000000000000004 s is still frame 3


def test_skip_reasons():
    settings = WindowSettings()
    ok = {"width": 640, "height": 480, "duration_s": 3.0}
    assert video_skip_reason(ok, settings) == ""
    assert video_skip_reason({**ok, "width": 1, "height": 1}, settings) == "too_small"
    assert video_skip_reason({**ok, "duration_s": 0.3}, settings) == "too_short"
    assert video_skip_reason({**ok, "duration_s": 1.0}, settings) == ""


def test_windows_table_roundtrip(tmp_path):
    table = windows_frame(contiguous_windows(3.2, 1.0), dropped={2: "flash"})
    path = tmp_path / "w.tsv"
    table.to_csv(path, sep="\t", index=False)
    back = read_windows(path)
    assert list(back["keep"]) == [True, False, True]
    assert list(back["reason"]) == ["", "flash", ""]
    pd.testing.assert_series_equal(back["start_s"], table["start_s"])


def test_an_arena_too_small_for_a_clip_drops_the_video_as_too_small(tmp_path):
    """An arena of size_cm [1000, 1] gave 512x2 clips with status ok: clips are cut from
    the arena, so its size decides, as the frame's does for other videos."""

    probe = {"video_id": "rig", "width": 640, "height": 480, "duration_s": 3.0}
    (tmp_path / "probe.json").write_text(json.dumps(probe))
    out = str(tmp_path / "w.tsv")
    table = windows_stage(str(tmp_path / "probe.json"), WindowSettings(), out, arena_size=(512, 2))
    assert table[["keep", "reason"]].values.tolist() == [[False, "too_small"]]
    table = windows_stage(
        str(tmp_path / "probe.json"), WindowSettings(), out, arena_size=(512, 300)
    )
    assert table["keep"].tolist() == [True] * 3
