"""Stage: dataset: the trainer's layout and metadata tables from every video's clips."""

from vidcurate.dataset import build_dataset
from vidcurate.runner import stage_logging

with stage_logging(snakemake):
    ids = [row["video_id"] for row in snakemake.params.videos]
    build_dataset(
        snakemake.params.videos,
        curated_parquet=snakemake.input.curated,
        clip_tables=dict(zip(ids, snakemake.input.tables, strict=True)),
        clip_dirs=dict(zip(ids, snakemake.input.clips, strict=True)),
        keyframe_dirs=dict(zip(ids, snakemake.input.keyframes, strict=True)),
        probes=dict(zip(ids, snakemake.input.probes, strict=True)),
        fps=snakemake.params.fps,
        out_clips=snakemake.output.clips,
        out_keyframes=snakemake.output.keyframes,
        out_metadata=snakemake.output.metadata,
        out_windows=snakemake.output.windows,
        out_videos=snakemake.output.videos,
        captions_parquet=snakemake.input.captions[0] if snakemake.input.captions else None,
    )
