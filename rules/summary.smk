# what became of every video, window and clip (results/run_summary.json, and as the
# table the end of the run prints, run_summary.txt): a rule, so a deployed module writes
# it too, and it is redone whenever the dataset changes
localrules:
    run_summary,


rule run_summary:
    input:
        videos="results/dataset/videos.parquet",
        metadata="results/dataset/metadata.parquet",
        windows="results/dataset/windows.parquet",
    output:
        summary=RUN_SUMMARY,
        table=RUN_SUMMARY_TABLE,
    log:
        "logs/run_summary/run_summary.log",
    conda:
        "../envs/dataset.yaml"
    params:
        code=code("run_summary.py"),
    script:
        "../scripts/run_summary.py"
