"""Errors that carry a one-line, user-facing reason."""

from __future__ import annotations

import re


class VideoError(Exception):
    """One input video cannot go through a stage.

    The message names the video and the reason in one line; stage scripts log it
    instead of a traceback and fail only that video's job.
    """

    def __init__(self, video_id: str, reason: str):
        super().__init__(f"{video_id}: {reason}")
        self.video_id = video_id
        self.reason = reason


class TransientError(RuntimeError):
    """A failure outside the video that a later attempt may not meet (a timeout, a
    server error, a dropped connection): it fails the job, which Snakemake's
    ``--retries`` (or the next run) tries again; it never rejects the video."""


class SheetError(ValueError):
    """The sample sheet is malformed; the message names the line and column."""


def ffmpeg_reason(stderr: bytes | str, path: str = "") -> str:
    """The last meaningful line of ffmpeg's stderr, without '[demuxer @ 0x..]' noise."""
    if isinstance(stderr, bytes):
        stderr = stderr.decode("utf-8", "replace")
    lines = []
    for raw in stderr.splitlines():
        line = re.sub(r"^\[[^\]]*@ 0x[0-9a-f]+\]\s*", "", raw.strip())
        if path and line.startswith(str(path)):
            line = line[len(str(path)) :].lstrip(": ")
        if line:
            lines.append(line)
    if not lines:
        return "unknown error"
    # ffprobe ends with a generic line ("Invalid data found when processing input");
    # the line before it usually says what is wrong
    if len(lines) >= 2 and "Invalid data found" in lines[-1]:
        return f"{lines[-2]} ({lines[-1][0].lower()}{lines[-1][1:]})"
    return lines[-1]
