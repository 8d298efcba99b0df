"""Curation: keep or drop every scored clip, each filter naming its own reason, and
drop near-duplicates across the whole dataset (seeds 002 and 004).

A clip fails a filter when its score is on the wrong side of the configured threshold
(``None`` switches the filter off; a score that was not measured, NaN, never fails).
``reason`` lists every filter a clip fails, comma-separated, in FILTERS order. Clips that
pass every filter are then compared by perceptual hash: a clip whose keyframe hash and
middle-frame hash are both within ``dedup_max_hamming`` bits of a clip kept before it is
a ``duplicate`` of that clip. "Before" is (video_id, start_s) order, so which copy stays
depends on nothing but the clips themselves: not on the sheet's row order.
"""

from __future__ import annotations

import logging
import math

import numpy as np
import pandas as pd

from .atomic import atomic_path
from .columns import numeric_scores, reason_counts
from .outcome import rejection_in_table
from .reasons import CurationSettings

log = logging.getLogger(__name__)

# what curate adds to the score columns
CURATION_COLUMNS = ["split", "keep", "reason", "duplicate_of"]


def filter_reasons(scores: pd.DataFrame, settings: CurationSettings) -> pd.Series:
    """Comma-joined reasons each clip fails (empty: passes every filter)."""
    failed = []
    for key, (reason, column, threshold, side) in settings.thresholds().items():
        if column not in scores.columns:
            raise ValueError(f"curation.{key}: the scores have no column {column!r}")
        values = pd.to_numeric(scores[column], errors="coerce")
        fails = values < threshold if side == "below" else values > threshold
        failed.append(np.where(fails.fillna(False).to_numpy(bool), reason, ""))
    if not failed:
        return pd.Series("", index=scores.index)
    joined = [",".join(r for r in row if r) for row in zip(*failed, strict=True)]
    return pd.Series(joined, index=scores.index)


class HashIndex:
    """Kept (key hash, mid hash) pairs, found again within ``max_bits`` of a query.

    Pigeonhole: split the 64-bit key hash into max_bits + 1 blocks; two hashes that
    differ in at most max_bits bits agree exactly on at least one block, so only the
    kept hashes sharing a block with the query are compared, not all of them."""

    def __init__(self, max_bits: int):
        self.max_bits = max_bits
        n_blocks = max_bits + 1
        edges = np.linspace(0, 64, n_blocks + 1).round().astype(int)
        self.blocks = [(int(lo), int(hi)) for lo, hi in zip(edges[:-1], edges[1:], strict=True)]
        self.buckets: list[dict[int, list[int]]] = [{} for _ in self.blocks]
        self.keys: list[int] = []
        self.mids: list[int] = []
        self.names: list[str] = []

    def _parts(self, value: int):
        for index, (lo, hi) in enumerate(self.blocks):
            yield index, (value >> lo) & ((1 << (hi - lo)) - 1)

    def find(self, key: int, mid: int) -> str | None:
        """The first-added kept entry within max_bits on both hashes, or None."""
        candidates = set()
        for index, part in self._parts(key):
            candidates.update(self.buckets[index].get(part, ()))
        for entry in sorted(candidates):
            if (
                bin(self.keys[entry] ^ key).count("1") <= self.max_bits
                and bin(self.mids[entry] ^ mid).count("1") <= self.max_bits
            ):
                return self.names[entry]
        return None

    def add(self, key: int, mid: int, name: str) -> None:
        entry = len(self.keys)
        self.keys.append(key)
        self.mids.append(mid)
        self.names.append(name)
        for index, part in self._parts(key):
            self.buckets[index].setdefault(part, []).append(entry)


def mark_duplicates(table: pd.DataFrame, max_bits: int) -> pd.Series:
    """For each row, the "video_id/clip" of the earlier kept row it duplicates, or "".

    Only rows with an empty ``reason`` take part; rows are visited in (video_id,
    start_s) order and a row that duplicates none is kept and indexed."""
    duplicate_of = pd.Series("", index=table.index, dtype=object)
    index = HashIndex(max_bits)
    candidates = table[table["reason"] == ""].sort_values(["video_id", "start_s", "clip"])
    for row in candidates[["video_id", "clip", "phash_key", "phash_mid"]].itertuples():
        if not (isinstance(row.phash_key, str) and isinstance(row.phash_mid, str)):
            continue  # not hashed: nothing to compare, never a duplicate
        key, mid = int(row.phash_key, 16), int(row.phash_mid, 16)
        match = index.find(key, mid)
        if match is None:
            index.add(key, mid, f"{row.video_id}/{row.clip}")
        else:
            duplicate_of[row.Index] = match
    return duplicate_of


def curate(
    videos: list[dict], scores: dict[str, pd.DataFrame], settings: CurationSettings
) -> pd.DataFrame:
    """Every clip's scores with ``split``, ``keep``, ``reason`` and ``duplicate_of``.

    ``videos``: sheet rows in sheet order (video_id, split); ``scores``: each video's
    score table (vidcurate.scores)."""
    tables = []
    for row in videos:
        table = scores[row["video_id"]].copy()
        # a video without clips, or rejected: nothing to add (and no column types)
        if not len(table) or rejection_in_table(table):
            continue
        table.insert(1, "split", row["split"])
        tables.append(table)
    if not tables:
        empty = pd.DataFrame(columns=["video_id", "split", "clip", "start_s", "end_s"])
        return empty.assign(keep=pd.Series(dtype=bool), reason="", duplicate_of="")
    table = pd.concat(tables, ignore_index=True)
    table["reason"] = filter_reasons(table, settings)
    table["duplicate_of"] = ""
    if settings.dedup_max_hamming is not None and len(table):
        table["duplicate_of"] = mark_duplicates(table, settings.dedup_max_hamming)
        is_duplicate = table["duplicate_of"] != ""
        table.loc[is_duplicate, "reason"] = "duplicate"
    table["keep"] = table["reason"] == ""
    counts = reason_counts(table["reason"])
    log.info(
        "curation: %d of %d clips kept; dropped: %s",
        int(table["keep"].sum()),
        len(table),
        ", ".join(f"{k} {v}" for k, v in counts.items()) or "none",
    )
    return table


def curate_stage(
    videos: list[dict], score_files: dict[str, str], settings: CurationSettings, out: str
) -> pd.DataFrame:
    scores = {video_id: pd.read_parquet(path) for video_id, path in score_files.items()}
    table = curate(videos, scores, settings)
    with atomic_path(out, suffix=".parquet") as tmp:
        table.to_parquet(tmp, index=False)
    return table


# --- calibration ----------------------------------------------------------------------------


def calibration_table(table: pd.DataFrame, quantiles: list[float]) -> pd.DataFrame:
    """One row per numeric score: clips measured, missing, mean and the quantiles."""
    rows = []
    for column in numeric_scores(table):
        values = pd.to_numeric(table[column], errors="coerce").dropna()
        row = {"score": column, "n": len(values), "missing": int(len(table) - len(values))}
        row["mean"] = float(values.mean()) if len(values) else math.nan
        for q in quantiles:
            row[f"q{q:g}"] = float(values.quantile(q)) if len(values) else math.nan
        rows.append(row)
    return pd.DataFrame(rows)
