"""Write outputs so that a final path only ever holds a complete file."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from glob import escape as glob_escape
from pathlib import Path

from .termination import raise_if_terminated

# mkstemp/mkdtemp create private (0600/0700) entries; outputs should get the
# permissions any other file would, so others on a shared cluster can read them
_UMASK = os.umask(0)
os.umask(_UMASK)
FILE_MODE = 0o666 & ~_UMASK
DIR_MODE = 0o777 & ~_UMASK


def _partial_prefix(final: Path) -> str:
    return f".{final.name}.partial-"


def _remove_stale_partials(final: Path) -> None:
    """Drop what an earlier writer of ``final`` left when it was killed (SIGKILL, node
    failure): only one job writes a given output at a time, so these are orphans."""
    for stale in final.parent.glob(glob_escape(_partial_prefix(final)) + "*"):
        if stale.is_dir() and not stale.is_symlink():
            shutil.rmtree(stale, ignore_errors=True)
        else:
            stale.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_path(final: str | os.PathLike, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path beside ``final``; rename it into place on success.

    The temporary name keeps ``suffix`` (e.g. ".mp4") so tools that choose a
    format by extension still work. On error the temporary file is removed.
    """
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_partials(final)
    fd, tmp = tempfile.mkstemp(
        prefix=_partial_prefix(final), suffix=suffix or final.suffix, dir=final.parent
    )
    os.close(fd)
    tmp_path = Path(tmp)
    tmp_path.chmod(FILE_MODE)
    try:
        yield tmp_path
        raise_if_terminated()  # a stopped job publishes nothing
        os.replace(tmp_path, final)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


@contextlib.contextmanager
def atomic_dir(final: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary directory beside ``final``; rename it into place on success."""
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_partials(final)
    tmp = Path(tempfile.mkdtemp(prefix=_partial_prefix(final), dir=final.parent))
    tmp.chmod(DIR_MODE)
    try:
        yield tmp
        raise_if_terminated()
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)


def write_text(final: str | os.PathLike, text: str) -> None:
    with atomic_path(final) as tmp:
        tmp.write_text(text)
