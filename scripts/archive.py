"""Checkpoint: archive: list the members of one tar/zip source, videos and the rest."""

from vidcurate.archives import ArchiveLimits, list_archive
from vidcurate.runner import stage_logging

with stage_logging(snakemake):
    list_archive(
        snakemake.input.archive,
        snakemake.wildcards.archive_id,
        snakemake.output.listing,
        ArchiveLimits.from_config(snakemake.params.limits),
    )
