# captions call an API: on the submit host (compute nodes often have no internet)
localrules:
    captions,


rule captions:
    input:
        curated="results/curation/clips.parquet",
        videos=VIDEO_MANIFEST,
    output:
        captions="results/captions/captions.parquet",
    log:
        "logs/captions/captions.log",
    conda:
        "../envs/captions.yaml"
    resources:
        downloads=1,
    params:
        code=code("captions.py"),
        settings=SETTINGS["captions"],
    script:
        "../scripts/captions.py"
