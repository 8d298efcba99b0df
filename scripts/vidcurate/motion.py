"""Dense motion per sampled frame pair, in honest units, and the segments that move.

Frames come from the frame source sampled at a constant ``fps`` (at most the
video's own), grey, scaled so the short side is ``analysis_short_side`` pixels (the
arena's pixels when the video has an arena: rectified, outside masked), so scores
compare across videos of any size and frame rate. For each consecutive pair:

- ``mean_px_s``, ``p95_px_s``: flow magnitude in analysis pixels per second;
- ``moving_fraction``: share of (arena) pixels moving faster than ``moving_px_s``;
- ``min_patch_px_s``: the smallest patch mean over a ``grid`` x ``grid`` patch grid
  (NeMo Curator's "minimum over 256 patches": low when part of the frame is still);
- the same three in cm/s when the arena knows its px_per_cm.

Backends: ``dis`` (OpenCV DIS, default), ``farneback`` (OpenCV), ``ilk`` (scikit-image's
iterative Lucas-Kanade, whose GPU twin is cuCIM's: ``ilk`` runs there on CUDA), and
``codec`` (the encoder's own motion vectors exported by the decoder, NeMo Curator's
nearly free approach; block resolution, no pixels decoded into Python).
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from vidcurate.settings import FromConfig

from .arena import mask_for, read_transform
from .atomic import atomic_path
from .frames import FrameSpec, every, motion_vectors, open_frames
from .geometry import apply

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class MotionSettings(FromConfig):
    backend: str = "dis"
    fps: float = 10.0
    analysis_short_side: int = 180
    moving_px_s: float = 20.0  # a pixel moving faster than this counts as moving
    grid: int = 16
    device: str = "auto"  # ilk: cuda when cuCIM imports and a GPU is there
    dis_preset: str = "medium"  # OpenCV DIS presets: ultrafast | fast | medium
    # segments: hysteresis on mean_px_s (enter above, stay until below exit)
    enter_px_s: float = 8.0
    exit_px_s: float = 4.0
    min_segment_s: float = 0.5
    merge_gap_s: float = 0.5


BACKENDS = ("dis", "farneback", "ilk", "codec")
MIN_FLOW_SIDE = 16  # DIS needs 12; such videos give no clips anyway (too_small)
SEGMENT_COLUMNS = ["segment", "start_s", "end_s", "mean_px_s", "peak_px_s"]


def analysis_size(width: int, height: int, short_side: int) -> tuple[int, int]:
    """(w, h) with the short side ``short_side`` (never upscaled), even sides."""
    scale = min(1.0, short_side / min(width, height))
    return max(2, round(width * scale / 2) * 2), max(2, round(height * scale / 2) * 2)


# --- flow backends: (previous, next) grey uint8 -> (h, w, 2) displacement in pixels ----


DIS_PRESETS = ("ultrafast", "fast", "medium")


class DisFlow:
    def __init__(self, preset: str = "medium"):

        self.dis = cv2.DISOpticalFlow_create(
            getattr(cv2, f"DISOPTICAL_FLOW_PRESET_{preset.upper()}")
        )

    def __call__(self, previous: np.ndarray, current: np.ndarray) -> np.ndarray:
        return self.dis.calc(previous, current, None)


class FarnebackFlow:
    def __call__(self, previous: np.ndarray, current: np.ndarray) -> np.ndarray:

        return cv2.calcOpticalFlowFarneback(previous, current, None, 0.5, 3, 15, 3, 5, 1.2, 0)


class IlkFlow:
    """scikit-image's optical_flow_ilk on the CPU; cuCIM's identical API on CUDA."""

    def __init__(self, device: str = "auto"):
        self.xp, self.ilk = np, None
        if device in ("auto", "cuda"):
            try:
                import cupy  # optional heavy backend: ilk on a GPU
                from cucim.skimage.registration import optical_flow_ilk

                if cupy.cuda.runtime.getDeviceCount() > 0:
                    self.xp, self.ilk = cupy, optical_flow_ilk
            except Exception:  # any import or driver failure means the CPU
                if device == "cuda":
                    raise
        if self.ilk is None:
            from skimage.registration import optical_flow_ilk  # optional: the ilk backend

            self.ilk = optical_flow_ilk

    def __call__(self, previous: np.ndarray, current: np.ndarray) -> np.ndarray:
        xp = self.xp
        v, u = self.ilk(
            xp.asarray(previous, dtype=xp.float32), xp.asarray(current, dtype=xp.float32)
        )
        flow = xp.stack([u, v], axis=-1)
        return flow.get() if xp is not np else flow


def make_flow(backend: str, device: str = "auto", dis_preset: str = "medium"):
    if backend == "dis":
        return DisFlow(dis_preset)
    if backend == "farneback":
        return FarnebackFlow()
    if backend == "ilk":
        return IlkFlow(device)
    raise ValueError(f"unknown dense flow backend {backend!r}")


# --- scores ----------------------------------------------------------------------------


def percentile(values: np.ndarray, q: float) -> float:
    """np.percentile's linear interpolation, from a partial sort (a third of the time)."""
    position = (len(values) - 1) * q / 100.0
    low = int(np.floor(position))
    high = min(low + 1, len(values) - 1)
    part = np.partition(values, [low, high])
    return float(part[low] + (part[high] - part[low]) * (position - low))


