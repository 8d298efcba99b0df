"""The workflow on a real Slurm: a single-node cluster on localhost (tests/slurm/local_cluster.sh)
driven through profiles/slurm by snakemake-executor-plugin-slurm.

Skipped when no cluster can be started here (not root and no passwordless sudo, or no
apt); CI sets VIDCURATE_REQUIRE_SLURM=1 so that a cluster that fails to start fails.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

from conftest import REPO, SNAKEMAKE

pytestmark = [pytest.mark.workflow, pytest.mark.slurm]

CLUSTER = REPO / "tests" / "slurm" / "local_cluster.sh"
PROFILE = yaml.safe_load((REPO / "profiles" / "slurm" / "profile.yaml").read_text())
# every snakemake call is killed hard after this: the plugin can wait forever on a
# broken cluster, and snakemake ignores SIGTERM while it waits
RUN_TIMEOUT_S = 900
# no conda on this machine: env-modules replaces the profile's conda and, with no rule
# declaring modules, runs every job in this venv; status checks start after 5 s, not 40
TEST_ARGS = ["--sdm", "env-modules", "--slurm-init-seconds-before-status-checks", "5"]
# README's line that installs the profile for `--profile slurm`
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


def examples_project(project: Path, keep=None, sheet_values=None) -> Path:
    """The shipped examples as a user's project: config/config.yaml and config/videos.tsv
    (sources made absolute), optionally only the videos in ``keep``."""
    project.mkdir(parents=True)
    sheet = pd.read_csv(REPO / "config" / "videos.tsv", sep="\t", dtype=str, keep_default_na=False)
    sheet["source"] = [str((REPO / "config" / s).resolve()) for s in sheet["source"]]
    if keep:
        sheet = sheet[sheet["video_id"].isin(keep)]
    for column, value in (sheet_values or {}).items():
        sheet[column] = value
    sheet.to_csv(project / "videos.tsv", sep="\t", index=False)
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    config["samples"] = "videos.tsv"
    config["gpu_jobs"] = True  # the test cluster has a (fake) GPU, as GPU clusters do
    (project / "config.yaml").write_text(yaml.safe_dump(config))
    return project


def snakemake(project: Path, *args, cwd: Path, env: dict) -> subprocess.CompletedProcess:
    cmd = [SNAKEMAKE, "-s", str(REPO / "Snakefile"), "--directory", str(project)]
    cmd += ["--configfile", str(project / "config.yaml"), *args]
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


def digest_tree(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and not p.name.startswith(".")
    }


@pytest.fixture(scope="module")
def local_and_slurm(tmp_path_factory, slurm_env):
    """The examples run twice: on this machine, and through `--profile profiles/slurm`
    from the repository root."""
    root = tmp_path_factory.mktemp("slurm_examples")
    local = examples_project(root / "local")
    must_pass(snakemake(local, "--cores", "2", cwd=local, env=slurm_env))
    cluster = examples_project(root / "cluster")
    proc = must_pass(
        snakemake(cluster, "--profile", "profiles/slurm", *TEST_ARGS, cwd=REPO, env=slurm_env)
    )
    return local, cluster, proc


def test_slurm_run_gives_the_local_dataset(local_and_slurm):
    local, cluster, proc = local_and_slurm
    assert "SLURM run ID" in proc.stdout + proc.stderr  # it really went through sbatch
    # the same bytes: every table, clip, keyframe and annotation file (x264 pinned to
    # one instruction set gives the same bytes whatever thread or job runs it)
    ours = digest_tree(cluster / "results" / "dataset")
    assert ours == digest_tree(local / "results" / "dataset")
    meta = pd.read_parquet(cluster / "results" / "dataset" / "metadata.parquet")
    assert len([name for name in ours if name.endswith(".mp4")]) == meta["keep"].sum() > 0
    assert dict(meta.video_id.value_counts()) == {
        "mouse_m3v1": 77,
        "armwrestling": 9,
        "carphone": 4,
    }
    summary = json.loads((cluster / "results" / "run_summary.json").read_text())
    assert summary["counts"] == {"ok": 3}


def test_gpu_stage_asked_slurm_for_a_gpu_and_cpu_stages_did_not(local_and_slurm, slurm_env):
    _, cluster, _ = local_and_slurm
    jobs = sacct_jobs(cluster, slurm_env)
    assert set(jobs.State) == {"COMPLETED"}
    scenes = jobs[jobs.rule == "scenes"]
    assert len(scenes) == 3
    # TransNetV2 videos ask for a GPU (gpu_jobs: true); the mouse rig's scenes job
    # (backend none in the sheet) does not wait in a GPU queue
    with_gpu = scenes.ReqTRES.str.contains(r"gres/gpu=1\b")
    assert with_gpu.sum() == 2
    others = jobs[(jobs.rule != "scenes")]
    assert {"deface", "extract_clips", "dataset", "probes", "window_plans"} <= set(others.rule)
    assert not others.ReqTRES.str.contains("gpu").any()


def test_threads_and_memory_reached_sbatch(local_and_slurm, slurm_env):
    _, cluster, _ = local_and_slurm
    jobs = sacct_jobs(cluster, slurm_env)
    for rule in ("scenes", "deface", "extract_clips", "dataset"):
        rows = jobs[jobs.rule == rule]
        assert len(rows), rule
        assert set(rows.ReqCPUS.astype(int)) == {rule_threads(rule)}, rule
        assert set(rows.ReqMem) == {f"{profile_resource(rule, 'mem_mb')}M"}, rule
        minutes = profile_resource(rule, "runtime")
        assert set(rows.Timelimit) == {f"{minutes // 60:02d}:{minutes % 60:02d}:00"}, rule
    assert rule_threads("extract_clips") == 4 and rule_threads("scenes") == 2


def test_grouping_bundles_small_jobs_into_fewer_slurm_jobs(local_and_slurm, slurm_env):
    _, cluster, _ = local_and_slurm
    jobs = sacct_jobs(cluster, slurm_env)
    videos = 3
    # the jobs the workflow has for the examples, from a dry run of everything: one
    # sbatch call each, were nothing bundled (localrules run on the submit host)
    dry = subprocess.run(
        [
            SNAKEMAKE,
            "-n",
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
    local = ("ingest", "all", "transnetv2_onnx", "video_files", "videos", "run_summary")
    n_rule_jobs = sum(n for rule, n in planned.items() if rule not in local)
    assert len(jobs) < n_rule_jobs
    counts = jobs.rule.value_counts().to_dict()
    # all 3 probes in one job, all 3 window plans in another, all 3 keyframe
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


def test_user_profile_install_and_scancel_then_rerun(tmp_path, slurm_env):
    """README's command installs `--profile slurm`; a job cancelled with scancel fails
    the run cleanly (reported, no partial output) and a rerun completes the dataset."""
    install = INSTALL_LINE.search((REPO / "README.md").read_text())
    assert install, "README lacks the user-profile install command"
    home = tmp_path / "home"
    home.mkdir()
    env = {k: v for k, v in slurm_env.items() if k != "XDG_CONFIG_HOME"}
    env["HOME"] = str(home)
    subprocess.run(["bash", "-c", install.group(1)], cwd=REPO, env=env, check=True)
    assert (home / ".config" / "snakemake" / "slurm" / "profile.yaml").exists()

    project = examples_project(
        tmp_path / "project", keep=["armwrestling"], sheet_values={"deface": "false"}
    )
    # the torch engine: a scenes job of several seconds, so there is time to scancel it
    # while it runs (the ONNX engine is done with armwrestling in about three)
    config = yaml.safe_load((project / "config.yaml").read_text())
    config["scenes"]["engine"] = "torch"
    (project / "config.yaml").write_text(yaml.safe_dump(config))
    args = ["--profile", "slurm", *TEST_ARGS, "--retries", "0"]
    cmd = [SNAKEMAKE, "-s", str(REPO / "Snakefile"), "--configfile", "config.yaml", *args]
    transcript = tmp_path / "snakemake.out"
    with transcript.open("w") as out:
        run = subprocess.Popen(cmd, cwd=project, env=env, stdout=out, stderr=subprocess.STDOUT)
        try:
            job_id = wait_for_running_job(project, "scenes", env, run, transcript)
            subprocess.run(["scancel", job_id], env=env, check=True)
            run.wait(timeout=RUN_TIMEOUT_S)
        finally:
            if run.poll() is None:
                run.kill()
                run.wait()
    output = transcript.read_text()
    assert run.returncode != 0
    # `slurm` is no path from the project dir: the installed user profile was used
    assert "Using profiles slurm and" in output and not (project / "slurm").exists()
    assert f"submitted with SLURM jobid {job_id}" in output
    assert re.search(rf"SLURM-job '{job_id}' failed, SLURM status is: 'CANCELLED", output), output[
        -3000:
    ]
    assert "Error in rule scenes" in output
    results = project / "results"
    assert not (results / "scenes" / "armwrestling" / "shots.tsv").exists()
    assert not (results / "scenes" / "armwrestling" / "flash.tsv").exists()
    leftovers = [p for p in results.rglob(".*") if p.name != ".snakemake_timestamp"]
    assert leftovers == []
    log = (project / "logs" / "scenes" / "armwrestling.log").read_text().splitlines()
    # whatever the stage was doing when the signal came (importing torch, decoding,
    # writing, exiting), its one FAILED line, and no third-party INFO records
    failed = [line for line in log if line.startswith("FAILED")]
    assert failed == [
        "FAILED [scenes] armwrestling: stopped by SIGTERM (job cancelled, out of time or"
        " preempted); rerun to retry"
    ], log
    assert not [line for line in log if " INFO " in line and " vidcurate." not in line], log
    # a cancelled job is not the video's fault: no dataset, no rejection; the run ends
    # naming the job that failed
    assert not (results / "run_summary.json").exists()
    assert "vidcurate: jobs that failed in this run:" in output
    (line,) = [x for x in output.splitlines() if x.startswith("armwrestling ")]
    assert line.split()[1] == "scenes" and "SIGTERM" in line

    rerun = subprocess.run(
        cmd, cwd=project, env=env, capture_output=True, text=True, timeout=RUN_TIMEOUT_S
    )
    assert rerun.returncode == 0, rerun.stdout[-3000:] + rerun.stderr[-3000:]
    meta = pd.read_parquet(results / "dataset" / "metadata.parquet")
    assert len(meta) == 9
    summary = json.loads((results / "run_summary.json").read_text())
    assert summary["counts"] == {"ok": 1}


def wait_for_running_job(
    project: Path, rule: str, env: dict, run: subprocess.Popen, transcript: Path
) -> str:
    """Slurm id of the ``rule`` job once it runs and its stage script has started."""
    deadline = time.monotonic() + 600
    log = project / "logs" / rule
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
                and comment.startswith(f"rule_{rule}_")
                and any(log.glob("*.log"))
            ):
                time.sleep(2)  # let the stage get going: a cancel mid-work, not at start-up
                return job_id
        time.sleep(0.5)
    raise AssertionError(f"no running {rule} job within 10 minutes")
