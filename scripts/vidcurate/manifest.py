"""The per-video files the dataset-wide stages read, as one table.

Each video's `video_files` job writes its row once its files exist
(results/videos/{video_id}.tsv); the `videos` rule joins the rows, and the dataset-wide
rules (curate, dataset, COCO, shards, captions) take that table as their one per-video
input. So a single rule joins the per-video and the dataset-wide parts of the DAG, with
one input file per video, and `--batch videos=i/N` plans the videos in slices: a
64,000-video sheet never needs one DAG of every job (README, large sheets).
"""

from __future__ import annotations

import pandas as pd

from .atomic import atomic_path

VIDEO_FILES = {
    "probe": "results/probe/{video_id}.json",
    "scores": "results/scores/{video_id}.parquet",
    "clip_table": "results/clips/{video_id}/clips.tsv",
    "clip_dir": "results/clips/{video_id}/clips",
    "keyframe_dir": "results/clips/{video_id}/keyframes",
    "annotations": "results/annotations/{video_id}/keyframes.parquet",
    "unmatched": "results/annotations/{video_id}/unmatched.tsv",
}
# with learned scores on (vidcurate.learned): their table, and the clip embeddings
LEARNED_FILE = "results/scores/{video_id}.learned.parquet"
EMBEDDINGS_FILE = "results/scores/{video_id}.embeddings.parquet"


def video_files(learned: bool = False, embeddings: bool = False) -> dict[str, str]:
    """The files of a video's row: VIDEO_FILES, and the learned scores' when on."""
    return {
        **VIDEO_FILES,
        **({"learned": LEARNED_FILE} if learned else {}),
        **({"embeddings": EMBEDDINGS_FILE} if embeddings else {}),
    }


def video_row(video_id: str, files: dict[str, str] = VIDEO_FILES) -> list[str]:
    """One video's row of the table: its id and its files, in ``files`` order (the
    video_files rule writes it with the header; Snakemake has checked the files exist)."""
    return [video_id, *(pattern.format(video_id=video_id) for pattern in files.values())]


def write_manifest(row_files: list[str], out_path: str) -> pd.DataFrame:
    """The videos' rows, in the order given (the sheet's, archive members in place)."""
    table = pd.concat([read_manifest(path) for path in row_files], ignore_index=True)
    with atomic_path(out_path, suffix=".tsv") as tmp:
        table.to_csv(tmp, sep="\t", index=False)
    return table


def read_manifest(path: str) -> pd.DataFrame:
    return pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)


def files_of(manifest: pd.DataFrame, kind: str) -> dict[str, str]:
    """video_id -> its file of that kind ({} when the table has no such files: the
    learned scores' when they are off)."""
    if kind not in manifest.columns:
        return {}
    return dict(zip(manifest["video_id"], manifest[kind], strict=True))
