"""People found per detector on the repository's people videos, against counts by eye.

    .venv/bin/python bench/people.py [--out FOLDER]

tests/data/people/person_counts.json lists, for each people video, 10 frames and the
people visible in each (counted by eye; how is written there). Each detector runs on
those frames as the tracks stage runs it (its config defaults: HOG at long side 640,
ssdlite on the whole frame stretched to 300x300, score >= 0.3); per video:
  all boxed    frames where the detector has at least as many boxes as people visible
  false/frame  boxes beyond the people visible, per frame
Counting boxes cannot tell a box on a person from one on the floor: each detector's boxes
are drawn on the frames into FOLDER (contact sheets, one per video and detector) to be
checked by eye, and the table says "checked" only for what the sheets were looked at for.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts"))

import cv2
import numpy as np

from vidcurate.frames import FrameSpec, open_frames
from vidcurate.probe import probe_stage
from vidcurate.tf_graph import ssd_to_onnx
from vidcurate.tracks import TrackSettings, detection_size, make_detector

DATA = REPO / "tests" / "data"


def frames_at(video: Path, probe: dict, wanted: list[int]) -> dict[int, np.ndarray]:
    found = {}
    with open_frames(str(video), probe, FrameSpec()) as frames:
        for index, frame in enumerate(frames):
            if index in wanted:
                found[index] = frame.data
            if index >= max(wanted):
                break
    return found


def sheet(frames: list[np.ndarray], boxes: list[np.ndarray], labels: list[str]) -> np.ndarray:
    tiles = []
    for rgb, xyxy, label in zip(frames, boxes, labels, strict=True):
        image = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR).copy()
        for x1, y1, x2, y2 in np.round(xyxy).astype(int):
            cv2.rectangle(image, (x1, y1), (x2, y2), (0, 255, 0), 2)
        cv2.putText(image, label, (5, 22), cv2.FONT_HERSHEY_SIMPLEX, 0.7, (0, 0, 255), 2)
        width = 480
        tiles.append(cv2.resize(image, (width, int(width * image.shape[0] / image.shape[1]))))
    rows = [np.hstack(tiles[i : i + 2]) for i in range(0, len(tiles), 2)]
    return np.vstack(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(tempfile.mkdtemp(prefix="people-")))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    counts = json.loads((DATA / "people" / "person_counts.json").read_text())["videos"]
    ssdlite = ssd_to_onnx(
        DATA / "models" / "ssdlite_person_frozen_inference_graph.pb", args.out / "ssdlite.onnx"
    )
    detectors = {
        "hog": (TrackSettings(detector="hog", detector_settings={"long_side": 640}), None),
        "ssdlite": (
            TrackSettings(detector="ssdlite", detector_settings={"score_threshold": 0.3}),
            str(ssdlite),
        ),
        # ablations: a lower threshold; the whole frame plus tiles (more pixels for small
        # people)
        "ssdlite score 0.2": (
            TrackSettings(detector="ssdlite", detector_settings={"score_threshold": 0.2}),
            str(ssdlite),
        ),
        "ssdlite + 2x1 tiles": (
            TrackSettings(
                detector="ssdlite", detector_settings={"score_threshold": 0.3, "tiles": [2, 1]}
            ),
            str(ssdlite),
        ),
        "ssdlite + 2x2 tiles": (
            TrackSettings(
                detector="ssdlite", detector_settings={"score_threshold": 0.3, "tiles": [2, 2]}
            ),
            str(ssdlite),
        ),
    }
    print("| video | detector | frames | all boxed | share | false boxes / frame |")
    print("|---|---|---:|---:|---:|---:|")
    for name, truth in counts.items():
        video = DATA / "people" / name
        probe = probe_stage(str(video), video.stem, str(args.out / f"{video.stem}.json"))
        frames = frames_at(video, probe, truth["frames"])
        shown = (probe["width"], probe["height"])
        for detector_name, (settings, weights) in detectors.items():
            size = detection_size(shown, settings.detector_settings.get("long_side"))
            detector = make_detector(settings, size, {}, None, probe, video.stem, weights=weights)
            boxed, false, drawn, labels = 0, 0, [], []
            for index, people in zip(truth["frames"], truth["people"], strict=True):
                rgb = frames[index]
                if size != shown:
                    rgb = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
                found = detector(rgb)
                n = len(found.xyxy)
                boxed += n >= people
                false += max(0, n - people)
                drawn.append((rgb, found.xyxy))
                labels.append(f"{index}: {n} boxes, {people} people")
            cv2.imwrite(
                str(args.out / f"{video.stem}.{detector_name.replace(' ', '_')}.png"),
                sheet([d[0] for d in drawn], [d[1] for d in drawn], labels),
            )
            frames_n = len(truth["frames"])
            print(
                f"| {video.stem} | {detector_name} | {frames_n} | {boxed} | "
                f"{100 * boxed / frames_n:.0f}% | {false / frames_n:.2f} |"
            )
    print(f"\ncontact sheets: {args.out}")


if __name__ == "__main__":
    main()
