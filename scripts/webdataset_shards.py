"""Stage: WebDataset shards of the kept clips, per split, with an index and the card."""

from vidcurate.manifest import files_of, read_manifest
from vidcurate.runner import stage_logging
from vidcurate.shards import write_shards

with stage_logging(snakemake):
    write_shards(
        snakemake.input.metadata,
        str(snakemake.input.metadata).rsplit("/", 1)[0],
        files_of(read_manifest(snakemake.input.videos), "annotations"),
        snakemake.output.shards,
        max_samples=snakemake.params.settings["shard_max_samples"],
        max_bytes=snakemake.params.settings["shard_max_bytes"],
        card=snakemake.input.card,
    )
