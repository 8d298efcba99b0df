import ast
import hashlib
import os
import sys
from pathlib import Path

from snakemake.exceptions import IncompleteCheckpointException, WorkflowError
from snakemake.sourcecache import LocalSourceFile
from snakemake.utils import validate


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

from vidcurate.arena import (
    ArenaError,
    check_definition,
    definition_from_json,
    parse_points,
    read_arena_file,
)
from vidcurate.web import redact_source, redact_url, url_sha256
from vidcurate.manifest import VIDEO_FILES, video_row
from vidcurate.probe import displayed_frame_size
from vidcurate.errors import SheetError
from vidcurate.settings import ConfigError, check_config, check_config_inputs
from vidcurate.archives import archive_outcome, read_listing
from vidcurate.sheet import assign_split, fill_splits, load_sheet
from vidcurate.summary import failed_jobs_table, mark_run_start
import vidcurate

if Path(vidcurate.__file__).resolve().parent != LIBRARY_FOLDER / "vidcurate":
    raise WorkflowError(
        f"this process already imported vidcurate from {vidcurate.__file__}, "
        f"not this workflow's library in {LIBRARY_FOLDER}"
    )

# `--config calibration=true` arrives as the string "true"
_SWITCH_WORDS = {
    "true": True,
    "yes": True,
    "1": True,
    "false": False,
    "no": False,
    "0": False,
}
if str(config.get("calibration", "")).lower() in _SWITCH_WORDS:
    config["calibration"] = _SWITCH_WORDS[str(config["calibration"]).lower()]
validate(config, schema="../config/schemas/config.schema.yaml")


def _keys_sorted(value):
    if isinstance(value, dict):
        return {key: _keys_sorted(value[key]) for key in sorted(value)}
    if isinstance(value, list):
        return [_keys_sorted(item) for item in value]
    return value


# Snakemake compares params by their text: a config whose keys were reordered (by hand,
# by a YAML tool) must not rerun a stage, so every section is kept in one key order
_config_sorted = _keys_sorted(dict(config))
config.clear()
config.update(_config_sorted)
# rules between keys, so a bad value fails here rather than in jobs after hours of work
try:
    check_config(config)
    check_config_inputs(config, os.environ)
except ConfigError as err:
    raise WorkflowError(f"bad config: {err}") from None

try:
    samples = load_sheet(
        config["samples"],
        schema_path=workflow.source_path("../config/schemas/samples.schema.yaml"),
    )
except SheetError as err:
    raise WorkflowError(f"bad sample sheet: {err}") from None
# videos without a split get one by video (seeded hash: stable when videos are added)
SPLIT_FRACTIONS = {name: config["splits"][name] for name in ("train", "val", "test")}
samples = fill_splits(samples, config["splits"]["seed"], SPLIT_FRACTIONS)

# columns the workflow adds to the sheet; the rest is the user's experiment metadata
DERIVED_COLUMNS = ["source_kind", "ext", "source_path", "archive_id"]
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
    """video_id -> row of every video in the archive: the archive's columns (its split,
    or one dealt to each member), the member as source. Known once the checkpoint ran
    (before, Snakemake schedules it and asks again)."""
    path = checkpoints.archive.get(archive_id=archive_id).output.listing
    mtime = Path(path).stat().st_mtime_ns
    cached = _MEMBER_ROWS.get(archive_id)
    if cached and cached[0] == mtime:
        return cached[1]
    listing = read_listing(path)
    archive = ARCHIVES[archive_id]
    rows = {}
    for member in listing[listing["status"] == "video"].itertuples():
        if member.video_id in SHEET_IDS:
            raise WorkflowError(
                f"archive {archive_id}: member {member.member} gets the id "
                f"{member.video_id}, which the sample sheet already uses; rename that row"
            )
        split = archive["split"]
        if archive["split_source"] == "assigned":
            split = assign_split(
                member.video_id, config["splits"]["seed"], SPLIT_FRACTIONS
            )
        rows[member.video_id] = {
            **archive,
            "video_id": member.video_id,
            "source": f"{redact_source(archive['source'])}!/{member.member}",
            "split": split,
            "source_kind": "member",
            "ext": member.file.rsplit(".", 1)[1],
            "source_path": member.file,
            "archive_id": archive_id,
        }
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


