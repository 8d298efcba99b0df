"""Stage: curate: keep or drop every clip of the dataset, with the reasons."""

from vidcurate.curation import curate_stage
from vidcurate.manifest import files_of, read_manifest
from vidcurate.reasons import CurationSettings
from vidcurate.runner import stage_logging

with stage_logging(snakemake):
    videos = snakemake.params.videos
    curate_stage(
        videos,
        files_of(read_manifest(snakemake.input.videos), "scores"),
        CurationSettings.from_config(snakemake.params.settings),
        snakemake.output.table,
    )
