"""Stage: subsets: class-balanced CB{K} and random R{N} subsets of the kept clips."""

from vidcurate.runner import stage_logging
from vidcurate.subsets import write_subsets

with stage_logging(snakemake):
    write_subsets(
        snakemake.input.metadata,
        snakemake.params.subsets,
        snakemake.params.dataset_name,
        snakemake.output.subsets,
    )
