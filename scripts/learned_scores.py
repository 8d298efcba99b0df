"""Stage: learned scores of every clip of one video (CLIP embedding, aesthetic, text
match, video quality), from the model files config score names."""

from vidcurate.learned import learned_stage
from vidcurate.learned_settings import LearnedSettings
from vidcurate.runner import stage_logging

with stage_logging(snakemake):
    import torch

    torch.set_num_threads(snakemake.threads)
    learned_stage(
        snakemake.input.table,
        snakemake.input.clips,
        snakemake.wildcards.video_id,
        LearnedSettings.from_config(snakemake.params.learned),
        snakemake.output.scores,
        out_embeddings=snakemake.output.get("embeddings"),
    )
