"""Stage: the dataset's COCO, person-box and AVA files from every video's annotations."""

from vidcurate.annotations import write_annotation_files
from vidcurate.manifest import files_of, read_manifest
from vidcurate.runner import stage_logging

with stage_logging(snakemake):
    videos = read_manifest(snakemake.input.videos)
    files = snakemake.params.files
    write_annotation_files(
        snakemake.input.metadata,
        files_of(videos, "annotations"),
        files_of(videos, "unmatched"),
        "results/dataset",
        categories=files["categories"],
        actor_classes=tuple(files["actor_classes"]),
        dataset_name=files["dataset_name"],
        data_root=files["data_root"],
    )
