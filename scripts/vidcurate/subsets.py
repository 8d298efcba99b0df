"""Subsets of the kept clips: class-balanced ``CB{K}`` and random ``R{N}``.

``CB{K}`` takes at most K clips of every class: with temperature 0 (``T0``) the K with
the highest score, with infinite temperature (``Tinf``) K at random within the class.
Only kept clips of the listed splits (train by default: evaluation videos never enter a
training subset) outside the excluded videos take part, after the minimum and maximum
score constraints. A file is named by the request alone, ``{dataset}-CB{K}-T0`` or
``{dataset}-R{N}-{N}`` (392K style above 999), never by the clips it got, so a training
config that names it keeps working when there are fewer clips than asked, or more
later; index.tsv says how many each asked for and got.

Randomness is seeded per subset and per class (a hash of seed and class), over clips in
(video_id, clip) order, so a subset is the same on every run and a class's sample does
not move when another class gains clips. The gzip header carries no time stamp: two runs
write the same bytes.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import logging
import math
from pathlib import Path

import numpy as np
import pandas as pd

from .atomic import atomic_dir

log = logging.getLogger(__name__)

# columns of every subset record, then the class and score the subset used
RECORD_COLUMNS = [
    "video_id",
    "clip",
    "split",
    "clip_path",
    "keyframe_path",
    "start_s",
    "end_s",
    "n_frames",
    "width",
    "height",
    "source_clip",
]


def count_label(count: int) -> str:
    """392 -> '392', 392_000 -> '392K', 1_200_000 -> '1.2M'."""
    if count < 1000:
        return str(count)
    if round(count / 1000) < 1000:
        return f"{round(count / 1000)}K"
    return f"{count / 1_000_000:.1f}".rstrip("0").rstrip(".") + "M"


def top_k(spec: dict) -> bool:
    """Temperature 0 (T0: the highest scores), else infinite (Tinf: at random)."""
    temperature = spec.get("temperature", 0)
    return str(temperature) != "inf" and float(temperature) == 0


def subset_name(dataset: str, spec: dict) -> str:
    """The file name of what ``spec`` asks for. A random subset keeps the name it had
    when full (``R10-10``); a class-balanced one has no count, as its full size depends
    on the classes found."""
    if spec["kind"] == "class_balanced":
        temperature = "T0" if top_k(spec) else "Tinf"
        name = f"{dataset}-CB{spec['per_class']}-{temperature}"
    else:
        name = f"{dataset}-R{spec['count']}-{count_label(spec['count'])}"
    return f"{name}-{spec['tag']}" if spec.get("tag") else name


def subset_names(dataset: str, specs: list[dict]) -> list[str]:
    """The name of every spec; ValueError when two share one."""
    names: list[str] = []
    for index, spec in enumerate(specs):
        name = subset_name(dataset, spec)
        if name in names:
            raise ValueError(
                f"subsets[{names.index(name)}] and subsets[{index}] are both named {name}; "
                "give one a tag"
            )
        names.append(name)
    return names


def asked_count(table: pd.DataFrame, spec: dict) -> int:
    """Clips a full subset holds: ``count``, or ``per_class`` of every class among the
    candidates (``table`` from :func:`classified`)."""
    if spec["kind"] == "class_balanced":
        return int(spec["per_class"]) * table.loc[table["class"] != "", "class"].nunique()
    return int(spec["count"])


# index.tsv: asked is what a full subset holds, got what this one does
INDEX_COLUMNS = ("name", "kind", "asked", "got", "per_class", "definition")


def _rng(seed: int, *parts: str) -> np.random.Generator:
    digest = hashlib.sha256(":".join([str(seed), *parts]).encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "big"))


def candidates(metadata: pd.DataFrame, spec: dict) -> pd.DataFrame:
    """Kept clips of the spec's splits, not of excluded videos, meeting its constraints."""
    table = metadata[metadata["keep"].astype(bool)]
    table = table[table["split"].isin(spec.get("splits", ["train"]))]
    table = table[~table["video_id"].isin(spec.get("exclude_videos", []))]
    for column, bound in (spec.get("min") or {}).items():
        _require_column(metadata, column, "min")
        table = table[pd.to_numeric(table[column], errors="coerce") >= bound]
    for column, bound in (spec.get("max") or {}).items():
        _require_column(metadata, column, "max")
        table = table[pd.to_numeric(table[column], errors="coerce") <= bound]
    return table.sort_values(["video_id", "clip"])


