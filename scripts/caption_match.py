"""Stage: each caption's CLIP similarity to its clip (metadata.parquet's caption_match)."""

from vidcurate.learned import caption_match_stage
from vidcurate.learned_settings import LearnedSettings
from vidcurate.manifest import files_of, read_manifest
from vidcurate.runner import stage_logging

with stage_logging(snakemake):
    caption_match_stage(
        snakemake.input.captions,
        files_of(read_manifest(snakemake.input.videos), "embeddings"),
        LearnedSettings.from_config(snakemake.params.learned),
        snakemake.output.table,
    )
