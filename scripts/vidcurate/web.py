"""HTTP for downloads and APIs, with the same rules everywhere: credentials stay with the
host they were given for, every request has a deadline, every answer is read within a
byte cap (error bodies too), retries back off, and URLs are shown without secrets.

- ``user:password@`` in a URL becomes an ``Authorization: Basic`` header; that header
  (and an API key's) is never sent to another host: a download that is redirected to
  another host goes there without it, an API call (``follow_redirects=False``) is not
  redirected at all and fails with the reason.
- ``read_body`` reads with ``read1`` (one network read at a time), checking between reads
  the wall-clock deadline, the byte cap, the least transfer rate and SIGTERM, so a server
  that trickles one byte every few seconds is cut off instead of holding a job forever.
"""

from __future__ import annotations

import base64
import hashlib
import random
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from .termination import raise_if_terminated

CHUNK = 1 << 20
T = TypeVar("T")
_URL_IN_TEXT = re.compile(r"\b[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"<>]+")


# --- showing URLs ---------------------------------------------------------------------------


def redact_url(url: str) -> str:
    """``url`` fit for logs and tables: scheme, host, port and path only.

    A query string or fragment (signed tokens such as ``X-Amz-Signature``) becomes
    ``?…`` and ``user:password@`` is dropped. ``https://u:p@h/v.mp4?sig=x`` ->
    ``https://h/v.mp4?…``."""
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:  # e.g. an unclosed IPv6 bracket: cut at the first ? or #
        head = re.split(r"[?#]", url, maxsplit=1)[0]
        head = re.sub(r"^([^:/]+://)[^/@]*@", r"\1", head)
        return head + ("?…" if len(head) < len(url) else "")
    host = parts.netloc.rpartition("@")[2]
    tail = "?…" if parts.query or parts.fragment else ""
    return urllib.parse.urlunsplit((parts.scheme, host, parts.path, "", "")) + tail


def redact_source(source: str) -> str:
    """A sheet source as the dataset's tables carry it: a URL without userinfo, query
    string or fragment (and without the ``?…`` mark); a local path as it is ('#' and
    '?' are file name characters there)."""
    parts = urllib.parse.urlsplit(source)
    if len(parts.scheme) <= 1:  # no scheme, or a Windows drive letter
        return source
    host = parts.netloc.rpartition("@")[2]
    return urllib.parse.urlunsplit((parts.scheme, host, parts.path, "", ""))


def url_sha256(url: str) -> str:
    """The hex sha256 of the whole URL: stands for it where the URL may not be kept."""
    return hashlib.sha256(url.encode("utf-8")).hexdigest()


def secrets_of(url: str) -> tuple[str, ...]:
    """The parts of ``url`` that redact_url drops, as they might appear outside it
    (yt-dlp names a video after the URL's last path segment, query included):
    query, fragment, password, and query values of 8 characters or more."""
    try:
        parts = urllib.parse.urlsplit(url)
        password = parts.password
    except ValueError:
        return ()
    found = {parts.query, parts.fragment, password or ""}
    found.update(urllib.parse.unquote(s) for s in list(found))
    found.update(v for _, v in urllib.parse.parse_qsl(parts.query) if len(v) >= 8)
    return tuple(sorted((s for s in found if s), key=len, reverse=True))


def redact_text(text: str, secrets: tuple[str, ...] = ()) -> str:
    """``text`` on one line, with every URL in it passed through :func:`redact_url`
    and each of ``secrets`` (see :func:`secrets_of`) replaced by ``…``."""
    text = _URL_IN_TEXT.sub(lambda m: redact_url(m.group(0)), text)
    for secret in secrets:
        text = text.replace(secret, "…")
    return " ".join(text.split())


# --- requests -------------------------------------------------------------------------------


class TransferError(OSError):
    """The answer came too slowly, past its deadline, or was larger than allowed."""


class RedirectRefused(urllib.error.URLError):
    """A redirect this request may not follow (another host, another method)."""


@dataclass(frozen=True)
class Deadline:
    """A wall-clock limit (time.monotonic based)."""

    end: float

    @classmethod
    def after(cls, seconds: float) -> Deadline:
        return cls(time.monotonic() + seconds)

    def remaining(self) -> float:
        return self.end - time.monotonic()


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urllib.parse.urlsplit(url)
    return parts.scheme.lower(), (parts.hostname or "").lower(), parts.port


def split_credentials(url: str) -> tuple[str, str | None]:
    """(``url`` without ``user:password@``, the Basic ``Authorization`` value or None)."""
    parts = urllib.parse.urlsplit(url)
    if parts.username is None:
        return url, None
    user = urllib.parse.unquote(parts.username)
    password = urllib.parse.unquote(parts.password or "")
    host = parts.netloc.rpartition("@")[2]
    plain = urllib.parse.urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return plain, f"Basic {token}"


