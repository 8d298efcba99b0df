"""Stage: ingest: link a local video or download a URL into resources/videos/."""

from vidcurate.archives import member_file
from vidcurate.ingest import DownloadLimits, download_http, download_ytdlp, ingest_local
from vidcurate.runner import stage_logging
from vidcurate.sheet import sheet_source

with stage_logging(snakemake):
    params = snakemake.params.ingest
    video_id, dest = snakemake.wildcards.video_id, snakemake.output.video
    if params["kind"] == "local":
        ingest_local(snakemake.input.local[0], dest, mode=params["local_mode"])
    elif params["kind"] == "member":
        # the archive's extracted folder is temporary: a link to a file in it would
        # break, a hard link (a copy across file systems) does not
        member = member_file(snakemake.input.local[0], params["source"], video_id)
        ingest_local(member, dest, mode="copy" if params["local_mode"] == "copy" else "hardlink")
    else:
        # the URL itself, tokens and all, only from the sheet (params hold it redacted)
        url = sheet_source(snakemake.config["samples"], video_id, params["source_sha256"])
        limits = DownloadLimits.from_config(params)
        if params["kind"] == "http":
            download_http(url, dest, video_id, retries=params["retries"], limits=limits)
        else:
            download_ytdlp(
                url,
                dest,
                video_id,
                fmt=params["ytdlp_format"],
                retries=params["retries"],
                limits=limits,
            )