def _require_column(metadata: pd.DataFrame, column: str, where: str) -> None:
    if column not in metadata.columns:
        raise ValueError(f"subsets: {where} names {column!r}, not a column of metadata.parquet")


def classified(metadata: pd.DataFrame, spec: dict) -> pd.DataFrame:
    """The candidates with the ``class`` and ``score`` columns the spec names."""
    class_column = spec.get("class_column", "action")
    score_column = spec.get("score_column", "motion_mean_px_s")
    for column in (class_column, score_column):
        _require_column(metadata, column, "class_column/score_column")
    table = candidates(metadata, spec).copy()
    table["class"] = table[class_column].fillna("").astype(str)
    table["score"] = pd.to_numeric(table[score_column], errors="coerce")
    return table


def select(metadata: pd.DataFrame, spec: dict) -> pd.DataFrame:
    """The subset's clips with ``class`` and ``score`` columns, in (class, video, clip)
    order."""
    return draw(classified(metadata, spec), spec)


def draw(table: pd.DataFrame, spec: dict) -> pd.DataFrame:
    """The subset's clips of the candidates ``table`` (from :func:`classified`)."""
    seed = int(spec.get("seed", 0))
    if spec["kind"] == "random":
        count = min(int(spec["count"]), len(table))
        picks = _rng(seed, "random").choice(len(table), size=count, replace=False)
        chosen = table.iloc[np.sort(picks)]
    else:
        table = table[table["class"] != ""]  # a clip without a class is in no class
        per_class = int(spec["per_class"])
        top = top_k(spec)
        parts = []
        for name, group in table.groupby("class", sort=True):
            if top:  # highest score first; unmeasured scores last; ties by name
                ranked = group.assign(_missing=group["score"].isna()).sort_values(
                    ["_missing", "score", "video_id", "clip"],
                    ascending=[True, False, True, True],
                )
                parts.append(ranked.head(per_class).drop(columns="_missing"))
            else:
                count = min(per_class, len(group))
                picks = _rng(seed, "class", name).choice(len(group), size=count, replace=False)
                parts.append(group.iloc[np.sort(picks)])
        chosen = pd.concat(parts) if parts else table.iloc[:0]
    return chosen.sort_values(["class", "video_id", "clip"])


def _records(chosen: pd.DataFrame) -> bytes:
    lines = []
    for row in chosen[[*RECORD_COLUMNS, "class", "score"]].to_dict("records"):
        row = {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in row.items()}
        lines.append(json.dumps(row, sort_keys=False, default=_plain))
    buffer = io.BytesIO()
    with gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0, filename="") as handle:
        handle.write(("\n".join(lines) + "\n" if lines else "").encode())
    return buffer.getvalue()


def _plain(value):
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"{type(value).__name__} is not JSON")


def write_subsets(
    metadata_parquet: str, specs: list[dict], dataset_name: str, out_dir: str
) -> pd.DataFrame:
    """Every configured subset as ``{name}.jsonl.gz`` under ``out_dir``, and index.tsv
    (name, kind, clips asked and got, clips per class, the definition)."""
    metadata = pd.read_parquet(metadata_parquet)
    names = subset_names(dataset_name, specs)
    rows = []
    with atomic_dir(out_dir) as tmp:
        for name, spec in zip(names, specs, strict=True):
            table = classified(metadata, spec)
            chosen = draw(table, spec)
            asked = asked_count(table, spec)
            (Path(tmp) / f"{name}.jsonl.gz").write_bytes(_records(chosen))
            per_class = chosen["class"].value_counts().sort_index().to_dict()
            rows.append(
                {
                    "name": name,
                    "kind": spec["kind"],
                    "asked": asked,
                    "got": len(chosen),
                    "per_class": json.dumps(per_class),
                    "definition": json.dumps(spec, sort_keys=True),
                }
            )
            if len(chosen) < asked:
                log.warning("subset %s: %d of the %d clips asked for", name, len(chosen), asked)
            log.info("subset %s: %d clips %s", name, len(chosen), per_class)
        index = pd.DataFrame(rows, columns=list(INDEX_COLUMNS))
        index.to_csv(Path(tmp) / "index.tsv", sep="\t", index=False)
    return index


def read_subset(path: str) -> list[dict]:
    with gzip.open(path, "rt") as handle:
        return [json.loads(line) for line in handle if line.strip()]
