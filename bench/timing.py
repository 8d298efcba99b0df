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


def median_of_interleaved_processes(commands: dict[str, list[str]], pairs: int, cwd=None) -> dict:
    """Run each command as a whole process in turn, ``pairs`` rounds (so drift hits all
    alike). name -> (median wall s, median user s, median system s, all walls)."""
    import os
    import statistics
    import subprocess

    walls: dict[str, list[float]] = {name: [] for name in commands}
    users: dict[str, list[float]] = {name: [] for name in commands}
    systems: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(pairs):
        for name, command in commands.items():
            before = os.times()
            start = time.perf_counter()
            proc = subprocess.run(command, capture_output=True, text=True, cwd=cwd)
            wall = time.perf_counter() - start
            after = os.times()
            if proc.returncode != 0:
                raise RuntimeError(f"{name} failed: {proc.stderr[-2000:]}")
            walls[name].append(wall)
            users[name].append(after.children_user - before.children_user)
            systems[name].append(after.children_system - before.children_system)
    return {
        name: (
            statistics.median(walls[name]),
            statistics.median(users[name]),
            statistics.median(systems[name]),
            walls[name],
        )
        for name in commands
    }


def print_process_header() -> None:
    """The markdown header of print_process_rows' table."""
    print(
        "\n| video | run | frames | wall s (median) | user s | sys s | frames/s "
        "| speed vs CLI | walls |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|---|")


def print_process_rows(video: str, frames: int, results: dict, baseline: str) -> None:
    """Markdown rows: median wall, user and system seconds, frames/s and speed
    relative to ``baseline`` (its wall time over this one's)."""
    base = results[baseline][0]
    for name, (wall, user, system, walls) in results.items():
        runs = " ".join(f"{w:.1f}" for w in walls)
        print(
            f"| {video} | {name} | {frames} | {wall:.2f} | {user:.1f} | {system:.1f} | "
            f"{frames / wall:.1f} | {base / wall:.2f}x | {runs} |",
            flush=True,
        )
