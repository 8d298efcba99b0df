"""The run summary, from the dataset's own tables: every video's outcome, the windows
dropped before extraction and the clips kept and dropped by reason, as JSON, as the table
printed at the end of a run, and as the report's funnel and per-video table."""

from __future__ import annotations

import json
import math
import re

import pandas as pd
import pytest

from vidcurate.summary import (
    CONSOLE_VIDEOS,
    console_table,
    funnel,
    funnel_html,
    headline,
    hours_text,
    run_summary,
    splits_html,
    stage_times,
    video_counts,
    videos_html,
    write_run_summary,
)

VIDEOS = pd.DataFrame(
    [
        # video_id, split, status, rejected_at, reason, probed duration
        ("rig1", "train", "ok", "", "", 7.5),
        ("rig2", "val", "no_clips", "", "blurry", 2.0),
        ("tiny", "train", "no_clips", "", "too_small", 0.5),
        ("cut", "test", "rejected", "probe", "cannot read container: moov atom not found", None),
    ],
    columns=["video_id", "split", "status", "rejected_at", "reason", "duration_s"],
)
METADATA = pd.DataFrame(
    [
        # video_id, keep, reason (a clip failing two filters names both), start, end
        ("rig1", True, "", 0.0, 1.0),
        ("rig1", True, "", 1.0, 2.0),
        ("rig1", False, "blurry,dark", 4.0, 5.0),
        ("rig1", False, "duplicate", 5.0, 6.0),
        ("rig2", False, "blurry", 0.0, 1.0),
        ("rig2", False, "blurry", 1.0, 2.0),
    ],
    columns=["video_id", "keep", "reason", "start_s", "end_s"],
)
WINDOWS = pd.DataFrame(
    [
        # video_id, window, status (clip: extracted), reason
        ("rig1", 1, "clip", ""),
        ("rig1", 2, "clip", ""),
        ("rig1", 3, "dropped", "scene_boundary"),
        ("rig1", 4, "dropped", "scene_boundary"),
        ("rig1", 5, "clip", ""),
        ("rig1", 6, "clip", ""),
        ("rig1", 7, "dropped", "short_scene"),
        ("rig2", 1, "clip", ""),
        ("rig2", 2, "clip", ""),
        ("tiny", 1, "dropped", "too_small"),
    ],
    columns=["video_id", "window", "status", "reason"],
)


def test_every_video_with_its_stage_reason_and_clips():
    table = run_summary(VIDEOS, METADATA, WINDOWS).set_index("video_id")
    assert table.loc["rig1"].to_dict() == {
        "split": "train",
        "status": "ok",
        "stage": "",
        "reason": "",
        "duration_s": 7.5,
        "windows": 7,
        "windows_dropped": {"scene_boundary": 2, "short_scene": 1},
        "clips": 4,
        "scored": 4,
        "clips_kept": 2,
        "dropped": {"blurry": 1, "dark": 1, "duplicate": 1},
        "kept_s": 2.0,
    }
    # every clip dropped by curation; no window at all; rejected by a stage
    assert table.loc["rig2", ["status", "stage", "clips_kept"]].tolist() == [
        "no_clips",
        "curation",
        0,
    ]
    assert table.loc["rig2", "dropped"] == {"blurry": 2}
    assert table.loc["tiny", ["stage", "reason"]].tolist() == ["windows", "too_small"]
    assert table.loc["tiny", "windows_dropped"] == {"too_small": 1}
    assert table.loc["cut", ["status", "stage", "windows", "clips"]].tolist() == [
        "rejected",
        "probe",
        0,
        0,
    ]
    assert math.isnan(table.loc["cut", "duration_s"])


