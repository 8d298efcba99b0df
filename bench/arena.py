"""Arena cost: clips with and without an arena, and decode + warp alone.

    .venv/bin/python bench/arena.py [--repeat N] [--video PATH --arena JSON]

In one run, interleaved, best of --repeat each:
  clips             vidcurate.clips.clips_stage, no arena (clips of the whole frame)
  clips + arena     the same windows, the frame source rectifying while decoding (the
                    arena at its default size, longest side 512: clips 512x348)
  clips + arena, plain size   the arena at 480 wide, so its clips are no larger than
                    the plain clips (480x360): the cost of the arena alone
  decode            the frame source alone at the source's size, every frame (RGB)
  decode + warp     the frame source alone, rectified to the arena's output size (RGB)
The target (issue 12): clips with an arena <= 1.15x clips without, on the mouse video.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts"))

from vidcurate.arena import arena_transform, read_arena_file
from vidcurate.clips import (
    ClipSettings,
    clips_stage,
)
from vidcurate.frames import FrameSpec, open_frames
from vidcurate.probe import probe_stage
from vidcurate.windows import (
    WindowSettings,
    windows_stage,
)

DATA = REPO / "tests" / "data"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--video", type=Path, default=DATA / "mouse" / "dlc_openfield_m3v1.mp4")
    parser.add_argument(
        "--arena", type=Path, default=DATA / "mouse" / "dlc_openfield_m3v1.arena.json"
    )
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        probe = probe_stage(str(args.video), "bench", str(tmp / "probe.json"))
        settings = ClipSettings()
        windows_stage(str(tmp / "probe.json"), WindowSettings(), str(tmp / "windows.tsv"))
        definition = read_arena_file(args.arena)
        transform = arena_transform(definition, (probe["width"], probe["height"]))
        (tmp / "arena.json").write_text(json.dumps(transform.to_json()))
        aspect = transform.output_size[1] / transform.output_size[0]
        narrow = replace(definition, output_px=(480, round(480 * aspect / 2) * 2))
        plain_size = arena_transform(narrow, (probe["width"], probe["height"]))
        (tmp / "arena-480.json").write_text(json.dumps(plain_size.to_json()))

        def clips(arena: str) -> int:
            out = tmp / (arena or "plain")
            table = clips_stage(
                str(args.video),
                str(tmp / "probe.json"),
                str(tmp / "windows.tsv"),
                settings,
                str(out / "clips"),
                str(out / "keyframes"),
                str(out / "clips.tsv"),
                workers=3,
                arena_json=str(tmp / f"{arena}.json") if arena else None,
            )
            return int((table.status == "clip").sum())

        def decode(arena: bool) -> int:
            spec = FrameSpec(arena=transform) if arena else FrameSpec()
            with open_frames(str(args.video), probe, spec) as source:
                return sum(1 for _ in source)

        methods = {
            "clips": lambda: clips(""),
            "clips + arena": lambda: clips("arena"),
            "clips + arena, plain size": lambda: clips("arena-480"),
            "decode": lambda: decode(False),
            "decode + warp": lambda: decode(True),
        }
        best = {name: float("inf") for name in methods}
        counts = {}
        for _ in range(args.repeat):
            for name, run in methods.items():
                start = time.perf_counter()
                counts[name] = run()
                best[name] = min(best[name], time.perf_counter() - start)

    size = f"{probe['width']}x{probe['height']}"
    out_w, out_h = transform.output_size
    print(f"{args.video.name} ({size}, {probe['n_frames']} frames), arena {out_w}x{out_h}")
    print(f"best of {args.repeat}, interleaved\n")
    print("| method | items | seconds | per second | ratio |")
    print("|---|---:|---:|---:|---:|")
    for name in methods:
        base = "clips" if name.startswith("clips") else "decode"
        unit = "clips" if base == "clips" else "frames"
        print(
            f"| {name} | {counts[name]} {unit} | {best[name]:.2f} | "
            f"{counts[name] / best[name]:.0f} | {best[name] / best[base]:.2f}x |"
        )


if __name__ == "__main__":
    main()
