"""Candidate clip windows and their mapping onto output frames.

A window is a half-open interval [start_s, end_s) of presentation time, measured
from the video stream's first frame. Clip extraction turns the window into
exactly ``frames_per_clip`` frames of a constant-rate stream at ``fps``, whose
frame ``n`` shows time ``n / fps``.

Windows are placed one of two ways (``windows.align``): ``grid``, back to back from
t = 0 (whole-second starts with 1-s clips, AVA's keyframe times), then narrowed to
shots; or ``shot``, tiled from each shot's usable start, so a short shot is not lost
to where the grid happens to fall in it.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from vidcurate.geometry import clip_size
from vidcurate.settings import FromConfig, frames_per_clip

from .atomic import atomic_path
from .columns import EPS, MOTION_COLUMNS, Window, windows_frame

log = logging.getLogger(__name__)


ALIGNMENTS = ("grid", "shot")


@dataclass(frozen=True)
class WindowSettings(FromConfig):
    """Which windows a video has (config ``clips`` and ``windows.align``): a new crf
    re-encodes clips without recomputing windows."""

    seconds: float = 1.0
    fps: int = 25
    max_short_side: int = 360
    min_short_side: int = 64
    align: str = "grid"

    def __post_init__(self):
        frames_per_clip(self.seconds, self.fps)  # fail on a fractional frame count
        if self.align not in ALIGNMENTS:
            raise ValueError(f"windows.align must be grid or shot, got {self.align!r}")

    @property
    def n_frames(self) -> int:
        return frames_per_clip(self.seconds, self.fps)


@dataclass(frozen=True)
class ShotSettings(FromConfig):
    """How shots become windows (scenes.trim_s, scenes.min_scene_s, flash.record_only):
    read by windows only, so they never rerun shot detection."""

    trim_s: float = 0.2
    min_scene_s: float = 1.5
    flash_record_only: bool = False


def video_skip_reason(
    probe: dict, settings: WindowSettings, shown: tuple[int, int] | None = None
) -> str:
    """Why a probed video yields no clips at all ('' when it can yield some). ``shown``:
    the size clips are cut from when it is not the video's own (an arena's)."""
    width, height = clip_size(
        *(shown or (probe["width"], probe["height"])), settings.max_short_side
    )
    if min(width, height) < settings.min_short_side:
        return "too_small"
    if probe["duration_s"] + 1e-6 < settings.seconds:
        return "too_short"
    return ""


def contiguous_windows(duration_s: float, seconds: float) -> list[Window]:
    """Back-to-back windows of ``seconds`` covering as much of the video as fits."""
    if seconds <= 0:
        raise ValueError(f"window length must be positive, got {seconds}")
    count = math.floor(duration_s / seconds + EPS) if duration_s > 0 else 0
    return [
        Window(window=k + 1, start_s=round(k * seconds, 6), end_s=round((k + 1) * seconds, 6))
        for k in range(count)
    ]


def usable_span(shot, trim_s: float, last_end: float) -> tuple[float, float]:
    """The part of ``shot`` (a shots.tsv row) windows may use: ``trim_s`` cut from each
    end that touches a transition; the video's own start and end are not transitions."""
    start = shot.start_s + (trim_s if shot.start_frame > 0 else 0.0)
    end = shot.end_s - (trim_s if shot.end_s < last_end - EPS else 0.0)
    return start, end


def shot_windows(shots: pd.DataFrame, seconds: float, fps: int, trim_s: float) -> list[Window]:
    """Back-to-back windows of ``seconds`` from each shot's usable start, as many as fit
    in its usable span (usable_span). A start is moved up to the next output frame
    (frame ``n`` shows ``n / fps``), so the window is exactly the frames its clip holds
    and its first frame is its keyframe; windows are numbered in time order."""
    n_frames = frames_per_clip(seconds, fps)
    last_end = shots.end_s.max() if len(shots) else 0.0
    windows = []
    for shot in shots.sort_values("start_s").itertuples():
        start, end = usable_span(shot, trim_s, last_end)
        first = math.ceil(start * fps - EPS)
        while (first + n_frames) / fps <= end + EPS:
            number = len(windows) + 1
            windows.append(
                Window(number, round(first / fps, 6), round((first + n_frames) / fps, 6))
            )
            first += n_frames
    return windows


def restrict_to_shots(
    windows: list[Window],
    shots: pd.DataFrame,
    flash_times: list[float],
    trim_s: float,
    min_scene_s: float,
    flash_excludes: bool = True,
) -> dict[int, str]:
    """Reasons to drop windows: ``scene_boundary`` (not inside one shot once ``trim_s``
    is cut from each end that touches a transition; the video's own start and end
    are not transitions), ``short_scene`` (inside a shot shorter than
    ``min_scene_s``), ``flash`` (holds a flash frame). Kept windows are absent."""
    flashes = np.asarray(sorted(flash_times))
    last_end = shots.end_s.max() if len(shots) else 0.0
    dropped = {}
    for window in windows:
        inside = shots[
            (shots.start_s <= window.start_s + EPS) & (shots.end_s >= window.end_s - EPS)
        ]
        if inside.empty:
            dropped[window.window] = "scene_boundary"
            continue
        shot = inside.iloc[0]
        usable_start, usable_end = usable_span(shot, trim_s, last_end)
        if shot.end_s - shot.start_s < min_scene_s:
            dropped[window.window] = "short_scene"
        elif window.start_s < usable_start - EPS or window.end_s > usable_end + EPS:
            dropped[window.window] = "scene_boundary"
        elif (
            flash_excludes
            and len(flashes)
            and ((flashes >= window.start_s - EPS) & (flashes < window.end_s - EPS)).any()
        ):
            dropped[window.window] = "flash"
    return dropped


