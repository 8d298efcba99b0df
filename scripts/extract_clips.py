"""Stage: extract_clips: every kept window to an exact clip + keyframe, one decode pass."""

from vidcurate.clips import ClipSettings, clips_stage
from vidcurate.runner import stage_logging

with stage_logging(snakemake):
    clips_stage(
        snakemake.input.video,
        snakemake.input.probe,
        snakemake.input.windows,
        ClipSettings.from_config(snakemake.params.clips),
        snakemake.output.clips,
        snakemake.output.keyframes,
        snakemake.output.table,
        # one more encoder than cores: the ffmpeg decoder runs beside them
        workers=snakemake.threads + 1,
        arena_json=snakemake.input.arena[0] if snakemake.input.arena else None,
    )
