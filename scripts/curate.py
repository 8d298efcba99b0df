"""Stage: curate: keep or drop every clip of the dataset, with the reasons, and deal
every video's split by group."""

from vidcurate.curation import curate_stage, withdrawn_sources
from vidcurate.manifest import files_of, read_manifest
from vidcurate.reasons import CurationSettings
from vidcurate.runner import stage_logging
from vidcurate.splits import SplitSettings

with stage_logging(snakemake):
    params = snakemake.params
    manifest = read_manifest(snakemake.input.videos)
    curate_stage(
        withdrawn_sources(params.videos, params.withdraw_sources, files_of(manifest, "probe")),
        files_of(manifest, "scores"),
        CurationSettings.from_config(params.settings),
        SplitSettings.from_config(params.splits),
        snakemake.output.table,
        snakemake.output.splits,
        learned_files=files_of(manifest, "learned"),
        embedding_files=files_of(manifest, "embeddings"),
    )
