"""The one frame source: times from the first video frame, square pixels, no hangs.

The odd inputs are built in the test from real videos with ffmpeg: a video stream
that starts after its audio, an anamorphic (SAR 4:3) encode of 16:9 footage, and a
damaged file whose decoder prints well over 100 KB of errors.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

from conftest import damage_video, data_file, decode_frames, psnr, read_jpeg, windows_for
from vidcurate.clips import ClipSettings, clips_stage
from vidcurate.errors import VideoError
from vidcurate.frames import FrameSpec, open_frames
from vidcurate.probe import probe_stage, probe_video
from vidcurate.windows import windows_stage

COUNTER = "shots/psd_counter.mp4"  # frame k shows the number k+1 at k * 0.1 s, 1080p


def ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-v", "error", "-y", *args], check=True)


def stream_starts(path: Path) -> dict[str, float]:
    out = subprocess.run(
        [
            "ffprobe",
            "-v",
            "error",
            "-show_entries",
            "stream=codec_type,start_time",
            "-of",
            "csv=p=0",
            str(path),
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return {kind: float(start) for kind, start in (line.split(",") for line in out.split())}


@pytest.fixture(scope="module")
def audio_first(tmp_path_factory) -> Path:
    """psd_counter's video stream starting 0.5 s after a tone (phone/edited footage)."""
    path = tmp_path_factory.mktemp("late") / "audio_first.mp4"
    ffmpeg(
        "-f",
        "lavfi",
        "-i",
        "sine=frequency=440:duration=3.5",
        "-itsoffset",
        "0.5",
        "-i",
        str(data_file(COUNTER)),
        "-map",
        "1:v",
        "-map",
        "0:a",
        "-c:v",
        "copy",
        "-c:a",
        "aac",
        str(path),
    )
    starts = stream_starts(path)
    assert starts["video"] - starts["audio"] == pytest.approx(0.5, abs=0.03), starts
    return path


def run_clips(tmp_path: Path, video: Path) -> tuple[dict, object]:
    settings = ClipSettings()
    probe = probe_stage(str(video), "v", str(tmp_path / "probe.json"))
    windows_stage(
        str(tmp_path / "probe.json"), windows_for(settings), str(tmp_path / "windows.tsv")
    )
    table = clips_stage(
        str(video),
        str(tmp_path / "probe.json"),
        str(tmp_path / "windows.tsv"),
        settings,
        str(tmp_path / "clips"),
        str(tmp_path / "keyframes"),
        str(tmp_path / "clips.tsv"),
    )
    return probe, table


def test_audio_first_video_frames_start_at_its_first_frame(audio_first):
    probe = probe_video(str(audio_first), "late")
    with open_frames(str(audio_first), probe, FrameSpec(size=(640, 360))) as source:
        frames = list(source)
    assert len(frames) == 30
    assert [round(f.time_s, 6) for f in frames] == [round(k * 0.1, 6) for k in range(30)]
    original = decode_frames(data_file(COUNTER), 640, 360)
    # frame k of the late-starting copy is frame k of the original: nothing padded
    for k in (0, 1, 29):
        assert psnr(frames[k].data, original[k]) > 35, k


def test_audio_first_clips_show_the_right_frames(tmp_path, audio_first):
    """Clip k frame i shows the number on screen at k + i/25 s of the video stream;
    before the fix clip 0001 showed frame 0 for 13-14 frames (0.5 s late)."""
    _, table = run_clips(tmp_path, audio_first)
    assert (table.status == "clip").sum() == 3
    source = decode_frames(data_file(COUNTER), 640, 360).astype(np.float32)
    for clip in table.itertuples():
        frames = decode_frames(tmp_path / "clips" / clip.clip_file).astype(np.float32)
        assert len(frames) == 25
        for i, frame in enumerate(frames):
            shown = int(np.argmin(((source - frame) ** 2).mean(axis=(1, 2, 3))))
            t = clip.start_s + i / 25
            assert shown / 10 <= t + 0.02 and (shown + 1) / 10 > t - 0.02, (clip.clip, i, shown)


@pytest.fixture(scope="module")
def anamorphic(tmp_path_factory) -> Path:
    """16:9 footage stored 1440x1080 with 4:3 pixels (HDV-style)."""
    path = tmp_path_factory.mktemp("sar") / "anamorphic.mp4"
    ffmpeg(
        "-i",
        str(data_file(COUNTER)),
        "-vf",
        "scale=1440:1080,setsar=4/3",
        "-c:v",
        "libx264",
        "-crf",
        "12",
        "-preset",
        "ultrafast",
        str(path),
    )
    return path


