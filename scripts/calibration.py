"""Calibration (seed 002): quantiles and histograms of every score, to pick thresholds."""

import pandas as pd

from vidcurate.atomic import atomic_path
from vidcurate.curation import CurationSettings, calibration_table
from vidcurate.figures import score_histograms
from vidcurate.runner import stage_logging

with stage_logging(snakemake) as log:
    scores = pd.concat([pd.read_parquet(p) for p in snakemake.input.scores], ignore_index=True)
    table = calibration_table(scores, snakemake.params.quantiles)
    with atomic_path(snakemake.output.table) as tmp:
        table.to_csv(tmp, sep="\t", index=False, float_format="%.6g")
    score_histograms(
        scores, CurationSettings.from_config(snakemake.params.settings), snakemake.output.figure
    )
    log.info("calibration of %d clips:\n%s", len(scores), table.to_string(index=False))
