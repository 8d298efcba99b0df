"""A chat-completions server on 127.0.0.1 for the caption tests (no real model is called).

The request's ``model`` picks the behaviour:
  ok       200 with a caption naming the number of images it was sent
  flaky    429 (Retry-After: 0) on the first request of each clip, then like ok
  down     500 on every request
  garbage  200 with a body that is not JSON
  slow     answers after 3 s (longer than the tests' timeout)
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
    def __init__(self):
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
