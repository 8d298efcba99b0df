"""Stage: windows: the candidate clip windows of one video."""

from vidcurate.runner import stage_logging
from vidcurate.settings import ClipSettings
from vidcurate.windows import windows_stage

with stage_logging(snakemake):
    settings = ClipSettings.from_config(snakemake.params.clips)
    windows_stage(snakemake.input.probe, settings, snakemake.output.windows)
