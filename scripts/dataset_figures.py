"""Report figures of the dataset: score histograms, reasons for dropping, class balance."""

import pandas as pd

from vidcurate.figures import classes_figure, reasons_figure, score_histograms
from vidcurate.reasons import CurationSettings
from vidcurate.runner import stage_logging

with stage_logging(snakemake):
    metadata = pd.read_parquet(snakemake.input.metadata)
    settings = CurationSettings.from_config(snakemake.params.settings)
    score_histograms(metadata, settings, snakemake.output.scores)
    reasons_figure(metadata, settings, snakemake.output.reasons)
    classes_figure(metadata, snakemake.output.classes)
