"""Calibration: quantiles and histograms of every score, to pick thresholds."""

import pandas as pd

from vidcurate.atomic import atomic_path
from vidcurate.curation import calibration_table, with_learned
from vidcurate.figures import score_histograms
from vidcurate.outcome import rejection_in_table
from vidcurate.reasons import CurationSettings
from vidcurate.runner import stage_logging

with stage_logging(snakemake) as log:
    tables = [pd.read_parquet(path) for path in snakemake.input.scores]
    if snakemake.input.learned:  # learned scores on: joined by clip
        learned = [pd.read_parquet(path) for path in snakemake.input.learned]
        tables = [
            table if rejection_in_table(table) else with_learned(table, extra)
            for table, extra in zip(tables, learned, strict=True)
        ]
    # rejected videos have no clips to describe
    tables = [table for table in tables if not rejection_in_table(table)]
    scores = pd.concat(tables, ignore_index=True) if tables else pd.DataFrame()
    table = calibration_table(scores, snakemake.params.quantiles)
    with atomic_path(snakemake.output.table) as tmp:
        table.to_csv(tmp, sep="\t", index=False, float_format="%.6g")
    score_histograms(
        scores, CurationSettings.from_config(snakemake.params.settings), snakemake.output.figure
    )
    log.info("calibration of %d clips:\n%s", len(scores), table.to_string(index=False))
