"""Arena definitions, the source -> arena transform applied while decoding, and the
auto-suggested arena on the real mouse video."""

from __future__ import annotations

import json
import subprocess

import cv2
import numpy as np
import pandas as pd
import pytest
from test_workflow import make_project, snakemake

from conftest import REPO, check_clip, data_file
from vidcurate.arena import (
    ArenaDefinition,
    ArenaError,
    arena_transform,
    check_polygon,
    parse_points,
    read_arena_file,
)
from vidcurate.arena_stage import suggest_polygon
from vidcurate.frames import FrameSpec, median_frame, open_frames
from vidcurate.geometry import apply, homography
from vidcurate.probe import probe_video

MOUSE = "mouse/dlc_openfield_m3v1.mp4"
SQUARE = 40  # checkerboard square, arena pixels
BOARD = (10, 7)  # squares across, down: 400 x 280 arena pixels
CAMERA_QUAD = ((112.0, 74.0), (531.0, 97.0), (585.0, 421.0), (63.0, 396.0))


def checkerboard() -> np.ndarray:
    cols, rows = BOARD
    board = (np.indices((rows * SQUARE, cols * SQUARE)) // SQUARE).sum(axis=0) % 2
    return np.repeat((board * 200 + 28).astype(np.uint8)[:, :, None], 3, axis=2)


def to_index(matrix: np.ndarray) -> np.ndarray:
    """A homography in continuous coordinates (centres at +0.5) as OpenCV's (centres
    at integers)."""
    shift = np.array([[1, 0, 0.5], [0, 1, 0.5], [0, 0, 1]])
    return np.linalg.inv(shift) @ matrix @ shift


@pytest.fixture(scope="module")
def filmed_board(tmp_path_factory):
    """The checkerboard seen by a tilted camera: warped by a known homography into a
    640x480 frame, 5 frames of lossless video."""
    board = checkerboard()
    height, width = board.shape[:2]
    to_camera = homography([(0, 0), (width, 0), (width, height), (0, height)], CAMERA_QUAD)
    frame = cv2.warpPerspective(
        board, to_index(to_camera), (640, 480), flags=cv2.INTER_CUBIC, borderValue=(90, 90, 90)
    )
    folder = tmp_path_factory.mktemp("board")
    cv2.imwrite(str(folder / "frame.png"), frame[:, :, ::-1])
    video = folder / "board.mkv"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-loop", "1", "-i", str(folder / "frame.png"), "-frames:v", "5"]
        + ["-r", "25", "-c:v", "ffv1", "-pix_fmt", "rgb24", str(video)],
        check=True,
    )
    return video


def inner_corners(image: np.ndarray) -> np.ndarray:
    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    pattern = (BOARD[0] - 1, BOARD[1] - 1)
    found, corners = cv2.findChessboardCorners(grey, pattern)
    assert found, "checkerboard not found in the rectified frame"
    criteria = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 50, 0.01)
    corners = cv2.cornerSubPix(grey, corners, (5, 5), (-1, -1), criteria).reshape(-1, 2)
    return corners + 0.5  # OpenCV's indices -> continuous coordinates


@pytest.mark.parametrize("pix_fmt", ["rgb24", "yuv420p"])
def test_checkerboard_is_rectified_within_a_pixel(filmed_board, pix_fmt):
    probe = probe_video(str(filmed_board), "board")
    definition = ArenaDefinition(CAMERA_QUAD, "test", output_px=(400, 280))
    transform = arena_transform(definition, (probe["width"], probe["height"]))
    spec = FrameSpec(arena=transform, pix_fmt=pix_fmt, scaler="bicubic")
    with open_frames(str(filmed_board), probe, spec) as source:
        frame = next(source).data
    if pix_fmt == "yuv420p":
        frame = cv2.cvtColor(frame, cv2.COLOR_YUV2RGB_I420)
    assert frame.shape[:2] == (280, 400)
    found = inner_corners(frame)
    cols, rows = BOARD[0] - 1, BOARD[1] - 1
    expected = np.array(
        [((c + 1) * SQUARE, (r + 1) * SQUARE) for r in range(rows) for c in range(cols)], float
    )
    # findChessboardCorners may start from either end
    if np.linalg.norm(found[0] - expected[0]) > np.linalg.norm(found[0] - expected[-1]):
        found = found[::-1]
    error = np.linalg.norm(found - expected, axis=1)
    print(f"max corner error {error.max():.3f} px")
    assert error.max() < 1.0, f"corner errors up to {error.max():.2f} px"


