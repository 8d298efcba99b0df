"""Download an http(s) archive source (resumable, as ingest downloads videos)."""

from vidcurate.ingest import download_http
from vidcurate.runner import stage_logging

with stage_logging(snakemake):
    params = snakemake.params.archive
    download_http(
        params["source"],
        snakemake.output.archive,
        snakemake.wildcards.archive_id,
        retries=params["retries"],
        timeout=params["timeout_s"],
    )
