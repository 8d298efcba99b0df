"""A video that cannot go through a stage is a recorded outcome, not a failed job.

When a stage finds that the video itself is the problem (unreadable, truncated, no
video stream, decoder garbage, a download answering 4xx, an archive or member that
cannot be read), its job writes each of its outputs in a small *rejected* form naming
the stage and the reason, and ends with success (config ``on_video_error: record``, the
default). Every later stage finds the rejection among its inputs and passes it on
without reading a frame, so the video's chain ends cheaply; the dataset-wide stages
build from every other video and list this one with its stage and reason
(``videos.parquet``, ``results/run_summary.json``).

The rejected form of an output, by what the output is:

- JSON (``.json``): ``{"video_id": ..., "rejected": {"stage": ..., "reason": ...}}``
- a table (``.parquet``, ``.tsv``): one row, columns ``video_id``, ``rejected_stage``,
  ``rejected_reason``
- a folder: holding only ``REJECTED.json`` (the JSON form)
- anything else (a video, a picture, a gzip): a text file whose first line is
  ``#vidcurate-rejected`` and whose second line is the JSON form
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq

from .atomic import atomic_dir, atomic_path, write_text

REJECTED_COLUMNS = ["video_id", "rejected_stage", "rejected_reason"]
REJECTED_IN_FOLDER = "REJECTED.json"
REJECTED_MAGIC = b"#vidcurate-rejected\n"
REJECTED_PREFIX = "REJECTED"


@dataclass(frozen=True)
class Rejection:
    """Why a video's chain ended: the stage that found the problem, in one line."""

    video_id: str
    stage: str
    reason: str

    def line(self) -> str:
        """The line a rejecting job leaves in its log (and on stderr)."""
        return f"{REJECTED_PREFIX} [{self.stage}] {self.video_id}: {self.reason}"

    def to_json(self) -> dict:
        return {"video_id": self.video_id, "rejected": {"stage": self.stage, "reason": self.reason}}

    def table(self) -> pd.DataFrame:
        return pd.DataFrame([[self.video_id, self.stage, self.reason]], columns=REJECTED_COLUMNS)


def _from_json(data) -> Rejection | None:
    if not isinstance(data, dict) or not isinstance(data.get("rejected"), dict):
        return None
    found = data["rejected"]
    return Rejection(str(data.get("video_id", "")), str(found["stage"]), str(found["reason"]))


def rejection_in_table(table: pd.DataFrame) -> Rejection | None:
    """The rejection a table read from a stage output stands for, or None."""
    if list(table.columns) != REJECTED_COLUMNS or len(table) != 1:
        return None
    video_id, stage, reason = table.iloc[0]
    return Rejection(str(video_id), str(stage), str(reason))


def write_rejected(path: str | os.PathLike, rejection: Rejection) -> None:
    """Write ``path`` in its rejected form (see the module's docstring), atomically;
    a folder output is a folder holding REJECTED.json, whatever was there before."""
    path = Path(path)
    text = json.dumps(rejection.to_json(), indent=2) + "\n"
    name = path.name.lower()
    if name.endswith(".json"):
        write_text(path, text)
    elif name.endswith(".parquet"):
        with atomic_path(path, suffix=".parquet") as tmp:
            rejection.table().to_parquet(tmp, index=False)
    elif name.endswith(".tsv"):
        with atomic_path(path, suffix=".tsv") as tmp:
            rejection.table().to_csv(tmp, sep="\t", index=False)
    elif path.is_dir() or not path.suffix:
        with atomic_dir(path) as tmp:
            (tmp / REJECTED_IN_FOLDER).write_text(text)
    else:
        with atomic_path(path) as tmp:
            tmp.write_bytes(REJECTED_MAGIC + json.dumps(rejection.to_json()).encode() + b"\n")


def write_rejected_outputs(paths: Iterable[str | os.PathLike], rejection: Rejection) -> None:
    """Every output of a job in its rejected form. A folder output that does not exist
    yet is recognised by having no suffix (results/clips/{video_id}/clips)."""
    for path in paths:
        path = Path(path)
        if path.is_symlink() or (path.exists() and not path.is_dir()):
            path.unlink()  # e.g. ingest's link to a local file: never write through it
        elif path.is_dir() and path.suffix:
            shutil.rmtree(path)
        write_rejected(path, rejection)


def rejection_of(path: str | os.PathLike) -> Rejection | None:
    """The rejection ``path`` holds, or None for an ordinary output (or no file).

    Reads no more than it must: a parquet file's schema, a TSV's first line, the
    first bytes of anything else."""
    path = Path(path)
    try:
        if path.is_dir():
            marker = path / REJECTED_IN_FOLDER
            return _from_json(json.loads(marker.read_text())) if marker.is_file() else None
        name = path.name.lower()
        if name.endswith(".json"):
            return _from_json(json.loads(path.read_text()))
        if name.endswith(".parquet"):
            if pq.read_schema(path).names != REJECTED_COLUMNS:
                return None
            return rejection_in_table(pd.read_parquet(path))
        if name.endswith(".tsv"):
            with open(path, encoding="utf-8", errors="replace") as handle:
                if handle.readline().rstrip("\r\n").split("\t") != REJECTED_COLUMNS:
                    return None
            table = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
            return rejection_in_table(table)
        with open(path, "rb") as handle:
            if handle.read(len(REJECTED_MAGIC)) != REJECTED_MAGIC:
                return None
            return _from_json(json.loads(handle.readline()))
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        return None
    except (ValueError, OSError, KeyError):
        return None  # not ours to judge: the stage reading it reports what is wrong


def first_rejection(paths: Iterable[str | os.PathLike]) -> Rejection | None:
    """The rejection carried by the first of ``paths`` that holds one."""
    for path in paths:
        found = rejection_of(path)
        if found is not None:
            return found
    return None
