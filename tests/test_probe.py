"""Probe on real files: facts later stages rely on, one-line reasons for bad files."""

import json

import pytest

from conftest import data_file
from vidcurate.errors import VideoError, ffmpeg_reason
from vidcurate.probe import probe_stage, probe_video


def test_mouse_444_video():
    info = probe_video(str(data_file("mouse/dlc_openfield_m3v1.mp4")), "m3v1")
    assert info["codec"] == "h264" and info["pix_fmt"] == "yuv444p"
    assert (info["width"], info["height"]) == (640, 480)
    assert info["n_frames"] == 2330
    assert info["avg_frame_rate"] == "1000000/33333"
    assert info["duration_s"] == pytest.approx(77.66589)
    assert info["has_audio"] is False and info["variable_frame_rate"] is False


def test_rotated_vfr_phone_clip():
    info = probe_video(str(data_file("odd/moviepy_fire2_rotated180_vfr.mp4")), "fire")
    assert info["rotation"] == -180
    assert (info["coded_width"], info["coded_height"]) == (1280, 720)
    assert (info["width"], info["height"]) == (1280, 720)
    assert info["variable_frame_rate"] is True
    assert info["real_frame_rate"] == "90000" and info["n_frames"] == 25
    assert info["has_audio"] is True


def test_webm_without_container_duration_uses_packets():
    info = probe_video(str(data_file("odd/moviepy_no_duration.webm")), "webm")
    assert info["duration_from"] == "packets"
    assert info["n_frames"] == 74
    # 74 frames at 15000/1001 fps
    assert info["duration_s"] == pytest.approx(74 * 1001 / 15000, abs=0.01)


def test_delayed_start_uses_stream_duration():
    info = probe_video(str(data_file("odd/psd_delayed_start.mp4")), "late")
    assert info["stream_start_s"] == pytest.approx(1.075)
    assert info["duration_s"] == pytest.approx(0.96)  # not the format's 2.035 s


@pytest.mark.parametrize(
    ("relative", "reason"),
    [
        ("odd/moviepy_crunching_audio_only.mp3", "no video stream (streams found: audio)"),
        (
            "odd/mmaction2_basketball_truncated_half.mp4",
            "cannot read container: moov atom not found (invalid data found when processing input)",
        ),
        ("odd/LICENSE.moviepy.MIT.txt", "not a video file (read as tty text)"),
        ("odd/README.json", "cannot read container: Invalid data found when processing input"),
    ],
)
def test_bad_files_fail_with_one_line(relative, reason):
    with pytest.raises(VideoError) as err:
        probe_video(str(data_file(relative)), "bad")
    assert err.value.reason == reason
    assert str(err.value) == f"bad: {reason}"
    assert "\n" not in str(err.value)


def test_probe_stage_writes_json(tmp_path):
    out = tmp_path / "p" / "v.json"
    probe_stage(str(data_file("shots/psd_counter.mp4")), "counter", str(out))
    info = json.loads(out.read_text())
    assert info["video_id"] == "counter" and info["n_frames"] == 30
    assert info["avg_frame_rate"] == "10" and (info["width"], info["height"]) == (1920, 1080)


def test_ffmpeg_reason_strips_noise():
    stderr = (
        b"[mov,mp4,m4a,3gp,3g2,mj2 @ 0x55d] moov atom not found\n"
        b"/x.mp4: Invalid data found when processing input\n"
    )
    assert ffmpeg_reason(stderr, "/x.mp4") == (
        "moov atom not found (invalid data found when processing input)"
    )
    assert ffmpeg_reason(b"") == "unknown error"
