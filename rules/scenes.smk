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
    resources:
        gpu=get_scenes_gpu,
    params:
        code=library("frames", "scenes"),
        scenes=get_scenes_settings,
        flash=FLASH_SETTINGS,
    script:
        "../scripts/scenes.py"
