"""Semantic dedup: clips whose image embeddings point the same way are copies.

The method of the large filtering pipelines (SemDeDup): cluster the L2-normalised
embeddings with spherical k-means, then compare clips pairwise only inside their
cluster; a clip whose cosine similarity to a clip kept before it is at least
``min_cosine`` is a duplicate of the first such clip. "Before" is (video_id, start_s,
clip) order, as for the perceptual-hash dedup, so which copy stays depends on the clips
alone, never on the sheet's row order.

Memory stays bounded at any scale: the embeddings are read from an array that may be a
``numpy.memmap`` on disk; k-means trains on a seeded sample of at most
``max_train_rows`` rows, every row is assigned to its centroid ``chunk_rows`` at a time,
and each cluster is compared ``chunk_rows`` rows at a time against the rows it kept.
What is in RAM at once: the sample, the centroids, one chunk, and one cluster's kept
rows. Two copies that k-means puts in different clusters are not compared; that is the
price of not comparing every pair (more clusters: faster, more such misses).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

# results/scores/{video_id}.embeddings.parquet: one unit vector per clip
EMBEDDING_COLUMNS = ["video_id", "clip", "start_s", "embedding"]


def normalise(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (a zero row stays zero), as float32."""
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.where(norms > 0, norms, 1.0)


def cluster_count(n_rows: int, clusters: int | None) -> int:
    """The configured cluster count, else about sqrt(n) (SemDeDup's rule of thumb for
    balanced clusters), never more than there are rows."""
    if n_rows == 0:
        return 0
    wanted = clusters if clusters is not None else int(round(np.sqrt(n_rows)))
    return max(1, min(int(wanted), n_rows))


def spherical_kmeans(
    vectors: np.ndarray,
    k: int,
    seed: int = 0,
    iterations: int = 20,
    max_train_rows: int = 100_000,
    chunk_rows: int = 65_536,
) -> np.ndarray:
    """``k`` unit centroids of the (unit) rows of ``vectors``: Lloyd's iterations on the
    cosine, trained on a seeded sample of at most ``max_train_rows`` rows (sorted
    indices, so a memmap is read in order). Deterministic for a seed."""
    n = len(vectors)
    rng = np.random.default_rng(seed)
    if n > max_train_rows:
        sample = np.sort(rng.choice(n, size=max_train_rows, replace=False))
        train = normalise(vectors[sample])
    else:
        train = normalise(vectors[:])
    k = min(k, len(train))
    centroids = train[np.sort(rng.choice(len(train), size=k, replace=False))].copy()
    columns = np.ascontiguousarray(train.T)
    for _ in range(iterations):
        labels = _nearest(train, centroids, chunk_rows)
        sums = cluster_sums(columns, labels, k)
        empty = ~np.any(sums, axis=1)
        # an empty cluster restarts on the row worst served by its centroid
        if empty.any():
            fit = np.einsum("ij,ij->i", train, centroids[labels])
            worst = np.argsort(fit)[: int(empty.sum())]
            sums[empty] = train[worst]
        updated = normalise(sums)
        if np.array_equal(updated, centroids):
            break
        centroids = updated
    return centroids


def cluster_sums(columns: np.ndarray, labels: np.ndarray, k: int) -> np.ndarray:
    """(k, D) sum of the rows of each label; ``columns`` is the rows transposed, (D, n)
    contiguous: one bincount per dimension, far faster than np.add.at or reduceat."""
    return np.stack(
        [np.bincount(labels, weights=column, minlength=k) for column in columns], axis=1
    ).astype(np.float32)


def assign_clusters(vectors: np.ndarray, centroids: np.ndarray, chunk_rows: int = 65_536):
    """Each row's nearest centroid by cosine (ties: the lower index), ``chunk_rows`` rows
    at a time (``vectors`` need not be unit rows, and may be a memmap)."""
    labels = np.empty(len(vectors), dtype=np.int32)
    for start in range(0, len(vectors), chunk_rows):
        chunk = normalise(vectors[start : start + chunk_rows])
        labels[start : start + len(chunk)] = np.argmax(chunk @ centroids.T, axis=1)
    return labels


def _nearest(unit_rows: np.ndarray, centroids: np.ndarray, chunk_rows: int) -> np.ndarray:
    labels = np.empty(len(unit_rows), dtype=np.int32)
    for start in range(0, len(unit_rows), chunk_rows):
        chunk = unit_rows[start : start + chunk_rows]
        labels[start : start + len(chunk)] = np.argmax(chunk @ centroids.T, axis=1)
    return labels


# kept rows compared at once: 4,096 rows x 16,384 kept cosines is 256 MiB of float32
KEPT_BLOCK = 16_384


