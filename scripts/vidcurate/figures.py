"""Figures of the Snakemake report (``snakemake --report report.html``) and calibration.

Run: the funnel from videos in to clips kept. Per video: the motion trace with shot
boundaries, every window as its own mark (kept clip, clip dropped by curation, window
dropped before extraction, coloured by reason), and a contact sheet of kept keyframes
with their boxes. Per split: a contact sheet of sample keyframes. Dataset: score
histograms (kept and dropped stacked) with the thresholds, clips dropped per reason,
kept clips per class and split. Every axis names its quantity and unit, counts get
integer ticks, and a score no clip has is left out with a note rather than drawn empty.
Matplotlib, headless (Agg); PNG written atomically; nothing depends on the clock or
on random numbers, so the same tables give the same pictures.
"""

from __future__ import annotations

import math
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from .atomic import atomic_path
from .columns import numeric_scores, reason_counts
from .outcome import Rejection
from .reasons import REASONS, CurationSettings

KEPT_COLOUR = "#2e7d32"
DROPPED_COLOUR = "#c62828"
TOTAL_COLOUR = "#546e7a"
BOX_COLOUR = "#ffeb3b"
# what curation dropped a clip for (a clip failing several filters takes its first)
REASON_COLOURS = {
    "static": "#e57373",
    "blurry": "#ef6c00",
    "dark": "#6d4c41",
    "bright": "#f9a825",
    "clipped": "#d84315",
    "text": "#c62828",
    "faces": "#ad1457",
    "flash": "#7b1fa2",
    "no_tracks": "#bf360c",
    "duplicate": "#5e35b1",
}
# why a window was dropped before it became a clip (windows, clips stages)
WINDOW_COLOURS = {
    "scene_boundary": "#90a4ae",
    "short_scene": "#bcaaa4",
    "flash": "#ffe082",
    "static": "#81d4fa",
    "too_short": "#616161",
    "too_small": "#616161",
}
OTHER_COLOUR = "#9e9e9e"

# each score's quantity and unit, for its axis
SCORE_LABELS = {
    "motion_mean_px_s": "mean optical flow (px/s)",
    "motion_p95_px_s": "95th-percentile optical flow (px/s)",
    "motion_moving_fraction": "moving pixels (fraction of frame, 0-1)",
    "motion_min_patch_px_s": "slowest patch's mean flow (px/s)",
    "motion_mean_cm_s": "mean speed in the arena (cm/s)",
    "motion_covered": "window inside moving segments (fraction, 0-1)",
    "flash_frames": "flash frames (count)",
    "faces": "face detections in the window (count)",
    "faces_max": "most faces in one frame (count)",
    "track_boxes": "track boxes on the keyframe (count)",
    "track_speed": "mean track speed (cm/s in an arena, else px/s)",
    "sharpness": "variance of the Laplacian (grey levels², low = blurry)",
    "luma_mean": "mean luma (8-bit, 0-255)",
    "luma_clipped": "pixels at <= 5 or >= 250 (fraction, 0-1)",
    "text_area": "area covered by text (fraction of frame, 0-1)",
}


def _pyplot():
    import matplotlib  # pyplot only once the headless backend is chosen

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(figure, out: str) -> None:
    with atomic_path(out, suffix=".png") as tmp:
        # no creation date or software version in the file: the same figure, the same bytes
        figure.savefig(tmp, dpi=100, bbox_inches="tight", metadata={"Software": None})
    _pyplot().close(figure)


def _integer_ticks(axis, which: str = "x") -> None:
    """Counts get whole-number ticks (never 0.2 of a clip)."""
    from matplotlib.ticker import MaxNLocator

    target = axis.xaxis if which == "x" else axis.yaxis
    target.set_major_locator(MaxNLocator(integer=True))


def _bar_labels(axis, bars, values) -> None:
    """The count at the end of each horizontal bar."""
    for bar, value in zip(bars, values, strict=True):
        axis.annotate(
            f"{value:,}",
            (bar.get_x() + bar.get_width(), bar.get_y() + bar.get_height() / 2),
            xytext=(3, 0),
            textcoords="offset points",
            va="center",
            fontsize=9,
        )


