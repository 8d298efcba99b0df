# every video's files, as one table: the one edge from the per-video stages to the
# dataset-wide ones, one file per video, so `--batch videos=i/N` plans a slice of the
# videos at a time. A row is written by one printf on the submit host (no Python, no
# cluster job): at 64,000 videos that is minutes of one core, not hours
localrules:
    video_files,
    videos,


rule video_files:
    input:
        **VIDEO_FILES,
    output:
        row="results/videos/{video_id}.tsv",
    log:
        "logs/videos/{video_id}.log",
    conda:
        "../envs/dataset.yaml"
    params:
        header=VIDEO_ROW_HEADER,
        row=get_video_row,
    shell:
        "printf '%s\\n%s\\n' {params.header:q} {params.row:q} > {output.row} 2> {log}"


rule videos:
    input:
        rows=dataset_inputs("results/videos/{video_id}.tsv"),
    output:
        manifest=VIDEO_MANIFEST,
    log:
        "logs/videos/videos.log",
    conda:
        "../envs/dataset.yaml"
    params:
        code=code("video_manifest.py"),
    script:
        "../scripts/video_manifest.py"


rule dataset:
    input:
        curated="results/curation/clips.parquet",
        splits=SPLIT_TABLE,
        captions=get_captions,
        caption_match=get_caption_match,
        videos=VIDEO_MANIFEST,
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
        code=code("dataset.py"),
        videos=get_dataset_videos,
        stage_settings=get_stage_settings,
        rejected=get_archive_rejections,
        fps=config["clips"]["fps"],
    script:
        "../scripts/dataset.py"


# the Hugging Face dataset card of results/dataset, and of the shards' folder when
# shards are on (the webdataset rule copies it in as README.md)
rule dataset_card:
    input:
        metadata="results/dataset/metadata.parquet",
        videos="results/dataset/videos.parquet",
    output:
        **SHARDS_CARD_OUTPUT,
        card="results/dataset/README.md",
    log:
        "logs/dataset_card/dataset_card.log",
    conda:
        "../envs/dataset.yaml"
    params:
        code=code("dataset_card.py"),
        card=get_card_settings,
        curation=SETTINGS["curation"],
    script:
        "../scripts/dataset_card.py"
