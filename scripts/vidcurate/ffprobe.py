"""The one ffprobe: stream facts as JSON, and packet times, by the ffprobe program (no
decoding). Every stage that asks what a file holds asks through here."""

from __future__ import annotations

import json
import subprocess


class FfprobeError(RuntimeError):
    """ffprobe could not read the file; ``stderr`` holds its own words."""

    def __init__(self, stderr: str):
        super().__init__(stderr)
        self.stderr = stderr


def ffprobe_json(path: str, *options: str) -> dict:
    """``ffprobe -of json -show_streams -show_format`` of ``path``, with ``options``
    (e.g. ``-select_streams v:0``, ``-count_packets``)."""
    out = subprocess.run(
        ["ffprobe", "-v", "error", *options, "-show_streams", "-show_format"]
        + ["-of", "json", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    if out.returncode != 0:
        raise FfprobeError(out.stderr)
    return json.loads(out.stdout or "{}")


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
