"""Captions against a chat-completions server on 127.0.0.1 (tests/chat_server.py; no real
model is called anywhere in the tests): success, 429 then success, 500 forever, malformed
JSON, timeout; the cache; the key never in logs; clips cut from a real video."""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd
import pytest
from chat_server import ChatServer

from vidcurate.captions import (
    CaptionError,
    CaptionSettings,
    api_key_from_env,
    ask,
    caption_clips,
    request_body,
)

pytestmark = pytest.mark.network

SECRET = "sk-test-secret-123"
IMAGE = "data:image/jpeg;base64,/9j/"


@pytest.fixture(scope="module")
def server():
    with ChatServer() as running:
        yield running


def settings(server, model, **changes) -> CaptionSettings:
    chosen = {"timeout_s": 1.0, "retries": 2, "backoff_s": 0.01, **changes}
    return CaptionSettings(api_url=server.url, model=model, **chosen)


def test_success_sends_prompts_images_and_key(server):
    caption, attempts = ask(
        request_body(settings(server, "ok"), [IMAGE, IMAGE]), settings(server, "ok"), SECRET
    )
    assert caption == "a clip seen in 2 images" and attempts == 1
    last = server.requests[-1]
    assert last["authorization"] == f"Bearer {SECRET}"
    assert last["system"] == CaptionSettings().system_prompt
    assert last["max_tokens"] == 120


def test_429_is_retried_then_succeeds(server):
    before = server.count("flaky")
    caption, attempts = ask(
        request_body(settings(server, "flaky"), [IMAGE]), settings(server, "flaky"), None
    )
    assert caption == "a clip seen in 1 images"
    assert attempts == 2 and server.count("flaky") - before == 2


def test_500_forever_gives_up_with_the_reason(server):
    before = server.count("down")
    with pytest.raises(
        CaptionError,
        match=(
            r"HTTP 500 from http://127\.0\.0\.1:\d+/v1/chat/completions: "
            r".*overloaded.* \(after 3 attempts\)"
        ),
    ):
        ask(request_body(settings(server, "down"), [IMAGE]), settings(server, "down"), None)
    assert server.count("down") - before == 3  # first try + 2 retries


def test_malformed_json_is_a_reason_not_a_crash(server):
    with pytest.raises(
        CaptionError, match=r"malformed response \(JSONDecodeError\): '<html>not json"
    ):
        ask(request_body(settings(server, "garbage"), [IMAGE]), settings(server, "garbage"), None)


def test_timeout_is_retried_then_reported(server):
    with pytest.raises(CaptionError, match=r"no answer from .* within 1 s \(after 2 attempts\)"):
        ask(
            request_body(settings(server, "slow"), [IMAGE]),
            settings(server, "slow", retries=1),
            None,
        )


def test_a_missing_key_variable_fails_naming_the_variable(monkeypatch):
    monkeypatch.delenv("VIDCURATE_TEST_KEY", raising=False)
    with pytest.raises(CaptionError, match="VIDCURATE_TEST_KEY, which is not set"):
        api_key_from_env(CaptionSettings(api_key_env="VIDCURATE_TEST_KEY"))
    monkeypatch.setenv("VIDCURATE_TEST_KEY", SECRET)
    assert api_key_from_env(CaptionSettings(api_key_env="VIDCURATE_TEST_KEY")) == SECRET
    assert api_key_from_env(CaptionSettings(api_key_env=None)) is None


@pytest.fixture(scope="module")
def clips(carphone_clips):
    """The carphone clips, the second one dropped by curation."""
    table = pd.read_csv(carphone_clips / "clips.tsv", sep="\t", dtype={"clip": str})
    kept = table[table["status"] == "clip"]
    curated = pd.DataFrame(
        {
            "video_id": "carphone",
            "clip": kept["clip"],
            "start_s": kept["start_s"],
            "keep": [True, False, True, True],
        }
    )
    curated.to_parquet(carphone_clips / "curated.parquet")
    return carphone_clips


def run_captions(root: Path, settings: CaptionSettings, name: str) -> pd.DataFrame:
    return caption_clips(
        str(root / "curated.parquet"),
        {"carphone": str(root / "clips.tsv")},
        {"carphone": str(root / "clips")},
        {"carphone": str(root / "keyframes")},
        settings,
        str(root / f"{name}.parquet"),
        api_key=SECRET,
    )


def test_kept_clips_are_captioned_once_then_cached(server, clips, tmp_path, caplog):
    chosen = settings(server, "ok", cache_dir=str(tmp_path / "cache"), frames=3)
    before = server.count("ok")
    with caplog.at_level(logging.DEBUG):
        table = run_captions(clips, chosen, "first")
    assert table["source_clip"].tolist() == ["0001", "0003", "0004"]  # kept ones only
    # keyframe + 3 frames of each clip
    assert table["caption"].tolist() == ["a clip seen in 4 images"] * 3
    assert table["caption_status"].tolist() == ["ok"] * 3
    assert server.count("ok") - before == 3
    again = run_captions(clips, chosen, "second")
    assert again["caption"].tolist() == table["caption"].tolist()
    assert again["caption_status"].tolist() == ["cached"] * 3
    assert server.count("ok") - before == 3  # the rerun asked nothing
    # another prompt is another cache entry
    run_captions(
        clips,
        settings(server, "ok", cache_dir=str(tmp_path / "cache"), user_prompt="Name the action."),
        "third",
    )
    assert server.count("ok") - before == 6
    assert SECRET not in caplog.text


def test_failures_are_recorded_per_clip_and_never_cached(server, clips, tmp_path):
    chosen = settings(server, "down", cache_dir=str(tmp_path / "cache"), retries=0)
    table = run_captions(clips, chosen, "down")
    assert table["caption"].tolist() == ["", "", ""]
    assert table["caption_status"].tolist() == ["failed"] * 3
    assert table["caption_reason"].str.startswith("HTTP 500 from http://127.0.0.1:").all()
    assert not list((tmp_path / "cache").glob("*.json"))
