"""Where windows go (windows.align): on the grid from t = 0, or from each shot's usable
start. Synthetic shot lists with the repository's default margin and clip length, every
expected count worked out by hand in the comments."""

from __future__ import annotations

import json
import pickle

import pandas as pd
import pytest
import yaml

from conftest import REPO
from vidcurate import plan
from vidcurate.annotations import ava_second, write_annotation_files
from vidcurate.config import validate_config
from vidcurate.scenes import SCENE_COLUMNS
from vidcurate.windows import ShotSettings, WindowSettings, plan_windows, windows_stage

SCHEMA = yaml.safe_load((REPO / "config" / "schemas" / "config.schema.yaml").read_text())


def default_config() -> dict:
    return validate_config(yaml.safe_load((REPO / "config" / "config.yaml").read_text()), SCHEMA)


@pytest.fixture(scope="module")
def defaults() -> tuple[dict, dict]:
    """The windows and shots settings a default project's windows job gets."""
    settings = plan.stage_settings(default_config())
    return settings["windows"], settings["shots"]


def test_the_hand_counts_below_use_the_real_defaults(defaults):
    windows, shots = defaults
    assert windows["align"] == "grid"  # AVA's whole-second keyframes stay the default
    assert (windows["seconds"], windows["fps"]) == (1.0, 25)
    assert (shots["trim_s"], shots["min_scene_s"], shots["flash_record_only"]) == (0.2, 1.5, False)


def shot_list(fps: int, frames: list[tuple[int, int, str]]) -> pd.DataFrame:
    """shots.tsv rows from (first frame, last frame, boundary) of a ``fps`` source."""
    return pd.DataFrame(
        [
            (i + 1, a, b, round(a / fps, 6), round((b + 1) / fps, 6), kind)
            for i, (a, b, kind) in enumerate(frames)
        ],
        columns=SCENE_COLUMNS,
    )


# Each video: a short opening, shots of 2, 3 and 5 s, a short closing shot. With trim_s
# 0.2 a shot [s, e) between two transitions is usable over [s + 0.2, e - 0.2].
#
# WHOLE: cuts on whole seconds, 25 fps. Shots [0,1) [1,3) [3,6) [6,11) [11,12).
#   grid (windows [k, k+1)): the 2-s shot's usable [1.2, 2.8] holds no [k, k+1) -> 0;
#   the 3-s [3.2, 5.8] holds [4,5) -> 1; the 5-s [6.2, 10.8] holds [7,8) [8,9) [9,10) -> 3.
#   shot: [1.2, 2.2) -> 1; [3.2, 4.2) [4.2, 5.2) -> 2; [6.2, 7.2) .. [9.2, 10.2) -> 4
#   ([10.2, 11.2) ends after 10.8). Openings and closings: 1 s < min_scene_s 1.5 (the
#   grid's [0,1) and [11,12) drop as short_scene; shot alignment has no room for a
#   window in their 0.8 s).
WHOLE = shot_list(
    25, [(0, 24, ""), (25, 74, "cut"), (75, 149, "cut"), (150, 274, "cut"), (275, 299, "cut")]
)
# AFTER_A_FADE: a 0.6-s fade-in (frames 0-14 belong to no shot), then cuts 0.6 s after
# whole seconds, 25 fps. Shots [0.6,2.6) [2.6,5.6) [5.6,10.6) [10.6,12.0).
#   grid: usable [0.8, 2.4] holds [1,2) -> 1; [2.8, 5.4] holds [3,4) [4,5) -> 2;
#   [5.8, 10.4] holds [6,7) .. [9,10) -> 4. Here the grid loses nothing.
#   shot: 0.8 s is output frame 20: [0.8, 1.8) -> 1; [2.8, 3.8) [3.8, 4.8) -> 2;
#   [5.8, 6.8) .. [8.8, 9.8) -> 4 ([9.8, 10.8) ends after 10.4). The closing shot
#   (1.4 s, usable [10.8, 12.0] at the video's end) holds [10.8, 11.8), dropped as
#   short_scene.
AFTER_A_FADE = shot_list(
    25, [(15, 64, "gradual"), (65, 139, "cut"), (140, 264, "cut"), (265, 299, "cut")]
)
# OFF_GRID: a 30 fps source with cuts 0.1 s after whole seconds (frames 33, 93, 183,
# 333). Shots [0,1.1) [1.1,3.1) [3.1,6.1) [6.1,11.1) [11.1,12.0).
#   grid: usable [1.3, 2.9] holds none -> 0; [3.3, 5.9] holds [4,5) -> 1;
#   [6.3, 10.9] holds [7,8) [8,9) [9,10) -> 3.
#   shot: 1.3 s is output frame 32.5, moved up to frame 33 = 1.32 s: [1.32, 2.32) -> 1;
#   3.3 -> 3.32: [3.32, 4.32) [4.32, 5.32) -> 2; 6.3 -> 6.32: [6.32, 7.32) ..
#   [9.32, 10.32) -> 4.
OFF_GRID = shot_list(
    30, [(0, 32, ""), (33, 92, "cut"), (93, 182, "cut"), (183, 332, "cut"), (333, 359, "cut")]
)

