"""WebDataset shards of the kept clips: ``{split}-{000000}.tar`` and ``{split}.json``, and
the folder's dataset card as ``README.md`` (where the Hugging Face Hub and
``datasets.load_dataset`` look for it).

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
import shutil
import tarfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from vidcurate.settings import FromConfig

from .atomic import atomic_dir
from .columns import SPLITS

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ShardSettings(FromConfig):
    """WebDataset shards' limits (config ``dataset``)."""

    shard_max_samples: int = 1000
    shard_max_bytes: int = 1_000_000_000


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


def _member_bytes(name: str, size: int) -> int:
    """What one member adds to a tar: its 512-byte header (plus a PAX header for a name
    over 100 characters) and its data padded to 512 bytes."""
    header = 512 if len(name.encode()) <= 100 else 3 * 512
    return header + math.ceil(size / 512) * 512


class ShardWriter:
    """``{split}-{n:06d}.tar`` files in ``folder``, one open at a time: a new one starts
    before a sample would take the open one past ``max_samples`` or ``max_bytes``."""

    def __init__(self, folder: Path, split: str, max_samples: int, max_bytes: int):
        self.folder, self.split = folder, split
        self.max_samples, self.max_bytes = max_samples, max_bytes
        self.tar: tarfile.TarFile | None = None
        self.shards: list[dict] = []
        self.samples = self.bytes = 0

    def add(self, members: list[tuple[str, bytes]]) -> None:
        size = sum(_member_bytes(name, len(data)) for name, data in members)
        full = self.samples >= self.max_samples or (
            self.samples and self.bytes + size + 1024 > self.max_bytes
        )
        if self.tar is None or full:
            self._close()
            name = f"{self.split}-{len(self.shards):06d}.tar"
            self.tar = tarfile.open(self.folder / name, "w")  # noqa: SIM115 (closed in _close)
            self.shards.append({"name": name, "samples": 0, "bytes": 0})
            self.samples = self.bytes = 0
        for name, data in members:
            _add(self.tar, name, data)
        self.samples += 1
        self.bytes += size
        self.shards[-1]["samples"] = self.samples

    def _close(self) -> None:
        if self.tar is not None:
            self.tar.close()
            self.shards[-1]["bytes"] = (self.folder / self.shards[-1]["name"]).stat().st_size
            self.tar = None

    def close(self) -> list[dict]:
        self._close()
        return self.shards


def write_shards(
    metadata_parquet: str,
    dataset_root: str,
    annotation_tables: dict[str, str],
    out_dir: str,
    max_samples: int = 1000,
    max_bytes: int = 1_000_000_000,
    card: str | None = None,
) -> dict[str, dict]:
    """Write every split's shards and index under ``out_dir``, and ``card`` (the folder's
    dataset card, vidcurate.card) as README.md; returns the indexes. Samples are read
    and written one at a time: memory holds one clip, not a shard."""
    metadata = pd.read_parquet(metadata_parquet)
    kept = metadata[metadata["keep"].astype(bool)].sort_values(["video_id", "clip"])
    tables = {v: pd.read_parquet(p) for v, p in annotation_tables.items()}
    root = Path(dataset_root)
    indexes = {}
    with atomic_dir(out_dir) as tmp:
        if card:
            shutil.copyfile(card, Path(tmp) / "README.md")
        for split in SPLITS:
            rows = kept[kept["split"] == split].to_dict("records")
            writer = ShardWriter(Path(tmp), split, max_samples, max_bytes)
            for row in rows:
                key = f"{row['video_id']}/{row['clip']}"
                boxes = keyframe_boxes(tables.get(row["video_id"]), row["source_clip"])
                writer.add(
                    [
                        (f"{key}.mp4", (root / row["clip_path"]).read_bytes()),
                        (f"{key}.jpg", (root / row["keyframe_path"]).read_bytes()),
                        (f"{key}.json", sample_json(row, boxes)),
                    ]
                )
            index = {"split": split, "samples": len(rows), "shards": writer.close()}
            (Path(tmp) / f"{split}.json").write_text(json.dumps(index, indent=2) + "\n")
            indexes[split] = index
            log.info(
                "webdataset %s: %d samples in %d shards", split, len(rows), len(index["shards"])
            )
    return indexes
