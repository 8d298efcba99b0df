"""Why curation drops a clip: each filter's reason, the score it reads, its config key
and which side fails, and the thresholds (config ``curation``). In a module of its own:
the curate rule, calibration and the report's figures read it, no decoding stage does,
so changing a filter reruns curation onward only."""

from __future__ import annotations

from dataclasses import dataclass

from .settings import FromConfig

# reason, score column, config key, which side fails
FILTERS = [
    ("static", "motion_mean_px_s", "min_motion_px_s", "below"),
    ("blurry", "sharpness", "min_sharpness", "below"),
    ("dark", "luma_mean", "min_luma", "below"),
    ("bright", "luma_mean", "max_luma", "above"),
    ("clipped", "luma_clipped", "max_clipped", "above"),
    ("text", "text_area", "max_text_area", "above"),
    ("faces", "faces_max", "max_faces", "above"),
    ("flash", "flash_frames", "max_flash_frames", "above"),
    ("no_tracks", "track_boxes", "min_tracks", "below"),
    # learned scores (vidcurate.learned), each needing its model in score
    ("unaesthetic", "aesthetic", "min_aesthetic", "below"),
    ("low_quality", "quality", "min_quality", "below"),
    ("off_topic", "text_match", "min_text_match", "below"),
    ("off_category", "text_match_margin", "min_text_match_margin", "below"),
]

# the learned score each threshold needs, and the score key that switches it on
LEARNED_FILTERS = {
    "min_aesthetic": "score.aesthetic.head",
    "min_quality": "score.quality.model",
    "min_text_match": "score.text_match.prompts",
    "min_text_match_margin": "score.text_match.category",
}

REASONS = [reason for reason, *_ in FILTERS] + ["duplicate", "semantic_duplicate"]


@dataclass(frozen=True)
class CurationSettings(FromConfig):
    min_motion_px_s: float | None = None
    min_sharpness: float | None = None
    min_luma: float | None = None
    max_luma: float | None = None
    max_clipped: float | None = None
    max_text_area: float | None = None
    max_faces: int | None = None
    max_flash_frames: int | None = None
    min_tracks: int | None = None
    min_aesthetic: float | None = None
    min_quality: float | None = None
    min_text_match: float | None = None
    min_text_match_margin: float | None = None
    dedup_max_hamming: int | None = None
    semantic_dedup_min_cosine: float | None = None
    semantic_dedup_clusters: int | None = None

    def thresholds(self) -> dict[str, tuple[str, str, float, str]]:
        """Config key -> (reason, score column, threshold, failing side) of every
        filter switched on."""
        return {
            key: (reason, column, getattr(self, key), side)
            for reason, column, key, side in FILTERS
            if getattr(self, key) is not None
        }
