"""Glue between Snakemake's ``snakemake`` object and the library: logging, rejected
videos and failures.

A VideoError (the video itself is the problem) is a recorded outcome by default
(config ``on_video_error: record``): the job writes every output in its rejected form
(vidcurate.outcome), leaves ``REJECTED [stage] video_id: reason`` in its log and ends
with success; a job whose inputs carry a rejection passes it on the same way without
running the stage. With ``on_video_error: stop`` a VideoError fails the job instead.

Every other way a stage can end badly fails the job and leaves one line in the rule's
log, ``FAILED [stage] video_id: reason``: any other exception (``Type: message``, then
the traceback: a bug, a full disk, a missing dependency, a server that kept failing),
Ctrl-C, and SIGTERM (Slurm's scancel, time limit, preemption). Snakemake's
``--retries`` retries those.

Importing this module from a stage script (Snakemake puts the ``snakemake`` object in
the script's globals before the script's first import) installs the SIGTERM handler at
once, before the stage imports torch or onnxruntime, so no moment of a stage's life is
left where SIGTERM would end it without its line.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
import threading
import traceback
import types
from collections.abc import Iterator
from dataclasses import dataclass

from .errors import VideoError
from .outcome import Rejection, first_rejection, write_rejected_outputs
from .termination import (
    TERMINATED_EXIT,
    Terminated,
    note_terminated,
    raise_if_terminated,
    terminated_by,
)

FAILED_PREFIX = "FAILED"
INTERRUPTED_EXIT = 128 + signal.SIGINT
# config on_video_error: what a VideoError does to its job
ON_VIDEO_ERROR = ("record", "stop")
STOPPED_REASON = "stopped by SIGTERM (job cancelled, out of time or preempted); rerun to retry"
INTERRUPTED_REASON = "interrupted (KeyboardInterrupt, Ctrl-C); rerun to retry"
# our loggers (library modules and stages) log at INFO; everyone else's only from WARNING
LIBRARY_LOGGER = "vidcurate"
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


@dataclass
class _Job:
    """The stage job this process runs, as far as the SIGTERM handler needs it."""

    rule: str
    video_id: str
    log_path: str | None
    reported: bool = False  # this attempt's log holds its FAILED line
    finished: bool = False  # stage_logging is over: only interpreter shutdown is left


_job: _Job | None = None
# stage_logging is starting the log: a SIGTERM now is noted, and raised right after
# (blocking the signal would not do: another thread can take it, and Python runs the
# handler in the main thread all the same)
_starting = False


def _job_of(snakemake) -> _Job:
    log = list(getattr(snakemake, "log", None) or [])
    wildcards = getattr(snakemake, "wildcards", None)
    # per-video jobs name their video, archive jobs their archive, dataset-wide ones "-"
    subject = getattr(wildcards, "video_id", None) or getattr(wildcards, "archive_id", None)
    return _Job(
        rule=str(snakemake.rule),
        video_id=str(subject or "-"),
        log_path=str(log[0]) if log else None,
    )


def _files(named) -> list[str]:
    """The paths of a job's inputs or outputs (Snakemake's named lists nest lists)."""
    found = []
    for item in list(named or []):
        found.extend(_files(item) if isinstance(item, list | tuple) else [str(item)])
    return found


def video_error_mode(snakemake) -> str:
    """record (the default) or stop, from config on_video_error."""
    config = getattr(snakemake, "config", None) or {}
    mode = config.get("on_video_error", "record")
    if mode not in ON_VIDEO_ERROR:
        raise ValueError(f"on_video_error must be one of {', '.join(ON_VIDEO_ERROR)}, got {mode!r}")
    return mode


def _record(job: _Job, snakemake, rejection: Rejection, note: str = "") -> None:
    """The job's outputs in their rejected form, and the REJECTED line."""
    write_rejected_outputs(_files(getattr(snakemake, "output", None)), rejection)
    _append_line(job, rejection.line() + note)