class PairScores:
    """Per-pair statistics of a flow field, inside ``inside`` (the arena) when given."""

    def __init__(self, size: tuple[int, int], settings: MotionSettings, inside=None):
        width, height = size
        self.settings = settings
        self.inside = inside if inside is not None else np.ones((height, width), bool)
        rows = np.linspace(0, height, settings.grid + 1).astype(int)
        cols = np.linspace(0, width, settings.grid + 1).astype(int)
        self.rows, self.cols = rows[:-1], cols[:-1]
        counts = np.add.reduceat(
            np.add.reduceat(self.inside.astype(np.float64), self.rows, axis=0), self.cols, axis=1
        )
        self.patch_counts = counts
        self.patches = counts > 0.5 * counts.max()  # patches mostly inside the arena
        self.everywhere = bool(self.inside.all())

    def __call__(self, speed: np.ndarray) -> dict:
        """``speed``: (h, w) magnitudes in px/s."""
        values = speed[self.inside] if not self.everywhere else speed.ravel()
        sums = np.add.reduceat(
            np.add.reduceat(np.where(self.inside, speed, 0.0), self.rows, axis=0),
            self.cols,
            axis=1,
        )
        patch_means = sums[self.patches] / self.patch_counts[self.patches]
        return {
            "mean_px_s": float(values.mean()),
            "p95_px_s": percentile(values, 95),
            "moving_fraction": float((values > self.settings.moving_px_s).mean()),
            "min_patch_px_s": float(patch_means.min()),
        }


def dense_speeds(frames: Iterator, flow) -> Iterator[tuple[int, float, np.ndarray]]:
    """(frame, t_s, speed map in px/s) per consecutive pair of ``frames`` (grey Frame
    objects); speeds divide by the pair's real time apart, never a nominal rate."""
    previous = None
    for frame in frames:
        if previous is not None:
            displacement = flow(previous.data, frame.data)
            elapsed = frame.time_s - previous.time_s
            speed = np.hypot(displacement[..., 0], displacement[..., 1]) / elapsed
            yield frame.index, frame.time_s, speed
        previous = frame


def codec_speeds(
    path: str, probe: dict, settings: MotionSettings, size, arena=None
) -> Iterator[tuple[int, float, np.ndarray]]:
    """(frame, t_s, speed map in px/s) from the encoder's motion vectors (PyAV,
    ``+export_mvs``), per sampled frame: each block's vector, in source pixels per
    source frame, is drawn at its place on the analysis grid (through the arena's
    homography when there is one). Block resolution; no pixels reach Python."""

    width, height = size
    if arena is not None:
        to_grid = np.diag([width / arena.output_size[0], height / arena.output_size[1], 1.0])
        to_grid = to_grid @ arena.matrix
    else:
        to_grid = np.diag([width / probe["width"], height / probe["height"], 1.0])
    step = 1.0 / settings.fps
    next_sample, last_time = step, None
    for number, time_s, predicted, vectors in motion_vectors(path):
        elapsed, last_time = time_s - (last_time if last_time is not None else 0.0), time_s
        # P-frames only: an I-frame has no vectors, a B-frame's may point either way
        if time_s < next_sample - 1e-3 or elapsed <= 0 or not predicted:
            continue
        while next_sample <= time_s + 1e-3:
            next_sample += step
        speed = np.zeros((height, width), np.float32)
        if vectors is not None:
            mv = vectors[vectors["source"] < 0]  # from past frames: motion up to this frame
            if len(mv):
                scale = mv["motion_scale"].astype(np.float64)
                dst = np.c_[mv["dst_x"], mv["dst_y"]].astype(np.float64)
                src = dst + np.c_[mv["motion_x"] / scale, mv["motion_y"] / scale]
                magnitude = np.hypot(*(apply(to_grid, dst) - apply(to_grid, src)).T)
                half = np.c_[mv["w"], mv["h"]] / 2.0
                corners = zip(apply(to_grid, dst - half), apply(to_grid, dst + half), strict=True)
                for ((x0, y0), (x1, y1)), m in zip(corners, magnitude, strict=True):
                    c0, c1 = max(int(round(x0)), 0), min(int(round(x1)), width)
                    r0, r1 = max(int(round(y0)), 0), min(int(round(y1)), height)
                    if c1 > c0 and r1 > r0:
                        speed[r0:r1, c0:c1] = m / elapsed
        yield number, time_s, speed


# --- segments ----------------------------------------------------------------------------