def _arena_of(video_id, row):
    """Where a video's arena comes from, checked now so a bad polygon fails the plan,
    not a job: ("sheet", points), ("file", path), ("auto", "auto") or None."""
    own = row.get("arena", "").strip()
    path = Path(config["arena"]["folder"]) / f"{video_id}.json"
    if own.lower() == "auto" or (
        not own and not path.is_file() and config["arena"]["auto"]
    ):
        return ("auto", "auto")
    if own:
        where = f"{config['samples']}, column 'arena' of {video_id}"
        definition = definition_from_json({"polygon": parse_points(own, where)}, where)
        source = ("sheet", own)
    elif path.is_file():
        definition, source = read_arena_file(path), ("file", str(path))
    else:
        return None
    frame_size = definition.frame_size
    if frame_size is None and row["source_kind"] == "local":
        # out-of-frame needs the frame size: the stream header, no decoding
        frame_size = displayed_frame_size(row["source_path"])
    check_definition(definition, frame_size)
    return source


class VideoArenas(dict):
    """video_id -> where its arena comes from; archive members' when first asked for."""

    def __missing__(self, video_id):
        try:
            source = _arena_of(video_id, ROWS[video_id])
        except ArenaError as err:
            raise WorkflowError(f"bad arena definition:\n{err}") from None
        self[video_id] = source
        return source


ARENAS, _arena_problems = VideoArenas(), []
for _video_id, _row in ROWS.items():
    try:
        ARENAS[_video_id] = _arena_of(_video_id, _row)
    except ArenaError as err:
        _arena_problems.append(str(err))
if _arena_problems:
    raise WorkflowError("bad arena definition:\n" + "\n".join(_arena_problems))


wildcard_constraints:
    video_id=r"[A-Za-z0-9][A-Za-z0-9_.-]*",
    archive_id=r"[A-Za-z0-9][A-Za-z0-9_.-]*",
    ext=r"[A-Za-z0-9]+",


def _imported_modules(name):
    """The vidcurate modules one library module imports, read from its source."""
    package = LIBRARY_FOLDER / "vidcurate"
    found = set()
    for node in ast.walk(ast.parse((package / f"{name}.py").read_text())):
        if isinstance(node, ast.ImportFrom):
            parts = (node.module or "").split(".")
            if node.level == 0 and parts[0] != "vidcurate":
                continue
            inner = parts[1:] if node.level == 0 else parts
            # `from . import runner` / `from vidcurate import x` name modules themselves
            found |= {inner[0]} if inner and inner[0] else {a.name for a in node.names}
        elif isinstance(node, ast.Import):
            found |= {a.name.split(".")[1] for a in node.names if "." in a.name}
    return {name for name in found if (package / f"{name}.py").is_file()}


def library(*modules):
    """Content hash of the library modules a stage runs and of everything they import,
    as a param: editing one reruns that stage (rerun trigger "params"). Computed once
    per rule, where listing the modules as inputs cost every job more files to resolve.
    """
    todo, seen = ["__init__", "errors", "atomic", "runner", *modules], set()
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo.extend(_imported_modules(name))
    digest = hashlib.sha256()
    for name in sorted(seen):
        digest.update((LIBRARY_FOLDER / "vidcurate" / f"{name}.py").read_bytes())
    return digest.hexdigest()[:16]


def get_final_outputs(wildcards):
    if config["calibration"]:
        # seed 002's calibration: score everything, describe the scores, stop there
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
        "results/report/scores.png",
        "results/report/reasons.png",
        "results/report/classes.png",
        "results/dataset/validation.json",
        "results/dataset/metadata.parquet",
        "results/dataset/windows.parquet",
        "results/dataset/videos.parquet",
        # every video's scores, clips, tracks and annotations, through one rule
        VIDEO_MANIFEST,
        RUN_SUMMARY,
    ]


def get_local_source(wildcards):
    """A local file, or for an archive member the archive's extracted folder."""
    row = ROWS[wildcards.video_id]
    if row["source_kind"] == "member":
        return [f"resources/archives/{row['archive_id']}/members"]
    return [row["source_path"]] if row["source_kind"] == "local" else []


