rule probe:
    input:
        video=get_ingested_video,
        code=library("geometry", "media", "probe"),
    output:
        probe="results/probe/{video_id}.json",
    log:
        "logs/probe/{video_id}.log",
    conda:
        "../envs/probe.yaml"
    script:
        "../scripts/probe.py"
