"""Glue between Snakemake's ``snakemake`` object and the library: logging and failures."""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Iterator

from .errors import VideoError

FAILED_PREFIX = "FAILED"


def failure_line(stage: str, video_id: str, reason: str) -> str:
    """The one line a failed video leaves in its log; the run summary parses it."""
    return f"{FAILED_PREFIX} [{stage}] {video_id}: {reason}"


@contextlib.contextmanager
def stage_logging(snakemake) -> Iterator[logging.Logger]:
    """Log to the rule's log file; turn a VideoError into one line and exit status 1."""
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
    try:
        yield logger
    except VideoError as err:
        line = failure_line(snakemake.rule, err.video_id, err.reason)
        for handler in handlers:
            handler.flush()
        if log_path:
            with open(log_path, "a") as fh:
                fh.write(line + "\n")
        print(line, file=sys.stderr)
        sys.exit(1)
