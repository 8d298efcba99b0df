"""Scores per clip, the facts curation filters on (seeds 002-004), one video at a time.

For every clip of a video (its clip table row, its MP4 and keyframe JPEG):
- motion: the window's motion scores, carried from the motion stage;
- flash: flash frames inside the window (scenes stage);
- faces: face detections deface made inside the window, and the most in one frame;
- tracks: boxes on the keyframe, their mean locomotion speed and the action most of them
  have (keyframe annotations);
- sharpness: variance of the Laplacian of the grey keyframe (low = blurry);
- exposure: mean luma of the keyframe, and the share of its pixels at <= 5 or >= 250;
- text: share of the keyframe and the clip's middle frame covered by text that RapidOCR
  (PP-OCRv4 detector + recogniser, the models its wheel ships) reads;
- hashes: 64-bit perceptual hashes (pHash, ``imagehash``) of the keyframe and the middle
  frame, as 16 hex digits, for near-duplicate detection across the dataset.

Pixels come through the frame source: the clip's middle frame is decoded from the clip
itself (a 1-s file), so scoring never decodes a source video again.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import cv2
import imagehash
import numpy as np
import pandas as pd
from PIL import Image

from vidcurate.settings import FromConfig

from .atomic import atomic_path
from .columns import MOTION_COLUMNS, SCORE_ONLY_COLUMNS
from .frames import FrameSpec, open_frames

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ScoreSettings(FromConfig):
    ocr: bool = True
    ocr_long_side: int = 480  # the text detector sees frames scaled to this long side
    ocr_box_threshold: float = 0.5
    ocr_text_score: float = 0.5
    clipped_low: int = 5
    clipped_high: int = 250


SCORE_COLUMNS = ["video_id", "clip", "start_s", "end_s", *MOTION_COLUMNS, *SCORE_ONLY_COLUMNS]


# --- pixels --------------------------------------------------------------------------------


def sharpness(grey: np.ndarray) -> float:
    """Variance of the Laplacian (the standard focus measure): low for blurry frames."""

    return float(cv2.Laplacian(grey, cv2.CV_64F).var())


def exposure(grey: np.ndarray, low: int = 5, high: int = 250) -> tuple[float, float]:
    """(mean luma, share of pixels at or below ``low`` or at or above ``high``)."""
    return float(grey.mean()), float(((grey <= low) | (grey >= high)).mean())


def phash(rgb: np.ndarray) -> str:

    return str(imagehash.phash(Image.fromarray(rgb)))


def hamming(a: str, b: str) -> int:
    return bin(int(a, 16) ^ int(b, 16)).count("1")


class TextArea:
    """Share of a frame covered by text: RapidOCR's detector proposes text boxes and its
    recogniser keeps those it reads with a score of at least ``ocr_text_score`` (the
    detector alone takes a dark mouse on a white floor for a word)."""

    def __init__(self, settings: ScoreSettings, threads: int = 1):
        from rapidocr_onnxruntime import RapidOCR  # optional heavy backend: score.ocr

        self.settings = settings
        self.engine = RapidOCR(
            det_limit_side_len=settings.ocr_long_side,
            det_limit_type="max",
            intra_op_num_threads=threads,
            inter_op_num_threads=1,
            print_verbose=False,
        )

    def __call__(self, rgb: np.ndarray) -> float:

        found, _ = self.engine(
            cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR),
            use_cls=False,
            box_thresh=self.settings.ocr_box_threshold,
            text_score=self.settings.ocr_text_score,
        )
        if not found:
            return 0.0
        mask = np.zeros(rgb.shape[:2], np.uint8)
        boxes = [
            np.round(np.asarray(box)).astype(np.int32) for box, text, _ in found if text.strip()
        ]
        cv2.fillPoly(mask, boxes, 1)
        return float(mask.mean())


def middle_frame(clip_path: Path, width: int, height: int, n_frames: int) -> np.ndarray:
    """The clip's middle frame (RGB), through the frame source."""

    middle = max(0, n_frames // 2)
    probe = {"video_id": clip_path.stem, "width": width, "height": height, "duration_s": 1.0}
    with open_frames(str(clip_path), probe, FrameSpec(max_frames=middle + 1)) as frames:
        last = None
        for frame in frames:
            last = frame.data
    if last is None:
        raise ValueError(f"{clip_path}: no frame decoded")
    return last


# --- one video -------------------------------------------------------------------------------


def score_video(
    clips: pd.DataFrame,
    clips_dir: Path,
    keyframes_dir: Path,
    probe: dict,
    settings: ScoreSettings,
    faces: pd.DataFrame | None = None,
    flashes: pd.DataFrame | None = None,
    annotations: pd.DataFrame | None = None,
    text_area=None,
) -> pd.DataFrame:
    """One row of SCORE_COLUMNS per clip in ``clips`` (its clip table, status 'clip')."""

    clips = clips[clips["status"] == "clip"]
    fps = float(probe.get("avg_fps") or 25.0)
    rows = []
    for clip in clips.to_dict("records"):
        start, end = float(clip["start_s"]), float(clip["end_s"])
        first, last = int(round(start * fps)), int(round(end * fps))  # source frames
        key_rgb = np.asarray(Image.open(keyframes_dir / clip["keyframe_file"]).convert("RGB"))
        grey = cv2.cvtColor(key_rgb, cv2.COLOR_RGB2GRAY)
        mid_rgb = middle_frame(
            clips_dir / clip["clip_file"],
            int(clip["width"]),
            int(clip["height"]),
            int(clip["n_frames"]),
        )
        luma, clipped = exposure(grey, settings.clipped_low, settings.clipped_high)
        row = {
            "video_id": probe["video_id"],
            "clip": clip["clip"],
            "start_s": start,
            "end_s": end,
            **{c: pd.to_numeric(clip.get(c, ""), errors="coerce") for c in MOTION_COLUMNS},
            "flash_frames": 0,
            "faces": 0,
            "faces_max": 0,
            "track_boxes": 0,
            "track_speed": float("nan"),
            "action": "",
            "sharpness": round(sharpness(grey), 3),
            "luma_mean": round(luma, 3),
            "luma_clipped": round(clipped, 5),
            "text_area": float("nan"),
            "phash_key": phash(key_rgb),
            "phash_mid": phash(mid_rgb),
        }
        if flashes is not None and len(flashes):
            inside = (flashes["time_s"] >= start) & (flashes["time_s"] < end)
            row["flash_frames"] = int(inside.sum())
        if faces is not None and len(faces):
            inside = faces[(faces["frame"] >= first) & (faces["frame"] < last)]
            row["faces"] = len(inside)
            row["faces_max"] = int(inside.groupby("frame").size().max()) if len(inside) else 0
        if annotations is not None and len(annotations):
            here = annotations[annotations["clip"] == clip["clip"]]
            row["track_boxes"] = len(here)
            row["action"] = dominant_action(here)
            if len(here) and here["speed"].notna().any():
                row["track_speed"] = round(float(here["speed"].mean()), 3)
        if text_area is not None:
            row["text_area"] = round(max(text_area(key_rgb), text_area(mid_rgb)), 5)
        rows.append(row)
    return pd.DataFrame(rows, columns=SCORE_COLUMNS)


def dominant_action(boxes: pd.DataFrame) -> str:
    """The action most boxes on the keyframe have (ties: the first by name), the class a
    class-balanced subset counts the clip under; "" without boxes."""
    if not len(boxes):
        return ""
    counts = boxes["action"].astype(str).value_counts()
    return sorted(counts[counts == counts.max()].index)[0]


def score_stage(
    clips_table: str,
    clips_dir: str,
    keyframes_dir: str,
    probe_json: str,
    settings: ScoreSettings,
    out_scores: str,
    faces: str | None = None,
    flashes: str | None = None,
    annotations: str | None = None,
    threads: int = 1,
) -> pd.DataFrame:
    probe = json.loads(Path(probe_json).read_text())
    clips = pd.read_csv(clips_table, sep="\t", keep_default_na=False, dtype={"clip": str})
    table = score_video(
        clips,
        Path(clips_dir),
        Path(keyframes_dir),
        probe,
        settings,
        faces=pd.read_parquet(faces) if faces else None,
        flashes=pd.read_csv(flashes, sep="\t") if flashes else None,
        annotations=pd.read_parquet(annotations) if annotations else None,
        text_area=TextArea(settings, threads) if settings.ocr else None,
    )
    with atomic_path(out_scores, suffix=".parquet") as tmp:
        table.to_parquet(tmp, index=False)
    log.info("%s: scored %d clips", probe["video_id"], len(table))
    return table
