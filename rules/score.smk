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


# learned scores (CLIP embedding, aesthetic, text match, video quality): a rule of their
# own, so tuning a model reruns neither OCR nor hashing; in the DAG only when some model
# is configured (score.clip / score.aesthetic / score.text_match / score.quality)
rule learned_scores:
    input:
        clips="results/clips/{video_id}/clips",
        table="results/clips/{video_id}/clips.tsv",
        models=LEARNED.model_files(),
    output:
        **EMBEDDINGS_OUTPUT,
        scores=LEARNED_FILE,
    log:
        "logs/learned_scores/{video_id}.log",
    benchmark:
        "benchmarks/learned_scores/{video_id}.tsv"
    conda:
        "../envs/learned.yaml"
    threads: 2
    resources:
        gpu=LEARNED_GPU,
    params:
        code=code("learned_scores.py"),
        learned=SETTINGS["learned"],
    script:
        "../scripts/learned_scores.py"
