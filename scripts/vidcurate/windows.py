"""Candidate clip windows and their mapping onto output frames.

A window is a half-open interval [start_s, end_s) of presentation time, measured
from the video stream's first frame. Clip extraction turns the window into
exactly ``frames_per_clip`` frames of a constant-rate stream at ``fps``, whose
frame ``n`` shows time ``n / fps``.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from .atomic import atomic_path
from .settings import ClipSettings, video_skip_reason

log = logging.getLogger(__name__)

WINDOW_COLUMNS = ["window", "start_s", "end_s", "keep", "reason"]
EPS = 1e-6


@dataclass(frozen=True)
class Window:
    window: int
    start_s: float
    end_s: float


def contiguous_windows(duration_s: float, seconds: float) -> list[Window]:
    """Back-to-back windows of ``seconds`` covering as much of the video as fits."""
    if seconds <= 0:
        raise ValueError(f"window length must be positive, got {seconds}")
    count = math.floor(duration_s / seconds + EPS) if duration_s > 0 else 0
    return [
        Window(window=k + 1, start_s=round(k * seconds, 6), end_s=round((k + 1) * seconds, 6))
        for k in range(count)
    ]


def windows_frame(windows: list[Window], dropped: dict[int, str] | None = None) -> pd.DataFrame:
    """The per-video windows table: every candidate window, kept or not, with a reason."""
    dropped = dropped or {}
    rows = [
        {
            "window": w.window,
            "start_s": w.start_s,
            "end_s": w.end_s,
            "keep": w.window not in dropped,
            "reason": dropped.get(w.window, ""),
        }
        for w in windows
    ]
    return pd.DataFrame(rows, columns=WINDOW_COLUMNS)


def read_windows(path) -> pd.DataFrame:
    table = pd.read_csv(path, sep="\t", keep_default_na=False)
    missing = [c for c in WINDOW_COLUMNS if c not in table.columns]
    if missing:
        raise ValueError(f"{path}: windows table lacks columns {missing}")
    table["keep"] = table["keep"].astype(str).str.lower().isin(["true", "1"])
    return table


def start_frame(start_s: float, fps: float) -> int:
    """First output frame of a window starting at ``start_s``."""
    return int(round(start_s * fps + EPS))


def windows_stage(probe_json: str, settings: ClipSettings, out_tsv: str) -> pd.DataFrame:
    """Candidate windows: back-to-back ``settings.seconds`` windows over the whole video.

    Later stages (scenes, motion) narrow this table. A video that cannot give a
    single clip gets one dropped window spanning all of it, with the reason
    (``too_short``, ``too_small``), so every video is accounted for downstream.
    """
    probe = json.loads(Path(probe_json).read_text())
    reason = video_skip_reason(probe, settings)
    if reason:
        table = windows_frame([Window(1, 0.0, probe["duration_s"])], dropped={1: reason})
    else:
        table = windows_frame(contiguous_windows(probe["duration_s"], settings.seconds))
    with atomic_path(out_tsv) as tmp:
        table.to_csv(tmp, sep="\t", index=False)
    log.info(
        "%s: %d candidate windows%s",
        probe["video_id"],
        len(table),
        f" (video skipped: {reason})" if reason else "",
    )
    return table
