"""The whole workflow on examples/ with every stage on, time per stage and video from
Snakemake's benchmark files.

    .venv/bin/python bench/workflow.py [--cores N] [--keep DIR]

Runs a fresh project (a temporary directory) over config/videos.tsv (the three example
videos) with the repository's config plus per-track clips and a class-balanced subset
switched on, then prints one row per rule: its wall seconds per video (the benchmark
file's `s` column) and the sum, and the run's wall time. Rules without a `benchmark:`
directive (light table work) are listed with their count only.
"""

from __future__ import annotations

import argparse
import csv
import shutil
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--keep", help="run in this directory and keep it")
    args = parser.parse_args()
    project = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="vidcurate-bench-"))
    project.mkdir(parents=True, exist_ok=True)
    shutil.copytree(REPO / "config" / "arenas", project / "config" / "arenas", dirs_exist_ok=True)
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    config["samples"] = str(REPO / "config" / "videos.tsv")
    config["tracks"]["export_clips"] = True
    config["subsets"] = [{"kind": "class_balanced", "per_class": 10, "temperature": 0}]
    (project / "config.yaml").write_text(yaml.safe_dump(config))
    start = time.perf_counter()
    proc = subprocess.run(
        [
            SNAKEMAKE,
            "-s",
            str(REPO / "Snakefile"),
            "--directory",
            str(project),
            "--configfile",
            str(project / "config.yaml"),
            "--cores",
            str(args.cores),
        ],
        capture_output=True,
        text=True,
    )
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"snakemake failed:\n{proc.stderr[-4000:]}")
    seconds: dict[str, dict[str, float]] = defaultdict(dict)
    for path in sorted((project / "benchmarks").glob("*/*.tsv")):
        with path.open() as handle:
            row = next(csv.DictReader(handle, delimiter="\t"))
        seconds[path.parent.name][path.stem] = float(row["s"])
    videos = sorted({v for per in seconds.values() for v in per})
    print(f"| stage | {' | '.join(videos)} | sum (s) |")
    print(f"|---|{'---:|' * len(videos)}---:|")
    for stage, per in seconds.items():
        cells = [f"{per[v]:.1f}" if v in per else "" for v in videos]
        print(f"| {stage} | {' | '.join(cells)} | {sum(per.values()):.1f} |")
    print(f"\nwhole run: {wall:.0f} s wall on {args.cores} cores ({project})")
    if not args.keep:
        shutil.rmtree(project)


if __name__ == "__main__":
    main()
