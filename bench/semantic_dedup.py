"""Semantic dedup at scale: time and peak memory on synthetic CLIP-like embeddings.

    .venv/bin/python bench/semantic_dedup.py [--sizes 100000 1000000] [--dim 512]
                                             [--exact 20000]

Embeddings: unit vectors in --dim dimensions, 5% of them near copies of an earlier row
(cosine ~0.995), written to a float32 .npy on disk first (not timed). Each size runs in
a fresh process that opens the file as a memmap and calls vidcurate.semantic's
semantic_duplicates (k-means with k = sqrt(n), then cosine >= 0.98 within clusters), as
curate does; its peak RSS is the process's high-water resident set (VmHWM), imports and the
memmap's pages read included; its peak heap the most anonymous memory (RssAnon, sampled
every 10 ms: without the memmap's file pages, which the kernel can drop),
beside the size of the embeddings themselves.

--exact N: on the first N rows, the same greedy dedup comparing every pair (no
clusters) beside the clustered one, in one process each: time, and the share of the
exact duplicates the clusters find (what k-means costs in recall).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts"))

import numpy as np

from vidcurate.semantic import first_kept_matches, normalise, semantic_duplicates

MIN_COSINE = 0.98
COPY_SHARE = 0.05


def write_embeddings(path: Path, n: int, dim: int, seed: int = 0) -> None:
    """n unit rows, COPY_SHARE of them a noisy copy of an earlier row, in chunks."""
    rng = np.random.default_rng(seed)
    out = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(n, dim))
    chunk = 65_536
    for start in range(0, n, chunk):
        rows = normalise(rng.normal(size=(min(chunk, n - start), dim)))
        copies = np.flatnonzero(rng.random(len(rows)) < COPY_SHARE)
        copies = copies[copies + start > 0]
        for index in copies:
            source = int(rng.integers(0, start + index))
            original = out[source] if source < start else rows[source - start]
            rows[index] = normalise((original + 0.1 / np.sqrt(dim) * rng.normal(size=dim))[None])[0]
        out[start : start + len(rows)] = rows
    out.flush()
    del out


def status_mib(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {field} in /proc/self/status")


class AnonymousPeak:
    """The most anonymous memory (RssAnon: the heap, not the memmap's file pages, which
    the kernel can drop) seen while running, sampled every 10 ms from a thread."""

    def __init__(self):
        self.peak = status_mib("RssAnon")
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._watch, daemon=True)

    def _watch(self):
        while not self.done.wait(0.01):
            self.peak = max(self.peak, status_mib("RssAnon"))

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.done.set()
        self.thread.join()
        self.peak = max(self.peak, status_mib("RssAnon"))


def child(path: str, rows: int | None, method: str) -> None:
    vectors = np.load(path, mmap_mode="r")
    if rows:
        vectors = vectors[:rows]
    names = [str(i) for i in range(len(vectors))]
    started = time.perf_counter()
    with AnonymousPeak() as anonymous:
        if method == "clusters":
            found = semantic_duplicates(vectors, names, MIN_COSINE)
        else:  # every pair: the same greedy rule over one block of all rows
            match, _ = first_kept_matches(normalise(vectors[:]), MIN_COSINE)
            kept = np.flatnonzero(match < 0)
            found = ["" if m < 0 else names[kept[m]] for m in match]
    seconds = time.perf_counter() - started
    print(
        json.dumps(
            {
                "seconds": seconds,
                "peak_mib": status_mib("VmHWM"),
                "anonymous_mib": anonymous.peak,
                "duplicate_of": found,
            }
        )
    )


def run(path: Path, rows: int | None, method: str) -> dict:
    proc = subprocess.run(
        [sys.executable, __file__, "--child", str(path), str(rows or 0), method],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(proc.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--exact", type=int, default=20_000)
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        path, rows, method = args.child
        child(path, int(rows) or None, method)
        return
    folder = Path(tempfile.mkdtemp(prefix="semantic-bench-"))
    path = folder / "embeddings.npy"
    largest = max([*args.sizes, args.exact])
    started = time.perf_counter()
    write_embeddings(path, largest, args.dim)
    print(f"{largest:,} x {args.dim} embeddings written in {time.perf_counter() - started:.0f} s")
    print(
        f"\n{'clips':>10} {'seconds':>8} {'clips/s':>9} {'peak RSS MiB':>13} "
        f"{'peak heap MiB':>14} {'embeddings MiB':>15}"
    )
    for n in args.sizes:
        result = run(path, n, "clusters")
        size = n * args.dim * 4 / 2**20
        print(
            f"{n:>10,} {result['seconds']:>8.1f} {n / result['seconds']:>9,.0f} "
            f"{result['peak_mib']:>13,.0f} {result['anonymous_mib']:>14,.0f} {size:>15,.0f}"
        )
    if args.exact:
        exact = run(path, args.exact, "pairs")
        clustered = run(path, args.exact, "clusters")
        truth = {i for i, d in enumerate(exact["duplicate_of"]) if d}
        found = {i for i, d in enumerate(clustered["duplicate_of"]) if d}
        print(
            f"\nfirst {args.exact:,} rows: every pair {exact['seconds']:.1f} s, clusters "
            f"{clustered['seconds']:.1f} s ({exact['seconds'] / clustered['seconds']:.1f}x); "
            f"the clusters find {len(truth & found):,} of {len(truth):,} duplicates "
            f"({100 * len(truth & found) / max(1, len(truth)):.1f}%), "
            f"{len(found - truth)} not in the exact answer"
        )


if __name__ == "__main__":
    main()