def source_params(source_path, kind):
    """What a job's params say of its source: a local path as it is; a URL only
    redacted, with the hash of the whole URL (a new token still reruns the job), since
    Snakemake keeps every job's params in .snakemake/metadata. The job reads the URL
    itself from the sheet (vidcurate.sheet.sheet_source)."""
    if kind in ("local", "member") or "://" not in source_path:
        return {"source": source_path}
    return {"source": redact_url(source_path), "source_sha256": url_sha256(source_path)}


def get_ingest_params(wildcards):
    row = ROWS[wildcards.video_id]
    return {
        "kind": row["source_kind"],
        **source_params(row["source_path"], row["source_kind"]),
        **config["ingest"],
    }


def archive_is_url(archive_id):
    return ARCHIVES[archive_id]["source_path"].startswith(("http://", "https://"))


def get_archive_file(wildcards):
    """The archive: the local file, or the download of a URL (temporary)."""
    if archive_is_url(wildcards.archive_id):
        return f"resources/archive_downloads/{wildcards.archive_id}.download"
    return ARCHIVES[wildcards.archive_id]["source_path"]


def get_archive_params(wildcards):
    return {
        **source_params(ARCHIVES[wildcards.archive_id]["source_path"], "archive"),
        **config["ingest"],
    }


# what an archive may hold: members over these are refused in its listing
ARCHIVE_LIMITS = {
    key: value for key, value in config["archives"].items() if key != "keep_extracted"
}


def archive_folder(path):
    """The extracted members are deleted once ingested, unless archives.keep_extracted."""
    return path if config["archives"]["keep_extracted"] else temp(path)


def get_ingested_video(wildcards):
    return f"resources/videos/{wildcards.video_id}.{ROWS[wildcards.video_id]['ext']}"


def deface_enabled(video_id):
    """The sheet's `deface` column (true/false) overrides config deface.enabled."""
    own = str(ROWS[video_id].get("deface", "")).strip().lower()
    if own:
        return own in ("true", "yes", "1", "on")
    return config["deface"]["enabled"]


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


# Each rule gets only the config keys it reads (plain values where they are the same
# for every video: a param function costs a call on every job), so changing a key
# reruns only the stages that use it.
# which windows exist: a new crf re-encodes clips without recomputing windows
WINDOW_SETTINGS = {
    key: config["clips"][key]
    for key in ("seconds", "fps", "max_short_side", "min_short_side")
}
# how clips are cut and encoded (min_short_side only decides windows)
CLIP_SETTINGS = {
    key: config["clips"][key]
    for key in ("seconds", "fps", "max_short_side", "crf", "preset", "jpeg_quality")
}
# how shots become windows: trimmed ends, shortest kept shot, flash handling; read
# by windows only, so they never rerun shot detection
SHOT_SETTINGS = {
    "trim_s": config["scenes"]["trim_s"],
    "min_scene_s": config["scenes"]["min_scene_s"],
    "flash_record_only": config["flash"]["record_only"],
}
# what finds flashes (scenes); whether they drop windows is windows' record_only
FLASH_SETTINGS = {
    key: config["flash"][key] for key in ("delta", "both_directions", "window_s")
}
# the scenes keys each backend reads: tuning one backend never reruns another's videos
SCENES_KEYS = {
    "transnetv2": (
        "threshold",
        "gradual_threshold",
        "batch_windows",
        "device",
        "engine",
        "min_change",
    ),
    "pyscenedetect": (
        "detector",
        "adaptive_threshold",
        "content_threshold",
        "min_content_val",
        "min_scene_len",
        "downscale",
        "black_level",
        "min_change",
    ),
    "none": (),
}
SCENES_SETTINGS = {
    backend: {
        "backend": backend,
        **{key: config["scenes"][key] for key in keys},
    }
    for backend, keys in SCENES_KEYS.items()
}
# deface's detector and encoder; enabled/keep decide the DAG, not the pixels
DEFACE_SETTINGS = {
    key: value
    for key, value in config["deface"].items()
    if key not in ("enabled", "keep")
}


# what the arena stage reads (the folder only decides which file is its input)
ARENA_SETTINGS = {
    key: config["arena"][key]
    for key in ("longest_side", "mask_colour", "median_samples")
}


