"""The tables the stages hand each other and the dataset's tables: their columns, the
splits, and the windows table (written by windows, read by clips), in a module light
enough for the sheet loader to import while planning."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

import pandas as pd

# every split gets its files, empty ones too (a trainer's config names val and test)
SPLITS = ("train", "val", "test")

# a window's motion (vidcurate.motion), carried from windows into clips and metadata:
# means over the window's frame pairs, and the share of it inside moving segments
MOTION_COLUMNS = [
    "motion_mean_px_s",
    "motion_p95_px_s",
    "motion_moving_fraction",
    "motion_min_patch_px_s",
    "motion_mean_cm_s",
    "motion_covered",
]

# one row per candidate window of a video: a clip, or a dropped window and why
CLIP_COLUMNS = [
    "video_id",
    "window",
    "start_s",
    "end_s",
    "start_frame",
    "status",
    "reason",
    "clip",
    "n_frames",
    "width",
    "height",
    "clip_file",
    "keyframe_file",
    # arena videos: JSON 3x3 homography from clip pixels to displayed source pixels
    "to_source",
    *MOTION_COLUMNS,
]

# what the score stage measures beyond the window's motion (vidcurate.scores), carried
# into every row of metadata.parquet
SCORE_ONLY_COLUMNS = [
    "flash_frames",
    "faces",
    "faces_max",
    "track_boxes",
    "track_speed",
    "action",
    "sharpness",
    "luma_mean",
    "luma_clipped",
    "text_area",
    "phash_key",
    "phash_mid",
]

# learned scores (vidcurate.learned), each NaN until its model is configured; in the
# curation table and metadata.parquet only when some learned score is switched on
LEARNED_COLUMNS = [
    "aesthetic",
    "quality",
    "quality_aesthetic",
    "quality_technical",
    "text_match",
    "text_match_margin",
    "text_match_top",
]


# --- the windows table: every candidate window of a video, kept or not --------------------

WINDOW_COLUMNS = ["window", "start_s", "end_s", "keep", "reason"]
EPS = 1e-6


@dataclass(frozen=True)
class Window:
    window: int
    start_s: float
    end_s: float


def windows_frame(windows: list[Window], dropped: dict[int, str] | None = None) -> pd.DataFrame:
    """The per-video windows table: every candidate window, kept or not, with a reason."""
    dropped = dropped or {}
    rows = [
        {
            "window": w.window,
            "start_s": w.start_s,
            "end_s": w.end_s,
            "keep": w.window not in dropped,
            "reason": dropped.get(w.window, ""),
        }
        for w in windows
    ]
    return pd.DataFrame(rows, columns=WINDOW_COLUMNS)


def read_windows(path) -> pd.DataFrame:
    table = pd.read_csv(path, sep="\t", keep_default_na=False)
    missing = [c for c in WINDOW_COLUMNS if c not in table.columns]
    if missing:
        raise ValueError(f"{path}: windows table lacks columns {missing}")
    table["keep"] = table["keep"].astype(str).str.lower().isin(["true", "1"])
    return table


def start_frame(start_s: float, fps: float) -> int:
    """First output frame of a window starting at ``start_s``."""
    return int(round(start_s * fps + EPS))


# --- the dataset's tables -------------------------------------------------------------------

# every clip scored, kept or not; the kept ones are numbered 0001.. per video in time
# order (clip), the others have an empty clip and no files; source_clip and window name
# the clip in the video's clip table (results/clips/{video_id}/clips.tsv)
CLIP_METADATA_COLUMNS = [
    "video_id",
    "split",
    # the group the video was dealt with (vidcurate.splits): a group never straddles splits
    "split_group",
    "clip",
    "keep",
    "reason",
    "duplicate_of",
    "source_clip",
    "window",
    "start_s",
    "end_s",
    "n_frames",
    "fps",
    "width",
    "height",
    "clip_path",
    "keyframe_path",
    "to_source",
    *MOTION_COLUMNS,
    *SCORE_ONLY_COLUMNS,
    # provenance (vidcurate.provenance): the ingested file's sha256, the clip's span in
    # that file's own timeline, each stage's settings hash, the vidcurate that wrote it
    "source_content_sha256",
    "source_start_s",
    "source_end_s",
    "stage_settings",
    "workflow_version",
]
# the footage's terms, in every row of metadata.parquet and videos.parquet: the sheet's
# own columns of these names (so not reserved), else the config's dataset.license and
# dataset.attribution
TERMS_COLUMNS = ["license", "attribution"]
# with captions on (vidcurate.captions): the kept clip's caption, or why it has none,
# and the model and the sha256 of the prompts that made it
CAPTION_METADATA_COLUMNS = ["caption", "caption_reason", "caption_model", "caption_prompt_sha256"]
# facts of the ingested file, from its probe JSON, in every row of videos.parquet
PROBE_COLUMNS = [
    "duration_s",
    "width",
    "height",
    "avg_frame_rate",
    "codec",
    "size_bytes",
    "color_primaries",
    "color_transfer",
    "hdr",
    # sha256 of the ingested file's bytes
    "content_sha256",
]
# what videos.parquet adds to the sheet's columns: status ok, no_clips or rejected (the
# stage that rejected the video in rejected_at), and the reason
VIDEO_COLUMNS = [
    "n_windows",
    "n_scored",
    "n_clips",
    "status",
    "rejected_at",
    "reason",
    *PROBE_COLUMNS,
]


def reason_counts(reasons: Iterable[str]) -> dict[str, int]:
    """Clips per reason, from cells of comma-joined reasons (a clip failing two filters
    counts under both), most frequent first (then by name)."""
    counts = Counter(r for cell in reasons for r in str(cell).split(",") if r)
    return dict(sorted(counts.items(), key=lambda item: (-item[1], item[0])))


# scores that are not numbers
TEXT_SCORES = ("action", "phash_key", "phash_mid", "text_match_top")


def numeric_scores(table: pd.DataFrame) -> list[str]:
    """The score columns of ``table`` that are numbers (not the hashes or the action),
    by name: a video without clips has empty, untyped columns."""
    return [
        c
        for c in (*MOTION_COLUMNS, *SCORE_ONLY_COLUMNS, *LEARNED_COLUMNS)
        if c in table.columns and c not in TEXT_SCORES
    ]
