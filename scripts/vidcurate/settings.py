"""Clip settings (config key ``clips``) and the per-video yes/no they imply."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .geometry import clip_size


class FromConfig:
    """For settings dataclasses: ``from_config(section)`` takes the keys of a config
    section that are the dataclass's fields and ignores the rest (keys that decide the
    DAG, or belong to another backend)."""

    @classmethod
    def from_config(cls, section: dict):
        return cls(**{k: v for k, v in section.items() if k in cls.__dataclass_fields__})


class ConfigError(ValueError):
    """The config breaks a rule that spans several keys; the message names keys and values."""


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
    for index, subset in enumerate(config.get("subsets") or []):
        lows, highs = subset.get("min") or {}, subset.get("max") or {}
        for column in sorted(set(lows) & set(highs)):
            if lows[column] > highs[column]:
                problems.append(
                    f"subsets[{index}].min.{column} must be at most subsets[{index}].max."
                    f"{column}, got {lows[column]} > {highs[column]}: the subset would be empty"
                )
    if problems:
        raise ConfigError("; ".join(problems))


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
    if problems:
        raise ConfigError("; ".join(problems))


@dataclass(frozen=True)
class ClipSettings(FromConfig):
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


def video_skip_reason(
    probe: dict, settings: ClipSettings, shown: tuple[int, int] | None = None
) -> str:
    """Why a probed video yields no clips at all ('' when it can yield some). ``shown``:
    the size clips are cut from when it is not the video's own (an arena's)."""
    width, height = clip_size(
        *(shown or (probe["width"], probe["height"])), settings.max_short_side
    )
    if min(width, height) < settings.min_short_side:
        return "too_small"
    if probe["duration_s"] + 1e-6 < settings.seconds:
        return "too_short"
    return ""
