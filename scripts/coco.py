"""Stage: the dataset's COCO, person-box and AVA files from every video's annotations."""

from vidcurate.annotations import write_annotation_files
from vidcurate.runner import stage_logging

with stage_logging(snakemake):
    ids = snakemake.params.video_ids
    files = snakemake.params.files
    write_annotation_files(
        snakemake.input.metadata,
        dict(zip(ids, snakemake.input.tables, strict=True)),
        dict(zip(ids, snakemake.input.unmatched, strict=True)),
        "results/dataset",
        categories=files["categories"],
        actor_classes=tuple(files["actor_classes"]),
        dataset_name=files["dataset_name"],
        data_root=files["data_root"],
    )
