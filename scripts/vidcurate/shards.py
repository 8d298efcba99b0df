"""WebDataset shards of the kept clips: ``{split}-{000000}.tar`` and ``{split}.json``.

One sample per kept clip, key ``{video_id}/{clip}`` (WebDataset splits a member name at
the first dot of its base name, so a video_id with dots stays in the key): ``.mp4`` (the
clip), ``.jpg`` (its keyframe) and ``.json`` (its metadata.parquet row, its keyframe boxes
and its caption). A shard closes before it would pass ``max_samples`` samples or
``max_bytes`` bytes (a single larger sample gets a shard of its own). Samples go in
(video_id, clip) order and every tar header is fixed (mtime 0, uid/gid 0, mode 0644),
so the same dataset gives the same bytes; each shard is written to a temporary name and
renamed, and the folder is replaced as a whole.
"""

from __future__ import annotations

import io
import json
import logging
import math
import tarfile
from pathlib import Path

import numpy as np
import pandas as pd

from .annotations import SPLITS
from .atomic import atomic_dir

log = logging.getLogger(__name__)

# what a sample's json leaves out of the metadata row: paths inside results/dataset
# (the sample carries the files) and the hashes (in metadata.parquet for dedup)
DROPPED_FIELDS = ("clip_path", "keyframe_path")


def _plain(value):
    """JSON-safe: numpy scalars to Python, NaN to None."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def sample_json(row: dict, boxes: list[dict]) -> bytes:
    record = {k: _plain(v) for k, v in row.items() if k not in DROPPED_FIELDS}
    record["annotations"] = boxes
    return json.dumps(record, sort_keys=True).encode()


def keyframe_boxes(table: pd.DataFrame | None, source_clip: str) -> list[dict]:
    """The clip's keyframe boxes from its video's annotation table (keyframe pixels)."""
    if table is None or not len(table):
        return []
    here = table[table["clip"] == source_clip]
    return [
        {
            "bbox": [
                round(float(b.x), 2),
                round(float(b.y), 2),
                round(float(b.w), 2),
                round(float(b.h), 2),
            ],
            "action": str(b.action),
            "track_id": int(b.track_id),
            "score": round(float(b.score), 4),
            "detector_class": str(b.detector_class),
        }
        for b in here.itertuples()
    ]


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = 0
    info.mode = 0o644
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    tar.addfile(info, io.BytesIO(data))


def _tar_size(sizes: list[int]) -> int:
    """Bytes of a tar holding members of these sizes (512-byte header + padded data each,
    two zero blocks at the end, the whole padded to 10240-byte records)."""
    raw = sum(512 + math.ceil(size / 512) * 512 for size in sizes) + 1024
    return math.ceil(raw / 10240) * 10240


def write_shards(
    metadata_parquet: str,
    dataset_root: str,
    annotation_tables: dict[str, str],
    out_dir: str,
    max_samples: int = 1000,
    max_bytes: int = 1_000_000_000,
) -> dict[str, dict]:
    """Write every split's shards and index under ``out_dir``; returns the indexes."""
    metadata = pd.read_parquet(metadata_parquet)
    kept = metadata[metadata["keep"]].sort_values(["video_id", "clip"])
    tables = {v: pd.read_parquet(p) for v, p in annotation_tables.items()}
    root = Path(dataset_root)
    indexes = {}
    with atomic_dir(out_dir) as tmp:
        for split in SPLITS:
            rows = kept[kept["split"] == split].to_dict("records")
            shards: list[list[tuple[str, bytes]]] = []
            current: list[tuple[str, bytes]] = []
            current_sizes: list[int] = []
            for row in rows:
                key = f"{row['video_id']}/{row['clip']}"
                members = [
                    (f"{key}.mp4", (root / row["clip_path"]).read_bytes()),
                    (f"{key}.jpg", (root / row["keyframe_path"]).read_bytes()),
                    (
                        f"{key}.json",
                        sample_json(
                            row, keyframe_boxes(tables.get(row["video_id"]), row["source_clip"])
                        ),
                    ),
                ]
                sizes = [len(data) for _, data in members]
                full = len(current) // 3 >= max_samples or (
                    current and _tar_size(current_sizes + sizes) > max_bytes
                )
                if full:
                    shards.append(current)
                    current, current_sizes = [], []
                current.extend(members)
                current_sizes.extend(sizes)
            if current:
                shards.append(current)
            index = {"split": split, "samples": len(rows), "shards": []}
            for number, members in enumerate(shards):
                name = f"{split}-{number:06d}.tar"
                with tarfile.open(Path(tmp) / name, "w") as tar:
                    for member, data in members:
                        _add(tar, member, data)
                index["shards"].append(
                    {
                        "name": name,
                        "samples": len(members) // 3,
                        "bytes": (Path(tmp) / name).stat().st_size,
                    }
                )
            (Path(tmp) / f"{split}.json").write_text(json.dumps(index, indent=2) + "\n")
            indexes[split] = index
            log.info("webdataset %s: %d samples in %d shards", split, len(rows), len(shards))
    return indexes
