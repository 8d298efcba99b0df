rule curate:
    input:
        videos=VIDEO_MANIFEST,
    output:
        table="results/curation/clips.parquet",
        splits=SPLIT_TABLE,
    log:
        "logs/curate/curate.log",
    conda:
        "../envs/curation.yaml"
    params:
        code=code("curate.py"),
        videos=get_split_rows,
        settings=SETTINGS["curation"],
        splits=SETTINGS["splits"],
        withdraw_sources=config["withdraw"]["sources"],
    script:
        "../scripts/curate.py"


rule calibration:
    input:
        scores=dataset_inputs("results/scores/{video_id}.parquet"),
        learned=get_calibration_learned,
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
        code=code("calibration.py"),
        quantiles=config["calibration_quantiles"],
        settings=SETTINGS["curation"],
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
        code=code("subsets.py"),
        subsets=config["subsets"],
        dataset_name=config["annotations"]["dataset_name"],
    script:
        "../scripts/subsets.py"
