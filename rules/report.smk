rule video_figure:
    input:
        motion="results/motion/{video_id}/motion.parquet",
        scenes="results/scenes/{video_id}/shots.tsv",
        metadata="results/dataset/metadata.parquet",
        windows="results/dataset/windows.parquet",
        keyframes="results/dataset/keyframes",
        annotations="results/annotations/{video_id}/keyframes.parquet",
    output:
        figure=report(
            "results/report/videos/{video_id}.png",
            caption="report/video.rst",
            category="Videos",
            labels={"video": "{video_id}", "figure": "motion and every window"},
        ),
    log:
        "logs/video_figure/{video_id}.log",
    conda:
        "../envs/curation.yaml"
    params:
        code=code("video_figure.py"),
    script:
        "../scripts/video_figure.py"


rule dataset_figures:
    input:
        metadata="results/dataset/metadata.parquet",
    output:
        scores=report(
            "results/report/scores.png",
            caption="report/scores.rst",
            category="Dataset",
            labels={"figure": "score histograms"},
        ),
        reasons=report(
            "results/report/reasons.png",
            caption="report/reasons.rst",
            category="Dataset",
            labels={"figure": "reasons for dropping"},
        ),
        classes=report(
            "results/report/classes.png",
            caption="report/classes.rst",
            category="Dataset",
            labels={"figure": "class balance"},
        ),
    log:
        "logs/dataset_figures/dataset_figures.log",
    conda:
        "../envs/curation.yaml"
    params:
        code=code("dataset_figures.py"),
        settings=SETTINGS["curation"],
    script:
        "../scripts/dataset_figures.py"
