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

import json
import logging
import math
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .atomic import atomic_path
from .columns import LEARNED_COLUMNS, numeric_scores, reason_counts
from .outcome import rejection_in_table
from .reasons import CurationSettings
from .semantic import read_embeddings, semantic_duplicates
from .splits import DEAL_COLUMNS, Link, SplitConflict, SplitSettings, deal_splits, moved_groups

log = logging.getLogger(__name__)

# what curate adds to the score columns
CURATION_COLUMNS = ["split", "split_group", "keep", "reason", "duplicate_of"]


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


def with_learned(scores: pd.DataFrame, learned: pd.DataFrame) -> pd.DataFrame:
    """A video's scores with its learned scores (vidcurate.learned) joined by clip."""
    columns = [c for c in LEARNED_COLUMNS if c in learned.columns]
    return scores.merge(
        learned[["clip", *columns]].astype({"clip": str}), on="clip", how="left", validate="1:1"
    )


def mark_semantic_duplicates(
    table: pd.DataFrame,
    embeddings: dict[str, str],
    settings: CurationSettings,
    scratch: Path | None = None,
) -> pd.Series:
    """For each row, the "video_id/clip" of the earlier kept clip whose CLIP embedding
    it repeats (vidcurate.semantic), or "". Only rows that pass every filter and are no
    pHash duplicate take part. Their embeddings are copied, in (video_id, start_s, clip)
    order, into an array on disk under ``scratch``: RAM holds one video's at a time."""
    found = pd.Series("", index=table.index, dtype=object)
    candidates = table[table["reason"] == ""].sort_values(["video_id", "start_s", "clip"])
    if not len(candidates):
        return found
    names = (candidates["video_id"] + "/" + candidates["clip"].astype(str)).tolist()
    with tempfile.TemporaryDirectory(dir=scratch, prefix="semantic-dedup-") as folder:
        vectors = None
        start = 0
        for video_id, rows in candidates.groupby("video_id", sort=False):
            if video_id not in embeddings:
                raise ValueError(
                    f"curation.semantic_dedup_min_cosine: {video_id} has no embeddings "
                    "(score.embedding must be on)"
                )
            keys, values = read_embeddings(embeddings[video_id])
            where = dict(zip(keys["clip"].astype(str), range(len(keys)), strict=True))
            missing = [c for c in rows["clip"].astype(str) if c not in where]
            if missing:
                raise ValueError(f"{video_id}: clips {missing[:3]} have no embedding")
            if vectors is None:
                vectors = np.lib.format.open_memmap(
                    Path(folder) / "embeddings.npy",
                    mode="w+",
                    dtype=np.float32,
                    shape=(len(candidates), values.shape[1]),
                )
            if values.shape[1] != vectors.shape[1]:
                raise ValueError(
                    f"{video_id}: embeddings of {values.shape[1]} dimensions, the videos "
                    f"before it have {vectors.shape[1]} (score.clip changed without "
                    "rerunning learned_scores?)"
                )
            picked = values[[where[c] for c in rows["clip"].astype(str)]]
            vectors[start : start + len(picked)] = picked
            start += len(picked)
        duplicate_of = semantic_duplicates(
            vectors,
            names,
            settings.semantic_dedup_min_cosine,
            clusters=settings.semantic_dedup_clusters,
        )
        del vectors
    found.loc[candidates.index] = duplicate_of
    log.info(
        "semantic dedup: %d of %d clips repeat an earlier clip (cosine >= %g)",
        sum(1 for d in duplicate_of if d),
        len(candidates),
        settings.semantic_dedup_min_cosine,
    )
    return found


@dataclass(frozen=True)
class Curation:
    """What curate decides: every clip (keep, reason, duplicate_of, split) and every
    video's split (vidcurate.splits), or why it was withdrawn."""

    clips: pd.DataFrame
    splits: pd.DataFrame


# results/curation/splits.tsv: every sheet video (archive members in place)
SPLIT_TABLE_COLUMNS = [*DEAL_COLUMNS, "planned_split", "moved_because", "withdrawn"]