def test_video_counts_of_one_video_count_every_window_and_clip():
    counts = video_counts(
        WINDOWS[WINDOWS.video_id == "rig1"], METADATA[METADATA.video_id == "rig1"]
    )
    # the windows a shot boundary dropped are counted, not only the clips curation dropped
    assert counts["windows"] - counts["clips"] == 3
    assert counts["windows_dropped"] == {"scene_boundary": 2, "short_scene": 1}
    nothing = video_counts(WINDOWS.iloc[:0], METADATA.iloc[:0])
    assert nothing == {
        "windows": 0,
        "windows_dropped": {},
        "clips": 0,
        "scored": 0,
        "clips_kept": 0,
        "dropped": {},
        "kept_s": 0.0,
    }


def test_funnel_counts_videos_windows_clips_and_hours():
    steps = funnel(run_summary(VIDEOS, METADATA, WINDOWS))
    counts = {(stage, step): n for stage, step, n, _ in steps.itertuples(index=False)}
    assert counts == {
        ("videos", "in"): 4,
        ("videos", "ok"): 1,
        ("videos", "no clips: curation"): 1,
        ("videos", "no clips: windows"): 1,
        ("videos", "rejected: probe"): 1,
        # the rejected video has no probed duration: it adds nothing
        ("hours", "in"): pytest.approx((7.5 + 2.0 + 0.5) / 3600, abs=1e-6),
        ("windows", "planned"): 10,
        ("windows", "dropped"): 4,
        ("windows", "dropped: scene_boundary"): 2,
        ("windows", "dropped: short_scene"): 1,
        ("windows", "dropped: too_small"): 1,
        ("clips", "extracted"): 6,
        ("clips", "scored"): 6,
        ("clips", "kept"): 2,
        ("clips", "dropped"): 4,
        # the clip failing blurry and dark counts under both
        ("clips", "dropped: blurry"): 3,
        ("clips", "dropped: dark"): 1,
        ("clips", "dropped: duplicate"): 1,
        ("hours", "out"): pytest.approx(2 / 3600, abs=1e-6),
    }
    # breakdowns follow their total, most first
    assert steps["step"].tolist()[6:11] == [
        "planned",
        "dropped",
        "dropped: scene_boundary",
        "dropped: short_scene",
        "dropped: too_small",
    ]
    assert headline(steps) == [
        "4 videos in, 0.00278 h (0:00:10) of video: 1 gave clips, 2 gave none, 1 rejected "
        "(probe 1).",
        "10 windows planned, 4 dropped before extraction (scene_boundary 2, short_scene 1, "
        "too_small 1).",
        "6 clips extracted, 6 scored, 2 kept, 0.000556 h (0:00:02) of video; 4 dropped "
        "(blurry 3, dark 1, duplicate 1).",
    ]


def test_an_empty_run_has_a_funnel_of_zeros():
    steps = funnel(run_summary(VIDEOS.iloc[:0], METADATA.iloc[:0], pd.DataFrame()))
    assert steps["count"].tolist() == [0, 0, 0.0, 0, 0, 0, 0, 0, 0, 0.0]


def test_one_of_each_is_said_in_the_singular():
    one = run_summary(VIDEOS.iloc[:1], METADATA.iloc[:1], WINDOWS.iloc[:1])
    assert [line.split(",")[0] for line in headline(funnel(one))] == [
        "1 video in",
        "1 window planned",
        "1 clip extracted",
    ]


def test_hours_are_shown_with_the_clock():
    assert hours_text(0.5) == "0.5 h (0:30:00)"
    assert hours_text(1234.5) == "1,234.5 h (1234:30:00)"
    assert hours_text(0) == "0 h (0:00:00)"


