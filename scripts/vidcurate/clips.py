"""Cut many exact clips from one video in a single decode pass.

The frame source decodes the video once, upright and with square pixels, resampled
to a constant ``fps`` from the first video frame (output frame ``n`` is the source
frame on screen at time ``n / fps``) and scaled. Each frame is routed to the windows
that contain it, and every finished window is encoded to its own H.264 file by
in-process libx264 (PyAV) in a small thread pool, so encoding uses all cores while
decoding continues. No process is started per clip and nothing seeks, so every clip has exactly
``seconds * fps`` frames.
"""

from __future__ import annotations

import json
import logging
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
import pandas as pd

from vidcurate.settings import FromConfig, frames_per_clip

from .arena import read_transform
from .atomic import atomic_dir, atomic_path
from .columns import CLIP_COLUMNS, MOTION_COLUMNS, Window, read_windows, start_frame
from .frames import FrameSpec, delivered_colour, open_frames
from .geometry import clip_size
from .x264 import H264Writer

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ClipSettings(FromConfig):
    """How clips are cut and encoded (config ``clips``; min_short_side only decides
    windows)."""

    seconds: float = 1.0
    fps: int = 25
    max_short_side: int = 360
    crf: int = 23
    preset: str = "fast"
    jpeg_quality: int = 95

    def __post_init__(self):
        frames_per_clip(self.seconds, self.fps)  # fail on a fractional frame count

    @property
    def n_frames(self) -> int:
        return frames_per_clip(self.seconds, self.fps)


def encode_clip(
    frames: list[np.ndarray],
    clip_path: Path,
    keyframe_path: Path,
    settings: ClipSettings,
    size: tuple[int, int],
    colour: dict[str, str] | None = None,
) -> None:
    """Write one clip (H.264 yuv420p mp4, faststart, no audio, tagged with ``colour``)
    and its first frame as JPEG.

    One x264 thread per clip: parallelism comes from encoding several clips at once;
    frame threads inside one 25-frame clip mostly wait on its flush."""
    with H264Writer(
        clip_path, size, settings.fps, settings.crf, settings.preset, colour=colour
    ) as out:
        for index, plane in enumerate(frames):
            out.write_array(plane, "yuv420p", pts=index)
    first = av.VideoFrame.from_ndarray(frames[0], format="yuv420p")
    first.to_image().save(keyframe_path, format="JPEG", quality=settings.jpeg_quality)


def extract_clips(
    video_path: str,
    video_id: str,
    probe: dict,
    windows: list,
    settings: ClipSettings,
    clips_dir: Path,
    keyframes_dir: Path,
    workers: int = 2,
    arena=None,
) -> list[dict]:
    """Encode every window in ``windows`` (objects with window/start_s/end_s) to a clip.

    Returns one row per window: status 'clip' with the clip's name ("0001", ...),
    or 'dropped' with a reason. Files go to ``clips_dir``/NNNN.mp4 and
    ``keyframes_dir``/NNNN.jpg; the caller makes those directories atomic. With an
    ``arena`` (ArenaTransform) the frame source rectifies while decoding and clips
    are in arena pixels; each row then records ``to_source``, the 3x3 map from clip
    pixels back to displayed source pixels.
    """
    shown = arena.output_size if arena is not None else (probe["width"], probe["height"])
    size = clip_size(*shown, settings.max_short_side)
    to_source = json.dumps(np.linalg.inv(arena.scaled_to(size)).round(10).tolist()) if arena else ""
    n_frames = settings.n_frames
    plan = sorted(((start_frame(w.start_s, settings.fps), w) for w in windows), key=lambda p: p[0])
    rows: dict[int, dict] = {}
    if not plan:
        return []
    last_frame = max(first + n_frames for first, _ in plan)
    spec = FrameSpec(
        size=size,
        fps=settings.fps,
        pix_fmt="yuv420p",
        scaler="bicubic",
        max_frames=last_frame,
        # windows end within the probed duration, so the padding copy is never used
        pad_end=True,
        arena=arena,
    )
    colour = delivered_colour(probe)
    pending: deque[tuple[Future, int]] = deque()
    clip_number = 0
    active: dict[int, list] = {}  # plan index -> frames gathered so far
    next_plan = 0
    frame_index = 0
    with (
        ThreadPoolExecutor(max_workers=max(1, workers)) as pool,
        open_frames(video_path, probe, spec, video_id) as source,
    ):
        try:
            for frame in source:
                frame_index, plane = frame.index, frame.data
                while next_plan < len(plan) and plan[next_plan][0] <= frame_index:
                    active[next_plan] = []
                    next_plan += 1
                for index in list(active):
                    first, window = plan[index]
                    active[index].append(plane)
                    if len(active[index]) < n_frames:
                        continue
                    frames = active.pop(index)
                    clip_number += 1
                    name = f"{clip_number:04d}"
                    rows[window.window] = _row(
                        video_id, window, first, "clip", "", name, n_frames, size, to_source
                    )
                    future = pool.submit(
                        encode_clip,
                        frames,
                        clips_dir / f"{name}.mp4",
                        keyframes_dir / f"{name}.jpg",
                        settings,
                        size,
                        colour,
                    )
                    pending.append((future, window.window))
                    # bound memory: at most two queued clips per worker
                    while len(pending) > 2 * max(1, workers):
                        pending.popleft()[0].result()
            frame_index = source.delivered
        finally:
            source.close()
            for future, _ in pending:
                future.result()
    for first, window in plan:
        if window.window not in rows:
            rows[window.window] = _row(video_id, window, first, "dropped", "incomplete")
            log.warning(
                "%s: window %d ends after the last decoded frame (%d); dropped",
                video_id,
                window.window,
                frame_index,
            )
    return [rows[w.window] for _, w in plan]


