rule scenes:
    input:
        video=get_stage_video,
        probe="results/probe/{video_id}.json",
    output:
        scenes="results/scenes/{video_id}.tsv",
        flash="results/scenes/{video_id}.flash.tsv",
    log:
        "logs/scenes/{video_id}.log",
    benchmark:
        "benchmarks/scenes/{video_id}.tsv"
    conda:
        "../envs/scenes.yaml"
    threads: 2
    params:
        code=library("media", "scenes"),
        backend=get_scenes_backend,
        scenes=config["scenes"],
        flash=config["flash"],
    script:
        "../scripts/scenes.py"
