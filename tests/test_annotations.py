"""COCO / person boxes / AVA: end to end on the mouse (DeepLabCut's human keypoints as
ground truth) and a people film, the locomotion labeller against speeds computed here
by hand, a user label file round trip, and the validation naming what is wrong."""

from __future__ import annotations

import json
import pickle
import shutil

import av
import numpy as np
import pandas as pd
import pytest
from PIL import Image
from pycocotools.coco import COCO
from test_workflow import make_project, snakemake

from conftest import REPO, data_file
from vidcurate.annotations import (
    AnnotationSettings,
    DatasetInvalid,
    LabelFileError,
    boxes_at,
    centre_speed,
    locomotion,
    map_box,
    read_labels,
    validate_dataset,
)
from vidcurate.arena import read_transform
from vidcurate.geometry import apply

MOUSE = "mouse/dlc_openfield_m3v1.mp4"
ARENA = "mouse/dlc_openfield_m3v1.arena.json"
LABELLED = "mouse/dlc_openfield_m4s1_labeled"
FILM = "people/moviepy_chaplin.mp4"
# two people in the Chaplin film at 1 s and 2 s (boxes by eye, normalised), and one
# label at a time the film does not reach: it must be reported, not dropped
LABELS = [
    ("film", 1.0, 0.30, 0.20, 0.45, 0.95, "walk", "7"),
    ("film", 1.0, 0.55, 0.25, 0.70, 0.95, "stand", "8"),
    ("film", 2.0, 0.31, 0.21, 0.46, 0.96, "walk", "7"),
    ("film", 60.0, 0.10, 0.10, 0.20, 0.20, "stand", "8"),
]


# --- units -------------------------------------------------------------------------------------


def tracks_table(rows):
    return pd.DataFrame(
        rows, columns=["frame", "t_s", "track_id", "class", "score", "x1", "y1", "x2", "y2"]
    )


def test_box_at_a_keyframe_is_interpolated_between_detections():
    tracks = tracks_table(
        [
            (0, 0.0, 1, "person", 0.8, 10, 10, 30, 50),
            (5, 0.2, 1, "person", 0.6, 20, 10, 40, 50),
            (50, 2.0, 1, "person", 0.9, 0, 0, 5, 5),
        ]
    )
    by_track = dict(tuple(tracks.groupby("track_id")))
    [(track, _, box, score)] = boxes_at(by_track, 0.05, max_gap_s=0.5, tolerance_s=0.02)
    assert track == 1
    np.testing.assert_allclose(box, [12.5, 10, 32.5, 50])
    assert score == pytest.approx(0.75)
    # detections 1.8 s apart: no box in between
    assert list(boxes_at(by_track, 1.0, max_gap_s=0.5, tolerance_s=0.02)) == []


def test_centre_speed_measures_the_path_between_points_a_step_apart():
    # the centre moves 3 px right then 4 px down per 0.2 s, with 1 px of jitter between
    rows = tracks_table(
        [
            (0, 0.0, 1, "animal", 1, 0, 0, 10, 10),
            (1, 0.1, 1, "animal", 1, 1, 0, 11, 10),  # jitter: skipped by the 0.2 s step
            (2, 0.2, 1, "animal", 1, 3, 0, 13, 10),
            (4, 0.4, 1, "animal", 1, 3, 4, 13, 14),
        ]
    )
    speed = centre_speed(rows, 0.0, 1.0, np.eye(3), step_s=0.2)
    assert speed == pytest.approx((3 + 4) / 0.4)
    # into cm: 10 px per cm
    assert centre_speed(rows, 0.0, 1.0, np.diag([0.1, 0.1, 1]), 0.2) == pytest.approx(1.75)
    assert centre_speed(rows.iloc[:1], 0.0, 1.0, np.eye(3), 0.2) is None


def test_locomotion_thresholds():
    settings = AnnotationSettings(still_below=2, running_above=20)
    assert [locomotion(v, True, settings) for v in (1.9, 2.0, 20.0, 20.1)] == [
        "still",
        "walking",
        "walking",
        "running",
    ]
    assert locomotion(100, False, settings) == "walking"  # px/s thresholds 20 and 200


def test_box_through_a_perspective_is_the_corners_bounding_box_clipped():
    matrix = np.array([[2.0, 0, -10], [0, 2.0, -10], [0, 0, 1]])
    assert map_box((5, 5, 20, 30), matrix, (100, 40)) == (0.0, 0.0, 30.0, 40.0)
    assert map_box((60, 5, 70, 10), matrix, (100, 40)) is None  # outside the image


