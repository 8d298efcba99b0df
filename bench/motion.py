"""Motion speed per backend beside decoding the same frames.

    .venv/bin/python bench/motion.py [--repeat N] [--backends dis farneback ...]
                                     [--sides 180 360] [--videos PATH ...]
    .venv/bin/python bench/motion.py --backends dis:medium dis:fast dis:ultrafast --sides 180

For each video and analysis short side, interleaved, best of --repeat:
  decode      the frame source alone: every frame at the analysis size (grey), thinned
              to motion.fps in Python exactly as the motion stage does, no flow
  <backend>   vidcurate.motion.motion_table end to end (decode included)
Rates are frame pairs per second; "x decode" is the backend's rate over decode's.
Target (issue 13): the default backend (dis) >= 0.8x the decode-only rate.
The codec backend decodes with PyAV (vectors, no pixels), so it is timed as a whole.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts"))

from vidcurate.motion import (
    MotionSettings,
    analysis_size,
    motion_table,
    sampled_frames,
)
from vidcurate.probe import probe_stage

DATA = REPO / "tests" / "data"
DEFAULT_VIDEOS = [DATA / "mouse" / "dlc_openfield_m3v1.mp4", DATA / "shots" / "psd_testvideo.mp4"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=Path, nargs="+", default=DEFAULT_VIDEOS)
    parser.add_argument("--backends", nargs="+", default=["dis", "farneback", "codec", "ilk"])
    parser.add_argument("--sides", type=int, nargs="+", default=[180, 360])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    print("| video | short side | method | pairs | seconds | pairs/s | x decode |")
    print("|---|---:|---|---:|---:|---:|---:|")
    for video in args.videos:
        with tempfile.TemporaryDirectory() as tmp:
            probe = probe_stage(str(video), video.stem, str(Path(tmp) / "probe.json"))
        for side in args.sides:
            settings = MotionSettings(analysis_short_side=side)
            size = analysis_size(probe["width"], probe["height"], side)

            def decode(settings=settings, size=size, video=video, probe=probe) -> int:
                with sampled_frames(str(video), probe, settings, size) as frames:
                    return sum(1 for _ in frames) - 1

            methods = {"decode": decode}
            for backend in args.backends:
                # "dis:fast": the dis backend with another OpenCV preset (the ablation)
                name, _, preset = backend.partition(":")
                chosen = MotionSettings(
                    analysis_short_side=side, backend=name, dis_preset=preset or "medium"
                )
                methods[backend] = lambda chosen=chosen, video=video, probe=probe: len(
                    motion_table(str(video), probe, chosen)
                )
            best = {name: float("inf") for name in methods}
            pairs = {}
            for _ in range(args.repeat):
                for name, run in methods.items():
                    # ilk on the CPU is slow: one run is enough to rate it
                    if name == "ilk" and best[name] < float("inf"):
                        continue
                    start = time.perf_counter()
                    pairs[name] = run()
                    best[name] = min(best[name], time.perf_counter() - start)
            decode_rate = pairs["decode"] / best["decode"]
            for name in methods:
                rate = pairs[name] / best[name]
                print(
                    f"| {video.stem} | {side} ({size[0]}x{size[1]}) | {name} | {pairs[name]} | "
                    f"{best[name]:.2f} | {rate:.0f} | {rate / decode_rate:.2f}x |",
                    flush=True,
                )


if __name__ == "__main__":
    main()
