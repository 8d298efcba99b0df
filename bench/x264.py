"""Are clips the same bytes every time? libx264's output per instruction set, side by side.

    .venv/bin/python bench/x264.py [--video tests/data/people/mmaction2_demo_armwrestling.mp4]
                                   [--size 480x270] [--repeats 4] [--clips 10]

Ten 1-s clips are cut from the video through the frame source (as extract_clips does),
then each is encoded ``--repeats`` times with x264's instruction set pinned to each level
(``x264-params asm=...``) and once more with x264's own choice (none pinned). Between
encodes the heap is disturbed with allocations of random size, as other work in a stage
would (small buffers of random bytes, freed again, so the encoder's own allocations reuse
memory that held other data). Each row gives, for one level: how many clips came out
with the same bytes in every repeat, whether the bytes equal those of the AVX2 row, and
the encode time.
Only levels the CPU has are run. docs/determinism.md has the numbers and what the
writer does with them (vidcurate.x264).
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import tempfile
import time
from pathlib import Path

import av
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts"))

from vidcurate.frames import FrameSpec, open_frames
from vidcurate.probe import probe_video
from vidcurate.x264 import pinned_instruction_set

LEVELS = ["SSE2", "SSSE3", "SSE4.2", "AVX", "AVX2", "AVX512"]
CPU_FLAGS = {"SSE2": "sse2", "SSSE3": "ssse3", "SSE4.2": "sse4_2", "AVX": "avx"}
CPU_FLAGS.update({"AVX2": "avx2", "AVX512": "avx512bw"})


def cpu_flags() -> set[str]:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("flags"):
            return set(line.partition(":")[2].split())
    return set()


def encode(frames: list[np.ndarray], size, asm: str | None, out: Path) -> str:
    with av.open(str(out), "w", format="mp4", options={"movflags": "+faststart"}) as container:
        stream = container.add_stream("libx264", rate=25)
        stream.width, stream.height = size
        stream.pix_fmt = "yuv420p"
        options = {"crf": "23", "preset": "fast"}
        if asm:
            options["x264-params"] = f"asm={asm}"
        stream.options = options
        stream.codec_context.thread_count = 1
        for index, plane in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(plane, format="yuv420p")
            frame.pts = index
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return hashlib.sha256(out.read_bytes()).hexdigest()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--video", default=str(REPO / "tests/data/people/mmaction2_demo_armwrestling.mp4")
    )
    parser.add_argument("--size", default="480x270")
    parser.add_argument("--repeats", type=int, default=4)
    parser.add_argument("--clips", type=int, default=10)
    args = parser.parse_args()
    size = tuple(int(v) for v in args.size.split("x"))
    probe = probe_video(args.video, "bench")
    spec = FrameSpec(size=size, fps=25, pix_fmt="yuv420p", scaler="bicubic")
    with open_frames(args.video, probe, spec) as source:
        frames = [frame.data for frame in source]
    clips = [frames[i : i + 25] for i in range(0, len(frames) - 24, 25)][: args.clips]
    flags = cpu_flags()
    # x264's own choice first: the first encodes of a process are among those compared
    levels = [None, *(level for level in reversed(LEVELS) if CPU_FLAGS[level] in flags)]
    rng = np.random.default_rng(0)
    kept = []  # some of the random buffers stay allocated, as a stage's data would
    digests = {level: [] for level in levels}
    seconds = dict.fromkeys(levels, 0.0)
    with tempfile.TemporaryDirectory() as tmp:
        # repeats interleaved across levels: each encode meets another state of the heap
        for repeat in range(args.repeats):
            for level in levels:
                row, start = [], time.perf_counter()
                for index, clip in enumerate(clips):
                    scratch = [rng.bytes(int(rng.integers(1_000, 60_000))) for _ in range(20)]
                    kept.append(scratch.pop())
                    del scratch
                    row.append(encode(clip, size, level, Path(tmp) / f"{repeat}_{index}.mp4"))
                seconds[level] += (time.perf_counter() - start) / args.repeats
                digests[level].append(row)
    results = {}
    for level, runs in digests.items():
        stable = sum(len({run[i] for run in runs}) == 1 for i in range(len(clips)))
        results[level] = (runs[0], stable, seconds[level])
    reference = results.get("AVX2", results[levels[0]])[0]
    print(f"video {Path(args.video).name} at {args.size}, {len(clips)} clips x {args.repeats}")
    print(f"pinned by vidcurate.x264 on this CPU: {pinned_instruction_set()}")
    print("| x264 asm | same bytes in every repeat | bytes equal to AVX2's | s per pass |")
    print("|---|---:|---:|---:|")
    for level, (first, stable, seconds) in results.items():
        equal = sum(a == b for a, b in zip(first, reference, strict=True))
        name = level or "(x264's choice)"
        print(f"| {name} | {stable}/{len(clips)} | {equal}/{len(clips)} | {seconds:.2f} |")


if __name__ == "__main__":
    main()
