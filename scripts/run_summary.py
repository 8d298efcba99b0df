"""Localrule: run_summary: every video's outcome, the windows dropped before extraction
and the clips kept and dropped, as JSON and as the table printed at the end of the run
(the rule waits for every other final output)."""

from vidcurate.runner import stage_logging
from vidcurate.summary import write_run_summary

with stage_logging(snakemake):
    table = write_run_summary(
        snakemake.input.videos,
        snakemake.input.metadata,
        snakemake.input.windows,
        snakemake.output.summary,
        snakemake.input.splits,
    )
    print(f"vidcurate run summary ({snakemake.output.summary}):\n{table}", flush=True)