def test_label_file_problems_name_the_line(tmp_path):
    bad = tmp_path / "labels.csv"
    bad.write_text(
        "video_id,timestamp_s,x1,y1,x2,y2,action,person_id\nv,1.0,0.5,0.1,0.4,0.9,walk,1\n"
    )
    with pytest.raises(LabelFileError, match=r"labels.csv line 2: box 0.5,0.1,0.4,0.9"):
        read_labels(bad)
    bad.write_text("v,one,0.1,0.1,0.4,0.9,walk,1\n")
    with pytest.raises(LabelFileError, match="line 1: timestamp and box must be numbers"):
        read_labels(bad)
    with pytest.raises(LabelFileError, match="does not exist"):
        read_labels(tmp_path / "missing.csv")


# --- end to end ------------------------------------------------------------------------------


def labelled_frames_video(path):
    """The 10 DeepLabCut-labelled frames, each held for one second at 25 fps: every
    clip's keyframe is one labelled frame (real footage, human keypoints)."""
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 640, 480, "yuv420p"
        stream.options = {"crf": "12"}
        index = 0
        for number in range(0, 120, 12):
            pixels = np.asarray(
                Image.open(data_file(f"{LABELLED}/img{number:04d}.png")).convert("RGB")
            )
            for _ in range(25):
                frame = av.VideoFrame.from_ndarray(pixels, format="rgb24")
                frame.pts = index
                out.mux(stream.encode(frame))
                index += 1
        out.mux(stream.encode(None))


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):

    root = tmp_path_factory.mktemp("annotations")
    project = make_project(
        root,
        {"mouse": (MOUSE, "train"), "film": (FILM, "val")},
        config={"labels": {"file": "labels.csv"}},
        # the labelled frames stand still for a second each: keep them anyway
        columns={"require_motion": {"frames": "false"}},
    )
    labelled_frames_video(project / "raw" / "frames.mp4")
    with (project / "videos.tsv").open("a") as sheet:
        sheet.write("frames\traw/frames.mp4\ttest\tlab-frames\tfalse\n")
    arenas = project / "config" / "arenas"
    arenas.mkdir(parents=True)
    for video_id in ("mouse", "frames"):
        shutil.copy(data_file(ARENA), arenas / f"{video_id}.json")
    (project / "labels.csv").write_text(
        "video_id,timestamp_s,x1,y1,x2,y2,action,person_id\n"
        + "".join(",".join(map(str, row)) + "\n" for row in LABELS)
    )
    snakemake(REPO, project)
    return project


def coco(project, split):
    return json.loads(
        (project / "results" / "dataset" / "annotations" / f"{split}.json").read_text()
    )


@pytest.mark.workflow
def test_every_file_loads_as_trainers_load_it(dataset):

    root = dataset / "results" / "dataset"
    meta = pd.read_parquet(root / "metadata.parquet")
    for split in ("train", "val", "test"):
        loaded = COCO(str(root / "annotations" / f"{split}.json"))
        keyframes = sorted((root / "keyframes" / split).glob("*/*.jpg"))
        assert len(loaded.dataset["images"]) == len(keyframes) == (meta.split == split).sum()
        assert (
            json.loads((root / "annotations" / f"{split}_min.json").read_text()) == loaded.dataset
        )
        assert "\n" not in (root / "annotations" / f"{split}_min.json").read_text()
    report = json.loads((root / "validation.json").read_text())
    assert report["test"]["images"] == 10 and report["test"]["clips"] == 10