def test_anamorphic_video_is_shown_with_square_pixels(tmp_path, anamorphic):
    probe, table = run_clips(tmp_path, anamorphic)
    assert (probe["coded_width"], probe["coded_height"]) == (1440, 1080)
    assert probe["sample_aspect_ratio"] == "4/3"
    assert (probe["width"], probe["height"]) == (1920, 1080)
    clips = table[table.status == "clip"]
    assert len(clips) == 3
    assert set(zip(clips.width, clips.height, strict=True)) == {(640, 360)}  # 16:9, not 4:3
    key = read_jpeg(tmp_path / "keyframes" / "0001.jpg")
    assert key.shape == (360, 640, 3)
    # the keyframe is the original 16:9 picture, not a squashed one
    original = decode_frames(data_file(COUNTER), 640, 360)[0]
    squashed = decode_frames(data_file(COUNTER), 480, 360)[0]
    assert psnr(key, original) > 30
    with open_frames(str(anamorphic), probe, FrameSpec()) as source:
        first = next(source)
    assert first.data.shape == (1080, 1920, 3)
    assert psnr(first.data[::3, ::3], decode_frames(data_file(COUNTER))[0][::3, ::3]) > 30
    assert key.shape != squashed.shape


@pytest.fixture(scope="module")
def damaged(tmp_path_factory) -> Path:
    """conftest's damaged mouse video."""
    path = damage_video(tmp_path_factory.mktemp("damaged") / "damaged.mp4")
    stderr = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(path), "-f", "null", "-"],
        capture_output=True,
        timeout=120,
    ).stderr
    assert len(stderr) > 100_000, len(stderr)  # the size that deadlocked the old reader
    return path


def test_damaged_video_fails_with_a_reason_within_seconds(damaged):
    probe = probe_video(str(damaged), "damaged")
    start = time.monotonic()
    source = open_frames(str(damaged), probe, FrameSpec(size=(64, 36)))
    with pytest.raises(VideoError) as caught, source:
        for _ in source:
            pass
    assert time.monotonic() - start < 10
    assert caught.value.video_id == "damaged"
    assert caught.value.reason.startswith("damaged video: ")
    assert "decode errors by frame" in caught.value.reason
    assert source._proc.returncode is not None  # ffmpeg reaped


def test_damaged_video_without_error_budget_streams_to_the_end(damaged):
    """All 100+ KB of errors are drained while frames flow: no deadlock, bounded tail."""
    probe = probe_video(str(damaged), "damaged")
    spec = FrameSpec(size=(64, 36), max_decode_errors=None)
    start = time.monotonic()
    with open_frames(str(damaged), probe, spec) as source:
        count = sum(1 for _ in source)
    assert time.monotonic() - start < 60
    assert count > 2000  # the decoder conceals the damage: most of the 2330 frames come out
    assert source.errors > 100
    assert 0 < len(source.stderr_tail) <= 20


def test_stopping_early_reaps_the_decoder():
    video = str(data_file("mouse/dlc_openfield_m3v1.mp4"))
    probe = probe_video(video, "m3v1")
    with open_frames(video, probe, FrameSpec(size=(64, 48))) as source:
        taken = [next(source) for _ in range(3)]
    assert [f.index for f in taken] == [0, 1, 2]
    assert source._proc.returncode is not None
    assert list(source) == []  # a closed source yields nothing


def test_vfr_times_are_the_stream_timestamps():
    """moviepy's fire2 is VFR and rotated: times are its own, measured from frame 0."""
    video = data_file("odd/moviepy_fire2_rotated180_vfr.mp4")
    out = subprocess.run(
        [
            "ffprobe",
            "-v",
            "error",
            "-select_streams",
            "v:0",
            "-show_entries",
            "frame=pts_time",
            "-of",
            "csv=p=0",
            str(video),
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    expected = sorted(float(line) for line in out.split())
    expected = [t - expected[0] for t in expected]
    probe = probe_video(str(video), "fire")
    with open_frames(str(video), probe, FrameSpec(size=(48, 27))) as source:
        times = [f.time_s for f in source]
    assert len(times) == len(expected) == 25
    np.testing.assert_allclose(times, expected, atol=1e-6)
    assert len(set(np.round(np.diff(times), 3))) > 1  # really variable


def test_constant_rate_frames_are_exact_in_count_and_time():
    video = str(data_file(COUNTER))
    probe = probe_video(video, "counter")
    spec = FrameSpec(size=(64, 36), fps=25, pix_fmt="yuv420p")
    with open_frames(video, probe, spec) as source:
        frames = list(source)
    assert len(frames) == 75  # 3.0 s at 25 fps
    assert [f.time_s for f in frames[:3]] == [0.0, 0.04, 0.08]
    assert frames[0].data.shape == (54, 64)


def test_unknown_backend_is_refused():
    with pytest.raises(ValueError, match="unknown frame backend 'nvdec'"):
        open_frames("x.mp4", {"width": 2, "height": 2}, backend="nvdec")
