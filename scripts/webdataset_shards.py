"""Stage: WebDataset shards of the kept clips, per split, with an index."""

from vidcurate.runner import stage_logging
from vidcurate.shards import write_shards

with stage_logging(snakemake):
    ids = snakemake.params.video_ids
    write_shards(
        snakemake.input.metadata,
        str(snakemake.input.metadata).rsplit("/", 1)[0],
        dict(zip(ids, snakemake.input.tables, strict=True)),
        snakemake.output.shards,
        max_samples=snakemake.params.settings["shard_max_samples"],
        max_bytes=snakemake.params.settings["shard_max_bytes"],
    )
