"""A chat-completions server on 127.0.0.1 for the caption tests (no real model is called).

The request's ``model`` picks the behaviour:
  ok       200 with a caption naming the number of images it was sent
  flaky    429 (Retry-After: 0) on the first request of each clip, then like ok
  down     500 on every request
  garbage  200 with a body that is not JSON
  slow     answers after 3 s (longer than the tests' timeout)
  trickle  200, then one byte of the answer every 0.3 s (for minutes)
  silent   reads the request and says nothing for a minute
  huge     200 with a 50 MB caption
  long     200 with a caption of 5,000 characters
  moved    302 to ``redirect_to`` (another host), which records what it is sent
Every request is recorded (model, image count, Authorization header) for the asserts.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import threading
import time
from http.server import BaseHTTPRequestHandler

from conftest import LocalServer


class ChatServer(LocalServer):
    def __init__(self, redirect_to: str = ""):
        self.requests: list[dict] = []
        self.seen: set[str] = set()
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                content = body["messages"][1]["content"]
                images = [part for part in content if part["type"] == "image_url"]
                fingerprint = hashlib.sha256(json.dumps(content).encode()).hexdigest()
                model = body["model"]
                with server.lock:
                    server.requests.append(
                        {
                            "model": model,
                            "images": len(images),
                            "authorization": self.headers.get("Authorization"),
                            "system": body["messages"][0]["content"],
                            "max_tokens": body["max_tokens"],
                        }
                    )
                    first = fingerprint not in server.seen
                    server.seen.add(fingerprint)
                if model == "down":
                    return self._send(500, b'{"error": "overloaded"}')
                if model == "flaky" and first:
                    return self._send(429, b'{"error": "rate limited"}', {"Retry-After": "0"})
                if model == "garbage":
                    return self._send(200, b"<html>not json</html>")
                if model == "slow":
                    time.sleep(3)
                if model == "trickle":
                    return self._trickle()
                if model == "silent":
                    time.sleep(60)
                    return None
                if model == "moved":
                    return self._send(302, b"", {"Location": redirect_to})
                if model in ("huge", "long"):
                    words = (50_000_000 if model == "huge" else 5_000) // 5
                    return self._send(200, answer_with("word " * words))
                answer = {
                    "choices": [
                        {
                            "message": {
                                "role": "assistant",
                                "content": f"a clip seen in {len(images)} images",
                            }
                        }
                    ]
                }
                return self._send(200, json.dumps(answer).encode())

            def _trickle(self):
                self.send_response(200)
                self.send_header("Content-Length", "100000")
                self.end_headers()
                with contextlib.suppress(OSError):
                    for _ in range(100_000):
                        self.wfile.write(b" ")
                        self.wfile.flush()
                        time.sleep(0.3)

            def _send(self, status, payload, headers=None):
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.end_headers()
                # the client may have timed out and gone
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    self.wfile.write(payload)

        super().__init__(Handler, "/v1/chat/completions")

    def count(self, model: str) -> int:
        with self.lock:
            return sum(1 for r in self.requests if r["model"] == model)


def answer_with(caption: str) -> bytes:
    return json.dumps(
        {"choices": [{"message": {"role": "assistant", "content": caption}}]}
    ).encode()


class Elsewhere(LocalServer):
    """Another host (``localhost`` and another port): records what reaches it."""

    def __init__(self):
        self.requests: list[dict] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _record(self):
                outer.requests.append(
                    {"method": self.command, "authorization": self.headers.get("Authorization")}
                )
                payload = answer_with("an answer from elsewhere")
                self.send_response(200)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = _record

        super().__init__(Handler, "/elsewhere")
        self.url = self.url.replace("127.0.0.1", "localhost")
