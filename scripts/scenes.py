"""Stage: scenes: shot boundaries (TransNetV2, PySceneDetect or none) and flash frames."""

from vidcurate.runner import stage_logging
from vidcurate.scenes import FlashSettings, SceneSettings, scenes_stage

with stage_logging(snakemake):
    settings = SceneSettings.from_config(snakemake.params.scenes)
    if settings.backend == "transnetv2" and settings.engine == "torch":
        import torch

        torch.set_num_threads(snakemake.threads)
    scenes_stage(
        snakemake.input.video,
        snakemake.input.probe,
        settings,
        FlashSettings.from_config(snakemake.params.flash),
        snakemake.output.scenes,
        snakemake.output.flash,
        model_path=getattr(snakemake.input, "model", None) or None,
        threads=snakemake.threads,
    )
