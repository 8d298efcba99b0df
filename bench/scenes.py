"""Scene detection speed per backend, decode included.

    .venv/bin/python bench/scenes.py [--videos PATH ...] [--backends transnetv2 pyscenedetect none]

For each video and backend: frames/s of the whole scenes stage (ffmpeg decode to small
frames, detection, flash analysis, tables; TransNetV2's model load included, as a job
pays it) and of the decode alone, and the share of the stage spent decoding. TransNetV2
runs on CUDA when torch sees a GPU, else on the CPU.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts"))

from vidcurate.probe import probe_stage  # noqa: E402
from vidcurate.scenes import (  # noqa: E402
    TRANSNET_SIZE,
    FlashSettings,
    SceneSettings,
    decode_small,
    scenes_stage,
)

DATA = REPO / "tests" / "data"
DEFAULT_VIDEOS = [
    DATA / "shots" / "psd_testvideo.mp4",
    DATA / "mouse" / "dlc_openfield_m3v1.mp4",
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", nargs="*", type=Path, default=DEFAULT_VIDEOS)
    parser.add_argument("--backends", nargs="*", default=["transnetv2", "pyscenedetect", "none"])
    args = parser.parse_args()
    import torch

    torch.set_num_threads(os.cpu_count() or 1)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    print(
        f"scenes stage, {os.cpu_count()} cores, torch {torch.__version__}, TransNetV2 on {device}"
    )
    print(
        f"{'video':26} {'backend':14} {'frames':>7} {'stage_s':>8} {'stage_fps':>9} "
        f"{'decode_fps':>10} {'decode_share':>12}"
    )
    for video in args.videos:
        with tempfile.TemporaryDirectory() as tmp:
            tmp = Path(tmp)
            probe = probe_stage(str(video), video.stem, str(tmp / "p.json"))
            for backend in args.backends:
                settings = SceneSettings(backend=backend)
                size = TRANSNET_SIZE
                if backend == "pyscenedetect":
                    size = (
                        probe["width"] // settings.downscale // 2 * 2,
                        probe["height"] // settings.downscale // 2 * 2,
                    )
                start = time.perf_counter()
                frames = sum(1 for _ in decode_small(str(video), probe, size))
                decode_s = time.perf_counter() - start
                start = time.perf_counter()
                scenes_stage(
                    str(video),
                    str(tmp / "p.json"),
                    settings,
                    FlashSettings(),
                    str(tmp / "s.tsv"),
                    str(tmp / "f.tsv"),
                )
                stage_s = time.perf_counter() - start
                print(
                    f"{video.name:26} {backend:14} {frames:7d} {stage_s:8.2f} "
                    f"{frames / stage_s:9.0f} {frames / decode_s:10.0f} "
                    f"{min(1.0, decode_s / stage_s):12.0%}"
                )


if __name__ == "__main__":
    main()
