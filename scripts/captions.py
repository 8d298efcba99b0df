"""Stage: captions of the kept clips from a chat-completions endpoint (submit host)."""

from vidcurate.captions import CaptionSettings, api_key_from_env, caption_clips
from vidcurate.runner import stage_logging

with stage_logging(snakemake):
    ids = snakemake.params.video_ids
    settings = CaptionSettings.from_config(snakemake.params.settings)
    caption_clips(
        snakemake.input.curated,
        clip_tables=dict(zip(ids, snakemake.input.tables, strict=True)),
        clip_dirs=dict(zip(ids, snakemake.input.clips, strict=True)),
        keyframe_dirs=dict(zip(ids, snakemake.input.keyframes, strict=True)),
        settings=settings,
        out=snakemake.output.captions,
        api_key=api_key_from_env(settings),
    )
