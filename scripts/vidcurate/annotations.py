"""Keyframe annotations: track boxes at each clip's keyframe, with an action label, and
the files trainers read (the SlowFast/AlphAction layout: COCO annotations and person
boxes; mmaction2: AVA CSV).

Per video (``keyframe_annotations``): for each clip, every track's box at the keyframe's
source time (interpolated between the detections around it), mapped into keyframe
pixels (through the arena rectification and the clip's scaling), with an action:
  a. the user's label file (AVA-style rows, joined to keyframes by time and to track
     boxes by IoU; unmatched rows are reported, never dropped silently);
  b. arena videos: the locomotion labeller, from the track centre's speed over the clip;
  c. otherwise the detector's class.

For the dataset (``write_annotation_files``): annotations/{split}.json (+ _min.json),
boxes/{split}_person_bbox.json, ava/{split}.csv, ava/{split}_proposals.pkl,
ava/label_map.pbtxt, paths_catalog_entry.py; ``validate_dataset`` checks them.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import math
import pickle
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image
from pycocotools.coco import COCO

from vidcurate.settings import FromConfig

from .arena import read_transform
from .atomic import atomic_path, write_text
from .columns import EPS, SPLITS
from .geometry import apply, iou, map_boxes
from .outcome import rejection_in_table
from .splits import straddling_duplicates, straddling_groups

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AnnotationSettings(FromConfig):
    max_gap_s: float = 0.5  # interpolate a box between detections at most this far apart
    speed_step_s: float = 0.2  # the centre's path is measured between points this far apart
    still_below: float = 2.0  # cm/s (px/s thresholds below when the arena has no size)
    running_above: float = 20.0
    still_below_px: float = 20.0
    running_above_px: float = 200.0
    label_time_tolerance_s: float = 0.5
    label_min_iou: float = 0.5
    locomotion: bool = True


@dataclass(frozen=True)
class CocoSettings(FromConfig):
    """What the dataset's COCO, person-box and AVA files are named and hold."""

    categories: list = field(default_factory=list)
    actor_classes: list = field(default_factory=lambda: ["person", "animal"])
    dataset_name: str = "vidcurate"
    data_root: str = "data/vidcurate"


LOCOMOTION = ("still", "walking", "running")
ANNOTATION_COLUMNS = [
    "video_id",
    "clip",
    "start_s",
    "track_id",
    "detector_class",
    "score",
    "x",
    "y",
    "w",
    "h",
    "action",
    "speed",
    "speed_unit",
    "source",  # track | label
    "person_id",
]
UNMATCHED_COLUMNS = ["video_id", "timestamp_s", "action", "person_id", "problem"]
LABEL_COLUMNS = ["video_id", "timestamp_s", "x1", "y1", "x2", "y2", "action", "person_id"]


class LabelFileError(ValueError):
    """The user's label file is malformed; the message names the file and the line."""


# --- geometry ------------------------------------------------------------------------------


def source_to_keyframe(clip: dict, probe: dict) -> np.ndarray:
    """3x3 map from displayed source pixels to the clip's (keyframe's) pixels."""
    to_source = clip.get("to_source")
    if isinstance(to_source, str) and to_source.strip():
        return np.linalg.inv(np.asarray(json.loads(to_source), float))
    return np.diag([clip["width"] / probe["width"], clip["height"] / probe["height"], 1.0])


def map_box(box, matrix: np.ndarray, size) -> tuple[float, float, float, float] | None:
    """xyxy box through ``matrix`` (bounding box of its four corners), clipped to the
    image of ``size`` (w, h); None when less than a pixel of it is left inside."""
    left, top, right, bottom = map_boxes(np.array([box], float), matrix, size)[0]
    if right - left < 1.0 or bottom - top < 1.0:
        return None
    return float(left), float(top), float(right), float(bottom)


# --- boxes at keyframes ----------------------------------------------------------------------


