"""What every stage's settings dataclass shares (each stage's own lives in its module:
its fields are the config keys that stage reads, and the plan hands each job exactly
those), the clip length rule, and the one reading of a yes/no sheet value."""

from __future__ import annotations


class FromConfig:
    """For settings dataclasses: ``from_config(section)`` takes the keys of a config
    section that are the dataclass's fields and ignores the rest (keys that decide the
    DAG, or belong to another backend)."""

    @classmethod
    def from_config(cls, section: dict):
        return cls(**{k: v for k, v in section.items() if k in cls.__dataclass_fields__})


def frames_per_clip(seconds: float, fps: float) -> int:
    """Frames in one clip; ``seconds * fps`` must be a whole number, at least 1."""
    n = seconds * fps
    if abs(n - round(n)) > 1e-6:
        raise ValueError(
            f"clips.seconds * clips.fps must be a whole number of frames, "
            f"got {seconds} * {fps} = {n:g}"
        )
    if round(n) < 1:
        raise ValueError(
            f"clips.seconds * clips.fps must be at least 1 frame, got {seconds} * {fps} = {n:g}"
        )
    return int(round(n))


def yes_no(text: str) -> bool | None:
    """A sheet's yes/no cell (true/false, yes/no, 1/0, on/off, any case): its value,
    None when empty."""
    value = str(text).strip().lower()
    if not value:
        return None
    if value in ("true", "yes", "1", "on"):
        return True
    if value in ("false", "no", "0", "off"):
        return False
    raise ValueError(f"{text!r} is not a yes/no value (true/false, yes/no, 1/0, on/off)")
