rule extract_clips:
    input:
        video=get_stage_video,
        probe="results/probe/{video_id}.json",
        windows="results/windows/{video_id}.tsv",
        arena=get_clip_arena,
    output:
        clips=directory("results/clips/{video_id}/clips"),
        keyframes=directory("results/clips/{video_id}/keyframes"),
        table="results/clips/{video_id}/clips.tsv",
    log:
        "logs/extract_clips/{video_id}.log",
    benchmark:
        "benchmarks/extract_clips/{video_id}.tsv"
    conda:
        "../envs/clips.yaml"
    threads: 4
    resources:
        mem_mb=2048,
    params:
        code=code("extract_clips.py"),
        clips=SETTINGS["clips"],
    script:
        "../scripts/extract_clips.py"
