"""Stage: captions of the kept clips from a chat-completions endpoint (submit host)."""

from vidcurate.captions import CaptionSettings, api_key_from_env, caption_clips
from vidcurate.manifest import files_of, read_manifest
from vidcurate.runner import stage_logging

with stage_logging(snakemake):
    videos = read_manifest(snakemake.input.videos)
    settings = CaptionSettings.from_config(snakemake.params.settings)
    caption_clips(
        snakemake.input.curated,
        clip_tables=files_of(videos, "clip_table"),
        clip_dirs=files_of(videos, "clip_dir"),
        keyframe_dirs=files_of(videos, "keyframe_dir"),
        settings=settings,
        out=snakemake.output.captions,
        api_key=api_key_from_env(settings),
    )
