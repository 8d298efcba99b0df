"""Captions of the kept clips through a chat-completions endpoint.

For each kept clip one request: the system prompt, then a user message holding the user
prompt, the keyframe and ``frames`` evenly spaced frames of the clip as JPEG data URLs
(OpenAI's ``image_url`` content parts, which vLLM, llama.cpp, Ollama and the hosted
APIs accept). The key comes from the environment variable ``api_key_env`` and is sent
only as the ``Authorization`` header: never in config, params, logs or errors.

Requests run ``concurrency`` at a time with a ``timeout_s`` each; 429, 5xx, timeouts
and dropped connections are retried ``retries`` times with exponential backoff (or the
server's Retry-After), anything else fails at once; a clip that still fails gets an
empty caption and its reason. Captions are cached by (clip content hash, model,
prompts, sampling, frames) in ``cache_dir``: a rerun, or a threshold change that keeps
the clip, never asks twice. Failures are not cached.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import socket
import threading
import urllib.error
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
from PIL import Image

from vidcurate.settings import FromConfig

from .atomic import atomic_path, write_text
from .frames import FrameSpec, open_frames
from .provenance import text_sha256
from .web import (
    Deadline,
    RedirectRefused,
    TransferError,
    error_body,
    open_url,
    read_body,
    redact_source,
    retrying,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CaptionSettings(FromConfig):
    api_url: str = "http://127.0.0.1:8000/v1/chat/completions"
    model: str = "gpt-4o-mini"
    system_prompt: str = "You describe short video clips for a training dataset."
    user_prompt: str = (
        "These are frames of a one-second clip, in order. Describe what happens in one sentence."
    )
    max_tokens: int = 120
    temperature: float = 0.0
    frames: int = 3
    image_long_side: int = 512
    api_key_env: str | None = "OPENAI_API_KEY"
    concurrency: int = 4
    timeout_s: float = 60.0
    max_caption_chars: int = 1000
    retries: int = 4
    backoff_s: float = 1.0
    max_backoff_s: float = 60.0
    cache_dir: str = "resources/captions"
    extra_body: dict = field(default_factory=dict)

    def request_identity(self) -> dict:
        """What changes a caption: the cache key holds these and the clip's bytes."""
        return {
            "model": self.model,
            "system_prompt": self.system_prompt,
            "user_prompt": self.user_prompt,
            "max_tokens": self.max_tokens,
            "temperature": self.temperature,
            "frames": self.frames,
            "image_long_side": self.image_long_side,
            "extra_body": self.extra_body,
        }


CAPTION_COLUMNS = [
    "video_id",
    "source_clip",
    "caption",
    "caption_status",
    "caption_reason",
    "caption_model",
    "caption_prompt_sha256",
]
RETRY_STATUS = {408, 409, 425, 429, 500, 502, 503, 504}
# the most of any answer read (error bodies too): a caption is a sentence, not megabytes
MAX_RESPONSE_BYTES = 1 << 20


class CaptionError(RuntimeError):
    """A caption request failed for good; the message is the reason recorded."""


def cache_key(clip_bytes: bytes, settings: CaptionSettings) -> str:
    digest = hashlib.sha256()
    digest.update(hashlib.sha256(clip_bytes).digest())
    digest.update(json.dumps(settings.request_identity(), sort_keys=True).encode())
    return digest.hexdigest()


# --- images --------------------------------------------------------------------------------


def _jpeg_data_url(rgb: np.ndarray, long_side: int) -> str:

    height, width = rgb.shape[:2]
    scale = min(1.0, long_side / max(width, height))
    if scale < 1.0:
        rgb = cv2.resize(
            rgb, (round(width * scale), round(height * scale)), interpolation=cv2.INTER_AREA
        )
    ok, jpeg = cv2.imencode(
        ".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 90]
    )
    if not ok:
        raise CaptionError("could not encode a frame as JPEG")
    return "data:image/jpeg;base64," + base64.b64encode(jpeg.tobytes()).decode()


def clip_images(
    clip: Path, keyframe: Path, width: int, height: int, n_frames: int, count: int, long_side: int
) -> list[str]:
    """The keyframe and ``count`` evenly spaced frames of the clip, as data URLs; frames
    come through the frame source."""

    images = [_jpeg_data_url(np.asarray(Image.open(keyframe).convert("RGB")), long_side)]
    if count > 0:
        wanted = set(np.linspace(0, max(n_frames - 1, 0), count + 2).round().astype(int)[1:-1])
        probe = {"video_id": clip.stem, "width": width, "height": height, "duration_s": 1.0}
        with open_frames(str(clip), probe, FrameSpec(max_frames=max(wanted) + 1)) as frames:
            for index, frame in enumerate(frames):
                if index in wanted:
                    images.append(_jpeg_data_url(frame.data, long_side))
    return images


