"""Clip settings (config key ``clips``) and the per-video yes/no they imply."""

from __future__ import annotations

from dataclasses import dataclass, fields

from .geometry import clip_size


def frames_per_clip(seconds: float, fps: float) -> int:
    """Frames in one clip; ``seconds * fps`` must be a whole number."""
    n = seconds * fps
    if n < 1 or abs(n - round(n)) > 1e-6:
        raise ValueError(
            f"clips.seconds * clips.fps must be a whole number of frames, "
            f"got {seconds} * {fps} = {n:g}"
        )
    return int(round(n))


@dataclass(frozen=True)
class ClipSettings:
    seconds: float = 1.0
    fps: int = 25
    max_short_side: int = 360
    min_short_side: int = 64
    crf: int = 23
    preset: str = "fast"
    jpeg_quality: int = 95

    def __post_init__(self):
        frames_per_clip(self.seconds, self.fps)  # fail on a fractional frame count

    @property
    def n_frames(self) -> int:
        return frames_per_clip(self.seconds, self.fps)

    @classmethod
    def from_config(cls, clips: dict) -> ClipSettings:
        return cls(**{f.name: clips[f.name] for f in fields(cls) if f.name in clips})


def video_skip_reason(probe: dict, settings: ClipSettings) -> str:
    """Why a probed video yields no clips at all ('' when it can yield some)."""
    width, height = clip_size(probe["width"], probe["height"], settings.max_short_side)
    if min(width, height) < settings.min_short_side:
        return "too_small"
    if probe["duration_s"] + 1e-6 < settings.seconds:
        return "too_short"
    return ""
