"""Extract the video members of one archive for their ingest jobs."""

from vidcurate.archives import ArchiveLimits, extract_members
from vidcurate.runner import stage_logging

with stage_logging(snakemake):
    extract_members(
        snakemake.input.archive,
        snakemake.wildcards.archive_id,
        snakemake.input.listing,
        snakemake.output.members,
        ArchiveLimits.from_config(snakemake.params.limits),
    )
