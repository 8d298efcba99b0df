"""Glue between Snakemake's ``snakemake`` object and the library: logging and failures."""

from __future__ import annotations

import contextlib
import logging
import signal
import sys
from collections.abc import Iterator

from .errors import VideoError

FAILED_PREFIX = "FAILED"
TERMINATED_EXIT = 128 + signal.SIGTERM


class Terminated(BaseException):
    """SIGTERM arrived: Slurm cancelled the job, its time ran out, or it was preempted.

    A BaseException, so no ``except Exception`` on the way up swallows it, while
    ``finally`` blocks (temporary outputs, child processes) still run."""


_terminated_by: str | None = None


def _raise_terminated(signum, _frame):
    global _terminated_by
    _terminated_by = signal.Signals(signum).name
    raise Terminated(_terminated_by)


def raise_if_terminated() -> None:
    """Raise again for a SIGTERM that third-party code swallowed: the signal can land
    anywhere, e.g. inside torch's lazy imports, which catch and drop it. Frame loops
    call this, so a stage stops within a frame whatever happened to the first raise."""
    if _terminated_by:
        raise Terminated(_terminated_by)


def failure_line(stage: str, video_id: str, reason: str) -> str:
    """The one line a failed video leaves in its log; the run summary parses it."""
    return f"{FAILED_PREFIX} [{stage}] {video_id}: {reason}"


@contextlib.contextmanager
def stage_logging(snakemake) -> Iterator[logging.Logger]:
    """Log to the rule's log file; turn a VideoError into one line and exit status 1.

    SIGTERM becomes an exception, so partial outputs are removed on the way out and
    the log says the job was stopped rather than ending mid-line."""
    log_path = snakemake.log[0] if snakemake.log else None
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if log_path:
        handlers.append(logging.FileHandler(log_path, mode="w"))
    logging.basicConfig(
        level=logging.INFO,
        handlers=handlers,
        force=True,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logger = logging.getLogger(f"vidcurate.{snakemake.rule}")
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        yield logger
        raise_if_terminated()  # finished although told to stop: still a stopped job
    except VideoError as err:
        _fail(handlers, log_path, failure_line(snakemake.rule, err.video_id, err.reason))
        sys.exit(1)
    except Terminated:
        video_id = getattr(snakemake.wildcards, "video_id", "-")
        reason = "stopped by SIGTERM (job cancelled, out of time or preempted); rerun to retry"
        _fail(handlers, log_path, failure_line(snakemake.rule, video_id, reason))
        sys.exit(TERMINATED_EXIT)
    finally:
        signal.signal(signal.SIGTERM, previous)


def _fail(handlers: list[logging.Handler], log_path: str | None, line: str) -> None:
    for handler in handlers:
        handler.flush()
    if log_path:
        with open(log_path, "a") as fh:
            fh.write(line + "\n")
    print(line, file=sys.stderr)