CASES = {
    # video: (shots, {align: kept windows of the 2-, 3- and 5-s shots}, shot-aligned starts)
    "whole": (WHOLE, {"grid": [0, 1, 3], "shot": [1, 2, 4]}, [1.2, 3.2, 4.2, 6.2, 7.2, 8.2, 9.2]),
    "after_a_fade": (
        AFTER_A_FADE,
        {"grid": [1, 2, 4], "shot": [1, 2, 4]},
        [0.8, 2.8, 3.8, 5.8, 6.8, 7.8, 8.8],
    ),
    "off_grid": (
        OFF_GRID,
        {"grid": [0, 1, 3], "shot": [1, 2, 4]},
        [1.32, 3.32, 4.32, 6.32, 7.32, 8.32, 9.32],
    ),
}


def kept_per_shot(windows, dropped, shots) -> dict[float, int]:
    """Kept windows in each shot, by the shot's length."""
    counts = {round(e - s, 6): 0 for s, e in zip(shots.start_s, shots.end_s, strict=True)}
    for w in windows:
        if w.window in dropped:
            continue
        (length,) = [
            round(e - s, 6)
            for s, e in zip(shots.start_s, shots.end_s, strict=True)
            if s <= w.start_s and w.end_s <= e
        ]
        counts[length] += 1
    return counts


@pytest.mark.parametrize("video", CASES)
@pytest.mark.parametrize("align", ["grid", "shot"])
def test_windows_per_shot_under_each_alignment(defaults, video, align):
    shots, expected, _ = CASES[video]
    settings = WindowSettings.from_config({**defaults[0], "align": align})
    windows, dropped = plan_windows(12.0, settings, shots, [], ShotSettings(**defaults[1]))
    counts = kept_per_shot(windows, dropped, shots)
    assert [counts[2.0], counts[3.0], counts[5.0]] == expected[align]
    # the short openings and closings give no clip under either alignment
    assert sum(counts.values()) == sum(expected[align])


@pytest.mark.parametrize("video", CASES)
def test_shot_aligned_windows_start_at_each_shots_usable_start(defaults, video):
    shots, _, starts = CASES[video]
    settings = WindowSettings.from_config({**defaults[0], "align": "shot"})
    windows, dropped = plan_windows(12.0, settings, shots, [], ShotSettings(**defaults[1]))
    kept = [w for w in windows if w.window not in dropped]
    assert [w.start_s for w in kept] == starts
    assert all(w.end_s == pytest.approx(w.start_s + 1.0) for w in kept)
    # on the clip frame grid: the clip's first frame is the window's start
    assert all(abs(w.start_s * 25 - round(w.start_s * 25)) < 1e-6 for w in windows)
    assert [w.window for w in windows] == list(range(1, len(windows) + 1))


def test_grid_windows_stay_on_whole_seconds(defaults):
    windows, dropped = plan_windows(
        12.0, WindowSettings.from_config(defaults[0]), WHOLE, [], ShotSettings(**defaults[1])
    )
    assert [w.start_s for w in windows] == [float(k) for k in range(12)]
    # 1 and 12: the 1-s opening and closing; the others cross a cut or its 0.2 s
    assert dropped == {
        1: "short_scene",
        2: "scene_boundary",
        3: "scene_boundary",
        4: "scene_boundary",
        6: "scene_boundary",
        7: "scene_boundary",
        11: "scene_boundary",
        12: "short_scene",
    }


def test_shot_aligned_reasons_flashes_and_short_shots(defaults):
    shot = WindowSettings.from_config({**defaults[0], "align": "shot"})
    trims = ShotSettings(**defaults[1])
    # a flash at 8.5 s: the window [8.2, 9.2) holding it drops; the others stay
    windows, dropped = plan_windows(12.0, shot, WHOLE, [8.5], trims)
    assert {w.start_s: dropped.get(w.window, "") for w in windows} == {
        1.2: "",
        3.2: "",
        4.2: "",
        6.2: "",
        7.2: "",
        8.2: "flash",
        9.2: "",
    }
    recorded = ShotSettings(**{**defaults[1], "flash_record_only": True})
    assert plan_windows(12.0, shot, WHOLE, [8.5], recorded)[1] == {}
    # AFTER_A_FADE's closing shot: 1.4 s, one window, dropped as too short a shot
    windows, dropped = plan_windows(12.0, shot, AFTER_A_FADE, [], trims)
    assert [(w.start_s, dropped[w.window]) for w in windows if w.window in dropped] == [
        (10.8, "short_scene")
    ]