def get_arena_file(wildcards):
    """The video's arena JSON as an input (editing it reruns arena and clips)."""
    source = ARENAS[wildcards.video_id]
    return [source[1]] if source and source[0] == "file" else []


def get_arena_polygon(wildcards):
    """The sheet's polygon text, "auto", or "file" (the input file holds it)."""
    source = ARENAS[wildcards.video_id]
    return source[1] if source[0] != "file" else "file"


# what the motion stage reads; min_window_covered is the windows stage's
MOTION_SETTINGS = {
    key: value for key, value in config["motion"].items() if key != "min_window_covered"
}


def get_motion_settings(wildcards):
    """The sheet's `motion` column overrides the backend for one video."""
    own = ROWS[wildcards.video_id].get("motion", "")
    return {**MOTION_SETTINGS, "backend": own} if own else MOTION_SETTINGS


def require_motion(video_id):
    """Drop static windows? The sheet's `require_motion` column, else clips.require_motion
    (auto: for videos with an arena, where the animal sitting still is the usual case).
    """
    own = str(ROWS[video_id].get("require_motion", "")).strip().lower()
    if own:
        return own in ("true", "yes", "1")
    setting = config["clips"]["require_motion"]
    return bool(ARENAS[video_id]) if setting == "auto" else bool(setting)


MOTION_WINDOW = {"min_covered": config["motion"]["min_window_covered"]}


def get_window_motion(wildcards):
    return {"require": require_motion(wildcards.video_id), **MOTION_WINDOW}


# tracks: the detector's own keys (tuning hog never reruns background videos) and
# the tracker's; per-track clips are an output of every tracks job when switched on
TRACKS_COMMON = {
    key: config["tracks"][key] for key in ("classes", "min_track_s", "export_clips")
}
TRACK_CLIP_OUTPUT = (
    {"clips": directory("results/tracks/{video_id}/clips")}
    if config["tracks"]["export_clips"]
    else {}
)
FASTERRCNN_WEIGHTS = "resources/weights/fasterrcnn_resnet50_fpn_coco.pth"


def tracks_detector(video_id):
    """The sheet's `tracks` column, else tracks.detector (auto: background for arena
    videos, hog otherwise; none: no tracks)."""
    own = ROWS[video_id].get("tracks", "")
    chosen = own or config["tracks"]["detector"]
    if chosen == "auto":
        return "background" if ARENAS[video_id] else "hog"
    return chosen


def single_track(video_id, detector):
    setting = config["tracks"]["single_track"]
    if setting == "auto":
        return detector == "background" and bool(ARENAS[video_id])
    return bool(setting)


def get_tracks_settings(wildcards):
    detector = tracks_detector(wildcards.video_id)
    single = single_track(wildcards.video_id, detector)
    settings = {
        "detector": detector,
        "settings": config["tracks"][detector],
        "single_track": single,
        **TRACKS_COMMON,
    }
    if not single:
        settings["bytetrack"] = config["tracks"]["bytetrack"]
    if config["tracks"]["export_clips"]:
        settings["clip"] = config["tracks"]["clip"]
    return settings


def get_tracks_weights(wildcards):
    """Faster R-CNN's weights: the configured file, else the localrule's download."""
    if tracks_detector(wildcards.video_id) != "fasterrcnn":
        return []
    return [config["tracks"]["fasterrcnn"]["weights"] or FASTERRCNN_WEIGHTS]


# keyframe annotations (per video) and the dataset's annotation files; SPLITS: every
# split gets its files, empty ones too (seed 001's trainer config names val and test)
SPLITS = ["train", "val", "test"]
ANNOTATION_SETTINGS = {
    **{
        key: config["annotations"][key]
        for key in (
            "max_gap_s",
            "locomotion",
            "speed_step_s",
            "still_below",
            "running_above",
            "still_below_px",
            "running_above_px",
        )
    },
    "label_time_tolerance_s": config["labels"]["time_tolerance_s"],
    "label_min_iou": config["labels"]["min_iou"],
}
COCO_SETTINGS = {
    key: config["annotations"][key]
    for key in ("categories", "actor_classes", "dataset_name", "data_root")
}


# GPUs: a job asks for one only when its video's backend can use it and its device
# setting wants it (cuda; auto with gpu_jobs), so a pyscenedetect scenes job or a
# background tracks job never waits in a GPU queue
def wants_gpu(device):
    return device in ("cuda", "tensorrt") or (device == "auto" and config["gpu_jobs"])


