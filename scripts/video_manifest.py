"""Localrule: videos: the table of every video's files the dataset-wide stages read."""

from vidcurate.manifest import write_manifest
from vidcurate.runner import stage_logging

with stage_logging(snakemake):
    write_manifest(list(snakemake.input.rows), snakemake.output.manifest)