class _Redirects(urllib.request.HTTPRedirectHandler):
    """urllib's redirects with our rules: credentials only to their own origin; an API
    call (``follow=False``) is never redirected."""

    def __init__(self, follow: bool):
        self.follow = follow

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        shown = redact_url(newurl)
        if not self.follow:
            raise RedirectRefused(
                f"redirected (HTTP {code}) to {shown}: not followed, so the request and its "
                "credentials go nowhere but the configured address"
            )
        new = super().redirect_request(req, fp, code, msg, headers, newurl)
        if new is not None and _origin(newurl) != _origin(req.full_url):
            for name in list(new.headers):
                if name.lower() in ("authorization", "cookie"):
                    del new.headers[name]
        return new


def open_url(
    url: str,
    deadline: Deadline,
    read_timeout: float,
    headers: dict[str, str] | None = None,
    data: bytes | None = None,
    method: str | None = None,
    follow_redirects: bool = True,
):
    """Send one request; its answer (urllib's response; an HTTPError for 4xx/5xx).

    ``user:password@`` in ``url`` is sent as Basic authentication; no single network
    wait lasts longer than ``read_timeout`` or the time left until ``deadline``."""
    plain, auth = split_credentials(url)
    headers = dict(headers or {})
    if auth:
        headers["Authorization"] = auth
    request = urllib.request.Request(plain, data=data, headers=headers, method=method)
    wait = min(read_timeout, deadline.remaining())
    if wait <= 0:
        raise TransferError("deadline passed before the request")
    opener = urllib.request.build_opener(_Redirects(follow_redirects))
    return opener.open(request, timeout=wait)


def read_body(
    response,
    deadline: Deadline,
    max_bytes: int,
    sink=None,
    min_rate: float = 0.0,
    rate_window_s: float = 30.0,
) -> bytes:
    """Read the rest of ``response``, one network read at a time, into ``sink`` (a
    binary file; the bytes are returned when there is none).

    Raises TransferError when ``deadline`` passes, the answer grows past ``max_bytes``,
    or fewer than ``min_rate`` bytes/s arrive over a ``rate_window_s`` window."""
    got, parts = 0, []
    window_start, window_bytes = time.monotonic(), 0
    while True:
        raise_if_terminated()
        if deadline.remaining() <= 0:
            raise TransferError(f"not complete within its time limit ({got} bytes read)")
        chunk = response.read1(CHUNK)
        if not chunk:
            break
        got += len(chunk)
        if got > max_bytes:
            raise TransferError(f"answer larger than {max_bytes} bytes")
        if sink is None:
            parts.append(chunk)
        else:
            sink.write(chunk)
        window_bytes += len(chunk)
        elapsed = time.monotonic() - window_start
        if elapsed >= rate_window_s:
            if min_rate and window_bytes / elapsed < min_rate:
                raise TransferError(
                    f"slower than {min_rate / 1000:g} kB/s: {window_bytes} bytes in "
                    f"{elapsed:.0f} s ({got} bytes read)"
                )
            window_start, window_bytes = time.monotonic(), 0
    return b"".join(parts)


def error_body(err: urllib.error.HTTPError, max_bytes: int = 4096) -> str:
    """At most ``max_bytes`` of an error answer's body, as one line of text."""
    try:
        data = err.read(max_bytes) if err.fp else b""
    except OSError:
        data = b""
    return " ".join(data.decode("utf-8", "replace").split())


# --- retries --------------------------------------------------------------------------------


def backoff_s(attempt: int, base_s: float, max_s: float, jitter: bool = True) -> float:
    """Seconds to wait before attempt ``attempt + 1`` (0-based ``attempt``): exponential,
    with jitter (a random factor in [0.5, 1]) unless turned off, never above ``max_s``."""
    wait = base_s * 2**attempt
    if jitter:
        wait *= 0.5 + random.random() / 2
    return min(wait, max_s)


def retrying(
    call: Callable[[int], T],
    attempts: int,
    retryable: Callable[[Exception], float | None],
    base_s: float = 1.0,
    max_s: float = 60.0,
    jitter: bool = True,
    sleep: Callable[[float], None] | None = None,
    on_retry: Callable[[int, Exception], None] | None = None,
    deadline: Deadline | None = None,
) -> T:
    """``call(attempt)`` until it returns, at most ``attempts`` times. An exception for
    which ``retryable`` returns None ends it at once; otherwise the wait before the next
    attempt is what ``retryable`` returned when positive (a server's Retry-After), else
    the backoff. The last exception is raised when no attempt is left, or none fits
    before ``deadline``."""
    for attempt in range(attempts):
        try:
            return call(attempt)
        except Exception as err:
            wait = retryable(err)
            if wait is None or attempt + 1 >= attempts:
                raise
            wait = min(wait if wait > 0 else backoff_s(attempt, base_s, max_s, jitter), max_s)
            if deadline is not None and wait >= deadline.remaining():
                raise
            if on_retry is not None:
                on_retry(attempt, err)
            raise_if_terminated()
            (sleep or time.sleep)(wait)
    raise ValueError("retrying: attempts must be at least 1")