def _row(
    video_id, window, first, status, reason="", name="", n_frames=0, size=(0, 0), to_source=""
):
    """One line of the per-video clip table: a clip, or a dropped window and why."""
    return {
        "video_id": video_id,
        "window": window.window,
        "start_s": window.start_s,
        "end_s": window.end_s,
        "start_frame": first,
        "status": status,
        "reason": reason,
        "clip": name,
        "n_frames": n_frames,
        "width": size[0],
        "height": size[1],
        "clip_file": f"{name}.mp4" if name else "",
        "keyframe_file": f"{name}.jpg" if name else "",
        "to_source": to_source,
    }


def clips_stage(
    video: str,
    probe_json: str,
    windows_tsv: str,
    settings: ClipSettings,
    clips_dir: str,
    keyframes_dir: str,
    out_tsv: str,
    workers: int = 2,
    arena_json: str | None = None,
) -> pd.DataFrame:
    """Encode the kept windows; record every window, kept or dropped, in ``out_tsv``.
    ``arena_json`` (the arena stage's output) puts the clips in arena pixels."""
    probe = json.loads(Path(probe_json).read_text())
    arena = read_transform(arena_json) if arena_json else None
    video_id = probe["video_id"]
    table = read_windows(windows_tsv)
    kept = [
        Window(int(r.window), float(r.start_s), float(r.end_s))
        for r in table.itertuples()
        if r.keep
    ]
    motion = {
        int(r["window"]): {c: r[c] for c in MOTION_COLUMNS}
        for r in table.to_dict("records")
        if MOTION_COLUMNS[0] in r
    }
    with atomic_dir(clips_dir) as tmp_clips, atomic_dir(keyframes_dir) as tmp_keys:
        rows = extract_clips(
            video, video_id, probe, kept, settings, tmp_clips, tmp_keys, workers, arena
        )
    dropped = [
        _row(
            video_id,
            Window(int(r.window), float(r.start_s), float(r.end_s)),
            -1,
            "dropped",
            r.reason,
        )
        for r in table.itertuples()
        if not r.keep
    ]
    for row in rows + dropped:
        row.update(motion.get(row["window"], {}))
    result = pd.DataFrame(rows + dropped, columns=CLIP_COLUMNS).sort_values("window")
    with atomic_path(out_tsv) as tmp:
        result.to_csv(tmp, sep="\t", index=False)
    log.info(
        "%s: %d clips from %d windows", video_id, int((result.status == "clip").sum()), len(result)
    )
    return result
