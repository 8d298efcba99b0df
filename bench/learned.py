"""Learned-score speed on the CPU: CLIP image embeddings beside decoding the same frames.

    .venv/bin/python bench/learned.py [--repeat N] [--seconds S] [--models ViT-B-32 ViT-L-14]

For each video, interleaved, best of --repeat, over its first S seconds at clip size
(short side 360), every frame:
  decode               the frame source alone
  <model> batch B      decode plus vidcurate.learned's ClipEmbedder (open_clip's
                       preprocessing, encode_image, normalised) B frames per forward
Rates are frames per second with decode included; "x decode" is over decode's rate. The
architectures are open_clip's own, with random weights (speed does not depend on the
weights, and none can be downloaded here). The learned_scores stage embeds
score.clip.frames (3) frames per 1-s clip, so its clips/s is about frames/s / 3.
"""

from __future__ import annotations

import argparse
import functools
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts"))

import open_clip
import torch
from timing import best_of_interleaved, print_against_decode

from vidcurate.frames import FrameSpec, open_frames
from vidcurate.geometry import clip_size
from vidcurate.learned import ClipEmbedder
from vidcurate.probe import probe_stage

DATA = REPO / "tests" / "data"
VIDEOS = [DATA / "mouse" / "dlc_openfield_m3v1.mp4", DATA / "shots" / "psd_testvideo.mp4"]


def random_checkpoint(name: str, folder: Path) -> str:
    """open_clip's ``name`` architecture with random weights, saved as a checkpoint."""
    torch.manual_seed(0)
    path = folder / f"{name}.pt"
    torch.save(open_clip.create_model(name).state_dict(), path)
    return str(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--models", nargs="+", default=["ViT-B-32", "ViT-L-14"])
    args = parser.parse_args()
    torch.set_num_threads(2)
    tmp = Path(tempfile.mkdtemp())
    embedders = {}
    for name in args.models:
        checkpoint = random_checkpoint(name, tmp)
        for batch in (1, 32) if name == args.models[0] else (32,):
            clip = {"model": name, "checkpoint": checkpoint}
            embedders[f"{name} batch {batch}"] = ClipEmbedder(clip, "cpu", batch_size=batch)
    print("| video | method | frames | seconds | frames/s | x decode |")
    print("|---|---|---:|---:|---:|---:|")
    for video in VIDEOS:
        probe = probe_stage(str(video), video.stem, str(tmp / f"{video.stem}.json"))
        size = clip_size(probe["width"], probe["height"], 360)
        spec = FrameSpec(size=size, max_frames=int(args.seconds * probe["avg_fps"]))

        def run(embedder=None, video=video, probe=probe, spec=spec) -> int:
            pending, count = [], 0
            with open_frames(str(video), probe, spec) as frames:
                for frame in frames:
                    count += 1
                    if embedder is None:
                        continue
                    pending.append(frame.data)
                    if len(pending) == embedder.batch_size:
                        embedder.images(pending)
                        pending = []
            if embedder is not None and pending:
                embedder.images(pending)
            return count

        for name, embedder in embedders.items():
            results = best_of_interleaved(
                {"decode": run, name: functools.partial(run, embedder)}, args.repeat
            )
            print_against_decode(f"{video.stem} {size[0]}x{size[1]}", name, results)


if __name__ == "__main__":
    main()
