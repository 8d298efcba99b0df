rule curate:
    input:
        videos=VIDEO_MANIFEST,
    output:
        table="results/curation/clips.parquet",
    log:
        "logs/curate/curate.log",
    conda:
        "../envs/curation.yaml"
    params:
        code=library("columns", "curation", "manifest"),
        videos=get_split_rows,
        settings=CURATION_SETTINGS,
    script:
        "../scripts/curate.py"


rule calibration:
    input:
        scores=dataset_inputs("results/scores/{video_id}.parquet"),
    output:
        table="results/calibration.tsv",
        figure=report(
            "results/calibration.png",
            caption="report/calibration.rst",
            category="Calibration",
        ),
    log:
        "logs/calibration/calibration.log",
    conda:
        "../envs/curation.yaml"
    params:
        code=library("columns", "curation", "figures"),
        quantiles=config["calibration_quantiles"],
        settings=CURATION_SETTINGS,
    script:
        "../scripts/calibration.py"


rule subsets:
    input:
        metadata="results/dataset/metadata.parquet",
    output:
        subsets=directory("results/subsets"),
    log:
        "logs/subsets/subsets.log",
    conda:
        "../envs/curation.yaml"
    params:
        code=library("columns", "curation", "subsets"),
        subsets=config["subsets"],
        dataset_name=config["annotations"]["dataset_name"],
    script:
        "../scripts/subsets.py"
