rule windows:
    input:
        probe="results/probe/{video_id}.json",
        code=library("geometry", "settings", "windows"),
    output:
        windows="results/windows/{video_id}.tsv",
    log:
        "logs/windows/{video_id}.log",
    conda:
        "../envs/windows.yaml"
    params:
        clips=get_window_settings,
    script:
        "../scripts/windows.py"
