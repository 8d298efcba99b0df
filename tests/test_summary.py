"""The run summary, from the dataset's own tables: every video's outcome, clips kept and
clips dropped by reason, as JSON and as the table printed at the end of a run."""

from __future__ import annotations

import json

import pandas as pd

from vidcurate.summary import CONSOLE_VIDEOS, console_table, run_summary, write_run_summary

VIDEOS = pd.DataFrame(
    [
        # video_id, split, status, rejected_at, reason
        ("rig1", "train", "ok", "", ""),
        ("rig2", "val", "no_clips", "", "blurry"),
        ("tiny", "train", "no_clips", "", "too_small"),
        ("cut", "test", "rejected", "probe", "cannot read container: moov atom not found"),
    ],
    columns=["video_id", "split", "status", "rejected_at", "reason"],
)
METADATA = pd.DataFrame(
    [
        # video_id, keep, reason (a clip failing two filters names both)
        ("rig1", True, ""),
        ("rig1", True, ""),
        ("rig1", False, "blurry,dark"),
        ("rig1", False, "duplicate"),
        ("rig2", False, "blurry"),
        ("rig2", False, "blurry"),
    ],
    columns=["video_id", "keep", "reason"],
)


def test_every_video_with_its_stage_reason_and_clips():
    table = run_summary(VIDEOS, METADATA).set_index("video_id")
    assert table.loc["rig1"].to_dict() == {
        "split": "train",
        "status": "ok",
        "stage": "",
        "reason": "",
        "clips_kept": 2,
        "dropped": {"blurry": 1, "dark": 1, "duplicate": 1},
    }
    # every clip dropped by curation; no window at all; rejected by a stage
    assert table.loc["rig2", ["status", "stage", "clips_kept"]].tolist() == [
        "no_clips",
        "curation",
        0,
    ]
    assert table.loc["rig2", "dropped"] == {"blurry": 2}
    assert table.loc["tiny", ["stage", "reason"]].tolist() == ["windows", "too_small"]
    assert table.loc["cut", ["status", "stage"]].tolist() == ["rejected", "probe"]


def test_json_and_console_say_the_same(tmp_path):
    VIDEOS.to_parquet(tmp_path / "videos.parquet")
    METADATA.to_parquet(tmp_path / "metadata.parquet")
    out = tmp_path / "run_summary.json"
    printed = write_run_summary(
        str(tmp_path / "videos.parquet"), str(tmp_path / "metadata.parquet"), str(out)
    )
    summary = json.loads(out.read_text())
    assert summary["counts"] == {"no_clips": 2, "ok": 1, "rejected": 1}
    assert summary["clips"] == {"kept": 2, "dropped": {"blurry": 3, "dark": 1, "duplicate": 1}}
    assert [row["video_id"] for row in summary["videos"]] == ["rig1", "rig2", "tiny", "cut"]
    lines = printed.splitlines()
    assert lines[0].split() == ["split", "videos", "ok", "no_clips", "rejected", "clips", "kept"]
    assert lines[1].split() == ["train", "2", "1", "1", "0", "2"]
    assert lines[4].split() == ["all", "4", "1", "2", "1", "2"]
    assert lines[5] == "clips dropped: blurry 3, dark 1, duplicate 1"
    cut = next(line for line in lines if line.startswith("cut "))
    assert cut.split(None, 5) == [
        "cut",
        "test",
        "rejected",
        "probe",
        "0",
        "cannot read container: moov atom not found",
    ]


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