def test_transform_round_trip_under_half_a_pixel():
    definition = ArenaDefinition(CAMERA_QUAD, "test", size_cm=(50.0, 35.0))
    transform = arena_transform(definition, (640, 480))
    assert transform.output_size == (512, 358)  # longest side 512, aspect from size_cm
    assert transform.px_per_cm == pytest.approx(10.23, abs=0.01)
    # the polygon's corners are the arena's corners
    np.testing.assert_allclose(
        apply(transform.matrix, CAMERA_QUAD), [(0, 0), (512, 0), (512, 358), (0, 358)], atol=1e-6
    )
    # a box in a 360x252 clip goes to source pixels and comes back
    clip = transform.scaled_to((360, 252))
    box = np.array([(10.3, 20.7), (200.1, 20.7), (200.1, 180.9), (10.3, 180.9)])
    back = apply(clip, apply(np.linalg.inv(clip), box))
    assert np.abs(back - box).max() < 0.5
    stored = json.loads(json.dumps(transform.to_json()))
    np.testing.assert_allclose(
        np.asarray(stored["inverse"]) @ stored["homography"], np.eye(3), atol=1e-9
    )


@pytest.mark.parametrize(
    ("polygon", "message"),
    [
        (
            [(10, 10), (300, 10), (10, 200), (300, 200)],
            "self-intersecting polygon: side 2-3 crosses side 4-1",
        ),
        ([(10, 10), (700, 10), (600, 400), (10, 400)], "point(s) 2 lie outside the 640x480 frame"),
        ([(10, 10), (12, 10), (200, 300)], "degenerate polygon: points 1 and 2"),
        ([(10, 10), (300, 12), (590, 14)], "degenerate polygon: area"),
        ([(10, 10), (10, 400), (600, 400), (600, 10)], "wrongly ordered polygon"),
        ([(10, 10), (600, 10)], "needs at least 3 points"),
    ],
)
def test_bad_polygons_name_the_problem(polygon, message):
    with pytest.raises(ArenaError, match=r"^config/arenas/cam1\.json: ") as caught:
        check_polygon(polygon, "config/arenas/cam1.json", (640, 480))
    assert message in str(caught.value)


def test_sheet_points_and_files_are_read(tmp_path):
    assert parse_points("1,2; 30,2;30,40", "sheet") == ((1, 2), (30, 2), (30, 40))
    with pytest.raises(ArenaError, match="point 2 '3' is not 'x,y'"):
        parse_points("1,2;3", "videos.tsv line 2, column 'arena'")
    path = tmp_path / "cam.json"
    path.write_text('{"polygon": [[1, 2], [3, 4]], "size_cm": [40]}')
    with pytest.raises(ArenaError, match="size_cm must be two finite numbers"):
        read_arena_file(path)
    path.write_text("{polygon: }")
    with pytest.raises(ArenaError, match=r"cam\.json: not valid JSON"):
        read_arena_file(path)