def test_stage_times_read_the_benchmark_files(tmp_path):
    for stage, video_id, seconds in [
        ("score", "rig1", [2.0, 4.0]),  # --benchmark-repeats 2: the mean
        ("scenes", "rig1", [1.5]),
        ("scenes", "rig2", [0.25]),
        ("zzz_later", "rig2", [9.0]),
    ]:
        folder = tmp_path / stage
        folder.mkdir(exist_ok=True)
        lines = ["s\th:m:s\tmax_rss", *(f"{s}\t0:00:0{int(s)}\t100.0" for s in seconds)]
        (folder / f"{video_id}.tsv").write_text("\n".join(lines) + "\n")
    (tmp_path / "deface").mkdir()  # a stage that timed none of these videos
    times = stage_times(tmp_path, ["rig1", "rig2", "cut"])
    # in the order the stages run, then any other by name; no empty column
    assert list(times.columns) == ["scenes", "score", "zzz_later"]
    assert times.loc["rig1", "score"] == 3.0
    assert times.loc["rig2", "scenes"] == 0.25
    assert times.loc["cut"].isna().all()
    assert stage_times(tmp_path / "missing", ["rig1"]).shape == (1, 0)


def test_report_tables_hold_every_number_and_escape_text(tmp_path):
    videos = VIDEOS.copy()
    videos.loc[3, "reason"] = "bad <box> & more"
    table = run_summary(videos, METADATA, WINDOWS)
    steps = funnel(table)
    fragment = funnel_html(steps, b"\x89PNG fake")
    # the three sentences, as the run gives them (counted in the test above)
    for line in (
        "<p>4 videos in, 0.00278 h (0:00:10) of video: 1 gave clips, 2 gave none, 1 rejected "
        "(probe 1).</p>",
        "<p>10 windows planned, 4 dropped before extraction (scene_boundary 2, short_scene 1, "
        "too_small 1).</p>",
        "<p>6 clips extracted, 6 scored, 2 kept, 0.000556 h (0:00:02) of video; 4 dropped "
        "(blurry 3, dark 1, duplicate 1).</p>",
    ):
        assert line in fragment
    assert fragment.count("<tr") == len(steps) + 1
    assert '<td class="n">0.00278 h (0:00:10)</td>' in fragment
    (tmp_path / "score").mkdir()
    (tmp_path / "score" / "rig1.tsv").write_text("s\n12.5\n")
    page = videos_html(table, stage_times(tmp_path, table["video_id"].tolist()))
    assert "bad &lt;box&gt; &amp; more" in page and "<box>" not in page
    rig1 = page[page.index('<tr class="ok">') :].split("</tr>")[0]
    cells = re.findall(r"<td[^>]*>(.*?)</td>", rig1)
    assert cells == [
        "rig1",
        "train",
        "ok",
        "",
        "",
        "7.5",
        "7",
        "scene_boundary 2, short_scene 1",
        "4",
        "2",
        "blurry 1, dark 1, duplicate 1",
        "2.0",
        "12.5",
        "12.5",
    ]


def test_json_and_console_say_the_same(tmp_path):
    VIDEOS.to_parquet(tmp_path / "videos.parquet")
    METADATA.to_parquet(tmp_path / "metadata.parquet")
    WINDOWS.to_parquet(tmp_path / "windows.parquet")
    out = tmp_path / "run_summary.json"
    printed = write_run_summary(
        str(tmp_path / "videos.parquet"),
        str(tmp_path / "metadata.parquet"),
        str(tmp_path / "windows.parquet"),
        str(out),
    )
    # strict JSON: the rejected video's unknown duration is null, not NaN
    summary = json.loads(out.read_text(), parse_constant=pytest.fail)
    assert summary["counts"] == {"no_clips": 2, "ok": 1, "rejected": 1}
    assert summary["windows"] == {
        "planned": 10,
        "dropped": {"scene_boundary": 2, "short_scene": 1, "too_small": 1},
    }
    assert summary["clips"] == {"kept": 2, "dropped": {"blurry": 3, "dark": 1, "duplicate": 1}}
    assert [row["video_id"] for row in summary["videos"]] == ["rig1", "rig2", "tiny", "cut"]
    assert summary["videos"][3]["duration_s"] is None
    lines = printed.splitlines()
    assert lines[0].split() == ["split", "videos", "ok", "no_clips", "rejected", "clips", "kept"]
    assert lines[1].split() == ["train", "2", "1", "1", "0", "2"]
    assert lines[4].split() == ["all", "4", "1", "2", "1", "2"]
    assert lines[5] == "windows dropped: scene_boundary 2, short_scene 1, too_small 1"
    assert lines[6] == "clips dropped: blurry 3, dark 1, duplicate 1"
    cut = next(line for line in lines if line.startswith("cut "))
    assert cut.split(None, 5) == [
        "cut",
        "test",
        "rejected",
        "probe",
        "0",
        "cannot read container: moov atom not found",
    ]


