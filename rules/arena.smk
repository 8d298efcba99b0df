rule arena:
    input:
        video=get_stage_video,
        probe="results/probe/{video_id}.json",
        definition=get_arena_file,
    output:
        transform="results/arena/{video_id}/arena.json",
        picture="results/arena/{video_id}/arena.png",
    log:
        "logs/arena/{video_id}.log",
    benchmark:
        "benchmarks/arena/{video_id}.tsv"
    conda:
        "../envs/arena.yaml"
    params:
        code=library("frames", "arena"),
        polygon=get_arena_polygon,
        arena=ARENA_SETTINGS,
    script:
        "../scripts/arena.py"
