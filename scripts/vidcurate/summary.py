"""The run summary: what became of every video and every clip, and why.

``results/run_summary.json`` is written by the ``run_summary`` rule from the dataset's
own tables (videos.parquet, metadata.parquet), so it exists after every complete run,
in a clone or a deployed module alike, and it counts what the dataset holds: clips
kept, clips dropped by reason, and every video that gave none, with the stage and the
reason. The same table is printed at the end of the run.

A run that stops on a failed job (not a video's fault: a bug, a full disk, a cancelled
job) builds no dataset; for that case ``failures_in_logs`` reads the FAILED lines the
failed jobs of this run left in their logs.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pandas as pd

from .atomic import write_text
from .columns import reason_counts
from .runner import FAILED_PREFIX

_FAILED = re.compile(rf"^{FAILED_PREFIX} \[(?P<stage>[^\]]+)\] (?P<video>\S+): (?P<reason>.*)$")
RUN_MARKER = ".run_started"
# the console shows at most this many videos (the JSON holds every one)
CONSOLE_VIDEOS = 50
SUMMARY_COLUMNS = ["video_id", "split", "status", "stage", "reason", "clips_kept", "dropped"]


def run_summary(videos: pd.DataFrame, metadata: pd.DataFrame) -> pd.DataFrame:
    """One row per video of the dataset's videos.parquet, in its order: split, status
    (ok, no_clips, rejected), the stage that decided it (the stage that rejected the
    video; windows when no window could be cut, curation when every clip was dropped),
    the reason, clips kept and clips dropped by reason (from metadata.parquet)."""
    by_video = dict(tuple(metadata.groupby("video_id", sort=False))) if len(metadata) else {}
    rows = []
    for video in videos.to_dict("records"):
        clips = by_video.get(video["video_id"], metadata.iloc[:0])
        kept = clips["keep"].astype(bool) if len(clips) else pd.Series(dtype=bool)
        stage = ""
        if video["status"] == "rejected":
            stage = video.get("rejected_at") or ""
        elif video["status"] == "no_clips":
            stage = "curation" if len(clips) else "windows"
        rows.append(
            {
                "video_id": video["video_id"],
                "split": video.get("split", ""),
                "status": video["status"],
                "stage": stage,
                "reason": video.get("reason", "") or "",
                "clips_kept": int(kept.sum()),
                "dropped": reason_counts(clips.loc[~kept, "reason"]) if len(clips) else {},
            }
        )
    return pd.DataFrame(rows, columns=SUMMARY_COLUMNS)


def _text_table(rows: list[list], header: list[str]) -> str:
    """Left-aligned columns, two spaces apart (numbers right-aligned)."""
    cells = [header, *[[str(v) for v in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    numeric = [all(str(row[i]).isdigit() for row in rows) and rows for i in range(len(header))]
    lines = []
    for row in cells:
        parts = [
            cell.rjust(width) if numeric[i] else cell.ljust(width)
            for i, (cell, width) in enumerate(zip(row, widths, strict=True))
        ]
        lines.append("  ".join(parts).rstrip())
    return "\n".join(lines)


def _counts_text(counts: dict[str, int], empty: str = "none") -> str:
    return ", ".join(f"{key} {n}" for key, n in counts.items()) or empty


def _sum_dicts(dicts) -> dict[str, int]:
    total: dict[str, int] = {}
    for counts in dicts:
        for key, n in counts.items():
            total[key] = total.get(key, 0) + n
    return dict(sorted(total.items(), key=lambda item: (-item[1], item[0])))


def console_table(table: pd.DataFrame, limit: int = CONSOLE_VIDEOS) -> str:
    """The summary as the end of a run prints it: per split, videos by status and clips
    kept; the clips dropped by reason; then one line per video (up to ``limit``: past
    that, the videos that gave no clip come first, and the rest are in the JSON)."""
    statuses = ["ok", "no_clips", "rejected"]
    splits = []
    for split, group in table.groupby("split", sort=False):
        counts = group["status"].value_counts()
        splits.append(
            [
                split,
                len(group),
                *(int(counts.get(s, 0)) for s in statuses),
                group["clips_kept"].sum(),
            ]
        )
    splits.append(
        [
            "all",
            len(table),
            *(int((table["status"] == s).sum()) for s in statuses),
            table["clips_kept"].sum(),
        ]
    )
    parts = [
        _text_table(splits, ["split", "videos", *statuses, "clips kept"]),
        f"clips dropped: {_counts_text(_sum_dicts(table['dropped']))}",
    ]
    shown = table
    if len(table) > limit:
        shown = pd.concat([table[table.status != "ok"], table[table.status == "ok"]]).head(limit)
    rows = [
        [
            r.video_id,
            r.split,
            r.status,
            r.stage,
            r.clips_kept,
            _counts_text(r.dropped, ""),
            r.reason,
        ]
        for r in shown.itertuples()
    ]
    header = ["video", "split", "status", "stage", "kept", "dropped", "reason"]
    parts.append(_text_table(rows, header))
    if len(shown) < len(table):
        parts.append(f"... and {len(table) - len(shown)} more videos (every one in the JSON)")
    return "\n".join(parts)


def write_run_summary(videos_parquet: str, metadata_parquet: str, out_json: str) -> str:
    """Write the summary as JSON; return the table the run prints."""
    table = run_summary(pd.read_parquet(videos_parquet), pd.read_parquet(metadata_parquet))
    summary = {
        "counts": table["status"].value_counts().to_dict(),
        "clips": {"kept": int(table["clips_kept"].sum()), "dropped": _sum_dicts(table["dropped"])},
        "videos": table.to_dict("records"),
    }
    write_text(out_json, json.dumps(summary, indent=2) + "\n")
    return console_table(table)


# --- a run that failed: the FAILED lines of this run's jobs --------------------------------


def mark_run_start(log_dir: str | Path) -> int:
    """The start of a run on the file system's own clock (nanoseconds): the mtime of a
    marker written and removed in ``log_dir``. Logs are compared with it rather than
    with this machine's clock, which on a cluster need not agree with the file
    server's or the compute nodes'."""
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


def failed_jobs_table(log_dir: str | Path, since_ns: int | None = None) -> str:
    """The failed jobs of a run, one line each, for the console ('' when none)."""
    failures = failures_in_logs(log_dir, since_ns)
    if not failures:
        return ""
    table = pd.DataFrame(
        [
            {"video_id": v, **{k: f[k] for k in ("stage", "reason", "log")}}
            for v, f in failures.items()
        ]
    )
    return table.to_string(index=False)