def first_kept_matches(
    rows: np.ndarray, min_cosine: float, kept: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Greedy dedup of ``rows`` (unit vectors, in keep order) after ``kept`` (unit
    vectors kept earlier): for each row, the index into ``kept`` followed by the rows
    kept here, of the first kept vector with cosine >= ``min_cosine``, or -1.

    Returns (match, is_kept). A row kept earlier always wins over one kept in ``rows``:
    it comes first in the order."""
    n_before = 0 if kept is None else len(kept)
    match = np.full(len(rows), -1, dtype=np.int64)
    # the kept side in blocks too: a cluster that keeps most of a million rows must not
    # need a rows x kept matrix at once
    for start in range(0, n_before, KEPT_BLOCK):
        open_rows = np.flatnonzero(match < 0)
        if not len(open_rows):
            break
        similar = (rows[open_rows] @ kept[start : start + KEPT_BLOCK].T) >= min_cosine
        has = similar.any(axis=1)
        match[open_rows[has]] = start + np.argmax(similar[has], axis=1)
    within = (rows @ rows.T) >= min_cosine
    is_kept = np.zeros(len(rows), dtype=bool)
    for i in range(len(rows)):
        if match[i] >= 0:
            continue
        earlier = np.flatnonzero(within[i, :i] & is_kept[:i])
        if len(earlier):
            match[i] = n_before + int(np.count_nonzero(is_kept[: earlier[0]]))
        else:
            is_kept[i] = True
    return match, is_kept


def semantic_duplicates(
    vectors: np.ndarray,
    names: Sequence[str],
    min_cosine: float,
    clusters: int | None = None,
    seed: int = 0,
    chunk_rows: int = 4096,
    max_train_rows: int = 100_000,
) -> list[str]:
    """For each row of ``vectors`` (in keep order: sorted by video_id, start_s, clip),
    the name of the first earlier kept row of its cluster with cosine similarity >=
    ``min_cosine``, or "" when it is kept. ``vectors`` may be a memmap."""
    n = len(vectors)
    duplicate_of = [""] * n
    if n == 0:
        return duplicate_of
    centroids = spherical_kmeans(
        vectors, cluster_count(n, clusters), seed=seed, max_train_rows=max_train_rows
    )
    labels = assign_clusters(vectors, centroids)
    order = np.argsort(labels, kind="stable")  # within a cluster: keep order
    bounds = np.flatnonzero(np.diff(labels[order])) + 1
    for members in np.split(order, bounds):
        kept_rows = np.empty((0, vectors.shape[1]), dtype=np.float32)
        kept_index: list[int] = []
        for start in range(0, len(members), chunk_rows):
            part = members[start : start + chunk_rows]
            rows = normalise(vectors[part])
            match, is_kept = first_kept_matches(rows, min_cosine, kept_rows)
            kept_index.extend(int(i) for i in part[is_kept])
            kept_rows = np.concatenate([kept_rows, rows[is_kept]])
            for row, found in zip(part, match, strict=True):
                if found >= 0:
                    duplicate_of[int(row)] = names[kept_index[int(found)]]
    return duplicate_of


# --- the embeddings parquet -----------------------------------------------------------------


def write_embeddings(table: pd.DataFrame, path) -> None:
    """The embeddings parquet: a fixed-size float32 list per clip (what readers expect
    of a vector column)."""
    if len(table):
        values = np.asarray(list(table["embedding"]), np.float32)
        flat = pa.array(values.reshape(-1), pa.float32())
        vectors = pa.FixedSizeListArray.from_arrays(flat, values.shape[1])
    else:  # a video without clips: no rows (arrow's fixed-size lists need a size)
        vectors = pa.array([], pa.list_(pa.float32(), 1))
    arrow = pa.table(
        {
            "video_id": pa.array(table["video_id"].astype(str), pa.string()),
            "clip": pa.array(table["clip"].astype(str), pa.string()),
            "start_s": pa.array(table["start_s"].astype(float), pa.float64()),
            "embedding": vectors,
        }
    )
    pq.write_table(arrow, path)


def read_embeddings(path) -> tuple[pd.DataFrame, np.ndarray]:
    """(video_id, clip, start_s) rows and their (n, D) float32 embeddings."""
    arrow = pq.read_table(path)
    keys = arrow.select(["video_id", "clip", "start_s"]).to_pandas()
    column = arrow.column("embedding").combine_chunks()
    dim = column.type.list_size if len(arrow) else 0
    vectors = column.flatten().to_numpy(zero_copy_only=False).reshape(len(arrow), dim)
    return keys, vectors.astype(np.float32)
