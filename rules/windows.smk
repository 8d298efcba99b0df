rule windows:
    input:
        probe="results/probe/{video_id}.json",
        scenes="results/scenes/{video_id}/shots.tsv",
        flash="results/scenes/{video_id}/flash.tsv",
        motion="results/motion/{video_id}/motion.parquet",
        segments="results/motion/{video_id}/segments.tsv",
        arena=get_clip_arena,
    output:
        windows="results/windows/{video_id}.tsv",
    log:
        "logs/windows/{video_id}.log",
    conda:
        "../envs/windows.yaml"
    params:
        code=library("geometry", "settings", "columns", "motion", "windows", "arena"),
        clips=WINDOW_SETTINGS,
        shots=SHOT_SETTINGS,
        motion=get_window_motion,
    script:
        "../scripts/windows.py"
