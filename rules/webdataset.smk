rule webdataset:
    input:
        metadata="results/dataset/metadata.parquet",
        clips="results/dataset/clips",
        keyframes="results/dataset/keyframes",
        tables=dataset_inputs("results/annotations/{video_id}.parquet"),
    output:
        shards=directory("results/webdataset"),
    log:
        "logs/webdataset/webdataset.log",
    conda:
        "../envs/dataset.yaml"
    params:
        code=library("annotations", "shards"),
        settings=WEBDATASET_SETTINGS,
        video_ids=get_video_ids,
    script:
        "../scripts/webdataset_shards.py"
