"""The report's figures on small tables built here: every axis says what it measures and
in what unit, counts get whole-number ticks, a score no clip has is left out with a note,
every window of a video is its own mark, box labels are readable, and the same tables
give the same bytes."""

from __future__ import annotations

import matplotlib
import numpy as np
import pandas as pd
import pytest
from PIL import Image

from vidcurate import figures
from vidcurate.reasons import CurationSettings
from vidcurate.summary import funnel, run_summary, video_counts

matplotlib.use("Agg")

SETTINGS = CurationSettings(min_sharpness=5.0, max_text_area=0.05, dedup_max_hamming=2)


@pytest.fixture
def drawn(monkeypatch):
    """The figures the functions would save, kept open for the test to read."""
    kept = []
    monkeypatch.setattr(figures, "_save", lambda figure, out: kept.append(figure))
    yield kept
    for figure in kept:
        figures._pyplot().close(figure)


def metadata() -> pd.DataFrame:
    rows = []
    for i in range(6):
        reason = ["", "", "text", "blurry,text", "duplicate", ""][i]
        rows.append(
            {
                "video_id": "v1" if i < 4 else "v2",
                "split": "train" if i < 4 else "val",
                "clip": f"{i + 1:04d}" if not reason else "",
                "source_clip": f"{i + 1:04d}",
                "keep": not reason,
                "reason": reason,
                "start_s": float(i),
                "end_s": float(i + 1),
                "keyframe_path": f"keyframes/{i}.jpg",
                "sharpness": 3.0 + 10 * i,
                "text_area": 0.01 * i,
                "faces_max": 0,  # measured, the same for every clip
                "track_boxes": i % 3,
                "motion_mean_px_s": 1.5 * i,
                "motion_mean_cm_s": np.nan,  # no arena: never measured
                "action": "walking" if i % 2 else "",
            }
        )
    return pd.DataFrame(rows)


def labels_of(axis) -> list[str]:
    return [t.get_text() for t in axis.get_xticklabels() + axis.get_yticklabels()]


def test_histograms_label_every_axis_and_leave_out_what_no_clip_has(drawn):
    figures.score_histograms(metadata(), SETTINGS, "unused.png")
    (figure,) = drawn
    shown = [axis for axis in figure.axes if axis.get_visible() and axis.axison]
    titles = [axis.get_title() for axis in shown]
    assert not any("motion_mean_cm_s" in title for title in titles)
    notes = [t.get_text() for t in figure.texts]
    assert any("motion_mean_cm_s" in note and "not measured" in note for note in notes)
    assert len(shown) == 5  # sharpness, text_area, faces_max, track_boxes, motion_mean_px_s
    for axis in shown:
        assert axis.get_ylabel() == "clips"
        assert "(" in axis.get_xlabel(), axis.get_title()  # a quantity and its unit
        for tick in axis.get_yticks():
            assert float(tick).is_integer(), (axis.get_title(), tick)
    faces = next(axis for axis in shown if axis.get_title().startswith("faces_max"))
    assert "all 0" in faces.get_title()
    assert [float(t) for t in faces.get_xticks()] == [0.0]
    boxes = next(axis for axis in shown if axis.get_title().startswith("track_boxes"))
    assert [float(t) for t in boxes.get_xticks()] == [0.0, 1.0, 2.0]


def test_reasons_show_counts_with_whole_ticks_and_the_rule(drawn):
    figures.reasons_figure(metadata(), SETTINGS, "unused.png")
    (figure,) = drawn
    (axis,) = figure.axes
    names = [t.get_text() for t in axis.get_yticklabels()]
    # only the reasons that dropped a clip, each with the rule behind it
    assert names == [
        "blurry: sharpness < 5",
        "text: text_area > 0.05",
        "duplicate: pHash within 2 bits",
    ]
    assert all(float(t).is_integer() for t in axis.get_xticks())
    assert sorted(t.get_text() for t in axis.texts) == ["1", "1", "2"]


def test_funnel_panels_count_in_whole_units(drawn):
    meta = metadata()
    windows = pd.DataFrame(
        {
            "video_id": ["v1"] * 5 + ["v2"] * 3,
            "status": ["clip"] * 4 + ["dropped"] + ["clip", "clip", "dropped"],
            "reason": [""] * 4 + ["scene_boundary", "", "", "short_scene"],
        }
    )
    videos = pd.DataFrame(
        {
            "video_id": ["v1", "v2"],
            "split": ["train", "val"],
            "status": ["ok", "ok"],
            "rejected_at": ["", ""],
            "reason": ["", ""],
            "duration_s": [5.0, 3.0],
        }
    )
    figures.funnel_figure(funnel(run_summary(videos, meta, windows)), "unused.png")
    (figure,) = drawn
    units = [axis.get_xlabel() for axis in figure.axes]
    assert units == ["videos", "windows", "clips"]
    windows_axis = figure.axes[1]
    assert [t.get_text() for t in windows_axis.get_yticklabels()] == [
        "planned",
        "dropped",
        "dropped: scene_boundary",
        "dropped: short_scene",
    ]
    assert [t.get_text() for t in windows_axis.texts] == ["8", "2", "1", "1"]
    for axis in figure.axes:
        assert all(float(t).is_integer() for t in axis.get_xticks())


