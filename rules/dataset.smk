rule dataset:
    input:
        curated="results/curation/clips.parquet",
        captions=get_captions,
        tables=dataset_inputs("results/clips/{video_id}.tsv"),
        clips=dataset_inputs("results/clips/{video_id}/clips"),
        keyframes=dataset_inputs("results/clips/{video_id}/keyframes"),
        probes=dataset_inputs("results/probe/{video_id}.json"),
    output:
        clips=directory("results/dataset/clips"),
        keyframes=directory("results/dataset/keyframes"),
        metadata="results/dataset/metadata.parquet",
        windows="results/dataset/windows.parquet",
        videos="results/dataset/videos.parquet",
    log:
        "logs/dataset/dataset.log",
    conda:
        "../envs/dataset.yaml"
    params:
        code=library("columns", "dataset"),
        videos=get_dataset_videos,
        fps=config["clips"]["fps"],
    script:
        "../scripts/dataset.py"
