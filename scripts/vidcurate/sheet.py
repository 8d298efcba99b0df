"""Load and check the sample sheet before any job runs."""

from __future__ import annotations

import os
from collections.abc import Sequence
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
from .splits import SplitConflict, deal_splits
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


def split_fractions(config: dict) -> dict[str, float]:
    """The config's ``splits`` fractions, in SPLITS order."""
    return {name: config["splits"][name] for name in SPLITS}


def fill_splits(
    sheet: pd.DataFrame, seed: int, fractions: dict[str, float], group_by: Sequence[str] = ()
) -> pd.DataFrame:
    """``sheet`` with every blank or missing split dealt by group
    (:func:`vidcurate.splits.deal_splits`); the column ``split_source`` says whether the
    row's own split (``sheet``), another row of its group (``group``) or the seeded deal
    (``assigned``) gave it. SheetError names the rows when one group is pinned to two
    splits, or a ``group_by`` column the sheet does not have."""
    missing = [column for column in group_by if column not in sheet.columns]
    if missing:
        raise SheetError(
            f"splits.group_by: the sample sheet has no column {', '.join(map(repr, missing))}"
        )
    sheet = sheet.copy()
    given = sheet["split"] if "split" in sheet.columns else pd.Series("", index=sheet.index)
    rows = sheet[list(group_by)].assign(video_id=sheet["video_id"], split=given.fillna(""))
    try:
        dealt = deal_splits(rows.to_dict("records"), group_by, seed, fractions)
    except SplitConflict as err:
        raise SheetError(f"splits.group_by: {err}") from None
    sheet["split"] = dealt["split"].to_numpy()
    sheet["split_source"] = dealt["split_source"].to_numpy()
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
