"""Stage: scenes: shot boundaries (TransNetV2, PySceneDetect or none) and flash frames."""

from vidcurate.runner import stage_logging
from vidcurate.scenes import FlashSettings, SceneSettings, scenes_stage

with stage_logging(snakemake):
    import torch

    torch.set_num_threads(snakemake.threads)
    scenes_stage(
        snakemake.input.video,
        snakemake.input.probe,
        SceneSettings.from_config(snakemake.params.scenes),
        FlashSettings.from_config(snakemake.params.flash),
        snakemake.output.scenes,
        snakemake.output.flash,
    )
