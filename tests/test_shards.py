"""WebDataset shards: limits by samples and bytes, read back with the webdataset
package, the same bytes on every run; clips cut from a real video."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import webdataset as wds

from vidcurate.shards import write_shards


@pytest.fixture
def dataset(carphone_clips, tmp_path):
    """metadata.parquet of the four carphone clips (all kept, train) and an annotation
    table with one box on the third keyframe."""
    table = pd.read_csv(carphone_clips / "clips.tsv", sep="\t", dtype={"clip": str})
    clips = table[table["status"] == "clip"]
    meta = pd.DataFrame(
        {
            "video_id": "carphone",
            "split": "train",
            "clip": clips["clip"],
            "source_clip": clips["clip"],
            "keep": True,
            "clip_path": [f"clips/{f}" for f in clips["clip_file"]],
            "keyframe_path": [f"keyframes/{f}" for f in clips["keyframe_file"]],
            "sharpness": [1.5, 2.5, float("nan"), 4.0],
        }
    )
    meta.to_parquet(tmp_path / "metadata.parquet")
    boxes = pd.DataFrame(
        [
            {
                "clip": "0003",
                "x": 10.0,
                "y": 20.0,
                "w": 30.0,
                "h": 40.0,
                "action": "talking",
                "track_id": 1,
                "score": 0.9,
                "detector_class": "person",
            }
        ]
    )
    boxes.to_parquet(tmp_path / "annotations.parquet")
    return tmp_path, carphone_clips, meta


def shards(tmp_path, root, out, **limits):
    return write_shards(
        str(tmp_path / "metadata.parquet"),
        str(root),
        {"carphone": str(tmp_path / "annotations.parquet")},
        str(tmp_path / out),
        **limits,
    )


def test_samples_limit_and_reading_back(dataset):

    tmp_path, root, meta = dataset
    index = shards(tmp_path, root, "out", max_samples=3)["train"]
    assert [(s["name"], s["samples"]) for s in index["shards"]] == [
        ("train-000000.tar", 3),
        ("train-000001.tar", 1),
    ]
    for shard in index["shards"]:
        assert (tmp_path / "out" / shard["name"]).stat().st_size == shard["bytes"]
    assert json.loads((tmp_path / "out" / "train.json").read_text()) == index
    assert json.loads((tmp_path / "out" / "val.json").read_text())["shards"] == []
    urls = [str(tmp_path / "out" / s["name"]) for s in index["shards"]]
    samples = list(wds.WebDataset(urls, shardshuffle=False))
    assert [s["__key__"] for s in samples] == [f"carphone/{c}" for c in meta["clip"]]
    for sample, row in zip(samples, meta.to_dict("records"), strict=True):
        assert sample["mp4"] == (root / row["clip_path"]).read_bytes()
        assert sample["jpg"] == (root / row["keyframe_path"]).read_bytes()
    records = [json.loads(s["json"]) for s in samples]
    assert records[2]["annotations"] == [
        {
            "bbox": [10.0, 20.0, 30.0, 40.0],
            "action": "talking",
            "track_id": 1,
            "score": 0.9,
            "detector_class": "person",
        }
    ]
    assert records[0]["annotations"] == []
    assert records[2]["sharpness"] is None and records[3]["sharpness"] == 4.0


def test_bytes_limit_and_identical_bytes(dataset):
    tmp_path, root, meta = dataset
    biggest = max(
        (root / p).stat().st_size + (root / k).stat().st_size
        for p, k in zip(meta["clip_path"], meta["keyframe_path"], strict=True)
    )
    index = shards(tmp_path, root, "a", max_bytes=biggest + 8 * 1024)["train"]
    # two samples never fit: one shard each, each within the limit
    assert [s["samples"] for s in index["shards"]] == [1, 1, 1, 1]
    assert all(s["bytes"] <= biggest + 8 * 1024 + 10240 for s in index["shards"])
    shards(tmp_path, root, "b", max_bytes=biggest + 8 * 1024)
    for shard in index["shards"]:
        assert (tmp_path / "a" / shard["name"]).read_bytes() == (
            tmp_path / "b" / shard["name"]
        ).read_bytes()
