rule keyframe_annotations:
    input:
        clips="results/clips/{video_id}/clips.tsv",
        probe="results/probe/{video_id}.json",
        tracks=get_annotation_tracks,
        arena=get_clip_arena,
        labels=get_label_file,
    output:
        table="results/annotations/{video_id}/keyframes.parquet",
        unmatched="results/annotations/{video_id}/unmatched.tsv",
    log:
        "logs/keyframe_annotations/{video_id}.log",
    conda:
        "../envs/annotations.yaml"
    params:
        code=code("keyframe_annotations.py"),
        settings=SETTINGS["annotations"],
    script:
        "../scripts/keyframe_annotations.py"


rule coco:
    input:
        metadata="results/dataset/metadata.parquet",
        videos=VIDEO_MANIFEST,
    output:
        coco=expand("results/dataset/annotations/{split}.json", split=SPLITS),
        coco_min=expand("results/dataset/annotations/{split}_min.json", split=SPLITS),
        boxes=expand("results/dataset/boxes/{split}_person_bbox.json", split=SPLITS),
        ava=expand("results/dataset/ava/{split}.csv", split=SPLITS),
        proposals=expand("results/dataset/ava/{split}_proposals.pkl", split=SPLITS),
        label_map="results/dataset/ava/label_map.pbtxt",
        unmatched="results/dataset/unmatched_labels.tsv",
        catalog="results/dataset/paths_catalog_entry.py",
    log:
        "logs/coco/coco.log",
    conda:
        "../envs/annotations.yaml"
    params:
        code=code("coco.py"),
        files=SETTINGS["coco"],
    script:
        "../scripts/coco.py"


rule validate_dataset:
    input:
        rules.coco.output,
        clips="results/dataset/clips",
        keyframes="results/dataset/keyframes",
        metadata="results/dataset/metadata.parquet",
    output:
        report="results/dataset/validation.json",
    log:
        "logs/validate_dataset/validate_dataset.log",
    conda:
        "../envs/annotations.yaml"
    params:
        code=code("validate_dataset.py"),
        near_duplicates=config["splits"]["group_near_duplicates"],
        group_by=config["splits"]["group_by"],
    script:
        "../scripts/validate_dataset.py"