# --- the endpoint ----------------------------------------------------------------------------


def prompt_sha256(settings: CaptionSettings) -> str:
    """sha256 of the prompt text each request sends: the system prompt, a newline, the
    user prompt (what a caption's row names, beside the model)."""
    return text_sha256(f"{settings.system_prompt}\n{settings.user_prompt}")


def request_body(settings: CaptionSettings, images: list[str]) -> dict:
    content = [{"type": "text", "text": settings.user_prompt}]
    content += [{"type": "image_url", "image_url": {"url": url}} for url in images]
    return {
        "model": settings.model,
        "messages": [
            {"role": "system", "content": settings.system_prompt},
            {"role": "user", "content": content},
        ],
        "max_tokens": settings.max_tokens,
        "temperature": settings.temperature,
        **settings.extra_body,
    }


def parse_caption(payload: bytes) -> str:
    try:
        data = json.loads(payload)
        text = data["choices"][0]["message"]["content"]
    except (ValueError, KeyError, IndexError, TypeError) as err:
        preview = payload[:120].decode("utf-8", "replace")
        raise CaptionError(f"malformed response ({type(err).__name__}): {preview!r}") from None
    if isinstance(text, list):  # content parts
        text = "".join(part.get("text", "") for part in text if isinstance(part, dict))
    if not isinstance(text, str) or not text.strip():
        raise CaptionError("malformed response: empty caption")
    return text.strip()


def _retry_after(headers) -> float | None:
    value = headers.get("Retry-After") if headers else None
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


class _Attempt(CaptionError):
    """One attempt's failure: ``retry`` when another attempt may succeed, after ``wait``
    seconds when the server said (Retry-After)."""

    def __init__(self, reason: str, retry: bool, wait: float | None = None):
        super().__init__(reason)
        self.retry, self.wait = retry, wait


def _one_request(url: str, data: bytes, headers: dict, settings: CaptionSettings) -> bytes:
    """POST once within ``timeout_s`` (connecting, sending and the whole answer), never
    redirected, the answer read up to MAX_RESPONSE_BYTES."""
    where = redact_source(url)
    deadline = Deadline.after(settings.timeout_s)
    too_slow = f"no complete answer from {where} within {settings.timeout_s:g} s"
    try:
        with open_url(
            url, deadline, settings.timeout_s, headers, data, "POST", follow_redirects=False
        ) as response:
            return read_body(response, deadline, MAX_RESPONSE_BYTES)
    except urllib.error.HTTPError as err:
        reason = f"HTTP {err.code} from {where}: {error_body(err)[:200]}"
        raise _Attempt(reason, err.code in RETRY_STATUS, _retry_after(err.headers)) from None
    except RedirectRefused as err:
        raise _Attempt(f"{where} {err.reason}", retry=False) from None
    except TransferError as err:
        if "larger than" in str(err):
            raise _Attempt(f"answer from {where} {err}", retry=False) from None
        raise _Attempt(too_slow, retry=True) from None
    except TimeoutError:
        raise _Attempt(too_slow, retry=True) from None
    except urllib.error.URLError as err:
        if isinstance(err.reason, TimeoutError | socket.timeout):
            raise _Attempt(too_slow, retry=True) from None
        raise _Attempt(f"cannot reach {where}: {err.reason}", retry=True) from None
    except (ConnectionError, OSError) as err:
        raise _Attempt(f"connection to {where} failed: {err}", retry=True) from None


def ask(body: dict, settings: CaptionSettings, api_key: str | None, sleep=None) -> tuple[str, int]:
    """POST ``body``; (caption, attempts made). Raises CaptionError with the reason.

    Each attempt has ``timeout_s`` in all; 429, 5xx, timeouts and dropped connections
    are retried with backoff (or the server's Retry-After). A redirect is not followed:
    the key goes to the configured address and nowhere else, and a POST never becomes
    a GET."""
    data = json.dumps(body).encode()
    headers = {"Content-Type": "application/json"}
    if api_key:
        headers["Authorization"] = f"Bearer {api_key}"
    attempts = []

    def attempt(number: int) -> str:
        attempts.append(number)
        return parse_caption(_one_request(settings.api_url, data, headers, settings))

    def retryable(err: Exception) -> float | None:
        if isinstance(err, _Attempt) and err.retry:
            return err.wait or 0.0
        return None

    try:
        caption = retrying(
            attempt,
            settings.retries + 1,
            retryable,
            base_s=settings.backoff_s,
            max_s=settings.max_backoff_s,
            sleep=sleep,
        )
    except _Attempt as err:
        if err.retry:
            raise CaptionError(f"{err} (after {len(attempts)} attempts)") from None
        raise CaptionError(str(err)) from None
    return caption, len(attempts)


