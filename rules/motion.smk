rule motion:
    input:
        video=get_stage_video,
        probe="results/probe/{video_id}.json",
        arena=get_clip_arena,
    output:
        table="results/motion/{video_id}/motion.parquet",
        segments="results/motion/{video_id}/segments.tsv",
    log:
        "logs/motion/{video_id}.log",
    benchmark:
        "benchmarks/motion/{video_id}.tsv"
    conda:
        "../envs/motion.yaml"
    threads: 2
    resources:
        gpu=get_motion_gpu,
    params:
        code=code("motion.py"),
        motion=get_motion_settings,
    script:
        "../scripts/motion.py"
