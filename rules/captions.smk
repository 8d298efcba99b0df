# captions call an API: on the submit host (compute nodes often have no internet)
localrules:
    captions,


rule captions:
    input:
        curated="results/curation/clips.parquet",
        tables=dataset_inputs("results/clips/{video_id}.tsv"),
        clips=dataset_inputs("results/clips/{video_id}/clips"),
        keyframes=dataset_inputs("results/clips/{video_id}/keyframes"),
    output:
        captions="results/captions/captions.parquet",
    log:
        "logs/captions/captions.log",
    conda:
        "../envs/captions.yaml"
    resources:
        downloads=1,
    params:
        code=library("frames", "captions"),
        settings=CAPTION_SETTINGS,
        video_ids=get_video_ids,
    script:
        "../scripts/captions.py"
