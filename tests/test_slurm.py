"""The workflow on a real Slurm: a single-node cluster on localhost (tests/slurm/local_cluster.sh)
driven through profiles/slurm by snakemake-executor-plugin-slurm.

Skipped when no cluster can be started here (not root and no passwordless sudo, or no
apt); CI sets VIDCURATE_REQUIRE_SLURM=1 so that a cluster that fails to start fails.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest
import yaml

from conftest import EXAMPLES_PAIR, REPO, SHOW_JOBS, SNAKEMAKE, digest_tree, examples_project

pytestmark = [pytest.mark.workflow, pytest.mark.slurm]

CLUSTER = REPO / "tests" / "slurm" / "local_cluster.sh"
PROFILE = yaml.safe_load((REPO / "profiles" / "slurm" / "profile.yaml").read_text())
# every snakemake call is killed hard after this: the plugin can wait forever on a
# broken cluster, and snakemake ignores SIGTERM while it waits
RUN_TIMEOUT_S = 900
# the profile as a pip user has it (no conda: jobs run in this venv); status checks
# start after 5 s, not 40
TEST_ARGS = ["--slurm-init-seconds-before-status-checks", "5"]
# the video whose deface job (about 5 s of work) is cancelled mid-way
CANCELLED_VIDEO = "armwrestling"
# the Slurm page's line that installs the profile for `--profile slurm`
INSTALL_LINE = re.compile(r"^(mkdir -p \S*snakemake\S* && ln -sfn \S*profiles/slurm.*)$", re.M)


@pytest.fixture(scope="module")
def slurm_env():
    """Environment for Slurm clients; starts the cluster unless one is already up, and
    then stops only what it started."""
    export = subprocess.run([CLUSTER, "env"], capture_output=True, text=True, check=True)
    env = dict(os.environ, SLURM_CONF=export.stdout.strip().split("=", 1)[1])
    already_up = subprocess.run([CLUSTER, "status"], env=env).returncode == 0
    if not already_up:
        start = subprocess.run([CLUSTER, "start"], capture_output=True, text=True, timeout=900)
        if start.returncode != 0:
            reason = f"no local Slurm cluster: {start.stderr.strip()[-800:]}"
            if os.environ.get("VIDCURATE_REQUIRE_SLURM") == "1":
                pytest.fail(reason)
            pytest.skip(reason)
    yield env
    if not already_up:
        subprocess.run([CLUSTER, "stop"], timeout=300, check=True)


def snakemake(project: Path, *args, cwd: Path, env: dict) -> subprocess.CompletedProcess:
    cmd = [SNAKEMAKE, "-s", str(REPO / "Snakefile"), "--directory", str(project)]
    cmd += [*SHOW_JOBS, "--configfile", str(project / "config.yaml"), *args]
    return subprocess.run(
        cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=RUN_TIMEOUT_S
    )


def must_pass(proc: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    if proc.returncode != 0:
        raise AssertionError(f"snakemake failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-6000:]}")
    return proc


def sacct_jobs(project: Path, env: dict) -> pd.DataFrame:
    """Slurm's accounting records of every job that ran in ``project``."""
    fields = "JobID,JobName,State,ReqTRES,ReqCPUS,ReqMem,Timelimit,Comment,WorkDir"
    out = subprocess.run(
        ["sacct", "-X", "-P", "-n", "-a", "-S", "now-1days", "-o", fields],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rows = [line.split("|") for line in out.splitlines() if line]
    table = pd.DataFrame(rows, columns=fields.split(","))
    table = table[table["WorkDir"] == str(project)].copy()
    table["rule"] = [job_rule(comment) for comment in table["Comment"]]
    return table


def job_rule(comment: str) -> str:
    """The rule, or the bundle, a job ran, from the plugin's comment: rule_<rule>_wildcards_<...>
    for one job, rule_<group>_<rules> for a bundle."""
    name = comment.removeprefix("rule_").split("_wildcards_")[0]
    for group in PROFILE["groups"].values():
        if name.startswith(f"{group}_"):
            return group
    return name


def rule_threads(rule: str) -> int:
    text = "\n".join(p.read_text() for p in (REPO / "rules").glob("*.smk"))
    body = re.search(rf"^rule {rule}:\n((?:    .*\n|\n)+)", text, re.M).group(1)
    threads = re.search(r"^    threads: (\d+)", body, re.M)
    return int(threads.group(1)) if threads else 1


def profile_resource(rule: str, name: str):
    value = PROFILE.get("set-resources", {}).get(rule, {}).get(name)
    if value is None:
        value = PROFILE["default-resources"].get(name)
    return int(value)


@pytest.fixture(scope="module")
def cluster_runs(tmp_path_factory, slurm_env, examples_pair):
    """Two of the examples through `--profile slurm` installed as a user profile by the
    Slurm page's command (docs/slurm.md): a first run whose deface job of one video is
    cancelled with scancel while it works, then a plain rerun that completes the dataset;
    and the same project run on this machine (the shared run) to compare with."""
    root = tmp_path_factory.mktemp("slurm_examples")
    install = INSTALL_LINE.search((REPO / "docs" / "slurm.md").read_text())
    assert install, "docs/slurm.md lacks the user-profile install command"
    home = root / "home"
    home.mkdir()
    env = {k: v for k, v in slurm_env.items() if k != "XDG_CONFIG_HOME"}
    env["HOME"] = str(home)
    subprocess.run(["bash", "-c", install.group(1)], cwd=REPO, env=env, check=True)
    assert (home / ".config" / "snakemake" / "slurm" / "profile.yaml").exists()

    cluster = examples_project(root / "cluster", **EXAMPLES_PAIR, gpu_jobs=True)
    args = ["--profile", "slurm", *TEST_ARGS, "--retries", "0"]
    cmd = [SNAKEMAKE, "-s", str(REPO / "Snakefile"), "--configfile", "config.yaml", *args]
    transcript = root / "snakemake.out"
    with transcript.open("w") as out:
        run = subprocess.Popen(cmd, cwd=cluster, env=env, stdout=out, stderr=subprocess.STDOUT)
        try:
            cancelled = wait_for_running_job(
                cluster, "deface", CANCELLED_VIDEO, env, run, transcript
            )
            subprocess.run(["scancel", cancelled], env=env, check=True)
            run.wait(timeout=RUN_TIMEOUT_S)
        finally:
            if run.poll() is None:
                run.kill()
                run.wait()
    first = subprocess.CompletedProcess(cmd, run.returncode, transcript.read_text(), "")
    leftovers = [p for p in (cluster / "results").rglob(".*") if p.name != ".snakemake_timestamp"]
    summary_after_cancel = (cluster / "results" / "run_summary.json").exists()
    cancelled_log = (cluster / "logs" / "deface" / f"{CANCELLED_VIDEO}.log").read_text()
    rerun = must_pass(
        subprocess.run(
            cmd, cwd=cluster, env=env, capture_output=True, text=True, timeout=RUN_TIMEOUT_S
        )
    )
    return SimpleNamespace(
        local=examples_pair,
        cluster=cluster,
        first=first,
        cancelled=cancelled,
        leftovers=leftovers,
        summary_after_cancel=summary_after_cancel,
        cancelled_log=cancelled_log,
        rerun=rerun,
    )


def completed_jobs(runs, env: dict) -> pd.DataFrame:
    """Slurm's records of the cluster project's jobs, the cancelled one left out."""
    jobs = sacct_jobs(runs.cluster, env)
    return jobs[jobs.JobID != runs.cancelled]


def test_slurm_run_gives_the_local_dataset(cluster_runs):
    local, cluster, proc = cluster_runs.local, cluster_runs.cluster, cluster_runs.rerun
    assert "SLURM run ID" in proc.stdout + proc.stderr  # it really went through sbatch
    # the same bytes: every table, clip, keyframe and annotation file (x264 pinned to
    # one instruction set gives the same bytes whatever thread or job runs it)
    ours = digest_tree(cluster / "results" / "dataset")
    assert ours == digest_tree(local / "results" / "dataset")
    meta = pd.read_parquet(cluster / "results" / "dataset" / "metadata.parquet")
    assert len([name for name in ours if name.endswith(".mp4")]) == meta["keep"].sum() > 0
    # every whole second of each video (9.4 s and 4.8 s)
    assert dict(meta.video_id.value_counts()) == {"armwrestling": 9, "carphone": 4}
    summary = json.loads((cluster / "results" / "run_summary.json").read_text())
    assert summary["counts"] == {"ok": 2}


def test_gpu_stage_asked_slurm_for_a_gpu_and_cpu_stages_did_not(cluster_runs, slurm_env):
    jobs = completed_jobs(cluster_runs, slurm_env)
    assert set(jobs.State) == {"COMPLETED"}
    scenes = jobs[jobs.rule == "scenes"]
    # the plugin's comment: rule_<rule>_wildcards_<the wildcards' values>
    scenes = scenes.set_index(scenes.Comment.str.split("_wildcards_").str[1])
    assert len(scenes) == 2
    # the TransNetV2 video asks for a GPU (gpu_jobs: true); the one marked `scenes: none`
    # in the sheet does not wait in a GPU queue
    with_gpu = scenes.ReqTRES.str.contains(r"gres/gpu=1\b")
    assert with_gpu.to_dict() == {"armwrestling": True, "carphone": False}
    # the people detector on onnxruntime (device auto) can use one too: both videos
    tracks = jobs[jobs.rule == "tracks"]
    assert len(tracks) == 2 and tracks.ReqTRES.str.contains(r"gres/gpu=1\b").all()
    others = jobs[~jobs.rule.isin(["scenes", "tracks"])]
    assert {"deface", "extract_clips", "dataset", "probes", "window_plans"} <= set(others.rule)
    assert not others.ReqTRES.str.contains("gpu").any()


def test_threads_and_memory_reached_sbatch(cluster_runs, slurm_env):
    jobs = completed_jobs(cluster_runs, slurm_env)
    for rule in ("scenes", "deface", "extract_clips", "dataset"):
        rows = jobs[jobs.rule == rule]
        assert len(rows), rule
        assert set(rows.ReqCPUS.astype(int)) == {rule_threads(rule)}, rule
        assert set(rows.ReqMem) == {f"{profile_resource(rule, 'mem_mb')}M"}, rule
        minutes = profile_resource(rule, "runtime")
        assert set(rows.Timelimit) == {f"{minutes // 60:02d}:{minutes % 60:02d}:00"}, rule
    assert rule_threads("extract_clips") == 4 and rule_threads("scenes") == 2


def test_grouping_bundles_small_jobs_into_fewer_slurm_jobs(cluster_runs, slurm_env):
    cluster = cluster_runs.cluster
    jobs = completed_jobs(cluster_runs, slurm_env)
    videos = 2
    # the jobs the workflow has for the examples, from a dry run of everything: one
    # sbatch call each, were nothing bundled (localrules run on the submit host)
    dry = subprocess.run(
        [
            SNAKEMAKE,
            "-n",
            *SHOW_JOBS,
            "--forceall",
            "--cores",
            "1",
            "--configfile",
            str(cluster / "config.yaml"),
            "--directory",
            str(cluster),
            "-s",
            str(REPO / "Snakefile"),
        ],
        capture_output=True,
        text=True,
        check=True,
        env=slurm_env,
    )
    stats = re.search(r"Job stats:\n.*?\n-+\s+-+\n(.*?)\ntotal", dry.stdout + dry.stderr, re.S)
    planned = {row.split()[0]: int(row.split()[1]) for row in stats.group(1).splitlines()}
    # localrules run on the submit host: no sbatch
    local = (
        "ingest",
        "all",
        "transnetv2_onnx",
        "ssdlite_onnx",
        "video_files",
        "videos",
        "run_summary",
    )
    n_rule_jobs = sum(n for rule, n in planned.items() if rule not in local)
    assert len(jobs) < n_rule_jobs
    counts = jobs.rule.value_counts().to_dict()
    # both probes in one job, both window plans in another, both keyframe
    # annotations in a third: never one job per video
    assert counts.get("probes") == 1 and counts.get("window_plans") == 1
    assert counts.get("keyframe_boxes") == 1
    assert not {"probe", "windows", "keyframe_annotations"} & set(counts)
    slots = PROFILE["resources"]["bundle_slots"]
    probes = jobs[jobs.rule == "probes"].iloc[0]
    # a bundle asks for the members that run at once, not for all of them
    assert int(probes.ReqCPUS) == min(videos, slots)
    assert probes.ReqMem == f"{min(videos, slots) * profile_resource('probe', 'mem_mb')}M"
    assert len(jobs) == n_rule_jobs - 3 * (videos - 1)


def test_scancel_fails_the_run_cleanly_and_a_rerun_completes(cluster_runs, slurm_env):
    """A job cancelled with scancel fails the run cleanly (reported, no partial output,
    no dataset); the rerun redoes that job and completes the dataset."""
    cluster, job_id = cluster_runs.cluster, cluster_runs.cancelled
    output = cluster_runs.first.stdout
    assert cluster_runs.first.returncode != 0
    # `slurm` is no path from the project dir: the installed user profile was used
    assert "Using profiles slurm and" in output and not (cluster / "slurm").exists()
    assert f"submitted with SLURM jobid {job_id}" in output
    # the default profile keeps Snakemake's per-job error block ("Error in rule deface",
    # the executor's "SLURM-job ... failed" inside it) quiet; the run's own table below
    # names the job, its stage, its reason and its log, and sacct its CANCELLED state
    assert "Error in rule deface" not in output
    assert cluster_runs.leftovers == []
    log = cluster_runs.cancelled_log.splitlines()
    # whatever the stage was doing when the signal came (importing, decoding, writing,
    # exiting), its one FAILED line, and no third-party INFO records
    failed = [line for line in log if line.startswith("FAILED")]
    assert failed == [
        f"FAILED [deface] {CANCELLED_VIDEO}: stopped by SIGTERM (job cancelled, out of time or"
        " preempted); rerun to retry"
    ], log
    assert not [line for line in log if " INFO " in line and " vidcurate." not in line], log
    # a cancelled job is not the video's fault: no dataset, no rejection; the run ends
    # naming the job that failed
    assert not cluster_runs.summary_after_cancel
    assert "vidcurate: jobs that failed in this run:" in output
    (line,) = [x for x in output.splitlines() if x.startswith(f"{CANCELLED_VIDEO} ")]
    assert line.split()[1] == "deface" and "SIGTERM" in line
    # the rerun submitted the cancelled job again, and it completed (that nothing else
    # ran twice: test_grouping_bundles_small_jobs_into_fewer_slurm_jobs counts the jobs)
    jobs = sacct_jobs(cluster, slurm_env)
    deface = jobs[jobs.Comment == f"rule_deface_wildcards_{CANCELLED_VIDEO}"]
    assert deface.set_index("JobID").State.str.split().str[0].to_dict() == {
        job_id: "CANCELLED",
        **{other: "COMPLETED" for other in deface.JobID if other != job_id},
    }
    assert len(deface) == 2
    meta = pd.read_parquet(cluster / "results" / "dataset" / "metadata.parquet")
    assert len(meta) == 13


def wait_for_running_job(
    project: Path, rule: str, video_id: str, env: dict, run: subprocess.Popen, transcript: Path
) -> str:
    """Slurm id of the ``rule`` job of ``video_id`` once it runs and its stage script has
    started."""
    deadline = time.monotonic() + 600
    log = project / "logs" / rule / f"{video_id}.log"
    while time.monotonic() < deadline:
        if run.poll() is not None:
            raise AssertionError(
                f"snakemake ended before a {rule} job ran:\n{transcript.read_text()[-3000:]}"
            )
        queue = subprocess.run(
            ["squeue", "-h", "-t", "RUNNING", "-o", "%i|%k|%Z"],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for line in queue.splitlines():
            job_id, comment, workdir = line.split("|")
            if (
                workdir == str(project)
                and comment == f"rule_{rule}_wildcards_{video_id}"
                and log.exists()
            ):
                time.sleep(2)  # let the stage get going: a cancel mid-work, not at start-up
                return job_id
        time.sleep(0.5)
    raise AssertionError(f"no running {rule} job within 10 minutes")
