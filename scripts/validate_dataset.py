"""Stage: validate_dataset: every file a trainer reads, checked."""

import json

from vidcurate.annotations import validate_dataset
from vidcurate.atomic import write_text
from vidcurate.runner import stage_logging

with stage_logging(snakemake):
    report = validate_dataset(
        "results/dataset",
        near_duplicates_share_split=snakemake.params.near_duplicates,
        group_by=snakemake.params.group_by,
    )
    write_text(snakemake.output.report, json.dumps(report, indent=2) + "\n")
