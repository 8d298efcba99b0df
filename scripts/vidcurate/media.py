"""Small ffprobe readings shared by stages (no decoding)."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from .errors import VideoError, ffmpeg_reason
from .runner import raise_if_terminated


def packet_times(path: str) -> list[tuple[float, float]]:
    """(pts, duration) in seconds of every packet of the first video stream, in
    presentation order. Demuxes only, so it is cheap even for long videos."""
    out = subprocess.run(
        [
            "ffprobe",
            "-v",
            "error",
            "-select_streams",
            "v:0",
            "-show_entries",
            "packet=pts_time,duration_time",
            "-of",
            "csv=p=0",
            str(path),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    times = []
    for line in out.stdout.splitlines():
        fields = line.split(",")
        try:
            pts = float(fields[0])
        except (ValueError, IndexError):
            continue
        try:
            duration = float(fields[1])
        except (ValueError, IndexError):
            duration = 0.0
        times.append((pts, duration))
    return sorted(times)


def rgb_frames(
    path: str, size: tuple[int, int], scale: bool = True, video_id: str | None = None
) -> Iterator[np.ndarray]:
    """Every frame once (no resampling), upright, as RGB uint8 arrays (h, w, 3).

    ``size`` is the frame size to deliver: with ``scale`` ffmpeg resizes to it (area
    filter, on the CPU, never in Python); without, it must be the displayed size.
    """
    width, height = size
    filters = ["-vf", f"scale={width}:{height}:flags=area"] if scale else []
    cmd = [
        "ffmpeg",
        "-nostdin",
        "-v",
        "error",
        "-i",
        str(path),
        "-map",
        "0:v:0",
        "-fps_mode",
        "passthrough",
        *filters,
        "-f",
        "rawvideo",
        "-pix_fmt",
        "rgb24",
        "-",
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    frame_bytes = width * height * 3
    try:
        while len(data := proc.stdout.read(frame_bytes)) == frame_bytes:
            raise_if_terminated()
            yield np.frombuffer(data, np.uint8).reshape(height, width, 3)
    finally:
        proc.stdout.close()
        stderr = proc.stderr.read()
        code = proc.wait()
    if code != 0:
        raise VideoError(
            video_id or Path(path).stem, f"decoding failed: {ffmpeg_reason(stderr, str(path))}"
        )
