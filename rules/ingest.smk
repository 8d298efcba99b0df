# On a cluster, ingest runs on the submitting host: compute nodes often have no
# internet, and linking a local file is not worth a job.
localrules:
    ingest,


rule ingest:
    input:
        local=get_local_source,
    output:
        video="resources/videos/{video_id}.{ext}",
    log:
        "logs/ingest/{video_id}.{ext}.log",
    conda:
        "../envs/ingest.yaml"
    resources:
        downloads=1,
    params:
        code=code("ingest.py"),
        ingest=get_ingest_params,
    script:
        "../scripts/ingest.py"
