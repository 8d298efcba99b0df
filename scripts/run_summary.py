"""Localrule: run_summary: every video's outcome, the windows dropped before extraction
and the clips kept and dropped, as JSON and as the table the end of the run prints (rule
all)."""

from vidcurate.atomic import write_text
from vidcurate.runner import stage_logging
from vidcurate.summary import write_run_summary

with stage_logging(snakemake):
    table = write_run_summary(
        snakemake.input.videos,
        snakemake.input.metadata,
        snakemake.input.windows,
        snakemake.output.summary,
    )
    write_text(
        snakemake.output.table, f"vidcurate run summary ({snakemake.output.summary}):\n{table}\n"
    )