def plan_windows(
    duration_s: float,
    settings: WindowSettings,
    shots: pd.DataFrame | None = None,
    flash_times: Sequence[float] = (),
    shot_settings: ShotSettings = ShotSettings(),
) -> tuple[list[Window], dict[int, str]]:
    """A video's candidate windows (placed as ``settings.align`` says) and the reasons
    to drop some (restrict_to_shots; none without ``shots``). Without a shot list the
    video is one shot from t = 0, where both alignments give the same windows."""
    if shots is None:
        return contiguous_windows(duration_s, settings.seconds), {}
    if settings.align == "shot":
        windows = shot_windows(shots, settings.seconds, settings.fps, shot_settings.trim_s)
    else:
        windows = contiguous_windows(duration_s, settings.seconds)
    dropped = restrict_to_shots(
        windows,
        shots,
        list(flash_times),
        shot_settings.trim_s,
        shot_settings.min_scene_s,
        flash_excludes=not shot_settings.flash_record_only,
    )
    return windows, dropped


def _mean(pairs: pd.DataFrame, column: str) -> float:
    if column not in pairs or pairs.empty:
        return float("nan")
    return round(float(pairs[column].mean()), 4)


def window_motion(
    windows: pd.DataFrame, table: pd.DataFrame, segments: pd.DataFrame
) -> pd.DataFrame:
    """MOTION_COLUMNS for each row of ``windows`` (start_s/end_s): the means over the
    frame pairs ending inside the window, and how much of it moving segments cover."""
    rows = []
    for start, end in zip(windows["start_s"], windows["end_s"], strict=True):
        pairs = table[(table["t_s"] > start + 1e-9) & (table["t_s"] <= end + 1e-9)]
        covered = sum(
            max(0.0, min(end, b) - max(start, a))
            for a, b in zip(segments["start_s"], segments["end_s"], strict=True)
        )

        rows.append(
            {
                "motion_mean_px_s": _mean(pairs, "mean_px_s"),
                "motion_p95_px_s": _mean(pairs, "p95_px_s"),
                "motion_moving_fraction": _mean(pairs, "moving_fraction"),
                "motion_min_patch_px_s": _mean(pairs, "min_patch_px_s"),
                "motion_mean_cm_s": _mean(pairs, "mean_cm_s"),
                "motion_covered": round(covered / (end - start), 4) if end > start else 0.0,
            }
        )
    return pd.DataFrame(rows, columns=MOTION_COLUMNS, index=windows.index)


def windows_stage(
    probe_json: str,
    settings: WindowSettings,
    out_tsv: str,
    scenes_tsv: str | None = None,
    flash_tsv: str | None = None,
    trim_s: float = 0.2,
    min_scene_s: float = 1.5,
    flash_record_only: bool = False,
    motion_parquet: str | None = None,
    segments_tsv: str | None = None,
    require_motion: bool = False,
    min_motion_covered: float = 0.5,
    arena_size: tuple[int, int] | None = None,
) -> pd.DataFrame:
    """Candidate windows (plan_windows): ``settings.seconds`` long, on the grid from t = 0
    or from each shot's usable start (``settings.align``), narrowed to shots (and away
    from flashes) when a scenes table is given. With the
    motion stage's tables every window gets its motion scores, and with
    ``require_motion`` a window moving segments cover less than ``min_motion_covered``
    of is dropped as ``static``.

    Every window stays in the table with keep/reason, so every drop is accounted
    for. A video that cannot give a single clip gets one dropped window spanning
    all of it, with the reason (``too_short``, ``too_small``: of the arena, when clips
    are cut in arena pixels, ``arena_size``).
    """
    probe = json.loads(Path(probe_json).read_text())
    reason = video_skip_reason(probe, settings, arena_size)
    if reason:
        table = windows_frame([Window(1, 0.0, probe["duration_s"])], dropped={1: reason})
    else:
        shots, flash_times = None, []
        if scenes_tsv:
            shots = pd.read_csv(scenes_tsv, sep="\t", keep_default_na=False)
            flashes = pd.read_csv(flash_tsv, sep="\t") if flash_tsv else pd.DataFrame()
            flash_times = list(flashes.get("time_s", []))
        windows, dropped = plan_windows(
            probe["duration_s"],
            settings,
            shots,
            flash_times,
            ShotSettings(trim_s, min_scene_s, flash_record_only),
        )
        table = windows_frame(windows, dropped)
    if motion_parquet:
        segments = pd.read_csv(segments_tsv, sep="\t")
        motion = window_motion(table, pd.read_parquet(motion_parquet), segments)
        table = pd.concat([table, motion], axis=1)
        if require_motion and not reason:
            static = table["keep"] & (table["motion_covered"] < min_motion_covered - EPS)
            table.loc[static, ["keep", "reason"]] = [False, "static"]
    with atomic_path(out_tsv) as tmp:
        table.to_csv(tmp, sep="\t", index=False)
    log.info(
        "%s: %d candidate windows, %d kept%s",
        probe["video_id"],
        len(table),
        int(table["keep"].sum()),
        f" (video skipped: {reason})" if reason else "",
    )
    return table
