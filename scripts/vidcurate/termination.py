"""Whether this process was told to stop (SIGTERM): the state the runner's handler sets
and the frame loops and atomic writers check, in a module of its own so that the
writers need not import the runner."""

from __future__ import annotations

import signal

TERMINATED_EXIT = 128 + signal.SIGTERM


class Terminated(SystemExit):
    """SIGTERM arrived: Slurm cancelled the job, its time ran out, or it was preempted.

    A SystemExit (so a BaseException): no ``except Exception`` on the way up swallows it,
    ``finally`` blocks (temporary outputs, child processes) still run, and where nothing
    catches it, e.g. when it is raised among a stage's imports, the interpreter exits
    quietly with status 143."""

    def __init__(self, signal_name: str = "SIGTERM"):
        super().__init__(TERMINATED_EXIT)
        self.signal_name = signal_name

    def __str__(self) -> str:
        return f"stopped by {self.signal_name}"


_terminated_by: str | None = None


def note_terminated(signal_name: str) -> None:
    """Remember the stop (the runner's signal handler calls this first)."""
    global _terminated_by
    _terminated_by = signal_name


def terminated_by() -> str | None:
    """The signal that stopped this process, or None."""
    return _terminated_by


def raise_if_terminated() -> None:
    """Raise again for a SIGTERM that third-party code swallowed: the signal can land
    anywhere, e.g. inside torch's lazy imports, which catch and drop it. Frame loops
    call this, so a stage stops within a frame whatever happened to the first raise."""
    if _terminated_by:
        raise Terminated(_terminated_by)
