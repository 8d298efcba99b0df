"""Stage: motion: dense flow per sampled frame pair and the segments that move."""

from vidcurate.motion import MotionSettings, motion_stage
from vidcurate.runner import stage_logging

with stage_logging(snakemake):
    import cv2

    cv2.setNumThreads(snakemake.threads)
    motion_stage(
        snakemake.input.video,
        snakemake.input.probe,
        MotionSettings.from_config(snakemake.params.motion),
        snakemake.output.table,
        snakemake.output.segments,
        arena_json=snakemake.input.arena[0] if snakemake.input.arena else None,
    )
