"""Figures of the Snakemake report (``snakemake --report report.html``) and calibration.

Per video: the motion trace with the kept clips and the dropped ones shaded, shot
boundaries as lines, and a contact sheet of kept keyframes with their boxes drawn.
Dataset: score histograms with the thresholds, clips dropped per reason, kept clips per
class and split. Matplotlib, headless (Agg); PNG written atomically.
"""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
from PIL import Image

from .atomic import atomic_path
from .columns import numeric_scores, reason_counts
from .outcome import Rejection
from .reasons import REASONS, CurationSettings

KEPT_COLOUR = "#2e7d32"
DROPPED_COLOUR = "#c62828"
BOX_COLOUR = "#ffeb3b"


def _pyplot():
    import matplotlib  # pyplot only once the headless backend is chosen

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(figure, out: str) -> None:
    with atomic_path(out, suffix=".png") as tmp:
        figure.savefig(tmp, dpi=100, bbox_inches="tight")
    _pyplot().close(figure)


# --- per video -----------------------------------------------------------------------------


def contact_sheet(
    clips: pd.DataFrame,
    dataset_root: Path,
    boxes: pd.DataFrame | None,
    max_images: int = 12,
) -> list[tuple[np.ndarray, str]]:
    """(keyframe RGB with its boxes drawn, title) of up to ``max_images`` kept clips,
    evenly spread over the video."""

    clips = clips.sort_values("start_s")
    if len(clips) > max_images:
        picks = np.linspace(0, len(clips) - 1, max_images).round().astype(int)
        clips = clips.iloc[picks]
    tiles = []
    for clip in clips.to_dict("records"):
        rgb = np.asarray(Image.open(dataset_root / clip["keyframe_path"]).convert("RGB")).copy()
        here = boxes[boxes["clip"] == clip["source_clip"]] if boxes is not None else ()
        for box in here.itertuples() if len(here) else ():
            x, y, w, h = (int(round(v)) for v in (box.x, box.y, box.w, box.h))
            cv2.rectangle(rgb, (x, y), (x + w, y + h), (255, 235, 59), 2)
            cv2.putText(
                rgb,
                str(box.action),
                (x + 2, max(12, y + 12)),
                cv2.FONT_HERSHEY_SIMPLEX,
                0.4,
                (255, 235, 59),
                1,
                cv2.LINE_AA,
            )
        tiles.append((rgb, f"{clip['clip']}  {clip['start_s']:.1f}s"))
    return tiles