@pytest.mark.workflow
def test_boxes_on_the_labelled_frames_hold_the_keypoints(dataset):
    """Keyframes of the labelled-frames video are the DeepLabCut frames, rectified: each
    COCO box, mapped back to source pixels, holds the human-labelled snout and tailbase."""
    data = coco(dataset, "test")
    meta = pd.read_parquet(dataset / "results" / "dataset" / "metadata.parquet")
    labels = pd.read_csv(data_file(f"{LABELLED}/labels_all_frames.csv"))
    boxes = {a["image_id"]: a for a in data["annotations"]}
    hits = 0
    for image in data["images"]:
        clip = meta[
            (meta.video_id == "frames") & (meta["clip"] == f"{image['frame_id']:04d}")
        ].iloc[0]
        name = f"img{(image['frame_id'] - 1) * 12:04d}.png"
        points = labels[labels.image == name].set_index("bodypart")[["x", "y"]]
        # keypoints (source pixels) into keyframe pixels
        to_key = np.linalg.inv(np.asarray(json.loads(clip.to_source)))
        snout, tailbase = apply(to_key, points.loc[["snout", "tailbase"]].to_numpy())
        x, y, w, h = boxes[image["id"]]["bbox"]
        hits += all(
            x - 1 <= px <= x + w + 1 and y - 1 <= py <= y + h + 1 for px, py in (snout, tailbase)
        )
    assert len(data["images"]) == 10 and hits >= 9


@pytest.mark.workflow
def test_box_drawn_back_lands_on_the_dark_mouse(dataset):
    root = dataset / "results" / "dataset"
    data = coco(dataset, "train")
    images = {i["id"]: i for i in data["images"]}
    checked = 0
    for ann in data["annotations"][::10]:
        grey = np.asarray(
            Image.open(root / "keyframes" / "train" / images[ann["image_id"]]["file_name"]).convert(
                "L"
            ),
            float,
        )
        x, y, w, h = (int(round(v)) for v in ann["bbox"])
        inside = grey[y : y + h, x : x + w]
        # the mouse is the darkest thing on the floor: its box holds much darker pixels
        assert np.percentile(inside, 10) < np.percentile(grey, 50) - 60
        checked += 1
    assert checked >= 5


@pytest.mark.workflow
def test_locomotion_labels_agree_with_speeds_computed_by_hand(dataset):
    results = dataset / "results"
    table = pd.read_parquet(results / "annotations" / "mouse" / "keyframes.parquet")
    assert table["action"].nunique() >= 2, table["action"].value_counts()
    assert set(table["action"]) <= {"still", "walking", "running"}
    tracks = pd.read_parquet(results / "tracks" / "mouse" / "tracks.parquet")
    arena = read_transform(results / "arena" / "mouse" / "arena.json")
    for _, row in table.sort_values("speed").iloc[[0, -1]].iterrows():
        # by hand: centres in arena pixels at the detections 0.2 s apart over the clip
        start = row.start_s
        inside = tracks[(tracks.t_s >= start - 1e-6) & (tracks.t_s <= start + 1.0 + 1e-6)]
        points, last = [], None
        for t, x1, y1, x2, y2 in inside[["t_s", "x1", "y1", "x2", "y2"]].itertuples(index=False):
            if last is None or t - last >= 0.2 - 1e-6:
                points.append((t, *apply(arena.matrix, [((x1 + x2) / 2, (y1 + y2) / 2)])[0]))
                last = t
        path = sum(
            np.hypot(b[1] - a[1], b[2] - a[2]) for a, b in zip(points[:-1], points[1:], strict=True)
        )
        speed = path / (points[-1][0] - points[0][0])
        assert row.speed == pytest.approx(speed, rel=1e-3)
        expected = "still" if speed < 20 else ("running" if speed > 200 else "walking")
        assert row.action == expected and row.speed_unit == "arena px/s"


