"""Clip extraction speed: ours vs the common per-clip ffmpeg method vs the one-file floor.

    .venv/bin/python bench/clips.py [--repeat N] [--videos PATH ...]

All three run side by side in one process on the same machine:
  ours      vidcurate.clips.clips_stage: one ffmpeg decode, in-process libx264 encoders
  per_clip  the common per-clip recipe: two ffmpeg runs per clip (clip with -ss/-t/-r, keyframe)
  floor     one ffmpeg transcode of the whole video to ONE file, same fps/size/x264 settings
Each method's wall time is the best of --repeat runs. Frame counts of every clip are
checked so a fast but wrong method shows up in the table.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts"))

from vidcurate.clips import (
    ClipSettings,
    clips_stage,
)
from vidcurate.geometry import clip_size
from vidcurate.probe import probe_stage
from vidcurate.windows import windows_stage

DATA = REPO / "tests" / "data"
DEFAULT_VIDEOS = [
    DATA / "mouse" / "dlc_openfield_m3v1.mp4",
    DATA / "shots" / "psd_testvideo.mp4",
]


def frame_count(path: Path) -> int:
    out = subprocess.run(
        [
            "ffprobe",
            "-v",
            "error",
            "-count_frames",
            "-select_streams",
            "v:0",
            "-show_entries",
            "stream=nb_read_frames",
            "-of",
            "csv=p=0",
            str(path),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    return int(out.stdout.strip())


def run_ours(video: Path, work: Path, *, settings: ClipSettings, workers: int) -> list[Path]:
    probe_json, windows_tsv = work / "probe.json", work / "windows.tsv"
    probe_stage(str(video), "bench", str(probe_json))
    windows_stage(str(probe_json), settings, str(windows_tsv))
    clips_stage(
        str(video),
        str(probe_json),
        str(windows_tsv),
        settings,
        str(work / "clips"),
        str(work / "keyframes"),
        str(work / "clips.tsv"),
        workers=workers,
    )
    return sorted((work / "clips").glob("*.mp4"))


def run_per_clip(video: Path, work: Path, *, settings: ClipSettings, size, duration: float):
    """The common per-clip extract_clips(), command for command."""
    (work / "clips").mkdir()
    (work / "keyframes").mkdir()
    scale = ["-vf", f"scale={size[0]}:{size[1]}"]
    clips, index, current = [], 1, 0.0
    while current + settings.seconds <= duration:
        clip = work / "clips" / f"{index:04d}.mp4"
        subprocess.run(
            [
                "ffmpeg",
                "-y",
                "-ss",
                str(current),
                "-i",
                str(video),
                "-t",
                str(settings.seconds),
                "-r",
                str(settings.fps),
                *scale,
                "-c:v",
                "libx264",
                "-preset",
                settings.preset,
                "-crf",
                str(settings.crf),
                "-an",
                str(clip),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            check=True,
        )
        subprocess.run(
            [
                "ffmpeg",
                "-y",
                "-ss",
                str(current),
                "-i",
                str(video),
                "-frames:v",
                "1",
                *scale,
                str(work / "keyframes" / f"{index:04d}.jpg"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            check=True,
        )
        clips.append(clip)
        current += settings.seconds
        index += 1
    return clips


def run_floor(video: Path, work: Path, *, settings: ClipSettings, size) -> list[Path]:
    out = work / "whole.mp4"
    subprocess.run(
        [
            "ffmpeg",
            "-y",
            "-v",
            "error",
            "-i",
            str(video),
            "-map",
            "0:v:0",
            "-vf",
            f"fps={settings.fps},scale={size[0]}:{size[1]}:flags=bicubic,format=yuv420p",
            "-c:v",
            "libx264",
            "-preset",
            settings.preset,
            "-crf",
            str(settings.crf),
            "-an",
            str(out),
        ],
        check=True,
    )
    return [out]


def timed(func, repeat: int):
    best, result = float("inf"), None
    for _ in range(repeat):
        with tempfile.TemporaryDirectory() as tmp:
            start = time.perf_counter()
            paths = func(work=Path(tmp))
            elapsed = time.perf_counter() - start
            counts = [frame_count(p) for p in paths]
        if elapsed < best:
            best, result = elapsed, counts
    return best, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", nargs="*", type=Path, default=DEFAULT_VIDEOS)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--workers", type=int, default=(os.cpu_count() or 1) + 1)
    parser.add_argument("--json", type=Path, help="also write the rows here")
    args = parser.parse_args()
    settings = ClipSettings()
    rows = []
    for video in args.videos:
        with tempfile.TemporaryDirectory() as tmp:
            probe = probe_stage(str(video), "bench", str(Path(tmp) / "p.json"))
        size = clip_size(probe["width"], probe["height"], settings.max_short_side)
        methods = {
            "ours": partial(run_ours, video, settings=settings, workers=args.workers),
            "per_clip": partial(
                run_per_clip, video, settings=settings, size=size, duration=probe["duration_s"]
            ),
            "floor": partial(run_floor, video, settings=settings, size=size),
        }
        results = {name: timed(func, args.repeat) for name, func in methods.items()}
        floor_s = results["floor"][0]
        for name, (seconds, counts) in results.items():
            n_frames = sum(counts)
            wrong = sum(c != settings.n_frames for c in counts) if name != "floor" else 0
            rows.append(
                {
                    "video": video.name,
                    "method": name,
                    "seconds": round(seconds, 2),
                    "clips": len(counts) if name != "floor" else 0,
                    "frames": n_frames,
                    "wrong_length_clips": wrong,
                    "x_floor": round(seconds / floor_s, 2),
                    "ours_speedup": round(seconds / results["ours"][0], 2),
                }
            )
    header = (
        f"{'video':32} {'method':9} {'seconds':>8} {'clips':>6} {'frames':>7} "
        f"{'wrong_len':>9} {'x_floor':>8} {'x_ours':>7}"
    )
    print(
        f"clip extraction, {os.cpu_count()} cores, {args.workers} encoder threads, "
        f"best of {args.repeat}"
    )
    print(header)
    for r in rows:
        print(
            f"{r['video']:32} {r['method']:9} {r['seconds']:8.2f} {r['clips']:6d} "
            f"{r['frames']:7d} {r['wrong_length_clips']:9d} {r['x_floor']:8.2f} "
            f"{r['ours_speedup']:7.2f}"
        )
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