def test_round_arena_is_masked_and_stays_round(tmp_path):
    """A 12-sided outline: bounding box cropped, uniform scale, outside painted."""
    centre, radius = np.array([320.0, 240.0]), 150.0
    angles = np.linspace(-np.pi, np.pi, 12, endpoint=False)
    polygon = [tuple(centre + radius * np.array([np.cos(a), np.sin(a)])) for a in angles]
    probe = probe_video(str(data_file(MOUSE)), "m3v1")
    definition = ArenaDefinition(tuple(polygon), "test")
    transform = arena_transform(definition, (640, 480), mask_colour=(255, 0, 255))
    assert transform.kind == "mask" and transform.output_size == (512, 512)
    with open_frames(str(data_file(MOUSE)), probe, FrameSpec(arena=transform)) as source:
        frame = next(source).data
    assert frame.shape == (512, 512, 3)
    for corner in (frame[0, 0], frame[0, -1], frame[-1, 0], frame[-1, -1]):
        assert tuple(corner) == (255, 0, 255)
    middle = frame[200:312, 200:312]
    assert not (middle == (255, 0, 255)).all(axis=2).any()  # the floor, untouched
    # the unmasked area is the polygon's area, scaled
    unmasked = (~(frame == (255, 0, 255)).all(axis=2)).sum()
    area = 0.5 * 12 * radius**2 * np.sin(2 * np.pi / 12) * (512 / (2 * radius)) ** 2
    assert unmasked == pytest.approx(area, rel=0.02)


def polygon_iou(a, b, size=(640, 480), scale=4) -> float:
    def raster(points):
        mask = np.zeros((size[1] * scale, size[0] * scale), np.uint8)
        cv2.fillPoly(mask, [np.round(np.asarray(points) * scale - 0.5).astype(np.int32)], 1)
        return mask.astype(bool)

    ma, mb = raster(a), raster(b)
    return float((ma & mb).sum() / (ma | mb).sum())


def test_suggested_arena_covers_the_hand_annotated_floor():
    video = str(data_file(MOUSE))
    probe = probe_video(video, "m3v1")
    truth = read_arena_file(data_file("mouse/dlc_openfield_m3v1.arena.json"))
    suggested = suggest_polygon(median_frame(video, probe, samples=25))
    assert len(suggested) == 4
    check_polygon(suggested, "suggestion", (640, 480))
    assert polygon_iou(suggested, truth.polygon) >= 0.9
    # and a wrong answer would not pass: the whole frame, or the floor shifted 30 px
    assert polygon_iou([(0, 0), (640, 0), (640, 480), (0, 480)], truth.polygon) < 0.9
    shifted = [(x + 30, y) for x, y in truth.polygon]
    assert polygon_iou(shifted, truth.polygon) < 0.92


def test_median_frame_removes_the_mouse():
    video = str(data_file(MOUSE))
    probe = probe_video(video, "m3v1")
    background = median_frame(video, probe, samples=25).astype(float)
    with open_frames(video, probe, FrameSpec()) as source:
        first = next(source).data.astype(float)
    # the mouse is a dark blob in any one frame; the median has none that dark inside
    inner = (slice(80, 440), slice(40, 600))
    assert first[inner].min() < 60 and background[inner].min() > 80


# --- in the workflow ---------------------------------------------------------------------


@pytest.mark.workflow
def test_mouse_video_with_an_arena_gives_arena_clips(tmp_path):

    project = make_project(tmp_path, {"mouse": (MOUSE, "train")})
    arena = read_arena_file(data_file("mouse/dlc_openfield_m3v1.arena.json"))
    (project / "config" / "arenas").mkdir(parents=True)
    (project / "config" / "arenas" / "mouse.json").write_text(
        json.dumps({"polygon": arena.polygon, "output_px": [400, 280], "size_cm": [50, 35]})
    )
    snakemake(REPO, project)
    results = project / "results"
    record = json.loads((results / "arena" / "mouse" / "arena.json").read_text())
    assert record["kind"] == "perspective" and record["output_size"] == [400, 280]
    assert record["px_per_cm"] == pytest.approx(8.0)
    np.testing.assert_allclose(
        np.asarray(record["inverse"]) @ record["homography"], np.eye(3), atol=1e-9
    )
    picture = cv2.imread(str(results / "arena" / "mouse" / "arena.png"))
    assert picture.shape == (280, 400, 3)
    meta = pd.read_parquet(results / "dataset" / "metadata.parquet")
    assert len(meta) == 77  # 77.7 s: every whole second, as without an arena
    dataset = results / "dataset"
    for row in meta.iloc[[0, 38, 76]].itertuples():
        check_clip(dataset / row.clip_path, dataset / row.keyframe_path, 400, 280)
    # a box in clip pixels goes to source pixels and back within half a pixel
    to_source = np.asarray(json.loads(meta.to_source.iloc[0]))
    box = np.array([(100.0, 50.0), (180.0, 50.0), (180.0, 120.0), (100.0, 120.0)])
    in_source = apply(to_source, box)
    assert np.abs(apply(np.linalg.inv(to_source), in_source) - box).max() < 0.5
    # the clip's corners are the arena's corners in the source
    corners = apply(to_source, [(0, 0), (400, 0), (400, 280), (0, 280)])
    np.testing.assert_allclose(corners, arena.polygon, atol=1e-6)


