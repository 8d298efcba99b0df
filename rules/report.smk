# the run at a glance: the funnel from videos in to clips kept (the report's landing page
# shows funnel.html) and every video's outcome with its stages' times
rule run_report:
    input:
        videos="results/dataset/videos.parquet",
        windows="results/dataset/windows.parquet",
        metadata="results/dataset/metadata.parquet",
        splits=SPLIT_TABLE,
    output:
        funnel_figure=report(
            "results/report/funnel.png",
            caption="report/funnel.rst",
            category="Run",
            labels={"content": "funnel (figure)"},
        ),
        funnel=report(
            "results/report/funnel.html",
            caption="report/funnel.rst",
            category="Run",
            labels={"content": "funnel (headline and table)"},
        ),
        funnel_table="results/report/funnel.tsv",
        videos=report(
            "results/report/videos.html",
            caption="report/videos_table.rst",
            category="Run",
            labels={"content": "every video (table)"},
        ),
        splits=report(
            "results/report/splits.html",
            caption="report/splits.rst",
            category="Run",
            labels={"content": "splits: groups, moves, withdrawals (table)"},
        ),
    log:
        "logs/run_report/run_report.log",
    conda:
        "../envs/curation.yaml"
    params:
        code=code("run_report.py"),
        # Snakemake's benchmark files of the per-video stages (their `benchmark:`)
        benchmarks="benchmarks",
    script:
        "../scripts/run_report.py"


rule sample_sheets:
    input:
        metadata="results/dataset/metadata.parquet",
        keyframes="results/dataset/keyframes",
        videos=VIDEO_MANIFEST,
    output:
        samples=report(
            directory("results/report/samples"),
            patterns=["{split}.png"],
            caption="report/samples.rst",
            category="Samples",
            labels={"split": "{split}"},
        ),
    log:
        "logs/sample_sheets/sample_sheets.log",
    conda:
        "../envs/curation.yaml"
    params:
        code=code("sample_sheets.py"),
        per_split=config["report"]["samples_per_split"],
    script:
        "../scripts/sample_sheets.py"


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