def test_one_shot_from_the_start_gives_the_grid(defaults):
    """A fixed camera (scenes: none: one shot from frame 0) or no shot list: both
    alignments give the same windows, 0-1 s .. 9-10 s of a 10.5-s video."""
    one = shot_list(25, [(0, 262, "")])
    grid = WindowSettings.from_config(defaults[0])
    shot = WindowSettings.from_config({**defaults[0], "align": "shot"})
    trims = ShotSettings(**defaults[1])
    expected = [(float(k), float(k + 1)) for k in range(10)]
    for settings in (grid, shot):
        for shots in (one, None):
            windows, dropped = plan_windows(10.5, settings, shots, [], trims)
            assert [(w.start_s, w.end_s) for w in windows] == expected and dropped == {}


def test_the_windows_stage_writes_shot_aligned_windows(tmp_path, defaults):
    probe = {"video_id": "edit", "width": 640, "height": 360, "duration_s": 12.0}
    (tmp_path / "probe.json").write_text(json.dumps(probe))
    OFF_GRID.to_csv(tmp_path / "shots.tsv", sep="\t", index=False)
    (tmp_path / "flash.tsv").write_text("frame\ttime_s\tluma_delta\n")
    table = windows_stage(
        str(tmp_path / "probe.json"),
        WindowSettings.from_config({**defaults[0], "align": "shot"}),
        str(tmp_path / "w.tsv"),
        str(tmp_path / "shots.tsv"),
        str(tmp_path / "flash.tsv"),
        **defaults[1],
    )
    assert table[table.keep].start_s.tolist() == CASES["off_grid"][2]


def test_a_wrong_alignment_is_refused():
    with pytest.raises(ValueError, match="windows.align must be grid or shot, got 'shots'"):
        WindowSettings(align="shots")
    config = default_config()
    config["windows"]["align"] = "shots"
    with pytest.raises(ValueError, match="windows.align"):
        validate_config(config, SCHEMA)


# --- AVA: whole-second timestamps ------------------------------------------------------------


def test_ava_seconds_round_halves_up():
    # grid keyframes are whole seconds: unchanged
    assert [ava_second(float(k)) for k in range(5)] == [0, 1, 2, 3, 4]
    # shot-aligned keyframes a second apart (30 fps clips): 3.5 and 4.5 round to 4 and 5
    # (round-half-to-even gave 4 and 4: two keyframes under one AVA key)
    assert [ava_second(3.5), ava_second(4.5)] == [4, 5]
    assert [ava_second(1.32), ava_second(6.8), ava_second(2.5 - 1e-9)] == [1, 7, 3]


def test_ava_rows_of_shot_aligned_keyframes(tmp_path):
    """Two shot-aligned keyframes at 3.5 s and 4.5 s, one box each: the AVA CSV gives
    them seconds 4 and 5 and the proposals two keys; COCO keeps both images."""
    metadata = pd.DataFrame(
        {
            "video_id": ["edit", "edit"],
            "split": ["train", "train"],
            "clip": ["0001", "0002"],
            "keep": [True, True],
            "source_clip": ["0001", "0002"],
            "start_s": [3.5, 4.5],
            "end_s": [4.5, 5.5],
            "width": [640, 640],
            "height": [360, 360],
        }
    )
    metadata.to_parquet(tmp_path / "metadata.parquet")
    boxes = pd.DataFrame(
        {
            "video_id": ["edit", "edit"],
            "clip": ["0001", "0002"],
            "start_s": [3.5, 4.5],
            "track_id": [1, 1],
            "detector_class": ["person", "person"],
            "score": [0.9, 0.8],
            "x": [64.0, 320.0],
            "y": [36.0, 180.0],
            "w": [64.0, 64.0],
            "h": [72.0, 72.0],
            "action": ["person", "person"],
            "speed": [None, None],
            "speed_unit": ["", ""],
            "source": ["detector", "detector"],
            "person_id": ["1", "1"],
        }
    )
    boxes.to_parquet(tmp_path / "edit.parquet")
    (tmp_path / "unmatched.tsv").write_text("video_id\ttimestamp_s\taction\tperson_id\tproblem\n")
    root = tmp_path / "dataset"
    write_annotation_files(
        str(tmp_path / "metadata.parquet"),
        {"edit": str(tmp_path / "edit.parquet")},
        {"edit": str(tmp_path / "unmatched.tsv")},
        str(root),
    )
    rows = [line.split(",") for line in (root / "ava" / "train.csv").read_text().splitlines()]
    # x1 = 64 / 640, y1 = 36 / 360, x2 = 128 / 640, y2 = 108 / 360; then 320/640 ...
    assert rows == [
        ["edit", "4", "0.1", "0.1", "0.2", "0.3", "1", "1"],
        ["edit", "5", "0.5", "0.5", "0.6", "0.7", "1", "1"],
    ]
    proposals = pickle.loads((root / "ava" / "train_proposals.pkl").read_bytes())
    assert sorted(proposals) == ["edit,0004", "edit,0005"]
    coco = json.loads((root / "annotations" / "train.json").read_text())
    assert len(coco["images"]) == 2 and len(coco["annotations"]) == 2
