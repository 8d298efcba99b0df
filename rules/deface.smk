rule deface:
    input:
        video=get_ingested_video,
        probe="results/probe/{video_id}.json",
    output:
        video=maybe_temp("results/deface/{video_id}/defaced.mp4"),
        detections="results/deface/{video_id}/detections.parquet",
    log:
        "logs/deface/{video_id}.log",
    benchmark:
        "benchmarks/deface/{video_id}.tsv"
    conda:
        "../envs/deface.yaml"
    threads: 2
    resources:
        mem_mb=2048,
    params:
        code=code("deface_faces.py"),
        deface=SETTINGS["deface"],
    script:
        "../scripts/deface_faces.py"