@pytest.mark.workflow
def test_bad_arena_fails_the_plan_naming_the_file(tmp_path):

    project = make_project(
        tmp_path,
        {"mouse": (MOUSE, "train"), "rig": ("shots/psd_counter.mp4", "val")},
        columns={"arena": {"rig": "10,10;600,10;10,400;600,400"}},
    )
    (project / "config" / "arenas").mkdir(parents=True)
    (project / "config" / "arenas" / "mouse.json").write_text(
        '{"polygon": [[10, 10], [700, 10], [600, 400], [10, 400]]}'
    )
    proc = snakemake(REPO, project, "-n", check=False)
    text = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "config/arenas/mouse.json: point(s) 2 lie outside the 640x480 frame" in text
    assert "column 'arena' of rig: self-intersecting polygon: side 2-3 crosses side 4-1" in text
    assert not (project / "results").exists()


@pytest.mark.workflow
def test_sheet_value_auto_suggests_the_arena_in_the_job(tmp_path):

    project = make_project(
        tmp_path, {"mouse": (MOUSE, "train")}, columns={"arena": {"mouse": "auto"}}
    )
    snakemake(REPO, project, "--until", "arena")
    record = json.loads((project / "results" / "arena" / "mouse" / "arena.json").read_text())
    assert record["definition"] == "mouse (auto)" and record["kind"] == "perspective"
    truth = read_arena_file(data_file("mouse/dlc_openfield_m3v1.arena.json"))
    assert polygon_iou(record["polygon"], truth.polygon) >= 0.9


@pytest.mark.parametrize(
    "data",
    [
        {"polygon": [[0, 0], [10, 0], [10, 10], [0, 10]], "size_cm": [float("nan"), 5]},
        {"polygon": [[0, 0], [10, 0], [10, 10], [0, 10]], "size_cm": [True, 5]},
        {"polygon": [[0, 0], [10, 0], [10, 10], [0, 10]], "size_cm": "44,30"},
        {"polygon": [[0, 0], [10, 0], [10, 10], [0, 10]], "output_px": [512.5, 300]},
        {"polygon": [[0, 0], [True, 0], [10, 10], [0, 10]]},
        {"polygon": [[0, 0], ["10", 0], [10, 10], [0, 10]]},
        {"polygon": [[0, 0], [float("inf"), 0], [10, 10], [0, 10]]},
    ],
)
def test_arena_files_refuse_what_is_not_a_finite_number(tmp_path, data):
    path = tmp_path / "a.json"
    path.write_text(json.dumps(data))  # NaN and Infinity as Python's json writes them
    with pytest.raises(ArenaError, match=rf"{path}: .*finite"):
        read_arena_file(path)


@pytest.mark.parametrize(
    "text", ["nan,1;10,0;10,10;0,10", "0,0;inf,0;10,10;0,10", "0,0;1e999,0;1,1"]
)
def test_sheet_arena_points_must_be_finite(text):
    with pytest.raises(ArenaError, match="is not 'x,y' of finite numbers"):
        parse_points(text, "sheet line 2, column 'arena'")
