"""Captions against a chat-completions server on 127.0.0.1 (tests/chat_server.py; no real
model is called anywhere in the tests): success, 429 then success, 500 forever, malformed
JSON, timeout; the cache; the key never in logs; clips cut from a real video."""

from __future__ import annotations

import hashlib
import logging
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from chat_server import ChatServer, Elsewhere

from conftest import REPO
from vidcurate.captions import (
    CaptionError,
    CaptionSettings,
    api_key_from_env,
    ask,
    caption_clips,
    request_body,
)
from vidcurate.termination import TERMINATED_EXIT

pytestmark = pytest.mark.network

SECRET = "sk-test-secret-123"
IMAGE = "data:image/jpeg;base64,/9j/"


@pytest.fixture(scope="module")
def elsewhere():
    with Elsewhere() as running:
        yield running


@pytest.fixture(scope="module")
def server(elsewhere):
    with ChatServer(redirect_to=elsewhere.url) as running:
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
    with pytest.raises(
        CaptionError, match=r"no complete answer from .* within 1 s \(after 2 attempts\)"
    ):
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
    # each caption names its model and the sha256 of the prompt text sent, cached too
    sent = f"{chosen.system_prompt}\n{chosen.user_prompt}".encode()
    for made in (table, again):
        assert made["caption_model"].tolist() == ["ok"] * 3
        assert made["caption_prompt_sha256"].tolist() == [hashlib.sha256(sent).hexdigest()] * 3
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
    assert (table["caption_model"] == "").all() and (table["caption_prompt_sha256"] == "").all()
    assert table["caption_reason"].str.startswith("HTTP 500 from http://127.0.0.1:").all()
    assert not list((tmp_path / "cache").glob("*.json"))


def test_a_redirect_is_not_followed_and_the_key_stays_home(server, elsewhere):
    """302 to another host: urllib sent the key there and turned the POST into a GET
    whose answer was taken for the caption."""
    with pytest.raises(CaptionError, match=r"redirected \(HTTP 302\) to http://localhost:\d+/"):
        ask(request_body(settings(server, "moved"), [IMAGE]), settings(server, "moved"), SECRET)
    assert elsewhere.requests == []
    assert server.count("moved") == 1  # not retried: a redirect will not change


def test_a_trickling_answer_ends_at_the_request_deadline(server):
    start = time.monotonic()
    with pytest.raises(CaptionError, match=r"no complete answer .* within 1 s \(after 2 attempts"):
        ask(
            request_body(settings(server, "trickle"), [IMAGE]),
            settings(server, "trickle", retries=1),
            None,
        )
    assert time.monotonic() - start < 4


def test_answers_are_read_within_a_cap_and_captions_cut(server, clips, tmp_path):
    with pytest.raises(CaptionError, match=r"answer from .* larger than 1048576 bytes"):
        ask(request_body(settings(server, "huge"), [IMAGE]), settings(server, "huge"), None)
    chosen = settings(server, "long", cache_dir=str(tmp_path / "cache"), max_caption_chars=80)
    table = run_captions(clips, chosen, "long")
    assert table["caption"].str.len().max() <= 80 and table["caption"].str.len().min() >= 70
    assert (table["caption_status"] == "ok").all()
    assert (table["caption_reason"] == "cut to captions.max_caption_chars (80)").all()


STOPPED_BY_SIGTERM = """
import sys
from types import SimpleNamespace
sys.path.insert(0, {scripts!r})
snakemake = SimpleNamespace(
    log=[{log!r}], rule="captions", wildcards=SimpleNamespace(), config={{}}, input=[], output=[]
)
from vidcurate.captions import CaptionSettings, caption_clips
from vidcurate.runner import stage_logging

root = {root!r}
settings = CaptionSettings(api_url={url!r}, model="silent", timeout_s=120, retries=0,
                           cache_dir={cache!r}, api_key_env=None)
with stage_logging(snakemake):
    print("started", flush=True)
    caption_clips(root + "/curated.parquet", {{"carphone": root + "/clips.tsv"}},
                  {{"carphone": root + "/clips"}}, {{"carphone": root + "/keyframes"}},
                  settings, {out!r})
"""


def test_sigterm_ends_a_captions_job_waiting_on_a_silent_server(server, clips, tmp_path):
    """Pool threads blocked in socket reads held the job's exit until SIGKILL (20 min)."""
    script = STOPPED_BY_SIGTERM.format(
        scripts=str(REPO / "scripts"),
        log=str(tmp_path / "captions.log"),
        root=str(clips),
        url=server.url,
        cache=str(tmp_path / "cache"),
        out=str(tmp_path / "captions.parquet"),
    )
    job = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert job.stdout.readline() == "started\n"
        time.sleep(1.0)  # the requests are out, the server says nothing
        sent = time.monotonic()
        job.send_signal(signal.SIGTERM)
        assert job.wait(timeout=30) == TERMINATED_EXIT
        assert time.monotonic() - sent < 5
    finally:
        job.kill()
    log = (tmp_path / "captions.log").read_text()
    assert "FAILED [captions] -: stopped by SIGTERM" in log
    assert not (tmp_path / "captions.parquet").exists()
