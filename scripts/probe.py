"""Stage: probe: what the video is (ffprobe), or one line saying why it is not usable."""

from vidcurate.probe import probe_stage
from vidcurate.runner import stage_logging

with stage_logging(snakemake):
    probe_stage(
        snakemake.input.video,
        snakemake.wildcards.video_id,
        snakemake.output.probe,
        hdr=snakemake.params.hdr,
    )