def get_scenes_gpu(wildcards):
    backend = get_scenes_settings(wildcards)["backend"]
    return int(backend == "transnetv2" and wants_gpu(config["scenes"]["device"]))


def get_tracks_gpu(wildcards):
    detector = tracks_detector(wildcards.video_id)
    if detector not in ("onnx", "fasterrcnn"):
        return 0
    return int(wants_gpu(config["tracks"][detector]["device"]))


def get_motion_gpu(wildcards):
    backend = get_motion_settings(wildcards)["backend"]
    return int(backend == "ilk" and wants_gpu(config["motion"]["device"]))


# what the score stage reads (the curation thresholds are the curation rule's)
SCORE_SETTINGS = dict(config["score"])


# curation's thresholds: read by curate only, so changing one reruns curate and what
# reads its table (dataset, annotation files, subsets, figures), never a decoding stage
CURATION_SETTINGS = dict(config["curation"])


def get_split_rows(wildcards):
    """video_id and split of every video, in sheet order: what curate reads of the sheet."""
    return [{"video_id": v, "split": ROWS[v]["split"]} for v in all_video_ids()]


# captions: what the request and the cache read (enabled decides the DAG)
CAPTION_SETTINGS = {k: v for k, v in config["captions"].items() if k != "enabled"}
WEBDATASET_SETTINGS = {
    key: config["dataset"][key] for key in ("shard_max_samples", "shard_max_bytes")
}


def get_captions(wildcards):
    if config["captions"]["enabled"]:
        return ["results/captions/captions.parquet"]
    return []


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


def get_clip_arena(wildcards):
    """Clips are cut in arena pixels when the video has an arena."""
    if ARENAS[wildcards.video_id]:
        return [f"results/arena/{wildcards.video_id}/arena.json"]
    return []


def get_scenes_settings(wildcards):
    """The sheet's `scenes` column overrides config for one video (a lab rig vs a
    film); the job gets that backend's keys only."""
    own = ROWS[wildcards.video_id].get("scenes", "")
    return SCENES_SETTINGS[own or config["scenes"]["backend"]]


TRANSNET_ONNX = "resources/models/transnetv2.onnx"


def get_scenes_model(wildcards):
    """TransNetV2's ONNX graph, for the videos whose scenes run it on onnxruntime."""
    settings = get_scenes_settings(wildcards)
    if settings["backend"] == "transnetv2" and settings["engine"] == "onnx":
        return TRANSNET_ONNX
    return []


VIDEO_MANIFEST = "results/videos.tsv"
VIDEO_ROW_HEADER = "\t".join(["video_id", *VIDEO_FILES])


def get_video_row(wildcards):
    """The video's row of the table of files (vidcurate.manifest)."""
    return "\t".join(video_row(wildcards.video_id))


def sheet_columns(row):
    """A sheet row as the dataset tables carry it: the user's columns, the source
    without query string or password (signed tokens reach neither the dataset nor
    Snakemake's records of a job's params)."""
    kept = {k: v for k, v in row.items() if k not in DERIVED_COLUMNS}
    return {**kept, "source": redact_source(kept["source"])}


def get_dataset_videos(wildcards):
    """Sample-sheet rows (with the user's extra columns) for the metadata tables, in
    sheet order: archive members in their archive's place, an archive that gave no
    video as a row of its own (get_archive_rejections says why)."""
    open_archives()
    rows = []
    for video_id in SHEET_ORDER:
        if video_id not in ARCHIVES:
            rows.append(sheet_columns(ROWS[video_id]))
        elif archive_member_rows(video_id):
            rows.extend(
                sheet_columns(r) for r in archive_member_rows(video_id).values()
            )
        else:
            rows.append(sheet_columns({**ARCHIVES[video_id], "video_id": video_id}))
    return rows


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


def dataset_inputs(pattern):
    """An input function: ``pattern`` for every video, archive members included."""

    def inputs(wildcards):
        open_archives()
        return expand(pattern, video_id=all_video_ids())

    inputs.__name__ = f"dataset_inputs({pattern})"
    return inputs


RUN_SUMMARY = "results/run_summary.json"
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