def test_every_window_is_its_own_mark_and_box_labels_are_readable(drawn, tmp_path):
    meta = metadata()
    for i in range(6):
        (tmp_path / "keyframes").mkdir(exist_ok=True)
        Image.new("RGB", (320, 180), (40 * i, 80, 120)).save(tmp_path / f"keyframes/{i}.jpg")
    clips = meta[meta.video_id == "v1"]
    # four adjacent clips (two kept side by side) and a window dropped at a shot boundary
    windows = pd.DataFrame(
        {
            "video_id": "v1",
            "start_s": [0.0, 1.0, 2.0, 3.0, 4.0],
            "end_s": [1.0, 2.0, 3.0, 4.0, 5.0],
            "status": ["clip"] * 4 + ["dropped"],
            "reason": ["", "", "", "", "scene_boundary"],
            "clip": ["0001", "0002", "0003", "0004", ""],
        }
    )
    boxes = pd.DataFrame(
        {
            "clip": ["0002"],
            "x": [10.0],
            "y": [60.0],
            "w": [80.0],
            "h": [90.0],
            "action": ["walking"],
        }
    )
    motion = pd.DataFrame({"t_s": np.arange(0.1, 5, 0.1), "mean_px_s": np.ones(49)})
    scenes = pd.DataFrame({"start_s": [0.0, 4.2], "end_s": [4.0, 5.0]})
    figures.video_figure(
        "v1",
        motion,
        scenes,
        clips,
        windows,
        video_counts(windows, clips),
        tmp_path,
        boxes,
        "unused.png",
    )
    (figure,) = drawn
    trace, lane = figure.axes[:2]
    assert lane.get_xlabel() == "time (s)" and "(px/s)" in trace.get_ylabel()
    spans = sorted(
        (float(xs.min()), float(xs.max()))
        for xs in (c.get_paths()[0].vertices[:, 0] for c in lane.collections)
    )
    assert len(spans) == len(windows)
    # kept neighbours 0-1 s and 1-2 s never touch: each is a mark of its own
    assert all(a[1] < b[0] for a, b in zip(spans, spans[1:], strict=False))
    legend = [t.get_text() for t in trace.get_legend().get_texts()]
    assert {
        "clip kept (2)",
        "clip dropped: text (1)",
        "clip dropped: blurry (1)",
        "window dropped: scene_boundary (1)",
        "shot boundary",
        "gradual transition",
    } <= set(legend)
    assert "1 dropped before extraction (scene_boundary 1)" in trace.get_title(loc="left")
    labels = [t for axis in figure.axes[2:] for t in axis.texts]
    assert [t.get_text() for t in labels] == ["walking"]
    assert labels[0].get_fontsize() >= 8 and labels[0].get_bbox_patch() is not None


def test_the_same_tables_give_the_same_bytes(tmp_path):
    for name in ("a.png", "b.png"):
        figures.score_histograms(metadata(), SETTINGS, str(tmp_path / name))
    assert (tmp_path / "a.png").read_bytes() == (tmp_path / "b.png").read_bytes()
    assert "Software" not in Image.open(tmp_path / "a.png").info  # no version stamp


def test_sample_sheet_shares_the_keyframes_among_videos_and_over_time(drawn, tmp_path):
    """6 keyframes from two videos of 10 kept clips each (0..9 s): 3 each, at the first,
    middle and last second (linspace(0, 9, 3) = 0, 4.5 -> 4, 9), not each video's start."""
    rows = []
    for video in ("v1", "v2"):
        for second in range(10):
            path = f"keyframes/train/{video}/{second + 1:04d}.jpg"
            (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
            Image.new("RGB", (32, 24), (second * 20, 0, 0)).save(tmp_path / path)
            rows.append(
                {"video_id": video, "clip": f"{second + 1:04d}", "start_s": float(second)}
                | {"keyframe_path": path, "source_clip": f"{second + 1:04d}"}
            )
    figures.sample_sheet("train", pd.DataFrame(rows), tmp_path, {}, "unused.png", count=6)
    (figure,) = drawn
    titles = [axis.get_title() for axis in figure.axes if axis.images]
    assert len(titles) == 6
    for video in ("v1", "v2"):
        seconds = [float(t.split()[-2]) for t in titles if t.startswith(video + " ")]
        assert seconds == [0.0, 4.0, 9.0], titles
    assert figure._suptitle.get_text().startswith("train: 6 of 20 kept clips from 2 videos")


def test_a_dataset_without_clips_gets_sentences_not_empty_axes(drawn):
    empty = metadata().iloc[:0]
    figures.score_histograms(empty, SETTINGS, "unused.png")
    figures.reasons_figure(empty, SETTINGS, "unused.png")
    figures.classes_figure(empty, "unused.png")
    said = [t.get_text() for figure in drawn for axis in figure.axes for t in axis.texts]
    assert said == ["no score measured: 0 clips", "no clip was dropped", "no clip was kept"]
    assert not any(axis.axison for figure in drawn for axis in figure.axes)