def boxes_at(by_track: dict, time_s: float, max_gap_s: float, tolerance_s: float):
    """Each track's (``by_track``: track id -> its rows of the tracks table, in time
    order) source-pixel box at ``time_s``: its detection there (within
    ``tolerance_s``), else interpolated linearly between the detections before and after
    when they are at most ``max_gap_s`` apart. Yields (track_id, row, xyxy, score)."""
    coords = ["x1", "y1", "x2", "y2"]
    for track, rows in sorted(by_track.items()):
        times = rows["t_s"].to_numpy()
        nearest = int(np.argmin(np.abs(times - time_s)))
        if abs(times[nearest] - time_s) <= tolerance_s:
            row = rows.iloc[nearest]
            yield int(track), row, row[coords].to_numpy(float), float(row["score"])
            continue
        before, after = rows[rows.t_s < time_s], rows[rows.t_s > time_s]
        if before.empty or after.empty:
            continue
        a, b = before.iloc[-1], after.iloc[0]
        if b.t_s - a.t_s > max_gap_s:
            continue
        w = (time_s - a.t_s) / (b.t_s - a.t_s)
        box = (1 - w) * a[coords].to_numpy(float) + w * b[coords].to_numpy(float)
        yield int(track), a, box, float((1 - w) * a.score + w * b.score)


def centre_speed(
    rows: pd.DataFrame, start_s: float, end_s: float, to_floor: np.ndarray, step_s: float
) -> float | None:
    """Speed of the box centre over [start_s, end_s]: its path, between points at least
    ``step_s`` apart (box jitter between neighbouring frames is not walking), over the
    time between the first and last point; ``to_floor`` maps source pixels to floor
    units (arena pixels or cm). None with fewer than two points."""
    inside = rows[(rows.t_s >= start_s - 1e-6) & (rows.t_s <= end_s + 1e-6)].sort_values("t_s")
    if len(inside) < 2:
        return None
    centres = apply(to_floor, np.c_[(inside.x1 + inside.x2) / 2, (inside.y1 + inside.y2) / 2])
    times = inside.t_s.to_numpy()
    kept = [0]
    for i in range(1, len(times)):
        if times[i] - times[kept[-1]] >= step_s - 1e-6:
            kept.append(i)
    if len(kept) < 2:
        return None
    path = np.hypot(*np.diff(centres[kept], axis=0).T).sum()
    return float(path / (times[kept[-1]] - times[kept[0]]))


def locomotion(speed: float, in_cm: bool, settings: AnnotationSettings) -> str:
    still = settings.still_below if in_cm else settings.still_below_px
    running = settings.running_above if in_cm else settings.running_above_px
    if speed < still:
        return "still"
    return "running" if speed > running else "walking"


# --- the user's labels -----------------------------------------------------------------------


def read_labels(path: str | Path) -> pd.DataFrame:
    """AVA-style CSV rows ``video_id, timestamp_s, x1, y1, x2, y2, action, person_id``
    (boxes normalised to the displayed source frame), with or without a header."""
    path = Path(path)
    if not path.is_file():
        raise LabelFileError(f"label file {path} does not exist")
    table = pd.read_csv(path, header=None, dtype=str, keep_default_na=False, comment="#")
    if len(table) and table.iloc[0, 0].strip() == "video_id":
        table = table.iloc[1:]
    if table.shape[1] != len(LABEL_COLUMNS):
        raise LabelFileError(
            f"{path}: {table.shape[1]} columns, want {len(LABEL_COLUMNS)}: "
            + ", ".join(LABEL_COLUMNS)
        )
    table.columns = LABEL_COLUMNS
    for line, row in table.iterrows():
        where = f"{path} line {line + 1}"
        try:
            values = [float(row[c]) for c in ("timestamp_s", "x1", "y1", "x2", "y2")]
        except ValueError:
            raise LabelFileError(f"{where}: timestamp and box must be numbers") from None
        x1, y1, x2, y2 = values[1:]
        if not (0 <= x1 < x2 <= 1 and 0 <= y1 < y2 <= 1):
            raise LabelFileError(f"{where}: box {x1},{y1},{x2},{y2} is not 0 <= x1 < x2 <= 1 ...")
        if not row["action"].strip():
            raise LabelFileError(f"{where}: empty action")
        if not row["person_id"].strip().lstrip("-").isdigit():
            # mmaction2 reads the AVA person id with int()
            raise LabelFileError(f"{where}: person_id {row['person_id']!r} is not a whole number")
    for column in ("timestamp_s", "x1", "y1", "x2", "y2"):
        table[column] = table[column].astype(float)
    table["video_id"] = table["video_id"].str.strip()
    table["action"] = table["action"].str.strip()
    return table.reset_index(drop=True)


