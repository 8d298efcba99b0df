"""Models the learned-score tests build themselves (no weights can be downloaded here):
a small open_clip architecture with fixed random weights saved as a checkpoint, and
ONNX heads whose outputs are known in closed form."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import open_clip
import torch
from onnx import TensorProto, helper, numpy_helper

# a real open_clip CLIP (ViT image tower, transformer text tower, the BPE tokenizer
# open_clip ships), only small: 2 layers of width 64, 32-dim embeddings, 64-px images
TINY_CLIP = {
    "embed_dim": 32,
    "vision_cfg": {"image_size": 64, "layers": 2, "width": 64, "patch_size": 16, "head_width": 32},
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 64, "heads": 2, "layers": 2},
}
TINY_NAME = "VidcurateTestCLIP"


def build_tiny_clip(folder: Path, seed: int = 0) -> dict:
    """The architecture's JSON and a checkpoint of fixed random weights (torch.save of
    the state dict, as open_clip checkpoints are); returns score.clip's settings."""
    folder.mkdir(parents=True, exist_ok=True)
    config = folder / f"{TINY_NAME}.json"
    config.write_text(json.dumps(TINY_CLIP))
    open_clip.add_model_config(config)
    torch.manual_seed(seed)
    model = open_clip.create_model(TINY_NAME)
    checkpoint = folder / "tiny_clip.pt"
    torch.save(model.state_dict(), checkpoint)
    return {"model_config": str(config), "checkpoint": str(checkpoint), "frames": 3}


def load_tiny_clip(clip: dict):
    """(model, preprocess, tokenizer) straight from open_clip, for the tests' own forward."""
    open_clip.add_model_config(clip["model_config"])
    model, _, preprocess = open_clip.create_model_and_transforms(
        TINY_NAME, pretrained=clip["checkpoint"]
    )
    return model.eval(), preprocess, open_clip.get_tokenizer(TINY_NAME)


def linear_head(path: Path, weights: np.ndarray, bias: float) -> Path:
    """ONNX: embedding (n, D) -> embedding @ weights + bias, (n, 1)."""
    dim = len(weights)
    graph = helper.make_graph(
        [
            helper.make_node("MatMul", ["embedding", "w"], ["product"]),
            helper.make_node("Add", ["product", "b"], ["score"]),
        ],
        "linear_head",
        [helper.make_tensor_value_info("embedding", TensorProto.FLOAT, ["n", dim])],
        [helper.make_tensor_value_info("score", TensorProto.FLOAT, ["n", 1])],
        initializer=[
            numpy_helper.from_array(np.asarray(weights, np.float32).reshape(dim, 1), "w"),
            numpy_helper.from_array(np.asarray([bias], np.float32), "b"),
        ],
    )
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    return path


def mean_views_model(path: Path, frames: int = 8, size: int = 224, tech_clips: int = 1) -> Path:
    """ONNX in DOVER's layout: inputs aes_view and tech_view, each (1, 3, T, H, W);
    outputs the mean of the aesthetic view, and the mean of the technical view plus 0.1
    (so the two heads differ and their order shows)."""
    shape = [1, 3, frames, size, size]
    # DOVER's export fixes the technical view at 4 clips of T frames
    tech_shape = [tech_clips, 3, frames, size, size]
    graph = helper.make_graph(
        [
            helper.make_node("ReduceMean", ["aes_view"], ["aesthetic"], keepdims=0),
            helper.make_node("ReduceMean", ["tech_view"], ["technical_mean"], keepdims=0),
            helper.make_node("Add", ["technical_mean", "offset"], ["technical"]),
        ],
        "mean_views",
        [
            helper.make_tensor_value_info("aes_view", TensorProto.FLOAT, shape),
            helper.make_tensor_value_info("tech_view", TensorProto.FLOAT, tech_shape),
        ],
        [
            helper.make_tensor_value_info("aesthetic", TensorProto.FLOAT, []),
            helper.make_tensor_value_info("technical", TensorProto.FLOAT, []),
        ],
        initializer=[numpy_helper.from_array(np.asarray(0.1, np.float32), "offset")],
    )
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    return path


def first_parts_model(path: Path, frames: int, size: int, tech_clips: int) -> Path:
    """ONNX in DOVER's layout whose outputs show which frames went where: the mean of the
    aesthetic view's first frame, and the mean of the technical view's first clip."""
    aes_shape = [1, 3, frames, size, size]
    tech_shape = [tech_clips, 3, frames, size, size]

    def const(name, values):
        return numpy_helper.from_array(np.asarray(values, np.int64), name)

    graph = helper.make_graph(
        [
            helper.make_node("Slice", ["aes_view", "zero", "one", "two"], ["aes_first"]),
            helper.make_node("ReduceMean", ["aes_first"], ["aesthetic"], keepdims=0),
            helper.make_node("Slice", ["tech_view", "zero", "one", "zero"], ["tech_first"]),
            helper.make_node("ReduceMean", ["tech_first"], ["technical"], keepdims=0),
        ],
        "first_parts",
        [
            helper.make_tensor_value_info("aes_view", TensorProto.FLOAT, aes_shape),
            helper.make_tensor_value_info("tech_view", TensorProto.FLOAT, tech_shape),
        ],
        [
            helper.make_tensor_value_info("aesthetic", TensorProto.FLOAT, []),
            helper.make_tensor_value_info("technical", TensorProto.FLOAT, []),
        ],
        initializer=[const("zero", [0]), const("one", [1]), const("two", [2])],
    )
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    return path