def near_duplicate_links(table: pd.DataFrame, min_share: float) -> list[Link]:
    """One link per pair of videos whose near-duplicate clips are at least ``min_share``
    of the smaller one's clips that passed the filters: a re-upload or a trimmed copy
    shares most of its clips, while two recordings of one rig that share an empty-arena
    or black clip do not, and stay apart."""
    candidates = table[table["reason"].isin(["", "duplicate", "semantic_duplicate"])]
    counts = candidates.groupby("video_id").size()
    marked = table[table["duplicate_of"] != ""].sort_values(["video_id", "start_s", "clip"])
    pairs: dict[tuple[str, str], list[str]] = {}
    for video_id, clip, duplicate_of in marked[["video_id", "clip", "duplicate_of"]].itertuples(
        index=False
    ):
        other = duplicate_of.rsplit("/", 1)[0]
        if other != video_id:
            pairs.setdefault((other, video_id), []).append(f"{video_id}/{clip} ~ {duplicate_of}")
    links = []
    for (other, video_id), shared in pairs.items():
        share = len(shared) / min(counts[other], counts[video_id])
        if share >= min_share:
            why = f"near-duplicate clips {shared[0]}" + (
                f" and {len(shared) - 1} more" if len(shared) > 1 else ""
            )
            links.append(Link(other, video_id, why))
        else:
            log.info(
                "splits: %s and %s share %d near-duplicate clips (%.0f%% of the smaller's), "
                "under splits.near_duplicate_min_share: not grouped",
                other,
                video_id,
                len(shared),
                100 * share,
            )
    return links


def curate(
    videos: list[dict],
    scores: dict[str, pd.DataFrame],
    settings: CurationSettings,
    splits: SplitSettings | None = None,
    learned: dict[str, pd.DataFrame] | None = None,
    embeddings: dict[str, str] | None = None,
    scratch: Path | None = None,
) -> Curation:
    """Every clip's scores with ``split``, ``split_group``, ``keep``, ``reason`` and
    ``duplicate_of``, and every video's split.

    ``videos``: sheet rows in sheet order: video_id, split (the sheet's own, "" when it
    has none), the ``splits.group_by`` columns and ``withdrawn`` (why, "" when not); a
    withdrawn video is left out as if its row were not there. ``scores``: each other
    video's score table (vidcurate.scores); ``learned``: each video's learned scores
    (vidcurate.learned), when on; ``embeddings``: each video's embeddings parquet, for
    semantic dedup (its array is laid out under ``scratch``, not held in memory)."""
    splits = splits or SplitSettings()
    withdrawn = {row["video_id"]: row["withdrawn"] for row in videos if row.get("withdrawn")}
    rows = [row for row in videos if row["video_id"] not in withdrawn]
    tables = []
    for row in rows:
        table = scores[row["video_id"]].copy()
        # a video without clips, or rejected: nothing to add (and no column types)
        if not len(table) or rejection_in_table(table):
            continue
        if learned is not None:
            extra = learned[row["video_id"]]
            if rejection_in_table(extra):  # rejected by the learned scores' own stage
                continue
            table = with_learned(table, extra)
        tables.append(table)
    if tables:
        table = pd.concat(tables, ignore_index=True)
    else:
        table = pd.DataFrame(columns=["video_id", "clip", "start_s", "end_s"])
    table["reason"] = filter_reasons(table, settings) if len(table) else ""
    table["duplicate_of"] = ""
    links = []
    if settings.dedup_max_hamming is not None and len(table):
        table["duplicate_of"] = mark_duplicates(table, settings.dedup_max_hamming)
        is_duplicate = table["duplicate_of"] != ""
        table.loc[is_duplicate, "reason"] = "duplicate"
    if settings.semantic_dedup_min_cosine is not None and len(table):
        found = mark_semantic_duplicates(table, embeddings or {}, settings, scratch)
        table.loc[found != "", "duplicate_of"] = found[found != ""]
        table.loc[found != "", "reason"] = "semantic_duplicate"
    if splits.group_near_duplicates and (table["duplicate_of"] != "").any():
        links = near_duplicate_links(table, splits.near_duplicate_min_share)
    planned = deal_splits(rows, splits.group_by, splits.seed, splits.fractions())
    try:
        final = deal_splits(rows, splits.group_by, splits.seed, splits.fractions(), links)
    except SplitConflict as err:
        raise ValueError(
            f"splits: {err}; or set splits.group_near_duplicates: false to let "
            "near-duplicates sit in different splits"
        ) from None
    split_of = dict(zip(final["video_id"], final["split"], strict=True))
    group_of = dict(zip(final["video_id"], final["split_group"], strict=True))
    table.insert(1, "split", table["video_id"].map(split_of).astype(object))
    table.insert(2, "split_group", table["video_id"].map(group_of).astype(object))
    table["keep"] = (table["reason"] == "").astype(bool)
    counts = reason_counts(table["reason"])
    log.info(
        "curation: %d of %d clips kept; dropped: %s",
        int(table["keep"].sum()),
        len(table),
        ", ".join(f"{k} {v}" for k, v in counts.items()) or "none",
    )
    moved = moved_groups(planned, final, links)
    for video_id, why in moved.items():
        log.info("splits: %s moved to %s with its group (%s)", video_id, split_of[video_id], why)
    return Curation(table, _split_table(videos, final, planned, moved, withdrawn))


