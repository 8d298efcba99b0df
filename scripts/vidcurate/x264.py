"""The one H.264 writer: mp4 files (faststart, no audio) encoded frame by frame by
in-process libx264 (PyAV), for clips, the anonymized master and per-track clips.

The same frames and settings give the same bytes on every run, in any thread, on any
x86-64 machine since 2008:

- x264's thread count is fixed by the caller (its bytes depend on it, and by default
  it follows the CPUs the process sees);
- x264's instruction set is pinned to the highest of AVX2, AVX, SSE4.2 and SSSE3 the
  CPU has. Those four give identical bytes, while x264's AVX-512 code gave bytes that
  changed from run to run and with the calling thread (it depends on memory it was
  not given: the same frames encoded twice in one process differed in 3 of 10 clips,
  up to 58/255 in pixels), and its plain C and SSE2 paths give other bytes again
  (docs/determinism.md has the measurements).
"""

from __future__ import annotations

import functools
import os
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

# (x264's name for an instruction set, the /proc/cpuinfo flags it needs), best first;
# x264's names are cumulative ("AVX2" includes everything below it)
_PINNED_LEVELS = (
    ("AVX2", {"avx2", "fma", "bmi1", "bmi2", "abm"}),
    ("AVX", {"avx"}),
    ("SSE4.2", {"sse4_2"}),
    ("SSSE3", {"ssse3"}),
)


@functools.cache
def pinned_instruction_set(cpuinfo: str = "/proc/cpuinfo") -> str | None:
    """x264's ``asm`` setting for this CPU, or None where x264 must choose itself (no
    /proc/cpuinfo, not x86, or a CPU older than SSSE3): the bytes may differ there."""
    try:
        text = Path(cpuinfo).read_text()
    except OSError:
        return None
    flags = set()
    for line in text.splitlines():
        if line.startswith("flags"):
            flags = set(line.partition(":")[2].split())
            break
    for name, needs in _PINNED_LEVELS:
        if needs <= flags:
            return name
    return None


# the colour names x264 writes into the stream (its VUI), as ffprobe spells them
X264_COLOUR = {
    "primaries": ("colorprim", {"bt709", "bt470m", "bt470bg", "smpte170m", "smpte240m", "bt2020"}),
    "transfer": (
        "transfer",
        {"bt709", "bt470m", "bt470bg", "smpte170m", "smpte240m", "linear", "iec61966-2-1"}
        | {"bt2020-10", "bt2020-12", "smpte2084", "arib-std-b67"},
    ),
    "matrix": ("colormatrix", {"bt709", "fcc", "bt470bg", "smpte170m", "smpte240m", "bt2020nc"}),
    "range": ("range", {"tv", "pc"}),
}


def _colour_params(colour: dict[str, str]) -> list[str]:
    """x264-params that tag the stream with ``colour`` (names x264 does not know are
    left out: untagged is better than wrongly tagged)."""
    params = []
    for key, value in colour.items():
        name, known = X264_COLOUR[key]
        if value in known:
            params.append(f"{name}={value}")
    return params


class H264Writer:
    """One mp4 being written: ``write`` frames (numpy arrays or av.VideoFrames, with
    their pts), then ``close`` (or leave the ``with`` block) to flush the encoder.
    ``colour`` (primaries, transfer, matrix, range) tags the stream."""

    def __init__(
        self,
        path: str | os.PathLike,
        size: tuple[int, int],
        rate: Fraction | int,
        crf: int,
        preset: str,
        pix_fmt: str = "yuv420p",
        threads: int = 1,
        time_base: Fraction | None = None,
        options: dict[str, str] | None = None,
        colour: dict[str, str] | None = None,
    ):
        self.container = av.open(str(path), "w", format="mp4", options={"movflags": "+faststart"})
        try:
            stream = self.container.add_stream("libx264", rate=rate)
            stream.width, stream.height = size
            stream.pix_fmt = pix_fmt
            if time_base is not None:
                stream.time_base = time_base
                stream.codec_context.time_base = time_base
            asm = pinned_instruction_set()
            params = [f"asm={asm}"] if asm else []
            params += _colour_params(colour or {})
            stream.options = {
                "crf": str(crf),
                "preset": preset,
                **(options or {}),
                **({"x264-params": ":".join(params)} if params else {}),
            }
            stream.codec_context.thread_count = threads
        except BaseException:
            self.container.close()
            raise
        self.stream = stream
        self.frames = 0

    def write(self, frame: av.VideoFrame) -> None:
        self.container.mux(self.stream.encode(frame))
        self.frames += 1

    def write_array(self, array: np.ndarray, pix_fmt: str, pts: int) -> None:
        frame = av.VideoFrame.from_ndarray(array, format=pix_fmt)
        frame.pts = pts
        self.write(frame)

    def close(self) -> None:
        """Flush the encoder and finish the file; idempotent."""
        if self.container is None:
            return
        container, self.container = self.container, None
        try:
            container.mux(self.stream.encode(None))
        finally:
            container.close()

    def abandon(self) -> None:
        """Close without flushing (after an error: the file is removed by its caller)."""
        if self.container is not None:
            container, self.container = self.container, None
            container.close()

    def __enter__(self):
        return self

    def __exit__(self, kind, *_exc) -> None:
        if kind is None:
            self.close()
        else:
            self.abandon()