def failure_line(stage: str, video_id: str, reason: str) -> str:
    """The one line a failed job leaves in its log; a failed run lists these."""
    return f"{FAILED_PREFIX} [{stage}] {video_id}: {reason}"


def describe(err: BaseException) -> str:
    """``Type: message`` on one line, for a FAILED line; the type as tracebacks name it,
    with its module unless built in (``cv2.error``, not a bare ``error``)."""
    message = " ".join(str(err).split())
    kind = type(err)
    name = kind.__qualname__
    if kind.__module__ not in ("builtins", "__main__"):
        name = f"{kind.__module__}.{name}"
    return f"{name}: {message}" if message else name


def _append_line(job: _Job, line: str, detail: str = "") -> None:
    """Append ``line`` (and ``detail``, e.g. a traceback) to the log and stderr.

    Plain appending writes, no logging: this runs inside the signal handler too, maybe
    in the middle of a log record, and the log's own handler appends as well, so
    neither overwrites the other (a handler opened with "w" writes at its own offset,
    which once put torch's exit-time records over the FAILED line)."""
    data = (line + "\n" + detail).encode("utf-8", "replace")
    if job.log_path:
        with contextlib.suppress(OSError):
            fd = os.open(job.log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
            try:
                os.write(fd, data)
            finally:
                os.close(fd)
    # no sys.stderr.flush() here: the handler may have interrupted a write to it
    with contextlib.suppress(OSError):
        os.write(2, data)


def _report(job: _Job, line: str, detail: str = "") -> None:
    """The job's FAILED line (and ``detail``), once written: a stop keeps it."""
    job.reported = True
    _append_line(job, line, detail)


def _report_stop(job: _Job) -> None:
    if not job.reported:
        _report(job, failure_line(job.rule, job.video_id, STOPPED_REASON))


def _on_sigterm(signum, _frame):
    """Say so at once, in the handler itself: the exception it raises may be swallowed
    by library code (torch's lazy imports drop it), or come too late to be reported."""
    name = signal.Signals(signum).name
    note_terminated(name)
    job = _job
    if _starting:
        return  # stage_logging raises it once the log is ready
    if job is not None:
        _report_stop(job)
        if job.finished:
            # interpreter shutdown (atexit callbacks): an exception raised there is
            # printed and ignored and the exit status stays 0, so end here
            with contextlib.suppress(Exception):
                sys.stdout.flush()
                sys.stderr.flush()
            os._exit(TERMINATED_EXIT)
    raise Terminated(name)


def _install_for_stage_script() -> None:
    """At import from a stage script, before its heavy imports: ``__main__`` holds the
    ``snakemake`` object then (Snakemake's preamble puts it there)."""
    global _job
    smk = getattr(sys.modules.get("__main__"), "snakemake", None)
    if (
        smk is None
        or isinstance(smk, types.ModuleType)
        or not hasattr(smk, "rule")
        or threading.current_thread() is not threading.main_thread()
    ):
        return
    _job = _job_of(smk)
    signal.signal(signal.SIGTERM, _on_sigterm)


class _OursOrWarnings(logging.Filter):
    """INFO only from our loggers: a third-party logger set to INFO (torch sets some)
    still reaches the root's handlers whatever the root's level."""

    def filter(self, record: logging.LogRecord) -> bool:
        return (
            record.levelno >= logging.WARNING
            or record.name == LIBRARY_LOGGER
            or record.name.startswith(LIBRARY_LOGGER + ".")
        )


def _configure_logging(log_path: str | None, truncate: bool) -> list[logging.Handler]:
    console = logging.StreamHandler(sys.stderr)
    handlers: list[logging.Handler] = [console]
    if log_path:
        # a quiet console: a job's progress is in its log; the console gets warnings
        # (and the REJECTED/FAILED lines, written beside logging)
        console.setLevel(logging.WARNING)
        if truncate:  # each attempt starts its log afresh
            open(log_path, "w").close()
        # append mode (O_APPEND): the FAILED lines written beside it land at the end
        handlers.append(logging.FileHandler(log_path, mode="a"))
    for handler in handlers:
        handler.addFilter(_OursOrWarnings())
    logging.basicConfig(level=logging.WARNING, handlers=handlers, force=True, format=LOG_FORMAT)
    logging.getLogger(LIBRARY_LOGGER).setLevel(logging.INFO)
    return handlers


@contextlib.contextmanager
def stage_logging(snakemake, pass_rejected: bool = True) -> Iterator[logging.Logger]:
    """Log to the rule's log file and end the job as the way it ends calls for.

    - Inputs carrying a rejection (vidcurate.outcome; ``pass_rejected``): the body does
      not run; every output is written rejected with the same stage and reason, exit 0.
    - A VideoError of a per-video job: with on_video_error ``record`` the outputs are
      written rejected and the REJECTED line logged, exit 0; with ``stop`` its FAILED
      line, exit 1.
    - Any other exception: the FAILED line and the traceback, exit 1; Ctrl-C: exit 130;
      SIGTERM: exit 143.

    SIGTERM becomes an exception, so partial outputs are removed on the way out and
    the log says the job was stopped rather than ending mid-line."""
    global _job, _starting
    _starting = True  # the handler must not write a line that truncating then erases
    try:
        job = _job_of(snakemake)
        if _job is not None and _job.reported and _job.log_path == job.log_path:
            job.reported = True  # stopped among the imports: keep that line
        handlers = _configure_logging(job.log_path, truncate=not job.reported)
        _job = job
        signal.signal(signal.SIGTERM, _on_sigterm)
    finally:
        _starting = False
    logger = logging.getLogger(f"{LIBRARY_LOGGER}.{job.rule}")
    per_video = job.video_id != "-"
    try:
        raise_if_terminated()  # a SIGTERM swallowed before the stage began
        mode = video_error_mode(snakemake)
        inputs = _files(getattr(snakemake, "input", None))
        upstream = first_rejection(inputs) if pass_rejected and per_video else None
        if upstream is not None:
            passed_on = Rejection(job.video_id, upstream.stage, upstream.reason)
            _record(job, snakemake, passed_on, " (passed on)")
            sys.exit(0)
        yield logger
        raise_if_terminated()  # finished although told to stop: still a stopped job
    except BaseException as err:
        _flush(handlers)
        if terminated_by() or isinstance(err, Terminated):
            # whatever became of the exception SIGTERM raised (swallowed, or turned
            # into another by library code), the job was stopped
            _report_stop(job)
            if _workers_alive():
                # threads blocked in a network read or an encoder would hold the
                # interpreter's exit (it joins them): the line is written, end now
                _flush(handlers)
                with contextlib.suppress(Exception):
                    sys.stdout.flush()
                    sys.stderr.flush()
                os._exit(TERMINATED_EXIT)
            sys.exit(TERMINATED_EXIT)
        if isinstance(err, VideoError) and per_video:
            if mode == "record":
                _record(job, snakemake, Rejection(job.video_id, job.rule, err.reason))
                sys.exit(0)
            _report(job, failure_line(job.rule, err.video_id, err.reason))
            sys.exit(1)
        if isinstance(err, KeyboardInterrupt):
            _report(job, failure_line(job.rule, job.video_id, INTERRUPTED_REASON))
            sys.exit(INTERRUPTED_EXIT)
        if isinstance(err, Exception):
            detail = "".join(traceback.format_exception(err))
            _report(job, failure_line(job.rule, job.video_id, describe(err)), detail)
            sys.exit(1)
        if isinstance(err, SystemExit) and err.code not in (0, None):
            _report(job, failure_line(job.rule, job.video_id, describe(err)))
        raise
    finally:
        job.finished = True
        _flush(handlers)


def _workers_alive() -> bool:
    """Threads other than this one that the interpreter would wait for at exit."""
    return any(
        thread is not threading.current_thread() and thread.is_alive() and not thread.daemon
        for thread in threading.enumerate()
    )


def _flush(handlers: list[logging.Handler]) -> None:
    for handler in handlers:
        with contextlib.suppress(Exception):
            handler.flush()


_install_for_stage_script()
