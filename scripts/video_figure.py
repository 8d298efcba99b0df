"""Report figure of one video: motion trace, kept clips, shots, kept keyframes with boxes."""

from pathlib import Path

import pandas as pd

from vidcurate.figures import video_figure
from vidcurate.runner import stage_logging

with stage_logging(snakemake):
    video_id = snakemake.wildcards.video_id
    metadata = pd.read_parquet(snakemake.input.metadata)
    video_figure(
        video_id,
        pd.read_parquet(snakemake.input.motion),
        pd.read_csv(snakemake.input.scenes, sep="\t"),
        metadata[metadata["video_id"] == video_id],
        Path(snakemake.input.keyframes).parent,
        pd.read_parquet(snakemake.input.annotations),
        snakemake.output.figure,
    )
