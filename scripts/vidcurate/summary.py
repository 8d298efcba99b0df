"""The run summary: one row per video saying what became of it and why."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd

from .atomic import write_text
from .runner import FAILED_PREFIX

_FAILED = re.compile(rf"^{FAILED_PREFIX} \[(?P<stage>[^\]]+)\] (?P<video>\S+): (?P<reason>.*)$")


def failures_in_logs(log_dir: str | Path) -> dict[str, dict]:
    """video_id -> {stage, reason, log} from the FAILED lines stage scripts write."""
    found: dict[str, dict] = {}
    for log in sorted(Path(log_dir).glob("*/*.log")):
        for line in log.read_text(errors="replace").splitlines():
            match = _FAILED.match(line)
            if match:
                found[match["video"]] = {
                    "stage": match["stage"],
                    "reason": match["reason"],
                    "log": str(log),
                }
    return found


def run_summary(video_ids: list[str], log_dir: str | Path, clips_dir: str | Path) -> pd.DataFrame:
    """Status of each video after a run: ok (with clip count), skipped, failed or pending."""
    failures = failures_in_logs(log_dir)
    rows = []
    for video_id in video_ids:
        table = Path(clips_dir) / f"{video_id}.tsv"
        row = {
            "video_id": video_id,
            "status": "pending",
            "stage": "",
            "reason": "",
            "n_clips": 0,
            "log": "",
        }
        if table.exists():
            clips = pd.read_csv(table, sep="\t", keep_default_na=False)
            row["n_clips"] = int((clips["status"] == "clip").sum())
            row["status"] = "ok" if row["n_clips"] else "no_clips"
            if not row["n_clips"] and len(clips):
                row["reason"] = ",".join(sorted(set(clips["reason"]) - {""}))
        elif video_id in failures:
            row.update(status="failed", **failures[video_id])
        rows.append(row)
    return pd.DataFrame(rows)


def write_run_summary(video_ids: list[str], log_dir: str, clips_dir: str, out_json: str) -> str:
    """Write the summary as JSON and return it as a printable table."""
    table = run_summary(video_ids, log_dir, clips_dir)
    counts = table["status"].value_counts().to_dict()
    write_text(
        out_json,
        json.dumps({"counts": counts, "videos": table.to_dict("records")}, indent=2) + "\n",
    )
    return table.drop(columns=["log"]).to_string(index=False)
