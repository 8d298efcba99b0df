"""Stage: keyframe annotations: track boxes (or the user's labels) at each keyframe."""

from vidcurate.annotations import AnnotationSettings, annotations_stage
from vidcurate.runner import stage_logging

with stage_logging(snakemake):
    annotations_stage(
        snakemake.input.clips,
        snakemake.input.probe,
        AnnotationSettings.from_config(snakemake.params.settings),
        snakemake.output.table,
        snakemake.output.unmatched,
        tracks_table=snakemake.input.tracks[0] if snakemake.input.tracks else None,
        arena_json=snakemake.input.arena[0] if snakemake.input.arena else None,
        labels_file=snakemake.input.labels[0] if snakemake.input.labels else None,
    )
