"""Load and check the sample sheet before any job runs."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from urllib.parse import urlparse

import pandas as pd
import yaml
from jsonschema import Draft202012Validator

from .columns import (
    CAPTION_METADATA_COLUMNS,
    CLIP_COLUMNS,
    CLIP_METADATA_COLUMNS,
    SPLITS,
    VIDEO_COLUMNS,
)
from .errors import SheetError
from .ids import id_problem
from .sources import source_extension, source_kind
from .web import url_sha256

REQUIRED_COLUMNS = ("video_id", "source")
# what load_sheet adds to each row
DERIVED_COLUMNS = ("source_kind", "ext", "source_path", "split_source", "archive_id")


def _reserved_columns() -> dict[str, list[str]]:
    """Column -> where the workflow writes a column of that name itself; a sheet column
    of the same name would be overwritten or clash (the sheet's own columns aside)."""
    reserved: dict[str, list[str]] = {}
    for where, names in (
        ("metadata.parquet", [*CLIP_METADATA_COLUMNS, *CAPTION_METADATA_COLUMNS]),
        ("videos.parquet", VIDEO_COLUMNS),
        ("windows.parquet", [*CLIP_COLUMNS, "split"]),
        ("derived from source", DERIVED_COLUMNS),
    ):
        for name in names:
            if name not in (*REQUIRED_COLUMNS, "split"):
                reserved.setdefault(name, []).append(where)
    return reserved


RESERVED_COLUMNS = _reserved_columns()


def assign_split(video_id: str, seed: int, fractions: dict[str, float]) -> str:
    """The split of a video the sheet leaves without one: a hash of (seed, video_id) read
    as a number in [0, 1), cut at the cumulative fractions of ``fractions`` (train, val,
    test order). It depends on nothing else, so adding or removing videos never moves
    another video between splits, and every clip of a video lands in the same split."""
    total = sum(fractions.get(name, 0.0) for name in SPLITS)
    if total <= 0:
        raise ValueError("splits: the fractions add up to 0")
    digest = hashlib.sha256(f"{seed}:{video_id}".encode()).digest()
    point = int.from_bytes(digest[:8], "big") / 2**64 * total
    edge = 0.0
    for name in SPLITS:
        edge += fractions.get(name, 0.0)
        if point < edge:
            return name
    return next(name for name in reversed(SPLITS) if fractions.get(name, 0.0) > 0)


def split_fractions(config: dict) -> dict[str, float]:
    """The config's ``splits`` fractions, in SPLITS order."""
    return {name: config["splits"][name] for name in SPLITS}


def fill_splits(sheet: pd.DataFrame, seed: int, fractions: dict[str, float]) -> pd.DataFrame:
    """``sheet`` with every blank or missing split assigned by :func:`assign_split`; the
    column ``split_source`` says which came from the sheet and which were assigned."""
    sheet = sheet.copy()
    given = sheet["split"] if "split" in sheet.columns else pd.Series("", index=sheet.index)
    given = given.fillna("").astype(str).str.strip()
    sheet["split"] = [
        split or assign_split(video_id, seed, fractions)
        for video_id, split in zip(sheet["video_id"], given, strict=True)
    ]
    sheet["split_source"] = ["sheet" if split else "assigned" for split in given]
    return sheet


def load_sheet(path: str | os.PathLike, schema_path: str | os.PathLike) -> pd.DataFrame:
    """Read the TSV sheet, check every row against the schema and the file system.

    Returns the sheet indexed by video_id with three derived columns:
    ``source_kind``, ``ext`` and ``source_path`` (absolute path of a local file,
    else the URL). Raises SheetError naming the line and column of the first problem,
    or the columns whose names the workflow reserves for its own (RESERVED_COLUMNS).
    """
    path = Path(path)
    if not path.exists():
        raise SheetError(f"sample sheet {path} does not exist")
    sheet = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False, comment=None)
    sheet.columns = [c.strip() for c in sheet.columns]
    missing = [c for c in REQUIRED_COLUMNS if c not in sheet.columns]
    if missing:
        raise SheetError(
            f"{path}: missing column(s) {', '.join(missing)}; "
            f"required: {', '.join(REQUIRED_COLUMNS)}"
        )
    reserved = [c for c in sheet.columns if c in RESERVED_COLUMNS]
    if reserved:
        raise SheetError(
            f"{path}: column(s) {', '.join(reserved)} are reserved, the workflow writes its own "
            + " and ".join(f"'{c}' ({', '.join(RESERVED_COLUMNS[c])})" for c in reserved)
            + "; rename them"
        )
    schema = yaml.safe_load(Path(schema_path).read_text())
    validator = Draft202012Validator(schema)
    seen: dict[str, int] = {}
    kinds, exts, sources = [], [], []
    for index, row in enumerate(sheet.to_dict("records")):
        line = index + 2  # header is line 1
        where = f"{path} line {line}"
        row = {k: v.strip() for k, v in row.items()}
        for error in sorted(validator.iter_errors(row), key=lambda e: list(e.path)):
            column = error.path[0] if error.path else "?"
            raise SheetError(f"{where}, column '{column}': {_explain(error, row.get(column))}")
        video_id = row["video_id"]
        problem = id_problem(video_id)
        if problem:
            raise SheetError(f"{where}, column 'video_id': {problem}")
        if video_id in seen:
            raise SheetError(
                f"{where}, column 'video_id': '{video_id}' repeats line {seen[video_id]}"
            )
        seen[video_id] = line
        kind = source_kind(row["source"])
        source = row["source"]
        if kind == "local" or (kind == "archive" and "://" not in source):
            local = Path(urlparse(source).path if source.startswith("file:") else source)
            if not local.is_absolute():
                local = path.parent / local
            if not local.is_file():
                raise SheetError(f"{where}, column 'source': local file {local} does not exist")
            source = str(local.resolve())
        kinds.append(kind)
        exts.append(source_extension(row["source"], kind))
        sources.append(source)
    sheet = sheet.apply(lambda col: col.str.strip())
    sheet["source_kind"], sheet["ext"], sheet["source_path"] = kinds, exts, sources
    return sheet.set_index("video_id", drop=False)


def sheet_source(sheet: str | os.PathLike, video_id: str, sha256: str) -> str:
    """The source URL of ``video_id`` read from the sheet by the job that downloads it
    (its params hold only the redacted URL and ``sha256``, the hash of the whole URL,
    because Snakemake keeps params on disk). Fails when the sheet no longer holds the
    URL the run was planned with."""
    table = pd.read_csv(sheet, sep="\t", dtype=str, keep_default_na=False, comment=None)
    table.columns = [c.strip() for c in table.columns]
    for row in table.to_dict("records"):
        if row["video_id"].strip() == video_id:
            source = row["source"].strip()
            if url_sha256(source) != sha256:
                break
            return source
    raise RuntimeError(
        f"{video_id}: the sample sheet {sheet} no longer holds the source this run was "
        "planned with (edited while running?); run again"
    )


def _explain(error, value) -> str:
    if error.validator == "pattern":
        return (
            f"{value!r} is not allowed: use letters, digits, '_', '.', '-', "
            "starting with a letter or digit"
        )
    if error.validator == "enum":
        return f"{value!r} is not one of {', '.join(map(str, error.validator_value))}"
    if error.validator == "minLength":
        return "is empty"
    return error.message
