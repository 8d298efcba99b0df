"""Stage plumbing: atomic outputs and how a stage ends when Slurm stops it (SIGTERM)."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import time

import pytest

from conftest import REPO
from vidcurate.atomic import atomic_dir, atomic_path
from vidcurate.runner import TERMINATED_EXIT


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


STAGE = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from types import SimpleNamespace
    sys.path.insert(0, {scripts!r})
    from vidcurate.atomic import atomic_dir
    from vidcurate.runner import stage_logging

    out = Path({out!r})
    snakemake = SimpleNamespace(
        log=[{log!r}], rule="extract_clips", wildcards=SimpleNamespace(video_id="v1")
    )
    with stage_logging(snakemake):
        with atomic_dir(out / "clips") as tmp:
            (tmp / "0001.mp4").write_bytes(b"clip")
            (out / "ready").touch()
            if {swallow}:
                try:  # third-party code that drops the exception (torch's lazy imports do)
                    time.sleep(60)
                except BaseException:
                    pass
                (tmp / "0002.mp4").write_bytes(b"clip")
            else:
                time.sleep(60)
    """
)


@pytest.mark.parametrize("swallow", [False, True], ids=["raised", "swallowed"])
def test_sigterm_stops_a_stage_cleanly(tmp_path, swallow):
    """scancel, a time limit or preemption: SIGTERM, then SIGKILL after Slurm's KillWait.
    The stage must use the grace period to remove its partial output and say why, even
    when the exception the signal raised was swallowed by library code."""
    out, log = tmp_path / "out", tmp_path / "stage.log"
    out.mkdir()
    script = STAGE.format(
        scripts=str(REPO / "scripts"), out=str(out), log=str(log), swallow=swallow
    )
    proc = subprocess.Popen([sys.executable, "-c", script], stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 30
    while not (out / "ready").exists():
        assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read()
        time.sleep(0.05)
    assert any(p.name.startswith(".clips.partial-") for p in out.iterdir())
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=10) == TERMINATED_EXIT == 143
    assert sorted(p.name for p in out.iterdir()) == ["ready"]
    last = log.read_text().splitlines()[-1]
    assert last.startswith("FAILED [extract_clips] v1: stopped by SIGTERM")
    assert "FAILED [extract_clips] v1: stopped by SIGTERM" in proc.stderr.read()