# --- one video ------------------------------------------------------------------------------


def keyframe_annotations(
    clips: pd.DataFrame,
    probe: dict,
    settings: AnnotationSettings,
    tracks: pd.DataFrame | None = None,
    arena=None,
    labels: pd.DataFrame | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(annotations, unmatched labels) of one video's clips (its clip table rows)."""
    video_id = probe["video_id"]
    clips = clips[clips["status"] == "clip"]
    tracks = tracks if tracks is not None else pd.DataFrame(columns=["track_id", "t_s"])
    fps = float(probe.get("avg_fps") or 25.0)
    tolerance = 0.5 / fps
    in_cm = bool(arena is not None and arena.px_per_cm)
    to_floor = np.eye(3)
    if arena is not None:
        to_floor = np.asarray(arena.matrix, float)
        if in_cm:
            to_floor = np.diag([1 / arena.px_per_cm, 1 / arena.px_per_cm, 1.0]) @ to_floor
    unit = "cm/s" if in_cm else ("arena px/s" if arena is not None else "px/s")
    rows, unmatched = [], []
    label_rows = labels[labels.video_id == video_id] if labels is not None else pd.DataFrame()
    by_track = dict(tuple(tracks.groupby("track_id"))) if len(tracks) else {}
    keyframe_boxes = {}
    for clip in clips.to_dict("records"):
        start = float(clip["start_s"])
        to_key = source_to_keyframe(clip, probe)
        size = (int(clip["width"]), int(clip["height"]))
        found = list(boxes_at(by_track, start, settings.max_gap_s, tolerance))
        keyframe_boxes[clip["clip"]] = (clip, to_key, size, found)
        if len(label_rows):
            continue  # the user's labels replace the track boxes of this video
        for track, row, box, score in found:
            mapped = map_box(box, to_key, size)
            if mapped is None:
                continue
            detector_class = str(row["class"])
            speed, action = None, detector_class
            if arena is not None and settings.locomotion:
                speed = centre_speed(
                    by_track[track], start, float(clip["end_s"]), to_floor, settings.speed_step_s
                )
                if speed is not None:
                    action = locomotion(speed, in_cm, settings)
            rows.append(
                _row(
                    video_id,
                    clip,
                    track,
                    detector_class,
                    score,
                    mapped,
                    action,
                    speed,
                    unit,
                    "track",
                    track,
                )
            )
    for label in label_rows.to_dict("records"):
        rows_or_problem = _label_row(label, keyframe_boxes, probe, settings)
        if isinstance(rows_or_problem, str):
            unmatched.append(_unmatched(label, rows_or_problem))
            continue
        row, problem = rows_or_problem
        rows.append(row)
        if problem:
            unmatched.append(_unmatched(label, problem))
    return (
        pd.DataFrame(rows, columns=ANNOTATION_COLUMNS),
        pd.DataFrame(unmatched, columns=UNMATCHED_COLUMNS),
    )


def _row(video_id, clip, track, detector_class, score, box, action, speed, unit, source, person):
    x1, y1, x2, y2 = box
    return {
        "video_id": video_id,
        "clip": clip["clip"],
        "start_s": float(clip["start_s"]),
        "track_id": int(track),
        "detector_class": detector_class,
        "score": round(float(score), 4),
        "x": round(x1, 2),
        "y": round(y1, 2),
        "w": round(x2 - x1, 2),
        "h": round(y2 - y1, 2),
        "action": action,
        "speed": None if speed is None else round(speed, 3),
        "speed_unit": unit if speed is not None else "",
        "source": source,
        "person_id": str(person),
    }


def _unmatched(label: dict, problem: str) -> dict:
    return {
        "video_id": label["video_id"],
        "timestamp_s": label["timestamp_s"],
        "action": label["action"],
        "person_id": label["person_id"],
        "problem": problem,
    }


def _label_row(label: dict, keyframe_boxes: dict, probe: dict, settings: AnnotationSettings):
    """The label's annotation at its keyframe (and a problem to report, or ""), or the
    problem alone when no keyframe is near its time."""
    if not keyframe_boxes:
        return "the video has no clips"
    name, (clip, to_key, size, found) = min(
        keyframe_boxes.items(), key=lambda item: abs(item[1][0]["start_s"] - label["timestamp_s"])
    )
    gap = abs(float(clip["start_s"]) - label["timestamp_s"])
    if gap > settings.label_time_tolerance_s:
        return f"no keyframe within {settings.label_time_tolerance_s} s (nearest {gap:.2f} s away)"
    width, height = probe["width"], probe["height"]
    box = (label["x1"] * width, label["y1"] * height, label["x2"] * width, label["y2"] * height)
    mapped = map_box(box, to_key, size)
    if mapped is None:
        return "the box lies outside the clip (arena)"
    overlaps = [(float(iou([box], [tbox])[0, 0]), track, score) for track, _, tbox, score in found]
    best = max(overlaps, default=(0.0, -1, 1.0))
    track, score, problem = best[1], best[2], ""
    if best[0] < settings.label_min_iou:
        track, score = -1, 1.0
        problem = f"no track box with IoU >= {settings.label_min_iou} (best {best[0]:.2f})"
    row = _row(
        probe["video_id"],
        clip,
        track,
        "person",
        score,
        mapped,
        label["action"],
        None,
        "",
        "label",
        label["person_id"],
    )
    return row, problem


def annotations_stage(
    clips_table: str,
    probe_json: str,
    settings: AnnotationSettings,
    out_table: str,
    out_unmatched: str,
    tracks_table: str | None = None,
    arena_json: str | None = None,
    labels_file: str | None = None,
) -> pd.DataFrame:

    probe = json.loads(Path(probe_json).read_text())
    clips = pd.read_csv(clips_table, sep="\t", keep_default_na=False, dtype={"clip": str})
    tracks = pd.read_parquet(tracks_table) if tracks_table else None
    arena = read_transform(arena_json) if arena_json else None
    labels = read_labels(labels_file) if labels_file else None
    table, unmatched = keyframe_annotations(clips, probe, settings, tracks, arena, labels)
    with atomic_path(out_table, suffix=".parquet") as tmp:
        table.to_parquet(tmp, index=False)
    with atomic_path(out_unmatched) as tmp:
        unmatched.to_csv(tmp, sep="\t", index=False)
    for problem in unmatched.itertuples():
        log.warning(
            "%s: label %s (%s, person %s at %.2f s): %s",
            probe["video_id"],
            labels_file,
            problem.action,
            problem.person_id,
            problem.timestamp_s,
            problem.problem,
        )
    log.info(
        "%s: %d boxes on %d keyframes (%s)",
        probe["video_id"],
        len(table),
        table["clip"].nunique() if len(table) else 0,
        ", ".join(f"{k} {v}" for k, v in table["action"].value_counts().items()) or "none",
    )
    return table


# --- the dataset's annotation files ------------------------------------------------------------


def category_names(tables: list[pd.DataFrame], configured: list[str]) -> list[str]:
    """Configured names in their order (every action must be one), else the actions in
    use: locomotion's in its order, then the rest sorted."""
    used = set()
    for table in tables:
        used |= set(table["action"])
    if configured:
        missing = sorted(used - set(configured))
        if missing:
            raise ValueError(f"annotations.categories lacks {', '.join(missing)}")
        return list(configured)
    return [n for n in LOCOMOTION if n in used] + sorted(used - set(LOCOMOTION))


def _split_files(root: Path, split: str) -> dict[str, Path]:
    return {
        "coco": root / "annotations" / f"{split}.json",
        "coco_min": root / "annotations" / f"{split}_min.json",
        "boxes": root / "boxes" / f"{split}_person_bbox.json",
        "ava": root / "ava" / f"{split}.csv",
        "proposals": root / "ava" / f"{split}_proposals.pkl",
    }


def ava_second(keyframe_s: float) -> int:
    """AVA's whole-second timestamp of a keyframe: its time rounded, halves up, so
    keyframes at least a second apart (shot-aligned ones at 3.5 s and 4.5 s) keep
    distinct timestamps, as Python's round-half-to-even would not."""
    return math.floor(keyframe_s + 0.5 + EPS)


def write_annotation_files(
    metadata_parquet: str,
    tables: dict[str, str],
    unmatched: dict[str, str],
    root: str,
    categories: list[str] = (),
    actor_classes: tuple[str, ...] = ("person", "animal"),
    dataset_name: str = "vidcurate",
    data_root: str = "data/vidcurate",
) -> dict:
    """Write every split's COCO (+ minified), person boxes, AVA CSV and proposals, the
    AVA label map, the unmatched labels and the paths_catalog entry under ``root``."""
    root = Path(root)
    metadata = pd.read_parquet(metadata_parquet)
    metadata = metadata[metadata["keep"].astype(bool)]  # dropped clips have no files
    per_video = {v: pd.read_parquet(p) for v, p in tables.items()}
    per_video = {v: t for v, t in per_video.items() if not rejection_in_table(t)}
    names = category_names(list(per_video.values()), list(categories))
    category_id = {name: i for i, name in enumerate(names, start=1)}
    counts = {}
    image_id = annotation_id = 0
    for split in SPLITS:
        images, annotations, boxes, ava_rows, proposals = [], [], {}, [], {}
        for clip in metadata[metadata.split == split].itertuples():
            file_name = f"{clip.video_id}/{clip.clip}.jpg"
            width, height = int(clip.width), int(clip.height)
            images.append(
                {
                    "id": image_id,
                    "file_name": file_name,
                    "width": width,
                    "height": height,
                    "video_id": clip.video_id,
                    "frame_id": int(clip.clip),
                    **({"caption": clip.caption} if "caption" in metadata.columns else {}),
                }
            )
            table = per_video.get(clip.video_id)
            # annotations name the clip of the video's clip table, the dataset renumbers
            here = table[table["clip"] == clip.source_clip] if table is not None else None
            second = ava_second(float(clip.start_s))
            key = f"{clip.video_id},{second:04d}"
            for box in here.itertuples() if here is not None else ():
                annotations.append(
                    {
                        "id": annotation_id,
                        "image_id": image_id,
                        "category_id": category_id[box.action],
                        "bbox": [box.x, box.y, box.w, box.h],
                        "area": round(box.w * box.h, 2),
                        "iscrowd": 0,
                        "track_id": int(box.track_id),
                    }
                )
                annotation_id += 1
                normalised = [
                    box.x / width,
                    box.y / height,
                    (box.x + box.w) / width,
                    (box.y + box.h) / height,
                ]
                normalised = [round(min(max(v, 0.0), 1.0), 6) for v in normalised]
                ava_rows.append(
                    [clip.video_id, second, *normalised, category_id[box.action], box.person_id]
                )
                if box.detector_class in actor_classes or box.source == "label":
                    boxes.setdefault(file_name, []).append(
                        {"bbox": [box.x, box.y, box.w, box.h], "score": float(box.score)}
                    )
                    proposals.setdefault(key, []).append([*normalised, float(box.score)])
            image_id += 1
        coco = {
            "images": images,
            "annotations": annotations,
            "categories": [{"id": i, "name": n} for n, i in category_id.items()],
        }
        files = _split_files(root, split)
        write_text(files["coco"], json.dumps(coco, indent=2) + "\n")
        write_text(files["coco_min"], json.dumps(coco, separators=(",", ":")))
        write_text(files["boxes"], json.dumps(boxes, indent=2) + "\n")
        write_text(
            files["ava"],
            "".join(",".join(str(v) for v in row) + "\n" for row in ava_rows),
        )
        with atomic_path(files["proposals"], suffix=".pkl") as tmp, open(tmp, "wb") as handle:
            pickle.dump({k: np.asarray(v, np.float32) for k, v in proposals.items()}, handle)
        counts[split] = {"images": len(images), "annotations": len(annotations)}
    write_text(
        root / "ava" / "label_map.pbtxt",
        "".join(f'item {{\n  name: "{n}"\n  id: {i}\n}}\n' for n, i in category_id.items()),
    )
    problems = [pd.read_csv(p, sep="\t", dtype=str) for p in unmatched.values()]
    problems = [p for p in problems if len(p) and not rejection_in_table(p)]
    table = pd.concat(problems) if problems else pd.DataFrame(columns=UNMATCHED_COLUMNS)
    with atomic_path(root / "unmatched_labels.tsv") as tmp:
        table.to_csv(tmp, sep="\t", index=False)
    write_text(root / "paths_catalog_entry.py", paths_catalog_entry(dataset_name, data_root))
    log.info("annotations: %s; categories %s", counts, names)
    return {"counts": counts, "categories": names, "unmatched_labels": len(table)}


def paths_catalog_entry(name: str, data_root: str) -> str:
    """The DatasetCatalog entries of the SlowFast/AlphAction layout for this dataset
    (paste into DATASETS)."""
    lines = [
        f"# {name}: entries for alphaction/config/paths_catalog.py, DatasetCatalog.DATASETS",
        f"# Copy results/dataset to {data_root} first, or edit the paths.",
        f"{name.upper()}_DATASETS = {{",
    ]
    for split in SPLITS:
        box_file = "" if split == "train" else f"{data_root}/boxes/{split}_person_bbox.json"
        evaluation = (
            "{}" if split == "train" else f'{{"csv_gt_file": "{data_root}/ava/{split}.csv"}}'
        )
        lines += [
            f'    "{name}_{split}": {{',
            f'        "video_root": "{data_root}/clips/{split}",',
            f'        "ann_file": "{data_root}/annotations/{split}.json",',
            f'        "box_file": "{box_file}",',
            f'        "eval_file_paths": {evaluation},',
            '        "object_file": "",',
            "    },",
        ]
    return "\n".join([*lines, "}", ""])


# --- validation (the layout's validate_dataset) ---------------------------------------------


class DatasetInvalid(ValueError):
    """A dataset file is wrong; the message names the file and the entry."""


def validate_dataset(
    root: str, near_duplicates_share_split: bool = True, group_by: Sequence[str] = ()
) -> dict:
    """Check every split's files; raise DatasetInvalid naming the file and entry.

    First the leak check (vidcurate.splits): no video, group or value of a ``group_by``
    column (splits.group_by) in two splits, and no near-duplicate clip in another split
    than the kept clip it copies (only a warning when ``near_duplicates_share_split`` is
    off: splits.group_near_duplicates false)."""

    root = Path(root)
    metadata = pd.read_parquet(root / "metadata.parquet")
    leaks = straddling_groups(metadata, group_by)
    duplicates = straddling_duplicates(metadata)
    if near_duplicates_share_split:
        leaks += duplicates
    elif duplicates:
        log.warning(
            "%d near-duplicate clips sit in another split than their original "
            "(splits.group_near_duplicates is false): %s",
            len(duplicates),
            "; ".join(duplicates[:5]),
        )
    if leaks:
        shown = "\n".join(f"  {line}" for line in leaks[:20])
        more = f"\n  and {len(leaks) - 20} more" if len(leaks) > 20 else ""
        raise DatasetInvalid(
            f"metadata.parquet: {len(leaks)} leak(s) across splits:\n{shown}{more}"
        )
    report = {}
    for split in SPLITS:
        files = _split_files(root, split)
        path = files["coco"]
        where = str(path.relative_to(root))
        for name, file in files.items():
            if not file.is_file():
                raise DatasetInvalid(f"{file.relative_to(root)}: missing ({name})")
        try:
            # pycocotools prints "loading annotations into memory..." on stdout
            with contextlib.redirect_stdout(io.StringIO()):
                coco = COCO(str(path))
        except Exception as err:  # pycocotools raises bare assertions and KeyErrors
            raise DatasetInvalid(f"{where}: pycocotools cannot load it: {err!r}") from None
        data = coco.dataset
        if json.loads(files["coco_min"].read_text()) != data:
            raise DatasetInvalid(f"{files['coco_min'].relative_to(root)}: differs from {where}")
        _unique(where, "images", [i["id"] for i in data["images"]])
        _unique(where, "annotations", [a["id"] for a in data["annotations"]])
        _unique(where, "categories", [c["id"] for c in data["categories"]])
        sizes = {}
        for image in data["images"]:
            jpeg = root / "keyframes" / split / image["file_name"]
            entry = f"{where}: image {image['id']} ({image['file_name']})"
            if not jpeg.is_file():
                raise DatasetInvalid(f"{entry}: {jpeg.relative_to(root)} does not exist")
            with Image.open(jpeg) as picture:
                if picture.size != (image["width"], image["height"]):
                    raise DatasetInvalid(
                        f"{entry}: JPEG is {picture.size[0]}x{picture.size[1]}, "
                        f"the entry says {image['width']}x{image['height']}"
                    )
            sizes[image["id"]] = (image["width"], image["height"])
        category_ids = {c["id"] for c in data["categories"]}
        for ann in data["annotations"]:
            entry = f"{where}: annotation {ann['id']}"
            if ann["image_id"] not in sizes:
                raise DatasetInvalid(f"{entry}: image_id {ann['image_id']} is not an image")
            if ann["category_id"] not in category_ids:
                raise DatasetInvalid(f"{entry}: category_id {ann['category_id']} is not a category")
            _box_inside(entry, ann["bbox"], sizes[ann["image_id"]])
        by_name = {i["file_name"]: (i["width"], i["height"]) for i in data["images"]}
        boxes = json.loads(files["boxes"].read_text())
        for name, items in boxes.items():
            entry = f"{files['boxes'].relative_to(root)}: {name}"
            if name not in by_name:
                raise DatasetInvalid(f"{entry}: not an image of {where}")
            for item in items:
                _box_inside(entry, item["bbox"], by_name[name])
        clips = sorted((root / "clips" / split).glob("*/*.mp4"))
        for clip in clips:
            name = f"{clip.parent.name}/{clip.stem}.jpg"
            if not (root / "keyframes" / split / name).is_file():
                raise DatasetInvalid(f"{clip.relative_to(root)}: no keyframe {name}")
            if name not in by_name:
                raise DatasetInvalid(f"{clip.relative_to(root)}: no image entry in {where}")
        report[split] = {
            "clips": len(clips),
            "images": len(data["images"]),
            "annotations": len(data["annotations"]),
            "images_with_person_boxes": len(boxes),
        }
    return report


def _unique(where: str, what: str, ids: list) -> None:
    seen = set()
    for value in ids:
        if value in seen:
            raise DatasetInvalid(f"{where}: {what} id {value} appears twice")
        seen.add(value)


def _box_inside(entry: str, bbox, size) -> None:
    x, y, w, h = bbox
    width, height = size
    if w <= 0 or h <= 0:
        raise DatasetInvalid(f"{entry}: bbox {bbox} has no area")
    if x < -1e-6 or y < -1e-6 or x + w > width + 1e-6 or y + h > height + 1e-6:
        raise DatasetInvalid(f"{entry}: bbox {bbox} leaves the {width}x{height} image")