# --- the stage ---------------------------------------------------------------------------------


def caption_clips(
    curated_parquet: str,
    clip_tables: dict[str, str],
    clip_dirs: dict[str, str],
    keyframe_dirs: dict[str, str],
    settings: CaptionSettings,
    out: str,
    api_key: str | None = None,
) -> pd.DataFrame:
    """Caption every kept clip of the curation table; write CAPTION_COLUMNS to ``out``."""
    curated = pd.read_parquet(curated_parquet)
    kept = curated[curated["keep"]].sort_values(["video_id", "start_s"])
    jobs = []
    for video_id, group in kept.groupby("video_id", sort=True):
        table = pd.read_csv(
            clip_tables[video_id], sep="\t", dtype={"clip": str}, keep_default_na=False
        )
        table = table.set_index("clip")
        for source_clip in group["clip"]:
            row = table.loc[source_clip]
            jobs.append(
                (
                    video_id,
                    source_clip,
                    Path(clip_dirs[video_id]) / row["clip_file"],
                    Path(keyframe_dirs[video_id]) / row["keyframe_file"],
                    int(row["width"]),
                    int(row["height"]),
                    int(row["n_frames"]),
                )
            )
    cache = Path(settings.cache_dir)
    cache.mkdir(parents=True, exist_ok=True)

    # clips with the same bytes share a cache entry: the second waits for the first
    # and reads its caption instead of asking (and paying) again
    locks: dict[str, threading.Lock] = defaultdict(threading.Lock)
    locks_guard = threading.Lock()
    prompt_sha = prompt_sha256(settings)

    def one(job) -> dict:
        video_id, source_clip, clip, keyframe, width, height, n_frames = job
        result = {"video_id": video_id, "source_clip": source_clip}
        status, note = "ok", ""
        try:
            key = cache_key(clip.read_bytes(), settings)
            with locks_guard:
                lock = locks[key]
            with lock:
                cached = cache / f"{key}.json"
                if cached.is_file():
                    caption = json.loads(cached.read_text())["caption"]
                    status = "cached"
                else:
                    images = clip_images(
                        clip,
                        keyframe,
                        width,
                        height,
                        n_frames,
                        settings.frames,
                        settings.image_long_side,
                    )
                    caption, _attempts = ask(request_body(settings, images), settings, api_key)
                    write_text(
                        cached,
                        json.dumps({"caption": caption, **settings.request_identity()}) + "\n",
                    )
        except Exception as err:  # one clip's failure (a bad file, an odd answer) is its own
            reason = str(err) if isinstance(err, CaptionError) else f"{type(err).__name__}: {err}"
            log.warning("%s/%s: no caption: %s", video_id, source_clip, reason)
            return {
                **result,
                "caption": "",
                "caption_status": "failed",
                "caption_reason": reason,
                "caption_model": "",
                "caption_prompt_sha256": "",
            }
        if len(caption) > settings.max_caption_chars:
            caption = caption[: settings.max_caption_chars].rstrip()
            note = f"cut to captions.max_caption_chars ({settings.max_caption_chars})"
        # a cached caption was made by the same model and prompts (its cache key)
        return {
            **result,
            "caption": caption,
            "caption_status": status,
            "caption_reason": note,
            "caption_model": settings.model,
            "caption_prompt_sha256": prompt_sha,
        }

    # not ``with``: on SIGTERM the pool must not wait for requests in flight (the job
    # ends at once, its FAILED line written; see vidcurate.runner)
    pool = ThreadPoolExecutor(max_workers=max(1, settings.concurrency))
    try:
        rows = list(pool.map(one, jobs))
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
    table = pd.DataFrame(rows, columns=CAPTION_COLUMNS)
    with atomic_path(out, suffix=".parquet") as tmp:
        table.to_parquet(tmp, index=False)
    counts = table["caption_status"].value_counts().to_dict()
    log.info(
        "captions: %d clips, %s (model %s at %s)",
        len(table),
        counts,
        settings.model,
        redact_source(settings.api_url),
    )
    return table


def api_key_from_env(settings: CaptionSettings) -> str | None:
    """The key from ``api_key_env``; None when that is null (a local server). A named
    variable that is not set fails before any request, naming the variable only."""
    if not settings.api_key_env:
        return None
    key = os.environ.get(settings.api_key_env)
    if not key:
        raise CaptionError(
            f"captions.api_key_env names {settings.api_key_env}, which is not set in the "
            "environment of the submit host (set it, or api_key_env: null for a server "
            "without keys)"
        )
    return key
