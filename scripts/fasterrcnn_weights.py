"""Localrule: torchvision's Faster R-CNN COCO weights, once, on the submit host."""

from vidcurate.runner import stage_logging
from vidcurate.weights import fetch_fasterrcnn_weights

with stage_logging(snakemake):
    fetch_fasterrcnn_weights(snakemake.output.weights)