def video_figure(
    video_id: str,
    motion: pd.DataFrame,
    scenes: pd.DataFrame,
    clips: pd.DataFrame,
    dataset_root: Path,
    boxes: pd.DataFrame | None,
    out: str,
    max_images: int = 12,
) -> None:
    """Motion trace, kept/dropped clips, shot boundaries and the contact sheet."""
    plt = _pyplot()
    clips = clips.astype({"keep": bool})
    tiles = contact_sheet(clips[clips["keep"]], dataset_root, boxes, max_images)
    columns = 4
    rows = math.ceil(len(tiles) / columns) if tiles else 0
    figure = plt.figure(figsize=(12, 3 + 2.4 * rows))
    grid = figure.add_gridspec(1 + rows, columns, height_ratios=[1.3] + [1] * rows, hspace=0.35)
    trace = figure.add_subplot(grid[0, :])
    if len(motion):
        trace.plot(motion["t_s"], motion["mean_px_s"], color="#1565c0", lw=1, label="mean px/s")
    for clip in clips.to_dict("records"):
        colour = KEPT_COLOUR if clip["keep"] else DROPPED_COLOUR
        trace.axvspan(clip["start_s"], clip["end_s"], color=colour, alpha=0.25, lw=0)
    for start in scenes["start_s"].iloc[1:] if len(scenes) else ():
        trace.axvline(start, color="black", lw=1, ls="--")
    kept, dropped = int(clips["keep"].sum()), int((~clips["keep"]).sum())
    reasons = clips.loc[~clips["keep"], "reason"].str.split(",").explode().value_counts()
    why = ", ".join(f"{reason} {count}" for reason, count in reasons.items())
    trace.set_title(
        f"{video_id}: motion, {kept} kept clips (green), {dropped} dropped (red"
        + (f": {why}" if why else "")
        + f"), {max(len(scenes) - 1, 0)} shot boundaries (dashed)"
    )
    trace.set_xlabel("time (s)")
    trace.set_ylabel("motion (px/s)")
    for index, (rgb, title) in enumerate(tiles):
        axis = figure.add_subplot(grid[1 + index // columns, index % columns])
        axis.imshow(rgb)
        axis.set_title(title, fontsize=9)
        axis.axis("off")
    _save(figure, out)


def rejected_figure(rejection: Rejection, out: str) -> None:
    """The figure of a video that gave nothing: which stage rejected it and why."""
    plt = _pyplot()
    figure = plt.figure(figsize=(12, 1.6))
    axis = figure.add_subplot()
    axis.axis("off")
    axis.set_title(f"{rejection.video_id}: rejected at {rejection.stage}", loc="left")
    axis.text(0, 0.5, rejection.reason, wrap=True, va="center", fontsize=11)
    _save(figure, out)


# --- dataset -------------------------------------------------------------------------------


def score_histograms(table: pd.DataFrame, settings: CurationSettings, out: str) -> None:
    """One histogram per numeric score, every threshold on it drawn as a red line."""
    plt = _pyplot()
    columns = numeric_scores(table)
    lines: dict[str, list[tuple[str, float]]] = {}
    for reason, column, threshold, _side in settings.thresholds().values():
        lines.setdefault(column, []).append((reason, threshold))
    per_row = 4
    rows = max(1, math.ceil(len(columns) / per_row))
    figure, axes = plt.subplots(rows, per_row, figsize=(14, 2.8 * rows), squeeze=False)
    for axis in axes.flat[len(columns) :]:
        axis.axis("off")
    for axis, column in zip(axes.flat, columns, strict=False):
        values = pd.to_numeric(table[column], errors="coerce").dropna()
        if len(values):
            axis.hist(values, bins=30, color="#607d8b")
        for reason, threshold in lines.get(column, []):
            axis.axvline(threshold, color=DROPPED_COLOUR, lw=2)
            axis.text(threshold, axis.get_ylim()[1] * 0.9, f" {reason}", color=DROPPED_COLOUR)
        missing = len(table) - len(values)
        axis.set_title(f"{column}" + (f" ({missing} not measured)" if missing else ""), fontsize=9)
    figure.suptitle(f"scores of {len(table)} clips; red: curation thresholds")
    figure.tight_layout()
    _save(figure, out)


def reasons_figure(metadata: pd.DataFrame, out: str) -> None:
    """Clips dropped per reason, per split (a clip failing two filters counts twice)."""
    plt = _pyplot()
    splits = sorted(metadata["split"].unique())
    counts = {s: reason_counts(metadata.loc[metadata["split"] == s, "reason"]) for s in splits}
    figure, axis = plt.subplots(figsize=(8, 3.5))
    left = np.zeros(len(REASONS))
    for split in splits:
        values = np.array([counts[split].get(r, 0) for r in REASONS])
        axis.barh(REASONS, values, left=left, label=split)
        left += values
    axis.invert_yaxis()
    kept = int(metadata["keep"].astype(bool).sum())
    axis.set_title(f"dropped clips by reason: {len(metadata) - kept} of {len(metadata)}")
    axis.set_xlabel("clips")
    axis.legend(title="split")
    _save(figure, out)


def classes_figure(metadata: pd.DataFrame, out: str, class_column: str = "action") -> None:
    """Kept clips per class and split (the balance a class-balanced subset evens out)."""
    plt = _pyplot()
    kept = metadata[metadata["keep"].astype(bool)].copy()
    kept[class_column] = kept[class_column].fillna("").astype(str).replace("", "(none)")
    table = kept.groupby([class_column, "split"]).size().unstack(fill_value=0)
    figure, axis = plt.subplots(figsize=(8, 0.5 + 0.4 * max(len(table), 3)))
    if len(table):
        table.plot.barh(stacked=True, ax=axis)
        axis.invert_yaxis()
    axis.set_xlabel("kept clips")
    axis.set_title(f"kept clips per {class_column}: {len(kept)}")
    _save(figure, out)
