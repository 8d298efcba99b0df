"""Bring each video into resources/videos/: link local files, download URLs."""

from __future__ import annotations

import http.client
import logging
import os
import shutil
import time
import urllib.error
import urllib.request
from pathlib import Path

from .errors import VideoError

log = logging.getLogger(__name__)

CHUNK = 1 << 20
RETRYABLE_HTTP = {408, 425, 429, 500, 502, 503, 504}


def ingest_local(source: str, dest: str, mode: str = "symlink") -> None:
    """Make ``dest`` refer to the local ``source``: symlink, hardlink or copy."""
    dest_path = Path(dest)
    dest_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest_path.with_name(f".{dest_path.name}.tmp")
    if tmp.exists() or tmp.is_symlink():
        tmp.unlink()
    if mode == "symlink":
        tmp.symlink_to(Path(source).resolve())
    elif mode == "hardlink":
        try:
            os.link(source, tmp)
        except OSError:
            shutil.copy2(source, tmp)
    elif mode == "copy":
        shutil.copy2(source, tmp)
    else:
        raise ValueError(f"unknown local ingest mode {mode!r}")
    os.replace(tmp, dest_path)


def download_http(
    url: str,
    dest: str,
    video_id: str,
    retries: int = 5,
    timeout: float = 30.0,
    backoff_s: float = 1.0,
) -> int:
    """Download ``url`` to ``dest`` with retries and resume; returns the byte count.

    Bytes land in ``dest``.part and are renamed only when complete, so ``dest``
    never holds half a file. A dropped connection resumes with an HTTP Range
    request where the server allows it. Client errors (404, 403, ...) fail at once.
    """
    dest_path = Path(dest)
    dest_path.parent.mkdir(parents=True, exist_ok=True)
    part = dest_path.with_name(dest_path.name + ".part")
    last_error = "no attempt made"
    for attempt in range(1, retries + 2):
        have = part.stat().st_size if part.exists() else 0
        request = urllib.request.Request(url, headers={"User-Agent": "vidcurate"})
        if have:
            request.add_header("Range", f"bytes={have}-")
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                if have and response.status == 206:
                    expected = _range_total(response.headers.get("Content-Range"))
                    mode = "ab"
                else:
                    have, mode = 0, "wb"
                    length = response.headers.get("Content-Length")
                    expected = int(length) if length and length.isdigit() else None
                with open(part, mode) as fh:
                    while chunk := response.read(CHUNK):
                        fh.write(chunk)
            size = part.stat().st_size
            if expected is not None and size < expected:
                raise http.client.IncompleteRead(b"", expected - size)
            os.replace(part, dest_path)
            log.info("%s: downloaded %d bytes from %s (attempt %d)", video_id, size, url, attempt)
            return size
        except urllib.error.HTTPError as err:
            if err.code == 416 and have:
                # the .part already holds every byte: the server has nothing after it
                os.replace(part, dest_path)
                return dest_path.stat().st_size
            if err.code not in RETRYABLE_HTTP:
                raise VideoError(
                    video_id, f"download failed: HTTP {err.code} {err.reason} for {url}"
                ) from None
            last_error = f"HTTP {err.code} {err.reason}"
        except (urllib.error.URLError, http.client.HTTPException, OSError) as err:
            last_error = f"{type(err).__name__}: {getattr(err, 'reason', err)}"
        got = part.stat().st_size if part.exists() else 0
        log.warning(
            "%s: attempt %d of %d failed (%s); %d bytes kept for resume",
            video_id,
            attempt,
            retries + 1,
            last_error,
            got,
        )
        if attempt <= retries:
            time.sleep(backoff_s * 2 ** (attempt - 1))
    raise VideoError(
        video_id, f"download failed after {retries + 1} attempts: {last_error} for {url}"
    )


def _range_total(content_range: str | None) -> int | None:
    # "bytes 100-199/200" -> 200
    if content_range and "/" in content_range:
        total = content_range.rsplit("/", 1)[1]
        return int(total) if total.isdigit() else None
    return None


def download_ytdlp(url: str, dest: str, video_id: str, fmt: str, retries: int = 5) -> None:
    """Fetch a page URL through yt-dlp's Python API, remuxed to mp4, renamed when complete."""
    import yt_dlp

    dest_path = Path(dest)
    dest_path.parent.mkdir(parents=True, exist_ok=True)
    stem = dest_path.with_name(f".{dest_path.stem}.ytdlp")
    options = {
        "format": fmt,
        "outtmpl": f"{stem}.%(ext)s",
        "merge_output_format": "mp4",
        "postprocessors": [{"key": "FFmpegVideoRemuxer", "preferedformat": "mp4"}],
        "retries": retries,
        "fragment_retries": retries,
        "continuedl": True,
        "noplaylist": True,
        "quiet": True,
        "no_warnings": True,
        "noprogress": True,
        "logger": log,
    }
    try:
        with yt_dlp.YoutubeDL(options) as ydl:
            ydl.extract_info(url, download=True)
    except yt_dlp.utils.DownloadError as err:
        message = str(err).removeprefix("ERROR: ").splitlines()[0]
        raise VideoError(video_id, f"yt-dlp could not fetch {url}: {message}") from None
    produced = Path(f"{stem}.mp4")
    if not produced.exists():
        raise VideoError(video_id, f"yt-dlp produced no mp4 for {url}")
    os.replace(produced, dest_path)
