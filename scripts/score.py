"""Stage: score every clip of one video (the facts curation filters on)."""

from vidcurate.runner import stage_logging
from vidcurate.scores import ScoreSettings, score_stage

with stage_logging(snakemake):
    import cv2

    cv2.setNumThreads(snakemake.threads)
    score_stage(
        snakemake.input.table,
        snakemake.input.clips,
        snakemake.input.keyframes,
        snakemake.input.probe,
        ScoreSettings.from_config(snakemake.params.score),
        snakemake.output.scores,
        faces=snakemake.input.faces[0] if snakemake.input.faces else None,
        flashes=snakemake.input.flashes,
        annotations=snakemake.input.annotations,
        threads=snakemake.threads,
    )
