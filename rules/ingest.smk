rule ingest:
    input:
        local=get_local_source,
    output:
        video="resources/videos/{video_id}.{ext}",
    log:
        "logs/ingest/{video_id}.{ext}.log",
    conda:
        "../envs/ingest.yaml"
    params:
        ingest=get_ingest_params,
    resources:
        downloads=1,
    script:
        "../scripts/ingest.py"
