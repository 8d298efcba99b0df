rule probe:
    input:
        video=get_ingested_video,
    output:
        probe="results/probe/{video_id}.json",
    log:
        "logs/probe/{video_id}.log",
    conda:
        "../envs/probe.yaml"
    params:
        code=code("probe.py"),
        hdr=config["hdr"],
    script:
        "../scripts/probe.py"
