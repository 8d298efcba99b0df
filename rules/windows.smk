rule windows:
    input:
        probe="results/probe/{video_id}.json",
        scenes="results/scenes/{video_id}.tsv",
        flash="results/scenes/{video_id}.flash.tsv",
    output:
        windows="results/windows/{video_id}.tsv",
    log:
        "logs/windows/{video_id}.log",
    conda:
        "../envs/windows.yaml"
    params:
        code=library("geometry", "settings", "windows"),
        clips=WINDOW_SETTINGS,
        shots=SHOT_SETTINGS,
    script:
        "../scripts/windows.py"