@pytest.mark.workflow
def test_user_labels_round_trip_into_coco_and_ava(dataset):
    root = dataset / "results" / "dataset"
    data = coco(dataset, "val")
    names = {c["id"]: c["name"] for c in data["categories"]}
    images = {i["id"]: i for i in data["images"]}
    film = [a for a in data["annotations"] if images[a["image_id"]]["video_id"] == "film"]
    # the labels replace the film's track boxes: exactly the three at keyframes
    assert len(film) == 3
    got = sorted(
        (images[a["image_id"]]["frame_id"], names[a["category_id"]], *np.round(a["bbox"], 1))
        for a in film
    )
    width, height = images[film[0]["image_id"]]["width"], images[film[0]["image_id"]]["height"]
    want = sorted(
        (
            int(t) + 1,
            action,
            round(x1 * width, 1),
            round(y1 * height, 1),
            round((x2 - x1) * width, 1),
            round((y2 - y1) * height, 1),
        )
        for _, t, x1, y1, x2, y2, action, _ in LABELS[:3]
    )
    np.testing.assert_allclose([g[2:] for g in got], [w[2:] for w in want], atol=0.06)
    assert [g[:2] for g in got] == [w[:2] for w in want]
    # AVA, read the way mmaction2's AVADataset reads it: split(','), int timestamp,
    # four floats, int label, int person; the label map as its read_labelmap parses it
    label_map = {}
    name = None
    for line in (root / "ava" / "label_map.pbtxt").read_text().splitlines(keepends=True):
        if line.startswith("  name:"):
            name = line.split('"')[1]
        elif line.startswith("  id:"):
            label_map[int(line.strip().split(" ")[-1])] = name
    rows = []
    for line in (root / "ava" / "val.csv").read_text().splitlines():
        parts = line.strip().split(",")
        if parts[0] == "film":
            rows.append(
                (int(parts[1]), *map(float, parts[2:6]), label_map[int(parts[6])], int(parts[7]))
            )
    want_ava = sorted(
        (int(t), x1, y1, x2, y2, a, int(p)) for _, t, x1, y1, x2, y2, a, p in LABELS[:3]
    )
    assert [r[0] for r in sorted(rows)] == [w[0] for w in want_ava]
    np.testing.assert_allclose(
        [r[1:5] for r in sorted(rows)], [w[1:5] for w in want_ava], atol=1e-3
    )
    assert [r[5:] for r in sorted(rows)] == [w[5:] for w in want_ava]
    # the label nowhere near a keyframe is reported with the reason
    # (labels kept but not joined to a HOG track box are reported too, with their IoU)
    unmatched = pd.read_csv(root / "unmatched_labels.tsv", sep="\t").set_index("timestamp_s")
    assert unmatched.loc[60.0, "problem"] == "no keyframe within 0.5 s (nearest 52.00 s away)"
    others = unmatched.drop(index=60.0)
    assert others.problem.str.startswith("no track box with IoU >= 0.5 (best ").all()


@pytest.mark.workflow
def test_proposals_and_person_boxes(dataset):
    root = dataset / "results" / "dataset"
    with (root / "ava" / "train_proposals.pkl").open("rb") as handle:
        proposals = pickle.load(handle)
    data = coco(dataset, "train")
    assert proposals and all(
        k.startswith("mouse,") and len(k) == len("mouse,0000") for k in proposals
    )
    for value in proposals.values():
        assert value.dtype == np.float32 and value.shape[1] == 5
        assert (value[:, :4] >= 0).all() and (value[:, :4] <= 1).all()
        assert (value[:, 0] < value[:, 2]).all() and (value[:, 1] < value[:, 3]).all()
    boxes = json.loads((root / "boxes" / "train_person_bbox.json").read_text())
    files = {i["file_name"] for i in data["images"]}
    assert set(boxes) <= files and len(boxes) == len({a["image_id"] for a in data["annotations"]})
    first = next(iter(boxes.values()))[0]
    assert set(first) == {"bbox", "score"} and len(first["bbox"]) == 4
    entry = (root / "paths_catalog_entry.py").read_text()
    namespace = {}
    exec(compile(entry, "paths_catalog_entry.py", "exec"), namespace)
    catalog = namespace["VIDCURATE_DATASETS"]
    assert catalog["vidcurate_val"]["box_file"] == "data/vidcurate/boxes/val_person_bbox.json"
    assert catalog["vidcurate_train"]["box_file"] == ""


@pytest.mark.workflow
def test_validation_names_the_file_and_entry(dataset, tmp_path):
    copy = tmp_path / "dataset"
    shutil.copytree(dataset / "results" / "dataset", copy)
    validate_dataset(str(copy))  # as written: valid
    path = copy / "annotations" / "val.json"
    data = json.loads(path.read_text())
    data["annotations"][0]["bbox"][0] = 10_000.0
    path.write_text(json.dumps(data))
    (copy / "annotations" / "val_min.json").write_text(json.dumps(data, separators=(",", ":")))
    first = data["annotations"][0]["id"]
    with pytest.raises(
        DatasetInvalid, match=rf"annotations/val.json: annotation {first}: bbox .* leaves the"
    ):
        validate_dataset(str(copy))
    shutil.copytree(dataset / "results" / "dataset", copy, dirs_exist_ok=True)
    victim = sorted((copy / "keyframes" / "train").glob("*/*.jpg"))[3]
    victim.unlink()
    with pytest.raises(
        DatasetInvalid, match=rf"\({victim.parent.name}/{victim.name}\): keyframes/train/"
    ):
        validate_dataset(str(copy))
