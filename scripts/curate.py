"""Stage: curate: keep or drop every clip of the dataset, with the reasons."""

from vidcurate.curation import CurationSettings, curate_stage
from vidcurate.runner import stage_logging

with stage_logging(snakemake):
    videos = snakemake.params.videos
    curate_stage(
        videos,
        dict(zip([v["video_id"] for v in videos], snakemake.input.scores, strict=True)),
        CurationSettings.from_config(snakemake.params.settings),
        snakemake.output.table,
    )
