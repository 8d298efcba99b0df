"""Stage: the dataset card (results/dataset/README.md, Hugging Face format), and the
WebDataset folder's card when shards are on."""

from vidcurate.card import write_cards
from vidcurate.runner import stage_logging

with stage_logging(snakemake):
    write_cards(
        snakemake.input.metadata,
        snakemake.input.videos,
        settings=snakemake.params.card,
        curation=snakemake.params.curation,
        # the hash of the whole config, read here rather than passed as a param: a
        # change that alters no file of the dataset (another backend's knob, the
        # report) must not rewrite the card and, through it, the shards
        config=snakemake.config,
        out_card=snakemake.output.card,
        out_shards_card=snakemake.output.get("shards_card"),
    )
