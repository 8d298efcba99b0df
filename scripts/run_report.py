"""Report pages of the run: the funnel (figure, table, and the HTML the report's landing
page shows), the per-video table with each stage's time from the benchmark files, and
how the videos were dealt into splits."""

from pathlib import Path

import pandas as pd

from vidcurate.atomic import atomic_path, write_text
from vidcurate.figures import funnel_figure
from vidcurate.runner import stage_logging
from vidcurate.summary import (
    funnel,
    funnel_html,
    run_summary,
    splits_html,
    stage_times,
    videos_html,
)

with stage_logging(snakemake):
    inputs, outputs = snakemake.input, snakemake.output
    table = run_summary(
        pd.read_parquet(inputs.videos),
        pd.read_parquet(inputs.metadata),
        pd.read_parquet(inputs.windows),
    )
    steps = funnel(table)
    with atomic_path(outputs.funnel_table, suffix=".tsv") as tmp:
        steps.to_csv(tmp, sep="\t", index=False)
    funnel_figure(steps, outputs.funnel_figure)
    write_text(outputs.funnel, funnel_html(steps, Path(outputs.funnel_figure).read_bytes()))
    times = stage_times(snakemake.params.benchmarks, table["video_id"].tolist())
    write_text(outputs.videos, videos_html(table, times))
    splits = pd.read_csv(inputs.splits, sep="\t", dtype=str, keep_default_na=False)
    write_text(outputs.splits, splits_html(splits))
