# what became of every video, window and clip (results/run_summary.json, and the table
# the end of the run prints): a rule, so a deployed module writes it too, redone
# whenever the dataset changes; it waits for every other final output, so its table is
# the last thing a run prints
localrules:
    run_summary,


rule run_summary:
    input:
        videos="results/dataset/videos.parquet",
        metadata="results/dataset/metadata.parquet",
        windows="results/dataset/windows.parquet",
        splits=SPLIT_TABLE,
        after=get_outputs_before_summary,
    output:
        summary=RUN_SUMMARY,
    log:
        "logs/run_summary/run_summary.log",
    conda:
        "../envs/dataset.yaml"
    params:
        code=code("run_summary.py"),
    script:
        "../scripts/run_summary.py"
