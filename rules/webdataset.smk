rule webdataset:
    input:
        metadata="results/dataset/metadata.parquet",
        clips="results/dataset/clips",
        keyframes="results/dataset/keyframes",
        videos=VIDEO_MANIFEST,
        card=SHARDS_CARD,
    output:
        shards=directory("results/webdataset"),
    log:
        "logs/webdataset/webdataset.log",
    conda:
        "../envs/dataset.yaml"
    params:
        code=code("webdataset_shards.py"),
        settings=SETTINGS["shards"],
    script:
        "../scripts/webdataset_shards.py"