def _split_table(videos, final, planned, moved, withdrawn) -> pd.DataFrame:
    dealt = final.set_index("video_id")
    before = dict(zip(planned["video_id"], planned["split"], strict=True))
    rows = []
    for row in videos:
        video_id = row["video_id"]
        if video_id in withdrawn:
            rows.append([video_id, "", "", "", "", "", withdrawn[video_id]])
            continue
        split, source, group = dealt.loc[video_id, ["split", "split_source", "split_group"]]
        rows.append([video_id, split, source, group, before[video_id], moved.get(video_id, ""), ""])
    return pd.DataFrame(rows, columns=SPLIT_TABLE_COLUMNS)


def withdrawn_sources(videos: list[dict], hashes: list[str], probes: dict[str, str]) -> list[dict]:
    """``videos`` with ``withdrawn`` filled in for every video whose source file's sha256
    (its probe's content_sha256) is one of ``hashes``."""
    wanted = set(hashes)
    if not wanted:
        return videos
    marked = []
    for row in videos:
        digest = ""
        path = probes.get(row["video_id"])
        if path and not row.get("withdrawn"):
            digest = json.loads(Path(path).read_text()).get("content_sha256", "")
        if digest in wanted:
            row = {**row, "withdrawn": f"withdraw.sources (sha256 {digest[:12]}...)"}
        marked.append(row)
    return marked


def curate_stage(
    videos: list[dict],
    score_files: dict[str, str],
    settings: CurationSettings,
    splits: SplitSettings,
    out_clips: str,
    out_splits: str,
    learned_files: dict[str, str] | None = None,
    embedding_files: dict[str, str] | None = None,
) -> Curation:
    withdrawn = {row["video_id"] for row in videos if row.get("withdrawn")}
    scores = {
        video_id: pd.read_parquet(path)
        for video_id, path in score_files.items()
        if video_id not in withdrawn
    }
    learned = None
    if learned_files:
        learned = {
            video_id: pd.read_parquet(path)
            for video_id, path in learned_files.items()
            if video_id not in withdrawn
        }
    curation = curate(
        videos,
        scores,
        settings,
        splits,
        learned=learned,
        embeddings=embedding_files,
        scratch=Path(out_clips).parent,
    )
    with atomic_path(out_clips, suffix=".parquet") as tmp:
        curation.clips.to_parquet(tmp, index=False)
    with atomic_path(out_splits, suffix=".tsv") as tmp:
        curation.splits.to_csv(tmp, sep="\t", index=False)
    return curation


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