def motion_segments(table: pd.DataFrame, settings: MotionSettings) -> pd.DataFrame:
    """Stretches that move: enter when mean_px_s rises above ``enter_px_s``, leave when
    it falls below ``exit_px_s``; gaps up to ``merge_gap_s`` merged, segments shorter
    than ``min_segment_s`` dropped. Times are [start, end) of the sampled pairs."""
    if table.empty:
        return pd.DataFrame(columns=SEGMENT_COLUMNS)
    step = 1.0 / settings.fps
    spans, start, inside = [], None, False
    for t, value in zip(table["t_s"], table["mean_px_s"], strict=True):
        if not inside and value > settings.enter_px_s:
            inside, start = True, t - step  # the pair spans [t - step, t]
        elif inside and value < settings.exit_px_s:
            inside = False
            spans.append([start, t - step])
    if inside:
        spans.append([start, float(table["t_s"].iloc[-1])])
    merged: list[list[float]] = []
    for span in spans:
        if merged and span[0] - merged[-1][1] <= settings.merge_gap_s + 1e-9:
            merged[-1][1] = span[1]
        else:
            merged.append(span)
    rows = []
    for start, end in merged:
        if end - start + 1e-9 < settings.min_segment_s:
            continue
        part = table[(table["t_s"] > start + 1e-9) & (table["t_s"] <= end + 1e-9)]
        rows.append(
            {
                "segment": len(rows) + 1,
                "start_s": round(max(start, 0.0), 6),
                "end_s": round(end, 6),
                "mean_px_s": float(part["mean_px_s"].mean()),
                "peak_px_s": float(part["mean_px_s"].max()),
            }
        )
    return pd.DataFrame(rows, columns=SEGMENT_COLUMNS)


# --- windows -----------------------------------------------------------------------------


# --- the stage ---------------------------------------------------------------------------


@contextlib.contextmanager
def sampled_frames(video, probe, settings: MotionSettings, size, arena=None, video_id=None):
    """The frame source at the analysis size (grey, every frame with its own time),
    thinned to about ``settings.fps`` frames a second."""

    spec = FrameSpec(size=size, pix_fmt="gray", arena=arena)
    with open_frames(video, probe, spec, video_id) as frames:
        yield every(frames, 1.0 / settings.fps)


def motion_table(
    video: str, probe: dict, settings: MotionSettings, arena=None, video_id: str | None = None
) -> pd.DataFrame:

    shown = arena.output_size if arena is not None else (probe["width"], probe["height"])
    size = analysis_size(*shown, settings.analysis_short_side)
    inside = None
    if arena is not None:
        outside = mask_for(arena, size)
        inside = None if outside is None else ~outside
    scores = PairScores(size, settings, inside)
    if min(size) < MIN_FLOW_SIDE:
        log.warning("%s: %dx%d frames are too small for flow; no motion", video_id, *size)
        rows = []
    elif settings.backend == "codec":
        speeds = codec_speeds(video, probe, settings, size, arena)
        rows = [{"frame": f, "t_s": round(t, 6), **scores(v)} for f, t, v in speeds]
    else:
        flow = make_flow(settings.backend, settings.device, settings.dis_preset)
        with sampled_frames(video, probe, settings, size, arena, video_id) as frames:
            speeds = dense_speeds(frames, flow)
            rows = [{"frame": f, "t_s": round(t, 6), **scores(v)} for f, t, v in speeds]
    columns = ["frame", "t_s", "mean_px_s", "p95_px_s", "moving_fraction", "min_patch_px_s"]
    table = pd.DataFrame(rows, columns=columns)
    if arena is not None and arena.px_per_cm:
        px_per_cm = arena.px_per_cm * size[0] / arena.output_size[0]
        for name in ("mean", "p95", "min_patch"):
            table[f"{name}_cm_s"] = table[f"{name}_px_s"] / px_per_cm
    return table


def motion_stage(
    video: str,
    probe_json: str,
    settings: MotionSettings,
    out_table: str,
    out_segments: str,
    arena_json: str | None = None,
) -> pd.DataFrame:

    probe = json.loads(Path(probe_json).read_text())
    arena = read_transform(arena_json) if arena_json else None
    table = motion_table(video, probe, settings, arena, probe["video_id"])
    segments = motion_segments(table, settings)
    with atomic_path(out_table, suffix=".parquet") as tmp:
        table.to_parquet(tmp, index=False)
    with atomic_path(out_segments) as tmp:
        segments.to_csv(tmp, sep="\t", index=False)
    log.info(
        "%s: %s motion on %d frame pairs (mean %.1f px/s), %d moving segments (%.1f s)",
        probe["video_id"],
        settings.backend,
        len(table),
        float(table["mean_px_s"].mean()) if len(table) else 0.0,
        len(segments),
        float((segments.end_s - segments.start_s).sum()) if len(segments) else 0.0,
    )
    return table
