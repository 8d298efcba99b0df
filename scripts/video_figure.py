"""Report figure of one video: motion trace, shots, every window's outcome, kept
keyframes with boxes; for a rejected video, the stage and the reason."""

from pathlib import Path

import pandas as pd

from vidcurate.figures import rejected_figure, video_figure
from vidcurate.outcome import first_rejection
from vidcurate.runner import stage_logging
from vidcurate.summary import video_counts

# the report embeds this figure: a rejected video gets a picture saying why, not the
# rejected form the per-video stages pass on
with stage_logging(snakemake, pass_rejected=False):
    video_id = snakemake.wildcards.video_id
    inputs = snakemake.input
    rejection = first_rejection([inputs.motion, inputs.scenes, inputs.annotations])
    if rejection is not None:
        rejected_figure(rejection, snakemake.output.figure)
    else:
        metadata = pd.read_parquet(inputs.metadata)
        windows = pd.read_parquet(inputs.windows)
        clips = metadata[metadata["video_id"] == video_id]
        windows = windows[windows["video_id"] == video_id]
        video_figure(
            video_id,
            pd.read_parquet(inputs.motion),
            pd.read_csv(inputs.scenes, sep="\t"),
            clips,
            windows,
            video_counts(windows, clips),
            Path(inputs.keyframes).parent,
            pd.read_parquet(inputs.annotations),
            snakemake.output.figure,
        )
