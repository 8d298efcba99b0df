"""Small ffprobe readings shared by stages (no decoding)."""

from __future__ import annotations

import subprocess


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
