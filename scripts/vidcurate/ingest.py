"""Bring each video into resources/videos/: link local files, download URLs."""

from __future__ import annotations

import glob
import http.client
import json
import logging
import os
import re
import shutil
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from vidcurate.settings import FromConfig

from .errors import TransientError, VideoError
from .termination import raise_if_terminated
from .web import (
    Deadline,
    RedirectRefused,
    TransferError,
    open_url,
    read_body,
    redact_text,
    redact_url,
    retrying,
    secrets_of,
    split_credentials,
    url_sha256,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class IngestSettings(FromConfig):
    """How sources are brought in (config ``ingest``)."""

    local_mode: str = "symlink"
    retries: int = 5
    ytdlp_format: str = "bv*[height<=720][ext=mp4]+ba[ext=m4a]/b[height<=720][ext=mp4]"
    timeout_s: float = 30.0
    max_download_s: float = 6 * 3600.0
    min_rate_kb_s: float = 8.0
    max_gb: float = 50.0


@dataclass(frozen=True)
class DownloadLimits(FromConfig):
    """How long a download may take and how large it may be (config ``ingest``)."""

    timeout_s: float = 30.0  # the longest wait for any one network read
    max_download_s: float = 6 * 3600.0  # wall clock for the whole download, retries too
    min_rate_kb_s: float = 8.0  # slower than this over timeout_s (or 30 s) fails the attempt
    max_gb: float = 50.0

    @property
    def max_bytes(self) -> int:
        return int(self.max_gb * 1e9)


RETRYABLE_HTTP = {408, 425, 429, 500, 502, 503, 504}
# yt-dlp's messages for what a later attempt may not meet (network, server errors);
# anything else (unavailable, private, removed, unsupported) is the source's fault
_TRANSIENT_YTDLP = re.compile(
    r"HTTP Error 5\d\d|HTTP Error 429|timed? ?out|Connection|Temporary failure|"
    r"Network is unreachable|Remote end closed|IncompleteRead",
    re.IGNORECASE,
)


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


def url_key(url: str) -> str:
    """16 hex digits of sha256(url): names the partial files that belong to ``url``."""
    return url_sha256(url)[:16]


def partial_paths(dest: str | Path, url: str) -> tuple[Path, Path]:
    """The partial file and its JSON sidecar of downloading ``url`` to ``dest``."""
    dest_path = Path(dest)
    stem = f".{dest_path.name}.{url_key(url)}"
    return dest_path.with_name(stem + ".part"), dest_path.with_name(stem + ".part.json")


def _remove_partials(dest_path: Path, keep: tuple[Path, ...] = ()) -> None:
    """Delete the partial downloads of ``dest_path`` (any URL's, and the old ``name.part``)
    except ``keep``."""
    own = re.compile(re.escape(f".{dest_path.name}.") + r"[0-9a-f]{16}\.part(\.json)?")
    found = list(dest_path.parent.glob(glob.escape(f".{dest_path.name}.") + "*.part*"))
    found.append(dest_path.with_name(dest_path.name + ".part"))  # written before URL keys
    for path in found:
        if path not in keep and (path.name == f"{dest_path.name}.part" or own.fullmatch(path.name)):
            if path.exists():
                log.info("%s: removed partial download %s", dest_path.name, path.name)
            path.unlink(missing_ok=True)


class _Restart(Exception):
    """The partial file cannot be continued; fetch again from byte 0 in the same attempt."""


class TooLarge(TransferError):
    """The source is larger than ingest.max_gb allows."""


def download_http(
    url: str,
    dest: str,
    video_id: str,
    retries: int = 5,
    limits: DownloadLimits | None = None,
    backoff_s: float = 1.0,
) -> int:
    """Download ``url`` to ``dest`` with retries and resume; returns the byte count.

    Bytes land in ``.{name}.{url key}.part`` and are renamed to ``dest`` only when
    complete, so ``dest`` never holds half a file. The part belongs to one URL (its
    sha256 names it); a sidecar ``.part.json`` keeps the URL's sha256, the server's
    validator (a strong ETag, else Last-Modified) and the total length. A dropped
    connection, in this run or a later one, resumes with ``Range`` + ``If-Range``; a part
    with no validator, a reply starting elsewhere than asked, a changed validator or
    total, or a 200 reply restarts from byte 0, so bytes of two versions are never spliced.

    ``user:password@`` in the URL is sent as Basic authentication, never to another host
    (vidcurate.web). Client errors (404, 403, ...) and a source over ``limits.max_gb`` are
    the source's fault: VideoError at once. Timeouts, slow or dropped connections and
    server errors are retried within ``limits.max_download_s``; when every attempt failed
    that is a TransientError (the job fails and a later run tries again, the video is not
    rejected). A failure removes the part and sidecar. URLs appear in logs and errors
    without query string or credentials.
    """
    limits = limits or DownloadLimits()
    dest_path = Path(dest)
    dest_path.parent.mkdir(parents=True, exist_ok=True)
    part, sidecar = partial_paths(dest_path, url)
    _remove_partials(dest_path, keep=(part, sidecar))
    shown, secrets = redact_url(url), secrets_of(url)
    try:
        urllib.request.Request(split_credentials(url)[0])
    except ValueError:
        raise VideoError(video_id, f"download failed: not a URL: {shown}") from None
    deadline = Deadline.after(limits.max_download_s)
    attempts = []

    def attempt(number: int) -> int:
        attempts.append(number)
        return _fetch(url, part, sidecar, video_id, deadline, limits)

    def retryable(err: Exception) -> float | None:
        if isinstance(err, urllib.error.HTTPError):
            return (_retry_after(err.headers) or 0.0) if err.code in RETRYABLE_HTTP else None
        if isinstance(err, TooLarge | RedirectRefused):
            return None
        if isinstance(err, urllib.error.URLError | http.client.HTTPException | OSError):
            return 0.0
        return None

    def on_retry(number: int, err: Exception) -> None:
        state = _load_state(sidecar, url)
        got = part.stat().st_size if state and _validator(state) and part.exists() else 0
        log.warning(
            "%s: attempt %d of %d failed (%s); %d bytes kept for resume",
            video_id,
            number + 1,
            retries + 1,
            redact_text(_describe(err), secrets),
            got,
        )

    try:
        size = retrying(
            attempt,
            retries + 1,
            retryable,
            base_s=backoff_s,
            max_s=max(backoff_s, 60.0),
            jitter=False,
            on_retry=on_retry,
            deadline=deadline,
        )
    except Exception as err:
        _remove_partials(dest_path)
        reason = redact_text(_describe(err), secrets)
        if retryable(err) is None and isinstance(err, urllib.error.HTTPError | TooLarge):
            raise VideoError(video_id, f"download failed: {reason} for {shown}") from None
        if retryable(err) is None and not isinstance(err, RedirectRefused):
            raise
        raise TransientError(
            f"{video_id}: download failed after {len(attempts)} attempts: {reason} for {shown}"
        ) from None
    os.replace(part, dest_path)
    sidecar.unlink(missing_ok=True)
    log.info("%s: downloaded %d bytes from %s (attempt %d)", video_id, size, shown, len(attempts))
    return size


def _describe(err: Exception) -> str:
    if isinstance(err, urllib.error.HTTPError):
        return f"HTTP {err.code} {err.reason}"
    if isinstance(err, TransferError):
        return str(err)
    return f"{type(err).__name__}: {getattr(err, 'reason', err)}"


def _retry_after(headers) -> float | None:
    value = headers.get("Retry-After") if headers else None
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


def _fetch(
    url: str, part: Path, sidecar: Path, video_id: str, deadline: Deadline, limits: DownloadLimits
) -> int:
    """One attempt: continue ``part`` where it can be trusted, else fetch from byte 0.

    Returns the size of the complete part; raises on an error or a short read."""
    try:
        return _request(url, part, sidecar, deadline, limits, resume=True)
    except _Restart as why:
        log.info("%s: partial download discarded (%s); restarting from byte 0", video_id, why)
        return _request(url, part, sidecar, deadline, limits, resume=False)


def _request(
    url: str, part: Path, sidecar: Path, deadline: Deadline, limits: DownloadLimits, resume: bool
) -> int:
    state = _load_state(sidecar, url) if resume else None
    have = part.stat().st_size if state and part.exists() else 0
    validator = _validator(state) if state else None
    if state and state.get("total") is not None and have > state["total"]:
        have = 0
    if not (have and validator):
        have = 0
        part.unlink(missing_ok=True)
        sidecar.unlink(missing_ok=True)
    headers = {"User-Agent": "vidcurate"}
    if have:
        headers["Range"] = f"bytes={have}-"
        headers["If-Range"] = validator
    try:
        response = open_url(url, deadline, limits.timeout_s, headers=headers)
    except urllib.error.HTTPError as err:
        if err.code == 416 and have:
            err.close()
            total = _unsatisfied_total(err.headers.get("Content-Range"))
            if total == have and state.get("total") in (None, have) and _same_version(state, err):
                return have  # the part already holds every byte of this version
            raise _Restart(f"HTTP 416, server length {total} vs {have} bytes kept") from None
        raise
    with response:
        if response.status == 206:
            start, total = _content_range(response.headers.get("Content-Range"))
            if start != have:
                if have:
                    raise _Restart(f"206 reply starts at byte {start}, asked for {have}")
                raise http.client.HTTPException(f"206 reply starts at byte {start}, asked for 0")
            if have and not _same_version(state, response):
                raise _Restart("validator changed in a 206 reply")
            if have and None not in (total, state.get("total")) and total != state["total"]:
                raise _Restart(f"length changed from {state['total']} to {total}")
        elif response.status == 200:
            have = 0  # whole file: the server ignored Range, or If-Range did not match
            length = response.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
        else:
            raise http.client.HTTPException(f"unexpected HTTP {response.status}")
        if total is not None and total > limits.max_bytes:
            raise TooLarge(f"{total} bytes, more than ingest.max_gb ({limits.max_gb:g} GB)")
        if not have:
            sidecar.unlink(missing_ok=True)  # never a new validator beside old bytes
            part.write_bytes(b"")
            _save_state(sidecar, url, response, total)
        with open(part, "r+b") as fh:
            fh.seek(have)
            fh.truncate()
            try:
                read_body(
                    response,
                    deadline,
                    max_bytes=limits.max_bytes - have,
                    sink=fh,
                    min_rate=limits.min_rate_kb_s * 1000,
                    rate_window_s=limits.timeout_s,
                )
            except TransferError as err:
                if "larger than" in str(err):
                    raise TooLarge(f"more than ingest.max_gb ({limits.max_gb:g} GB)") from None
                raise
    size = part.stat().st_size
    if total is not None and size < total:
        raise http.client.IncompleteRead(b"", total - size)
    if total is not None and size > total:
        part.unlink()
        raise http.client.HTTPException(f"got {size} bytes, server announced {total}")
    return size


def _load_state(sidecar: Path, url: str) -> dict | None:
    try:
        state = json.loads(sidecar.read_text())
    except (OSError, ValueError):
        return None
    mine = isinstance(state, dict) and state.get("url_sha256") == url_sha256(url)
    return state if mine else None


def _save_state(sidecar: Path, url: str, response, total: int | None) -> None:
    state = {
        "url": redact_url(url),  # for people; a signed token is not kept on disk
        "url_sha256": url_sha256(url),
        "etag": response.headers.get("ETag"),
        "last_modified": response.headers.get("Last-Modified"),
        "total": total,
    }
    sidecar.write_text(json.dumps(state))


def _validator(state: dict) -> str | None:
    """What If-Range may carry: a strong ETag, else Last-Modified (RFC 9110 13.1.5)."""
    etag = state.get("etag")
    if etag and not etag.startswith("W/"):
        return etag
    return state.get("last_modified") or None


def _same_version(state: dict, reply) -> bool:
    """False where ``reply`` names a different ETag or Last-Modified than was saved."""
    for key, header in (("etag", "ETag"), ("last_modified", "Last-Modified")):
        seen = reply.headers.get(header)
        if seen is not None and state.get(key) is not None and seen != state[key]:
            return False
    return True


def _content_range(content_range: str | None) -> tuple[int | None, int | None]:
    # "bytes 100-199/200" -> (100, 200); "bytes 100-199/*" -> (100, None)
    match = re.fullmatch(r"\s*bytes\s+(\d+)-\d+/(\d+|\*)\s*", content_range or "")
    if not match:
        return None, None
    total = match.group(2)
    return int(match.group(1)), int(total) if total.isdigit() else None


def _unsatisfied_total(content_range: str | None) -> int | None:
    # "bytes */200" -> 200
    match = re.fullmatch(r"\s*bytes\s+\*/(\d+)\s*", content_range or "")
    return int(match.group(1)) if match else None


class _RedactingLogger:
    """yt-dlp's logger: its lines go to ``log`` with URLs passed through redact_url
    and the secrets of the URL being fetched cut out."""

    def __init__(self, secrets: tuple[str, ...]):
        self.secrets = secrets

    def debug(self, msg: str) -> None:
        log.debug("%s", redact_text(msg, self.secrets))

    def info(self, msg: str) -> None:
        log.info("%s", redact_text(msg, self.secrets))

    def warning(self, msg: str) -> None:
        log.warning("%s", redact_text(msg, self.secrets))

    def error(self, msg: str) -> None:
        log.error("%s", redact_text(msg, self.secrets))


def _ytdlp_leftovers(dest_path: Path) -> list[Path]:
    """Every ``.{stem}.ytdlp.*`` file yt-dlp left beside ``dest_path``."""
    return list(dest_path.parent.glob(glob.escape(f".{dest_path.stem}.ytdlp.") + "*"))


def download_ytdlp(
    url: str,
    dest: str,
    video_id: str,
    fmt: str,
    retries: int = 5,
    limits: DownloadLimits | None = None,
) -> None:
    """Fetch a page URL through yt-dlp's Python API, remuxed to mp4, renamed when complete.

    yt-dlp's files are named ``.{stem}.ytdlp.{url key}.*``: it continues only its own
    URL's partial files; other URLs' leftovers are removed first, and all on failure.
    ``limits`` bound each network wait, the whole download and the file's size."""
    limits = limits or DownloadLimits()
    import yt_dlp  # optional heavy backend: only videos fetched from pages

    dest_path = Path(dest)
    dest_path.parent.mkdir(parents=True, exist_ok=True)
    stem = dest_path.with_name(f".{dest_path.stem}.ytdlp.{url_key(url)}")
    shown, secrets = redact_url(url), secrets_of(url)
    for leftover in _ytdlp_leftovers(dest_path):
        if not leftover.name.startswith(stem.name + "."):
            leftover.unlink(missing_ok=True)
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
        "logger": _RedactingLogger(secrets),
        "socket_timeout": limits.timeout_s,
        "max_filesize": limits.max_bytes,
        "progress_hooks": [_stop_after(Deadline.after(limits.max_download_s))],
    }
    try:
        try:
            with yt_dlp.YoutubeDL(options) as ydl:
                ydl.extract_info(url, download=True)
        except yt_dlp.utils.DownloadError as err:
            message = redact_text(str(err).removeprefix("ERROR: ").splitlines()[0], secrets)
            reason = f"yt-dlp could not fetch {shown}: {message}"
            if _TRANSIENT_YTDLP.search(message):
                raise TransientError(f"{video_id}: {reason}") from None
            raise VideoError(video_id, reason) from None
        produced = Path(f"{stem}.mp4")
        if not produced.exists():
            raise VideoError(video_id, f"yt-dlp produced no mp4 for {shown}")
        os.replace(produced, dest_path)
    except (VideoError, TransientError):
        for leftover in _ytdlp_leftovers(dest_path):
            leftover.unlink(missing_ok=True)
        raise


def _stop_after(deadline: Deadline):
    """A yt-dlp progress hook that ends the download past ``deadline`` or on SIGTERM."""

    def hook(_progress: dict) -> None:
        raise_if_terminated()
        if deadline.remaining() <= 0:
            raise TransferError("not complete within ingest.max_download_s (timed out)")

    return hook
