"""Stage: windows: the candidate clip windows of one video."""

from vidcurate.arena import read_transform
from vidcurate.runner import stage_logging
from vidcurate.windows import WindowSettings, windows_stage

with stage_logging(snakemake):
    settings = WindowSettings.from_config(snakemake.params.clips)
    # an arena video's clips are cut from the arena: its size decides too_small
    arena = read_transform(snakemake.input.arena[0]) if snakemake.input.arena else None
    shots = snakemake.params.shots
    windows_stage(
        snakemake.input.probe,
        settings,
        snakemake.output.windows,
        scenes_tsv=snakemake.input.scenes,
        flash_tsv=snakemake.input.flash,
        trim_s=shots["trim_s"],
        min_scene_s=shots["min_scene_s"],
        flash_record_only=shots["flash_record_only"],
        motion_parquet=snakemake.input.motion,
        segments_tsv=snakemake.input.segments,
        require_motion=snakemake.params.motion["require"],
        min_motion_covered=snakemake.params.motion["min_covered"],
        arena_size=arena.output_size if arena else None,
    )
