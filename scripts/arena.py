"""Stage: arena: the source -> arena transform and the rectified median frame."""

from vidcurate.arena import definition_from_json, parse_points, read_arena_file
from vidcurate.arena_stage import arena_stage
from vidcurate.runner import stage_logging

with stage_logging(snakemake):
    settings = snakemake.params.arena
    given = snakemake.params.polygon
    if snakemake.input.definition:
        definition = read_arena_file(snakemake.input.definition[0])
    elif given == "auto":
        definition = None
    else:
        where = f"sample sheet, column 'arena' of {snakemake.wildcards.video_id}"
        definition = definition_from_json({"polygon": parse_points(given, where)}, where)
    arena_stage(
        snakemake.input.video,
        snakemake.input.probe,
        definition,
        snakemake.output.transform,
        snakemake.output.picture,
        longest_side=settings["longest_side"],
        mask_colour=settings["mask_colour"],
        samples=settings["median_samples"],
    )
