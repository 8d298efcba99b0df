"""Stage: dataset: the trainer's layout and metadata tables from every video's clips."""

from vidcurate.dataset import build_dataset
from vidcurate.manifest import files_of, read_manifest
from vidcurate.outcome import Rejection
from vidcurate.runner import stage_logging

with stage_logging(snakemake):
    files = read_manifest(snakemake.input.videos)
    build_dataset(
        snakemake.params.videos,
        curated_parquet=snakemake.input.curated,
        clip_tables=files_of(files, "clip_table"),
        clip_dirs=files_of(files, "clip_dir"),
        keyframe_dirs=files_of(files, "keyframe_dir"),
        probes=files_of(files, "probe"),
        fps=snakemake.params.fps,
        stage_settings=snakemake.params.stage_settings,
        out_clips=snakemake.output.clips,
        out_keyframes=snakemake.output.keyframes,
        out_metadata=snakemake.output.metadata,
        out_windows=snakemake.output.windows,
        out_videos=snakemake.output.videos,
        splits_tsv=snakemake.input.splits,
        captions_parquet=snakemake.input.captions[0] if snakemake.input.captions else None,
        caption_match_parquet=(
            snakemake.input.caption_match[0] if snakemake.input.caption_match else None
        ),
        rejected={
            archive_id: Rejection(archive_id, stage, reason)
            for archive_id, (stage, reason) in snakemake.params.rejected.items()
        },
    )
