"""Semantic dedup on hand-made embeddings: exact clusters and exact survivors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from vidcurate import semantic
from vidcurate.curation import mark_semantic_duplicates
from vidcurate.reasons import CurationSettings
from vidcurate.semantic import (
    assign_clusters,
    cluster_count,
    first_kept_matches,
    read_embeddings,
    semantic_duplicates,
    spherical_kmeans,
    write_embeddings,
)


def unit(*values) -> np.ndarray:
    vector = np.asarray(values, np.float64)
    return (vector / np.linalg.norm(vector)).astype(np.float32)


# three directions, each with near copies: cos(a, a1) = 0.9995, cos(a, a2) = 0.98
A, A1, A2 = unit(1, 0, 0, 0), unit(1, 0.0316, 0, 0), unit(1, 0.203, 0, 0)
B, B1 = unit(0, 1, 0, 0), unit(0, 1, 0.02, 0)
C = unit(0, 0, 0, 1)


def test_spherical_kmeans_finds_the_three_directions():
    rng = np.random.default_rng(0)
    rows = np.concatenate(
        [centre + 0.05 * rng.normal(size=(50, 4)) for centre in (A, B, C)]
    ).astype(np.float32)
    centroids = spherical_kmeans(rows, 3, seed=1)
    labels = assign_clusters(rows, centroids)
    groups = [set(labels[i * 50 : (i + 1) * 50]) for i in range(3)]
    assert all(len(g) == 1 for g in groups) and len(set.union(*groups)) == 3
    for centre in (A, B, C):
        assert float(np.max(centroids @ centre)) > 0.99


def test_the_first_copy_stays_and_later_copies_name_it():
    names = ["v1/0001", "v1/0002", "v2/0001", "v2/0002", "v3/0001", "v3/0002"]
    rows = np.stack([A, B, A1, C, B1, A2])
    found = semantic_duplicates(rows, names, min_cosine=0.999, clusters=3)
    assert found == ["", "", "v1/0001", "", "v1/0002", ""]  # A2 is 0.98 from A: kept
    # a lower threshold takes A2 too (a copy of the first kept, not of A1)
    found = semantic_duplicates(rows, names, min_cosine=0.97, clusters=3)
    assert found == ["", "", "v1/0001", "", "v1/0002", "v1/0001"]


def test_one_cluster_or_many_and_any_chunk_size_agree(monkeypatch):
    rng = np.random.default_rng(2)
    base = rng.normal(size=(40, 16)).astype(np.float32)
    copies = base[::4] + 0.001 * rng.normal(size=(10, 16)).astype(np.float32)
    rows = np.concatenate([base, copies])
    names = [str(i) for i in range(len(rows))]
    expected = [""] * 40 + [str(i) for i in range(0, 40, 4)]
    for clusters in (1, 5, None):
        for chunk_rows in (3, 4096):
            # the kept side compared in blocks of 2 gives the same answer as in one
            monkeypatch.setattr(semantic, "KEPT_BLOCK", 2 if chunk_rows == 3 else 16_384)
            found = semantic_duplicates(rows, names, 0.99, clusters=clusters, chunk_rows=chunk_rows)
            assert found == expected, (clusters, chunk_rows)


def test_kept_before_wins_over_kept_in_the_same_chunk():
    kept = np.stack([A])
    rows = np.stack([B, A1, B1])
    match, is_kept = first_kept_matches(rows, 0.999, kept)
    # A1 copies the earlier kept A (index 0); B1 copies B, kept here (index 1 = 1 + 0)
    assert match.tolist() == [-1, 0, 1] and is_kept.tolist() == [True, False, False]


def test_a_memmap_on_disk_gives_the_same_answer(tmp_path):
    rows = np.stack([A, B, A1, C, B1, A2])
    on_disk = np.lib.format.open_memmap(
        tmp_path / "e.npy", mode="w+", dtype=np.float32, shape=rows.shape
    )
    on_disk[:] = rows
    names = [f"v/{i}" for i in range(6)]
    expected = ["", "", "v/0", "", "v/1", ""]
    assert semantic_duplicates(on_disk, names, 0.999, clusters=2) == expected
    assert semantic_duplicates(rows, names, 0.999, clusters=2) == expected


def test_cluster_count_defaults_to_the_square_root():
    assert cluster_count(0, None) == 0
    assert cluster_count(10_000, None) == 100
    assert cluster_count(5, 50) == 5
    assert cluster_count(1_000_000, 2000) == 2000


def test_curation_order_decides_which_copy_stays_not_the_table_order(tmp_path):
    """Clips are compared in (video_id, start_s) order whatever order the table has; only
    clips that pass every filter and are no pHash duplicate take part."""
    files = {}
    vectors = {"a": [A1, B], "b": [A, C], "c": [B1, A2]}
    for video_id, rows in vectors.items():
        embedded = pd.DataFrame(
            {
                "video_id": video_id,
                "clip": ["0001", "0002"],
                "start_s": [0.0, 1.0],
                "embedding": [r.tolist() for r in rows],
            }
        )
        files[video_id] = str(tmp_path / f"{video_id}.parquet")
        write_embeddings(embedded, files[video_id])
        keys, read = read_embeddings(files[video_id])
        np.testing.assert_array_equal(read, np.stack(rows))
        assert keys["clip"].tolist() == ["0001", "0002"]
    table = pd.DataFrame(
        {
            "video_id": ["c", "c", "b", "b", "a", "a"],
            "clip": ["0002", "0001", "0002", "0001", "0002", "0001"],
            "start_s": [1.0, 0.0, 1.0, 0.0, 1.0, 0.0],
            "reason": ["", "", "", "", "", ""],
        }
    )
    settings = CurationSettings(semantic_dedup_min_cosine=0.999, semantic_dedup_clusters=2)
    found = mark_semantic_duplicates(table, files, settings, tmp_path)
    assert dict(zip(table["video_id"] + "/" + table["clip"], found, strict=True)) == {
        "a/0001": "",  # A1: first of the A direction by video_id
        "a/0002": "",  # B
        "b/0001": "a/0001",  # A copies A1 (cos 0.9995)
        "b/0002": "",  # C
        "c/0001": "a/0002",  # B1 copies B
        "c/0002": "",  # A2: 0.98 from A1
    }
    # a clip dropped by a filter, or a pHash duplicate, is not compared (and keeps nothing)
    table.loc[table["video_id"] + table["clip"] == "a0001", "reason"] = "blurry"
    found = mark_semantic_duplicates(table, files, settings, tmp_path)
    assert found[(table["video_id"] == "b") & (table["clip"] == "0001")].item() == ""
    assert list(tmp_path.glob("semantic-dedup-*")) == []  # the array on disk is removed


def test_a_video_without_clips_writes_and_reads_an_empty_table(tmp_path):
    path = tmp_path / "none.parquet"
    write_embeddings(pd.DataFrame(columns=["video_id", "clip", "start_s", "embedding"]), path)
    keys, vectors = read_embeddings(path)
    assert len(keys) == 0 and vectors.shape[0] == 0


def test_a_video_without_embeddings_is_named(tmp_path):
    table = pd.DataFrame({"video_id": ["x"], "clip": ["0001"], "start_s": [0.0], "reason": [""]})
    settings = CurationSettings(semantic_dedup_min_cosine=0.9)
    with pytest.raises(ValueError, match="x has no embeddings"):
        mark_semantic_duplicates(table, {}, settings, tmp_path)
