"""Report figures of sample keyframes: one contact sheet per split that kept clips."""

from pathlib import Path

import pandas as pd

from vidcurate.atomic import atomic_dir
from vidcurate.figures import sample_sheet
from vidcurate.manifest import files_of, read_manifest
from vidcurate.runner import stage_logging

with stage_logging(snakemake):
    metadata = pd.read_parquet(snakemake.input.metadata)
    kept = metadata[metadata["keep"].astype(bool)]
    annotations = files_of(read_manifest(snakemake.input.videos), "annotations")
    boxes = {v: pd.read_parquet(annotations[v]) for v in kept["video_id"].unique()}
    with atomic_dir(snakemake.output.samples) as folder:
        for split, clips in kept.groupby("split", sort=True):
            sample_sheet(
                split,
                clips,
                Path(snakemake.input.keyframes).parent,
                boxes,
                str(folder / f"{split}.png"),
                count=snakemake.params.per_split,
            )
