"""Stage: tracks: detect + track through one decode; optional per-track clips."""

from vidcurate.runner import stage_logging
from vidcurate.tracks import TrackSettings, tracks_stage

with stage_logging(snakemake):
    import cv2

    cv2.setNumThreads(snakemake.threads)
    tracks_stage(
        snakemake.input.video,
        snakemake.input.probe,
        TrackSettings.from_params(snakemake.params.tracks),
        snakemake.output.table,
        snakemake.output.meta,
        out_clips=snakemake.output.get("clips"),
        arena_json=snakemake.input.arena[0] if snakemake.input.arena else None,
        weights=snakemake.input.weights[0] if snakemake.input.weights else None,
        threads=snakemake.threads,
    )