def _draw_tile(axis, rgb: np.ndarray, title: str, boxes: pd.DataFrame | None) -> None:
    """A keyframe with its boxes and their actions: the labels are text of the figure,
    at a size readable whatever the keyframe's size, on a background of their own."""
    from matplotlib.patches import Rectangle

    axis.imshow(rgb)
    axis.set_title(title, fontsize=9)
    axis.axis("off")
    for box in boxes.itertuples() if boxes is not None and len(boxes) else ():
        axis.add_patch(
            Rectangle((box.x, box.y), box.w, box.h, fill=False, edgecolor=BOX_COLOUR, lw=1.5)
        )
        label = str(box.action) if isinstance(box.action, str) and box.action else ""
        if label:
            axis.text(
                box.x,
                box.y,
                label,
                fontsize=8,
                color="black",
                va="bottom" if box.y > 0.12 * rgb.shape[0] else "top",
                bbox={"facecolor": BOX_COLOUR, "edgecolor": "none", "pad": 1, "alpha": 0.9},
                clip_on=True,
            )


def keyframe_tiles(
    clips: pd.DataFrame,
    dataset_root: Path,
    boxes: dict[str, pd.DataFrame],
    label_video: bool = False,
) -> list[tuple[np.ndarray, str, pd.DataFrame | None]]:
    """(keyframe RGB, title, its boxes) of each kept clip in ``clips`` (metadata rows);
    ``boxes``: video_id -> its keyframe annotations (columns clip = source clip, x, y,
    w, h, action)."""
    tiles = []
    for clip in clips.to_dict("records"):
        rgb = np.asarray(Image.open(dataset_root / clip["keyframe_path"]).convert("RGB"))
        table = boxes.get(clip["video_id"])
        here = None
        if table is not None and {"clip", "x", "y", "w", "h", "action"} <= set(table.columns):
            here = table[table["clip"] == clip["source_clip"]]
        title = f"{clip['clip']} · {clip['start_s']:.1f} s"
        tiles.append((rgb, f"{clip['video_id']} {title}" if label_video else title, here))
    return tiles


def spread(clips: pd.DataFrame, count: int) -> pd.DataFrame:
    """Up to ``count`` of ``clips`` evenly spread over time (first and last included)."""
    clips = clips.sort_values(["start_s", "clip"])
    if len(clips) <= count:
        return clips
    return clips.iloc[np.linspace(0, len(clips) - 1, count).round().astype(int)]


def _tile_row_inches(tiles, columns: int, width: float = 12.0) -> float:
    """The height of a row of tiles ``width`` inches wide: the keyframes' own shape
    (the widest aspect among them) plus a line for the title."""
    aspect = max((rgb.shape[0] / rgb.shape[1] for rgb, _, _ in tiles), default=0.75)
    return 0.92 * width / columns * aspect + 0.35


