"""Timing shared by the benchmarks that compare a method with decoding alone."""

from __future__ import annotations

import time
from collections.abc import Callable


def best_of_interleaved(runs: dict[str, Callable[[], int]], repeat: int) -> dict:
    """Run the callables in turn, ``repeat`` rounds (so drift hits all alike); each
    returns the frames it handled. name -> (frames, best seconds)."""
    best = dict.fromkeys(runs, float("inf"))
    frames = {}
    for _ in range(repeat):
        for name, run in runs.items():
            start = time.perf_counter()
            frames[name] = run()
            best[name] = min(best[name], time.perf_counter() - start)
    return {name: (frames[name], best[name]) for name in runs}


def print_against_decode(video: str, name: str, results: dict) -> None:
    """Markdown rows: decode alone on ``name``'s frames, then ``name``, with the rate
    and the ratio of rates."""
    decode_rate = results["decode"][0] / results["decode"][1]
    for method in ("decode", name):
        frames, seconds = results[method]
        rate = frames / seconds
        label = f"decode ({name}'s frames)" if method == "decode" else method
        print(
            f"| {video} | {label} | {frames} | {seconds:.2f} | {rate:.1f} | "
            f"{rate / decode_rate:.2f}x |",
            flush=True,
        )
