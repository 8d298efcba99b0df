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


# each caption against its clip: CLIP similarity of the caption's text embedding and the
# clip's image embedding (score.embedding), so a caption that describes something else
# shows in metadata.parquet's caption_match
rule caption_match:
    input:
        captions="results/captions/captions.parquet",
        videos=VIDEO_MANIFEST,
        models=LEARNED.model_files(),
    output:
        table=CAPTION_MATCH,
    log:
        "logs/captions/caption_match.log",
    conda:
        "../envs/learned.yaml"
    resources:
        gpu=LEARNED_GPU,
    params:
        code=code("caption_match.py"),
        learned=SETTINGS["learned"],
    script:
        "../scripts/caption_match.py"
