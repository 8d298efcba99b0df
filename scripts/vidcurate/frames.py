"""The one frame source every stage reads pixels through.

``open_frames(path, probe, spec)`` streams the frames of a video's first video
stream, one at a time, as numpy arrays with their presentation time:

- times are measured from the first video frame (``setpts=PTS-STARTPTS``), so a
  video stream that starts after its audio is not padded at the start;
- rotation (display matrix) is applied, and so is the sample aspect ratio: frames
  come out at the displayed size with square pixels, or scaled to ``spec.size``;
- optionally resampled to a constant rate (``spec.fps``: frame ``n`` is the source
  frame on screen at ``n / fps``), or every decoded frame exactly once;
- memory is bounded (one frame in flight here, the pipe's buffer in ffmpeg) and the
  decoder's stderr is drained by a thread as it comes, so a damaged file cannot
  deadlock the two processes; its last lines make the error message;
- the decoder process is always reaped, whether the stream ends, fails, or the
  consumer stops early (``close()``, leaving the ``with`` block, SIGTERM).

The CPU backend is an ffmpeg process writing raw frames to a pipe (decoding runs
beside the Python work, on its own threads). Backends are looked up by name in
``BACKENDS``, so a GPU decoder (PyNvVideoCodec) delivering the same frames plugs
in behind the same interface, and a crop/perspective step becomes one more filter
in ``video_filters``.
"""

from __future__ import annotations

import queue
import re
import signal
import subprocess
import threading
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from .errors import VideoError, ffmpeg_reason
from .termination import raise_if_terminated

CHANNELS = {"rgb24": 3, "gray": 1}
# an error line per corrupt slice is normal for a few damaged packets; past both
# limits the decoder is producing garbage and the video fails with the reason
MAX_DECODE_ERRORS = 100
MAX_ERRORS_PER_FRAME = 0.1
STDERR_TAIL_LINES = 20
# how long the frame's time may lag its pixels (two pipes, one process)
TIME_WAIT_S = 30.0

_SHOWINFO = re.compile(rb"\] n:\s*\d+\s+pts:\s*(-?\d+)\s")
_TIME_BASE = re.compile(rb"config in time_base: (\d+)/(\d+)")
_LEVEL = re.compile(rb"\[(warning|error|fatal|panic)\] ")


@dataclass(frozen=True)
class Frame:
    index: int  # 0-based number of the delivered frame
    time_s: float  # presentation time, from the first video frame
    data: np.ndarray  # rgb24 (h, w, 3) | gray (h, w) | yuv420p (h * 3 // 2, w), uint8


