"""Scoring speed per score beside decoding the same frames.

    .venv/bin/python bench/scores.py [--repeat N] [--seconds S]

For each video, interleaved, best of --repeat, over its first S seconds:
  decode       the frame source alone, frames at clip size (short side 360)
  <score>      decode plus that score on every frame (text: on frames thinned to 2 fps,
               the detector plus recogniser of RapidOCR, as the score stage runs it)
Rates are frames per second with decode included; "x decode" is over decode's rate.
The score stage itself touches two frames per clip (keyframe JPEG and the clip's middle
frame), so its cost per clip is about two frames of each score plus one clip open.
"""

from __future__ import annotations

import argparse
import functools
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts"))

import cv2
from timing import best_of_interleaved, print_against_decode

from vidcurate.frames import FrameSpec, every, open_frames
from vidcurate.geometry import clip_size
from vidcurate.probe import probe_stage
from vidcurate.scores import (
    ScoreSettings,
    TextArea,
    exposure,
    phash,
    sharpness,
)

DATA = REPO / "tests" / "data"
VIDEOS = [DATA / "mouse" / "dlc_openfield_m3v1.mp4", DATA / "shots" / "psd_testvideo.mp4"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=20.0)
    args = parser.parse_args()
    cv2.setNumThreads(2)
    tmp = Path(tempfile.mkdtemp())
    text_area = TextArea(ScoreSettings(), threads=2)

    def grey(rgb):
        return cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)

    scores = {
        "sharpness": (None, lambda rgb: sharpness(grey(rgb))),
        "exposure": (None, lambda rgb: exposure(grey(rgb))),
        "phash": (None, phash),
        "text (RapidOCR)": (2.0, text_area),
    }
    print("| video | method | frames | seconds | frames/s | x decode |")
    print("|---|---|---:|---:|---:|---:|")
    for video in VIDEOS:
        probe = probe_stage(str(video), video.stem, str(tmp / f"{video.stem}.json"))
        size = clip_size(probe["width"], probe["height"], 360)
        spec = FrameSpec(size=size, max_frames=int(args.seconds * probe["avg_fps"]))

        for name, (fps, score) in scores.items():

            def run(score=None, fps=fps, video=video, probe=probe, spec=spec) -> int:
                count = 0
                with open_frames(str(video), probe, spec) as frames:
                    for frame in every(frames, 1.0 / fps) if fps else frames:
                        if score is not None:
                            score(frame.data)
                        count += 1
                return count

            results = best_of_interleaved(
                {"decode": run, name: functools.partial(run, score)}, args.repeat
            )
            print_against_decode(f"{video.stem} {size[0]}x{size[1]}", name, results)


if __name__ == "__main__":
    main()
