"""The run summary: one row per video saying what became of it and why."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pandas as pd

from .atomic import write_text
from .runner import FAILED_PREFIX

_FAILED = re.compile(rf"^{FAILED_PREFIX} \[(?P<stage>[^\]]+)\] (?P<video>\S+): (?P<reason>.*)$")


RUN_MARKER = ".run_started"


def mark_run_start(log_dir: str | Path) -> int:
    """The start of a run on the file system's own clock (nanoseconds): the mtime of a
    marker written and removed in ``log_dir``. Logs and clip tables are compared with
    it rather than with this machine's clock, which on a cluster need not agree with the
    file server's or the compute nodes'."""
    marker = Path(log_dir) / RUN_MARKER
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text(f"{os.getpid()}\n")
    try:
        return marker.stat().st_mtime_ns
    finally:
        marker.unlink(missing_ok=True)


def failures_in_logs(log_dir: str | Path, since_ns: int | None = None) -> dict[str, dict]:
    """video_id -> {stage, reason, log, mtime_ns} from the FAILED lines stage scripts
    write, only from logs written since ``since_ns`` (a run's start) when given: a log
    an earlier run left behind is no failure of this run. The newest log wins."""
    found: dict[str, dict] = {}
    for log in sorted(Path(log_dir).glob("*/*.log")):
        mtime_ns = log.stat().st_mtime_ns
        if since_ns is not None and mtime_ns < since_ns:
            continue
        for line in log.read_text(errors="replace").splitlines():
            match = _FAILED.match(line)
            video = match and match["video"]
            if video and (video not in found or found[video]["mtime_ns"] <= mtime_ns):
                found[video] = {
                    "stage": match["stage"],
                    "reason": match["reason"],
                    "log": str(log),
                    "mtime_ns": mtime_ns,
                }
    return found


def run_summary(
    video_ids: list[str],
    log_dir: str | Path,
    clips_dir: str | Path,
    since_ns: int | None = None,
) -> pd.DataFrame:
    """Status of each video after a run: ok (with clip count), no_clips, failed or pending.

    With ``since_ns`` (the run's start, see mark_run_start) only this run's failures
    count, and a video that failed in this run is failed even when a clip table from an
    earlier run is still there (older than the failure)."""
    failures = failures_in_logs(log_dir, since_ns)
    rows = []
    for video_id in video_ids:
        table = Path(clips_dir) / f"{video_id}.tsv"
        failure = failures.get(video_id)
        row = {
            "video_id": video_id,
            "status": "pending",
            "stage": "",
            "reason": "",
            "n_clips": 0,
            "log": "",
        }
        if table.exists() and not (failure and table.stat().st_mtime_ns < failure["mtime_ns"]):
            clips = pd.read_csv(table, sep="\t", keep_default_na=False)
            row["n_clips"] = int((clips["status"] == "clip").sum())
            row["status"] = "ok" if row["n_clips"] else "no_clips"
            if not row["n_clips"] and len(clips):
                row["reason"] = ",".join(sorted(set(clips["reason"]) - {""}))
        elif failure:
            row["status"] = "failed"
            row.update({key: failure[key] for key in ("stage", "reason", "log")})
        rows.append(row)
    return pd.DataFrame(rows)


def write_run_summary(
    video_ids: list[str],
    log_dir: str,
    clips_dir: str,
    out_json: str,
    since_ns: int | None = None,
) -> str:
    """Write the summary as JSON and return it as a printable table."""
    table = run_summary(video_ids, log_dir, clips_dir, since_ns)
    counts = table["status"].value_counts().to_dict()
    write_text(
        out_json,
        json.dumps({"counts": counts, "videos": table.to_dict("records")}, indent=2) + "\n",
    )
    return table.drop(columns=["log"]).to_string(index=False)