def test_withdrawn_videos_are_named_in_the_json_and_the_last_line(tmp_path):
    VIDEOS.to_parquet(tmp_path / "videos.parquet")
    METADATA.to_parquet(tmp_path / "metadata.parquet")
    WINDOWS.to_parquet(tmp_path / "windows.parquet")
    splits = tmp_path / "splits.tsv"
    splits.write_text(
        "video_id\tsplit\tsplit_source\tsplit_group\tplanned_split\tmoved_because\twithdrawn\n"
        "rig1\ttrain\tsheet\trig1\ttrain\t\t\n"
        "gone1\t\t\t\t\t\twithdraw.videos\n"
        "gone2\t\t\t\t\t\tsheet column withdrawn\n"
    )
    paths = [str(tmp_path / f"{name}.parquet") for name in ("videos", "metadata", "windows")]
    out = tmp_path / "run_summary.json"
    printed = write_run_summary(*paths, str(out), str(splits))
    assert json.loads(out.read_text())["withdrawn"] == {
        "gone1": "withdraw.videos",
        "gone2": "sheet column withdrawn",
    }
    assert printed.splitlines()[-1] == (
        "withdrawn on request (in no dataset file): 2 (gone1, gone2)"
    )
    # nothing withdrawn: the table ends as before
    assert write_run_summary(*paths, str(out)) == printed.rsplit("\n", 1)[0]


def test_splits_page_counts_groups_and_names_moves_and_withdrawals():
    splits = pd.DataFrame(
        [
            ["a", "train", "sheet", "subject=m1", "train", "", ""],
            ["b", "train", "group", "subject=m1", "train", "", ""],
            [
                "copy",
                "train",
                "group",
                "subject=m1",
                "test",
                "near-duplicate clips copy/0001 ~ a/0001",
                "",
            ],
            ["c", "val", "assigned", "c", "val", "", ""],
            ["gone", "", "", "", "", "", "withdraw.videos"],
        ],
        columns=[
            "video_id",
            "split",
            "split_source",
            "split_group",
            "planned_split",
            "moved_because",
            "withdrawn",
        ],
    )
    page = splits_html(splits)
    text = re.sub(r"<[^>]+>", " ", page)
    text = re.sub(r"\s+", " ", text)
    assert "4 videos in 2 groups" in text
    assert "train 1 3 3 0" in text and "val 1 1 1 1" in text and "test 0 0 0 0" in text
    assert "1 video moved by grouping" in text
    assert "copy subject=m1 test train near-duplicate clips copy/0001 ~ a/0001" in text
    assert "1 video withdrawn on request" in text and "gone withdraw.videos" in text


def test_console_lists_the_videos_without_clips_first_when_there_are_many():
    many = pd.concat(
        [
            pd.DataFrame(
                {
                    "video_id": [f"v{i:03d}" for i in range(120)],
                    "split": "train",
                    "status": "ok",
                    "rejected_at": "",
                    "reason": "",
                }
            ),
            VIDEOS.iloc[3:],
        ],
        ignore_index=True,
    )
    printed = console_table(run_summary(many, METADATA.iloc[:0]))
    assert (
        printed.splitlines()[-1]
        == f"... and {121 - CONSOLE_VIDEOS} more videos (every one in the JSON)"
    )
    lines = printed.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("video "))
    rows = [line.split()[0] for line in lines[header + 1 : -1]]
    assert rows[0] == "cut" and len(rows) == CONSOLE_VIDEOS
