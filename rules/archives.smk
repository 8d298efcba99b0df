# Archives are downloaded, listed and extracted on the submitting host, like ingest:
# the download needs the internet, and the rest is disk work, not worth a job.
localrules:
    download_archive,
    archive,
    extract_archive,


rule download_archive:
    output:
        archive=temp("resources/archive_downloads/{archive_id}.download"),
    log:
        "logs/download_archive/{archive_id}.log",
    conda:
        "../envs/ingest.yaml"
    resources:
        downloads=1,
    params:
        code=code("download_archive.py"),
        archive=get_archive_params,
    script:
        "../scripts/download_archive.py"


# the listing is all a checkpoint holds: it stays, so a finished archive is never
# opened again, while the extracted members are temporary
checkpoint archive:
    input:
        archive=get_archive_file,
    output:
        listing="results/archives/{archive_id}.tsv",
    log:
        "logs/archive/{archive_id}.log",
    conda:
        "../envs/ingest.yaml"
    params:
        code=code("archive.py"),
        limits=SETTINGS["archives"],
    script:
        "../scripts/archive.py"


rule extract_archive:
    input:
        archive=get_archive_file,
        listing="results/archives/{archive_id}.tsv",
    output:
        members=archive_folder(directory("resources/archives/{archive_id}/members")),
    log:
        "logs/extract_archive/{archive_id}.log",
    conda:
        "../envs/ingest.yaml"
    params:
        code=code("extract_archive.py"),
        limits=SETTINGS["archives"],
    script:
        "../scripts/extract_archive.py"
