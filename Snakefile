from snakemake.utils import min_version

min_version("9.27")


configfile: "config/config.yaml"


report: "rules/report/workflow.rst"


include: "rules/common.smk"
include: "rules/archives.smk"
include: "rules/ingest.smk"
include: "rules/probe.smk"
include: "rules/deface.smk"
include: "rules/scenes.smk"
include: "rules/arena.smk"
include: "rules/motion.smk"
include: "rules/tracks.smk"
include: "rules/windows.smk"
include: "rules/clips.smk"
include: "rules/dataset.smk"
include: "rules/annotations.smk"
include: "rules/score.smk"
include: "rules/curation.smk"
include: "rules/report.smk"
include: "rules/captions.smk"
include: "rules/webdataset.smk"
include: "rules/summary.smk"


rule all:
    default_target: True
    input:
        get_final_outputs,
