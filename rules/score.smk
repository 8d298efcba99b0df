rule score:
    input:
        clips="results/clips/{video_id}/clips",
        keyframes="results/clips/{video_id}/keyframes",
        table="results/clips/{video_id}/clips.tsv",
        probe="results/probe/{video_id}.json",
        flashes="results/scenes/{video_id}/flash.tsv",
        faces=get_face_detections,
        annotations="results/annotations/{video_id}/keyframes.parquet",
    output:
        scores="results/scores/{video_id}.parquet",
    log:
        "logs/score/{video_id}.log",
    benchmark:
        "benchmarks/score/{video_id}.tsv"
    conda:
        "../envs/score.yaml"
    threads: 2
    params:
        code=code("score.py"),
        score=SETTINGS["score"],
    script:
        "../scripts/score.py"
