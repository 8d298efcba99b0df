"""Download an http(s) archive source (resumable, as ingest downloads videos)."""

from vidcurate.ingest import DownloadLimits, download_http
from vidcurate.runner import stage_logging
from vidcurate.sheet import sheet_source

with stage_logging(snakemake):
    params = snakemake.params.archive
    archive_id = snakemake.wildcards.archive_id
    download_http(
        sheet_source(snakemake.config["samples"], archive_id, params["source_sha256"]),
        snakemake.output.archive,
        archive_id,
        retries=params["retries"],
        limits=DownloadLimits.from_config(params),
    )