def _tile_grid(figure, grid, tiles, columns: int) -> None:
    for index, (rgb, title, boxes) in enumerate(tiles):
        axis = figure.add_subplot(grid[index // columns, index % columns])
        _draw_tile(axis, rgb, title, boxes)


# --- the run ---------------------------------------------------------------------------------


def funnel_figure(table: pd.DataFrame, out: str) -> None:
    """The funnel (vidcurate.summary.funnel) as three panels of bars: videos, windows,
    clips; totals dark, what was kept green, what was dropped or rejected red/grey,
    each bar with its count; the hours in and out in the panel titles."""
    plt = _pyplot()
    hours = {
        step: shown for stage, step, _, shown in table.itertuples(index=False) if stage == "hours"
    }
    panels = [
        ("videos", "videos", f"videos: {hours.get('in', '')} of video in"),
        ("windows", "windows", "windows: planned, and dropped before extraction"),
        ("clips", "clips", f"clips: {hours.get('out', '')} of video kept"),
    ]
    rows = {stage: table[table["stage"] == stage] for stage, _, _ in panels}
    heights = [max(len(rows[stage]), 1) for stage, _, _ in panels]
    figure, axes = plt.subplots(
        len(panels),
        1,
        figsize=(7, 1.2 + 0.3 * sum(heights) + 0.6 * len(panels)),
        gridspec_kw={"height_ratios": heights, "hspace": 0.75},
    )
    for axis, (stage, unit, title) in zip(axes, panels, strict=True):
        steps = rows[stage]["step"].tolist()
        counts = [int(n) for n in rows[stage]["count"]]
        colours = [_funnel_colour(step) for step in steps]
        labels = [step.replace(": ", ": ") for step in steps]
        bars = axis.barh(labels, counts, color=colours)
        _bar_labels(axis, bars, counts)
        axis.invert_yaxis()
        axis.set_xlim(0, max([*counts, 1]) * 1.18)
        axis.set_xlabel(unit)
        axis.set_title(title, loc="left", fontsize=10)
        _integer_ticks(axis, "x")
        for tick, step in zip(axis.get_yticklabels(), steps, strict=True):
            if ":" in step:
                tick.set_color("#555555")
    figure.suptitle("the run, from videos in to clips kept")
    _save(figure, out)


def _funnel_colour(step: str) -> str:
    if step in ("ok", "kept"):
        return KEPT_COLOUR
    if step.startswith(("rejected", "no clips")):
        return DROPPED_COLOUR if step.startswith("rejected") else "#ef6c00"
    if step.startswith("dropped: "):
        reason = step.removeprefix("dropped: ")
        return REASON_COLOURS.get(reason) or WINDOW_COLOURS.get(reason, OTHER_COLOUR)
    if step == "dropped":
        return "#8d6e63"
    return TOTAL_COLOUR


def _label_bar_totals(axis, totals: list[int]) -> None:
    """Each horizontal bar's total at its end, with room for the number."""
    for y, total in enumerate(totals):
        axis.annotate(
            f"{total:,}",
            (total, y),
            xytext=(3, 0),
            textcoords="offset points",
            va="center",
            fontsize=9,
        )
    axis.set_xlim(0, max([*totals, 1]) * 1.15)


def sample_sheet(
    split: str,
    kept: pd.DataFrame,
    dataset_root: Path,
    boxes: dict[str, pd.DataFrame],
    out: str,
    count: int = 12,
    columns: int = 4,
) -> None:
    """Up to ``count`` kept keyframes of one split, shared out among its videos as
    evenly as their clips allow and spread over each video's time, with their boxes
    and actions."""
    plt = _pyplot()
    groups = [group for _, group in kept.groupby("video_id", sort=False)]
    shares = [0] * len(groups)
    left = count
    while left and any(share < len(g) for share, g in zip(shares, groups, strict=True)):
        for i, group in enumerate(groups):
            if left and shares[i] < len(group):
                shares[i] += 1
                left -= 1
    picked = pd.concat(
        [spread(group, share) for group, share in zip(groups, shares, strict=True) if share]
        or [kept.head(0)]
    )
    tiles = keyframe_tiles(picked, dataset_root, boxes, label_video=True)
    rows = max(1, math.ceil(len(tiles) / columns))
    figure = plt.figure(figsize=(12, 0.5 + _tile_row_inches(tiles, columns) * rows))
    grid = figure.add_gridspec(rows, columns, hspace=0.15, wspace=0.05)
    _tile_grid(figure, grid, tiles, columns)
    figure.suptitle(
        f"{split}: {len(tiles)} of {len(kept)} kept clips from "
        f"{_plural(kept['video_id'].nunique(), 'video')} (keyframes, with their track boxes "
        "and actions)"
    )
    _save(figure, out)


# --- per video -----------------------------------------------------------------------------


def _counts_text(counts: dict[str, int]) -> str:
    return ", ".join(f"{reason} {n}" for reason, n in counts.items())


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def video_figure(
    video_id: str,
    motion: pd.DataFrame,
    scenes: pd.DataFrame,
    clips: pd.DataFrame,
    windows: pd.DataFrame,
    counts: dict,
    dataset_root: Path,
    boxes: pd.DataFrame | None,
    out: str,
    max_images: int = 12,
) -> None:
    """The motion trace with shot boundaries and gradual transitions; below it every
    window as its own mark: a kept clip, a clip curation dropped, or a window dropped
    before extraction, coloured by reason; then the contact sheet of kept keyframes.

    ``clips``: the video's rows of metadata.parquet; ``windows``: its rows of
    windows.parquet; ``counts``: vidcurate.summary.video_counts of the two."""
    from matplotlib.patches import Patch

    plt = _pyplot()
    clips = clips.astype({"keep": bool})
    tiles = keyframe_tiles(
        spread(clips[clips["keep"]], max_images), dataset_root, {video_id: boxes}
    )
    columns = 4
    rows = math.ceil(len(tiles) / columns) if tiles else 0
    tiles_inches = _tile_row_inches(tiles, columns) * rows
    figure = plt.figure(figsize=(12, 3.4 + tiles_inches))
    heights = [3.0] + [tiles_inches] * bool(rows)
    # 0.8 in between the time axis and the keyframes' titles (hspace: of the mean height)
    outer = figure.add_gridspec(
        len(heights), 1, height_ratios=heights, hspace=0.8 / np.mean(heights)
    )
    top = outer[0].subgridspec(2, 1, height_ratios=[1.4, 0.32], hspace=0.08)
    trace = figure.add_subplot(top[0])
    lane = figure.add_subplot(top[1], sharex=trace)
    if len(motion):
        trace.plot(motion["t_s"], motion["mean_px_s"], color="#1565c0", lw=1)
    else:
        trace.text(
            0.5,
            0.5,
            "motion not measured",
            ha="center",
            va="center",
            transform=trace.transAxes,
            color="#555555",
        )
    handles = [plt.Line2D([], [], color="#1565c0", lw=1, label="mean optical flow")]
    shots = scenes.sort_values("start_s").to_dict("records") if len(scenes) else []
    boundaries = [shot["start_s"] for shot in shots[1:]]
    # a fade or a dissolve: the time between one shot's end and the next one's start
    transitions = [
        (before["end_s"], after["start_s"])
        for before, after in zip(shots[:-1], shots[1:], strict=True)
        if after["start_s"] - before["end_s"] > 1e-3
    ]
    for axis in (trace, lane):
        for start, end in transitions:
            axis.axvspan(start, end, color="#e0e0e0", lw=0, zorder=0)
        for start in boundaries:
            axis.axvline(start, color="black", lw=1, ls="--", zorder=3)
    if boundaries:
        handles.append(plt.Line2D([], [], color="black", lw=1, ls="--", label="shot boundary"))
    if transitions:
        handles.append(Patch(color="#e0e0e0", label="gradual transition"))
    trace.set_ylabel("mean optical flow\n(px/s)")
    trace.tick_params(labelbottom=False)
    # every window its own mark, a gap either side, so neighbours never merge into a band
    marks = _window_outcomes(windows, clips)
    for start, end, _, colour, hatch in marks:
        gap = min(0.06 * (end - start), 0.05)
        lane.broken_barh(
            [(start + gap, end - start - 2 * gap)],
            (0.1, 0.8),
            facecolors=colour,
            hatch=hatch,
            edgecolor="white",
            lw=0,
        )
    shown = {}
    for _, _, label, colour, hatch in marks:
        count = shown.get(label, (colour, hatch, 0))[2]
        shown[label] = (colour, hatch, count + 1)
    order = ("clip kept", "clip dropped", "window dropped")
    for label in sorted(shown, key=lambda name: (order.index(name.split(":")[0]), name)):
        colour, hatch, n = shown[label]
        handles.append(
            Patch(facecolor=colour, hatch=hatch, edgecolor="white", label=f"{label} ({n})")
        )
    lane.set_ylim(0, 1)
    lane.set_yticks([])
    lane.set_ylabel("windows", rotation=0, ha="right", va="center")
    lane.set_xlabel("time (s)")
    trace.legend(
        handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False
    )
    lost = counts["windows"] - counts["clips"]
    dropped = counts["scored"] - counts["clips_kept"]
    trace.set_title(
        f"{video_id}: {_plural(counts['windows'], 'window')}, "
        f"{len(boundaries)} shot {'boundary' if len(boundaries) == 1 else 'boundaries'}\n"
        f"{lost} dropped before extraction"
        + (f" ({_counts_text(counts['windows_dropped'])})" if lost else "")
        + f"; {_plural(counts['clips'], 'clip')}: {counts['clips_kept']} kept, "
        f"{dropped} dropped by curation"
        + (f" ({_counts_text(counts['dropped'])})" if dropped else ""),
        loc="left",
        fontsize=10,
    )
    if rows:
        grid = outer[1].subgridspec(rows, columns, hspace=0.15, wspace=0.05)
        _tile_grid(figure, grid, tiles, columns)
    _save(figure, out)


def _window_outcomes(windows: pd.DataFrame, clips: pd.DataFrame) -> list[tuple]:
    """(start_s, end_s, legend label, colour, hatch) of every window of a video, in time
    order: a kept clip, a clip dropped by curation (its first reason) or a window
    dropped before extraction (its reason)."""
    by_clip = {c["source_clip"]: c for c in clips.to_dict("records")}
    marks = []
    for window in windows.sort_values("start_s").to_dict("records"):
        clip = by_clip.get(window.get("clip")) if window["status"] == "clip" else None
        if window["status"] != "clip":
            reason = window["reason"] or "unknown"
            marks.append(
                (
                    window["start_s"],
                    window["end_s"],
                    f"window dropped: {reason}",
                    WINDOW_COLOURS.get(reason, OTHER_COLOUR),
                    "///",
                )
            )
        elif clip is not None and clip["keep"]:
            marks.append((window["start_s"], window["end_s"], "clip kept", KEPT_COLOUR, None))
        else:
            reason = str(clip["reason"]).split(",")[0] if clip is not None else "not scored"
            marks.append(
                (
                    window["start_s"],
                    window["end_s"],
                    f"clip dropped: {reason}",
                    REASON_COLOURS.get(reason, DROPPED_COLOUR),
                    None,
                )
            )
    return marks


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


def _is_integer(values: pd.Series) -> bool:
    return bool(len(values)) and bool((values == values.round()).all())


def score_histograms(table: pd.DataFrame, settings: CurationSettings, out: str) -> None:
    """One histogram per score some clip has, kept and dropped clips stacked when the
    table says which (metadata.parquet; calibration's scores do not), every threshold
    on it a red line. A score no clip has (the arena's cm/s without an arena, track
    speed without tracks) is listed in a note, not drawn empty."""
    plt = _pyplot()
    lines: dict[str, list[tuple[str, float]]] = {}
    for reason, column, threshold, _side in settings.thresholds().values():
        lines.setdefault(column, []).append((reason, threshold))
    values = {c: pd.to_numeric(table[c], errors="coerce") for c in numeric_scores(table)}
    columns = [c for c, v in values.items() if v.notna().any()]
    unmeasured = [c for c, v in values.items() if not v.notna().any()]
    keep = table["keep"].astype(bool) if "keep" in table.columns else None
    if not columns:
        figure, axis = plt.subplots(figsize=(8, 1.2))
        axis.axis("off")
        axis.text(0, 0.5, f"no score measured: {len(table)} clips", va="center", fontsize=11)
        _save(figure, out)
        return
    per_row = 4
    rows = max(1, math.ceil(len(columns) / per_row))
    figure, axes = plt.subplots(rows, per_row, figsize=(15, 3.1 * rows), squeeze=False)
    for axis in axes.flat[len(columns) :]:
        axis.axis("off")
    for axis, column in zip(axes.flat, columns, strict=False):
        measured = values[column].dropna()
        low, high = float(measured.min()), float(measured.max())
        counts_of = _is_integer(measured) and high - low <= 40
        if counts_of:  # whole numbers: one bar per value, whole-number ticks
            bins = np.arange(low - 0.5, high + 1.5)
            axis.set_xticks(np.arange(low, high + 1, max(1, math.ceil((high - low + 1) / 10))))
            axis.set_xlim(
                low - 1.5 if low == high else low - 0.7, high + (1.5 if low == high else 0.7)
            )
        else:
            bins = np.linspace(low, high, 31) if high > low else np.array([low - 0.5, low + 0.5])
        width = 0.8 if counts_of else None
        if keep is None:
            axis.hist(measured, bins=bins, color=TOTAL_COLOUR, rwidth=width)
        else:
            axis.hist(
                [measured[keep[measured.index]], measured[~keep[measured.index]]],
                bins=bins,
                stacked=True,
                color=[KEPT_COLOUR, DROPPED_COLOUR],
                label=["kept", "dropped"],
                rwidth=width,
            )
        for reason, threshold in lines.get(column, []):
            axis.axvline(threshold, color=DROPPED_COLOUR, lw=2, ls=":")
            axis.annotate(
                f" {reason} {threshold:g}",
                (threshold, 1),
                xycoords=("data", "axes fraction"),
                va="top",
                color=DROPPED_COLOUR,
                fontsize=8,
            )
        missing = len(table) - len(measured)
        notes = [f"{len(measured)} of {len(table)} clips measured"] if missing else []
        if low == high:
            notes.append(f"all {low:g}")
        axis.set_title(column + (f" ({'; '.join(notes)})" if notes else ""), fontsize=9)
        axis.set_xlabel(SCORE_LABELS.get(column, column), fontsize=8)
        axis.set_ylabel("clips", fontsize=8)
        _integer_ticks(axis, "y")
    if keep is not None and columns:
        axes.flat[0].legend(fontsize=8)
    title = f"scores of {len(table)} clips; dotted red: curation thresholds"
    if keep is not None:
        title += "; green kept, red dropped"
    figure.suptitle(title)
    if unmeasured:
        figure.text(
            0.01,
            0.0,
            textwrap.fill(f"not measured for any clip, left out: {', '.join(unmeasured)}", 160),
            fontsize=9,
            color="#555555",
            va="top",
        )
    figure.tight_layout()
    _save(figure, out)


def reason_labels(settings: CurationSettings) -> dict[str, str]:
    """Each reason with the rule that drops a clip for it, as the settings have it."""
    labels = {
        reason: f"{reason}: {column} {'<' if side == 'below' else '>'} {threshold:g}"
        for reason, column, threshold, side in settings.thresholds().values()
    }
    if settings.dedup_max_hamming is not None:
        labels["duplicate"] = f"duplicate: pHash within {settings.dedup_max_hamming} bits"
    return labels


def reasons_figure(metadata: pd.DataFrame, settings: CurationSettings, out: str) -> None:
    """Clips dropped per reason (the reasons that dropped any), per split, each bar
    with its count (a clip failing two filters counts under both)."""
    plt = _pyplot()
    splits = sorted(metadata["split"].unique())
    counts = {s: reason_counts(metadata.loc[metadata["split"] == s, "reason"]) for s in splits}
    found = set().union(*counts.values()) if counts else set()
    reasons = [r for r in REASONS if r in found] + sorted(found - set(REASONS))
    labels = reason_labels(settings)
    figure, axis = plt.subplots(figsize=(8, 1.4 + 0.45 * max(len(reasons), 1)))
    kept = int(metadata["keep"].astype(bool).sum())
    axis.set_title(f"clips dropped by curation: {len(metadata) - kept} of {len(metadata)}")
    if not reasons:
        axis.text(
            0.5, 0.5, "no clip was dropped", ha="center", va="center", transform=axis.transAxes
        )
        axis.axis("off")
        _save(figure, out)
        return
    names = [labels.get(r, r) for r in reasons]
    left = np.zeros(len(reasons), dtype=int)
    for split in splits:
        values = np.array([counts[split].get(r, 0) for r in reasons], dtype=int)
        axis.barh(names, values, left=left, label=split)
        left += values
    _label_bar_totals(axis, [int(v) for v in left])
    axis.invert_yaxis()
    axis.set_xlabel("clips dropped")
    axis.set_ylabel("reason: rule")
    _integer_ticks(axis, "x")
    axis.legend(title="split", fontsize=8)
    _save(figure, out)


def classes_figure(metadata: pd.DataFrame, out: str, class_column: str = "action") -> None:
    """Kept clips per class and split (the balance a class-balanced subset evens out)."""
    plt = _pyplot()
    kept = metadata[metadata["keep"].astype(bool)].copy()
    kept[class_column] = kept[class_column].fillna("").astype(str).replace("", "(no boxes)")
    table = kept.groupby([class_column, "split"]).size().unstack(fill_value=0)
    figure, axis = plt.subplots(figsize=(8, 1.2 + 0.4 * max(len(table), 2)))
    axis.set_title(f"kept clips per {class_column}: {len(kept)}")
    if not len(table):
        axis.text(0.5, 0.5, "no clip was kept", ha="center", va="center", transform=axis.transAxes)
        axis.axis("off")
        _save(figure, out)
        return
    table.plot.barh(stacked=True, ax=axis)
    totals = table.sum(axis=1).astype(int).tolist()
    _label_bar_totals(axis, totals)
    axis.invert_yaxis()
    axis.set_xlabel("kept clips")
    axis.set_ylabel(f"{class_column} (of most keyframe boxes)")
    _integer_ticks(axis, "x")
    axis.legend(title="split", fontsize=8)
    _save(figure, out)