@dataclass(frozen=True)
class FrameSpec:
    """What a stage wants: size, rate, pixel format, and how much of the video."""

    size: tuple[int, int] | None = None  # (w, h) delivered; None: the displayed size
    fps: Fraction | int | None = None  # constant rate; None: every decoded frame once
    pix_fmt: str = "rgb24"  # rgb24 | gray | yuv420p
    scaler: str = "area"  # swscale flags (area for thumbnails, bicubic for clips)
    until_s: float | None = None  # stop at this presentation time
    max_frames: int | None = None
    # repeat the last frame for one frame period: files whose last frame has no stated
    # duration would otherwise lose it to the constant-rate resampler
    pad_end: bool = False
    max_decode_errors: int | None = MAX_DECODE_ERRORS  # None: never fail on error count
    # the arena (vidcurate.arena.ArenaTransform): frames come out in arena pixels,
    # rectified or masked while decoding, at ``size`` (default: the arena's own size)
    arena: object | None = None
    # decode keyframes only (cheap samples spread over a long video)
    keyframes_only: bool = False

    def frame_bytes(self, size: tuple[int, int]) -> int:
        width, height = size
        if self.pix_fmt == "yuv420p":
            return width * height * 3 // 2
        return width * height * CHANNELS[self.pix_fmt]

    def frame_shape(self, size: tuple[int, int]) -> tuple[int, ...]:
        width, height = size
        if self.pix_fmt == "yuv420p":
            return (height * 3 // 2, width)
        if self.pix_fmt == "gray":
            return (height, width)
        return (height, width, 3)


def delivered_size(probe: dict, spec: FrameSpec) -> tuple[int, int]:
    if spec.size:
        return spec.size
    if spec.arena is not None:
        return tuple(spec.arena.output_size)
    return int(probe["width"]), int(probe["height"])  # the probe's displayed size


# HDR (PQ or HLG, BT.2020) to SDR BT.709: linear light with 100 nits as 1.0, BT.709
# primaries, Hable's curve with its white at 1000 nits (peak 10) and no desaturation,
# then BT.709's display transfer (BT.1886) and matrix (zimg)
TONEMAP_FILTERS = [
    "zscale=t=linear:npl=100",
    "format=gbrpf32le",
    "zscale=p=bt709",
    "tonemap=tonemap=hable:desat=0:peak=10",
    "zscale=t=bt709:m=bt709:r=tv",
]
SDR_BT709 = {"primaries": "bt709", "transfer": "bt709", "matrix": "bt709"}


def delivered_colour(probe: dict) -> dict[str, str]:
    """The colour of the frames the source delivers: BT.709 after tone mapping, else
    the video's own as it declares it (primaries, transfer, matrix; whatever it leaves
    unsaid stays unsaid, and a video that declares nothing gets nothing). Limited
    range: the source's YUV output always is."""
    if probe.get("tonemap"):
        return {**SDR_BT709, "range": "tv"}
    own = {
        "primaries": probe.get("color_primaries"),
        "transfer": probe.get("color_transfer"),
        "matrix": probe.get("color_space"),
    }
    declared = {key: value for key, value in own.items() if value}
    return {**declared, "range": "tv"} if declared else {}


def video_filters(probe: dict, spec: FrameSpec) -> list[str]:
    """The ffmpeg filter chain (after ffmpeg's own autorotation) for ``spec``; an HDR
    source the probe marked for tone mapping is SDR BT.709 from the first filter on."""
    width, height = delivered_size(probe, spec)
    if spec.pix_fmt == "yuv420p" and (width % 2 or height % 2):
        raise ValueError(f"yuv420p frames need even sides, got {width}x{height}")
    chain = ["setpts=PTS-STARTPTS", *(TONEMAP_FILTERS if probe.get("tonemap") else [])]
    scale = f"scale={width}:{height}:flags={spec.scaler}"
    if spec.arena is not None:
        geometry = []
        if str(probe.get("sample_aspect_ratio") or "1") != "1":
            # arena points are in square displayed pixels
            shown_w, shown_h = int(probe["width"]), int(probe["height"])
            geometry.append(f"scale={shown_w}:{shown_h}:flags={spec.scaler}")
        scale = ",".join([*geometry, *spec.arena.ffmpeg_filters((width, height), spec.scaler)])
    if spec.fps:
        if spec.pad_end:
            chain.append("tpad=stop_mode=clone:stop=1")
        resample = f"fps={spec.fps}"
        # resample first when it drops frames (less to scale), scale first when it
        # repeats them
        source_fps = probe.get("avg_fps") or float(spec.fps)
        chain += [resample, scale] if source_fps >= float(spec.fps) else [scale, resample]
    else:
        chain += [scale, "showinfo=checksum=0"]  # each frame's time, on stderr
    chain += ["setsar=1", f"format={spec.pix_fmt}"]
    return chain


def ffmpeg_command(path: str, probe: dict, spec: FrameSpec) -> list[str]:
    command = [
        "ffmpeg",
        "-nostdin",
        "-hide_banner",
        "-nostats",
        # info for showinfo's per-frame times; the level tag tells errors apart
        "-loglevel",
        "level+info",
        *(["-skip_frame", "nokey"] if spec.keyframes_only else []),
        "-i",
        str(path),
        "-map",
        "0:v:0",
        "-an",
        "-sn",
        "-dn",
        "-vf",
        ",".join(video_filters(probe, spec)),
        # our filters already decide every frame; the muxer must not add or drop any
        "-fps_mode",
        "passthrough",
    ]
    if spec.until_s is not None:
        command += ["-t", f"{spec.until_s:.6f}"]
    if spec.max_frames is not None:
        command += ["-frames:v", str(spec.max_frames)]
    return [*command, "-f", "rawvideo", "-pix_fmt", spec.pix_fmt, "-"]


class FfmpegFrames:
    """CPU backend: an ffmpeg process decoding to raw frames on a pipe."""

    def __init__(self, path: str, probe: dict, spec: FrameSpec, video_id: str | None = None):
        self.path, self.spec = str(path), spec
        self.video_id = video_id or probe.get("video_id") or Path(path).stem
        self.size = delivered_size(probe, spec)
        self._outside = self._mask_planes()
        self._warp = None
        if spec.arena is not None and spec.arena.kind == "perspective":
            self._warp = spec.arena.warp(self.size, spec.pix_fmt)
        self.frame_bytes = spec.frame_bytes(self.size)
        self.shape = spec.frame_shape(self.size)
        self.delivered = 0
        self.errors = 0
        self.stderr_tail: deque[bytes] = deque(maxlen=STDERR_TAIL_LINES)
        self._times: queue.SimpleQueue[float | None] = queue.SimpleQueue()
        self._closed = False
        self._proc = subprocess.Popen(
            ffmpeg_command(self.path, probe, spec),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        self._drain = threading.Thread(target=self._read_stderr, daemon=True)
        self._drain.start()

    def _read_stderr(self) -> None:
        time_base = None
        try:
            for line in self._proc.stderr:
                shown = _SHOWINFO.search(line)
                if shown and time_base is not None:
                    # exact: pts_time is printed with 6 significant digits only
                    self._times.put(float(int(shown.group(1)) * time_base))
                    continue
                config = _TIME_BASE.search(line)
                if config and int(config.group(2)):
                    time_base = Fraction(int(config.group(1)), int(config.group(2)))
                    continue
                level = _LEVEL.search(line)
                if level:
                    if level.group(1) != b"warning":
                        self.errors += 1
                    self.stderr_tail.append(line[: level.start()] + line[level.end() :])
        finally:
            self._times.put(None)  # no more times: the reader must not wait

    def _mask_planes(self) -> list[tuple[slice, np.ndarray, int]] | None:
        """(range of the flat frame, flat mask, value) per plane outside the arena."""
        if self.spec.arena is None:
            return None

        outside = self.spec.arena.outside(self.size)
        if outside is None:
            return None
        red, green, blue = self.spec.arena.mask_colour
        if self.spec.pix_fmt == "rgb24":
            flat = np.repeat(outside.ravel(), 3)
            colour = np.tile(np.array([red, green, blue], np.uint8), outside.size)[flat]
            return [(slice(None), flat, colour)]
        if self.spec.pix_fmt == "gray":
            grey = round(0.299 * red + 0.587 * green + 0.114 * blue)
            return [(slice(None), outside.ravel(), grey)]
        # yuv420p: the Y plane, then U and V at half size (BT.601 limited range, as
        # ffmpeg converts RGB by default)
        luma = outside.size
        chroma = outside[::2, ::2].ravel()
        y = round(16 + (65.481 * red + 128.553 * green + 24.966 * blue) / 255)
        u = round(128 + (-37.797 * red - 74.203 * green + 112.0 * blue) / 255)
        v = round(128 + (112.0 * red - 93.786 * green - 18.214 * blue) / 255)
        return [
            (slice(0, luma), outside.ravel(), y),
            (slice(luma, luma + chroma.size), chroma, u),
            (slice(luma + chroma.size, None), chroma, v),
        ]

    def reason(self) -> str:
        return ffmpeg_reason(b"".join(self.stderr_tail), self.path)

    def _fail(self, reason: str) -> VideoError:
        self.close()
        return VideoError(self.video_id, reason)

    def _read_exact(self) -> np.ndarray | None:
        data = np.empty(self.frame_bytes, np.uint8)
        view, got = memoryview(data), 0
        while got < self.frame_bytes:
            n = self._proc.stdout.readinto(view[got:])
            if not n:
                return None
            got += n
        return data.reshape(self.shape)

    def _time_of(self, index: int) -> float:
        if self.spec.fps:
            return float(index / Fraction(self.spec.fps))
        try:
            time_s = self._times.get(timeout=TIME_WAIT_S)
        except queue.Empty:
            time_s = None
        if time_s is None:
            raise self._fail(f"decoder gave frame {index} without its timestamp")
        return time_s

    def __iter__(self):
        return self

    def __next__(self) -> Frame:
        if self._closed:
            raise StopIteration
        raise_if_terminated()
        data = self._read_exact()
        if data is None:
            self._finish()
            raise StopIteration
        budget = self.spec.max_decode_errors
        if (
            budget is not None
            and self.errors > budget
            and self.errors > MAX_ERRORS_PER_FRAME * (self.delivered + 1)
        ):
            raise self._fail(
                f"damaged video: {self.errors} decode errors by frame {self.delivered}; "
                f"last: {self.reason()}"
            )
        if self._warp is not None:
            data = self._warp(data)
        if self._outside:
            flat = data.reshape(-1)
            for span, outside, value in self._outside:
                flat[span][outside] = value
        frame = Frame(self.delivered, self._time_of(self.delivered), data)
        self.delivered += 1
        return frame

    def _finish(self) -> None:
        """The pipe ended: wait for ffmpeg and raise its reason if it failed."""
        code = self._proc.wait()
        self._drain.join(timeout=5)
        self._closed = True
        self._proc.stdout.close()
        self._proc.stderr.close()
        if code < 0:
            # killed (the kernel's OOM killer, a signal to the job): not the video's fault
            raise RuntimeError(
                f"{self.video_id}: the ffmpeg decoder was killed by "
                f"{signal.Signals(-code).name} at frame {self.delivered}"
            )
        if code != 0:
            raise VideoError(
                self.video_id, f"decoding failed at frame {self.delivered}: {self.reason()}"
            )

    def close(self) -> None:
        """Stop early (or after a failure): end ffmpeg and reap it; idempotent."""
        if self._closed:
            return
        self._closed = True
        if self._proc.poll() is None:
            self._proc.kill()
        self._proc.stdout.close()
        self._proc.wait()
        self._drain.join(timeout=5)
        self._proc.stderr.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self):
        if not getattr(self, "_closed", True):
            self.close()


BACKENDS = {"ffmpeg": FfmpegFrames}


def every(frames: Iterator, step_s: float) -> Iterator:
    """The first frame at or after each multiple of ``step_s`` (half a frame's slack):
    source frames with their own times, so a 25 fps video sampled at 10 fps gives
    pairs 0.12 and 0.08 s apart, each measured as such."""
    next_time = 0.0
    for frame in frames:
        if frame.time_s >= next_time - 1e-3:
            yield frame
            while next_time <= frame.time_s + 1e-3:
                next_time += step_s


def median_frame(
    path: str, probe: dict, samples: int = 25, video_id: str | None = None, **spec_fields
):
    """The per-pixel median of ``samples`` frames spread over the video (RGB, or as
    ``spec_fields`` of FrameSpec ask: size, pix_fmt, arena): the empty arena, whatever
    moved through it.

    Keyframes only are decoded (the first one at or after each of ``samples`` evenly
    spaced times), so a long recording costs a fraction of a decode pass; a video
    with too few keyframes for that is sampled from every frame instead."""
    video_id = video_id or probe.get("video_id", "?")
    duration = max(float(probe["duration_s"]), 1e-3)
    targets = [(k + 0.5) * duration / samples for k in range(samples)]
    picked: list[np.ndarray] = []
    keyframes = FrameSpec(keyframes_only=True, **spec_fields)
    with open_frames(path, probe, keyframes, video_id) as source:
        for frame in source:
            while targets and frame.time_s >= targets[0] - 0.5 * duration / samples:
                targets.pop(0)
                if not picked or picked[-1] is not frame.data:
                    picked.append(frame.data)
            if not targets:
                break
    if len(picked) < min(samples, 5):
        rate = min(max(samples / duration, 1e-3), float(probe.get("avg_fps") or 25))
        spec = FrameSpec(
            fps=Fraction(rate).limit_denominator(100000), max_frames=samples, **spec_fields
        )
        with open_frames(path, probe, spec, video_id) as source:
            picked = [frame.data for frame in source]
    if not picked:
        raise VideoError(video_id, "no frame decoded for the arena's median frame")
    return np.median(np.stack(picked), axis=0).astype(np.uint8)


def motion_vectors(path: str) -> Iterator[tuple[int, float, bool, np.ndarray | None]]:
    """The encoder's own motion vectors, no pixels: (frame number, time from the first
    frame, whether it is a P-frame, its vectors as PyAV's structured array or None) for
    every decoded frame. In-process (PyAV with ``+export_mvs``): ffmpeg's pipe carries
    pixels only."""
    predicted = av.video.frame.PictureType.P
    first_time = None
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.codec_context.options = {"flags2": "+export_mvs"}
        stream.thread_type = "AUTO"
        for number, frame in enumerate(container.decode(stream)):
            raise_if_terminated()
            time_s = float(frame.time or 0.0)
            first_time = time_s if first_time is None else first_time
            vectors = frame.side_data.get("MOTION_VECTORS")
            yield (
                number,
                time_s - first_time,
                frame.pict_type == predicted,
                vectors.to_ndarray() if vectors is not None else None,
            )


def open_frames(
    path: str,
    probe: dict,
    spec: FrameSpec = FrameSpec(),
    video_id: str | None = None,
    backend: str = "ffmpeg",
) -> FfmpegFrames:
    """Stream ``path``'s frames as ``spec`` asks; use as an iterator inside ``with``."""
    try:
        factory = BACKENDS[backend]
    except KeyError:
        raise ValueError(f"unknown frame backend {backend!r}; have {sorted(BACKENDS)}") from None
    return factory(path, probe, spec, video_id)
