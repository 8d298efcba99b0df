"""The run summary: what became of every video and every clip, and why.

``results/run_summary.json`` is written by the ``run_summary`` rule from the dataset's
own tables (videos.parquet, windows.parquet, metadata.parquet), so it exists after every
complete run, in a clone or a deployed module alike, and it counts what the dataset
holds: windows planned and dropped before extraction by reason (shot boundaries, short
shots, flashes...), clips kept, clips dropped by reason, and every video that gave none,
with the stage and the reason. The same table is printed at the end of the run, and the
report's funnel and per-video table (``run_report``) are drawn from it.

A run that stops on a failed job (not a video's fault: a bug, a full disk, a cancelled
job) builds no dataset; for that case ``failures_in_logs`` reads the FAILED lines the
failed jobs of this run left in their logs.
"""

from __future__ import annotations

import base64
import html
import json
import os
import re
from pathlib import Path

import pandas as pd

from .atomic import write_text
from .columns import reason_counts
from .runner import FAILED_PREFIX
from .splits import group_sizes

_FAILED = re.compile(rf"^{FAILED_PREFIX} \[(?P<stage>[^\]]+)\] (?P<video>\S+): (?P<reason>.*)$")
RUN_MARKER = ".run_started"
# the console shows at most this many videos (the JSON holds every one)
CONSOLE_VIDEOS = 50
SUMMARY_COLUMNS = [
    "video_id",
    "split",
    "status",
    "stage",
    "reason",
    "duration_s",
    "windows",
    "windows_dropped",
    "clips",
    "scored",
    "clips_kept",
    "dropped",
    "kept_s",
]


def video_counts(windows: pd.DataFrame, clips: pd.DataFrame) -> dict:
    """What one video's windows and clips became. ``windows``: its rows of
    windows.parquet (status ``clip``, or ``dropped`` before extraction with the reason);
    ``clips``: its rows of metadata.parquet (every clip scored, with keep and reason).

    windows planned, windows dropped by reason, clips extracted, clips scored, clips
    kept, clips dropped by reason (a clip failing two filters counts under both) and
    the seconds of video the kept clips hold."""
    cut = windows["status"] == "clip" if len(windows) else pd.Series(dtype=bool)
    kept = clips["keep"].astype(bool) if len(clips) else pd.Series(dtype=bool)
    seconds = (clips.loc[kept, "end_s"] - clips.loc[kept, "start_s"]).sum() if len(clips) else 0
    return {
        "windows": len(windows),
        "windows_dropped": reason_counts(windows.loc[~cut, "reason"]) if len(windows) else {},
        "clips": int(cut.sum()),
        "scored": len(clips),
        "clips_kept": int(kept.sum()),
        "dropped": reason_counts(clips.loc[~kept, "reason"]) if len(clips) else {},
        "kept_s": round(float(seconds), 6),
    }


def _by_video(table: pd.DataFrame | None) -> dict[str, pd.DataFrame]:
    if table is None or "video_id" not in table.columns or not len(table):
        return {}
    return dict(tuple(table.groupby("video_id", sort=False)))


def run_summary(
    videos: pd.DataFrame, metadata: pd.DataFrame, windows: pd.DataFrame | None = None
) -> pd.DataFrame:
    """One row per video of the dataset's videos.parquet, in its order: split, status
    (ok, no_clips, rejected), the stage that decided it (the stage that rejected the
    video; windows when no window could be cut, curation when every clip was dropped),
    the reason, the probed duration, and what its windows (windows.parquet) and clips
    (metadata.parquet) became (video_counts)."""
    clips_of, windows_of = _by_video(metadata), _by_video(windows)
    no_rows = pd.DataFrame(columns=["video_id", "status", "reason", "keep", "start_s", "end_s"])
    rows = []
    for video in videos.to_dict("records"):
        clips = clips_of.get(video["video_id"], no_rows)
        counts = video_counts(windows_of.get(video["video_id"], no_rows), clips)
        stage = ""
        if video["status"] == "rejected":
            stage = video.get("rejected_at") or ""
        elif video["status"] == "no_clips":
            stage = "curation" if len(clips) else "windows"
        duration = pd.to_numeric(video.get("duration_s"), errors="coerce")
        rows.append(
            {
                "video_id": video["video_id"],
                "split": video.get("split", ""),
                "status": video["status"],
                "stage": stage,
                "reason": video.get("reason", "") or "",
                # a rejected video may have no probe: no duration (None, never NaN in JSON)
                "duration_s": None if pd.isna(duration) else float(duration),
                **counts,
            }
        )
    return pd.DataFrame(rows, columns=SUMMARY_COLUMNS)


# the funnel's rows: (stage, step, count, the count as the report shows it); steps named
# "dropped: <reason>", "no clips: <stage>", "rejected: <stage>" break down the row above
FUNNEL_COLUMNS = ["stage", "step", "count", "shown"]


def funnel(table: pd.DataFrame) -> pd.DataFrame:
    """The run as a funnel, from the per-video summary (run_summary): videos in, ok,
    without clips (by the stage that decided it), rejected (by stage); hours in;
    windows planned, dropped before extraction (by reason); clips extracted, scored,
    kept, dropped (by reason: a clip failing two filters counts under both); hours out.
    Hours are of video: probed durations in, kept clips' spans out."""
    rows = [("videos", "in", len(table)), ("videos", "ok", int((table["status"] == "ok").sum()))]
    for status, label in (("no_clips", "no clips"), ("rejected", "rejected")):
        stages = table.loc[table["status"] == status, "stage"].replace("", "unknown")
        rows += [("videos", f"{label}: {stage}", int(n)) for stage, n in _counted(stages)]
    rows.append(("hours", "in", round(float(table["duration_s"].fillna(0).sum()) / 3600, 6)))
    windows, clips = int(table["windows"].sum()), int(table["clips"].sum())
    rows += [("windows", "planned", windows), ("windows", "dropped", windows - clips)]
    rows += _reason_rows("windows", table["windows_dropped"])
    scored, kept = int(table["scored"].sum()), int(table["clips_kept"].sum())
    rows += [
        ("clips", "extracted", clips),
        ("clips", "scored", scored),
        ("clips", "kept", kept),
        ("clips", "dropped", scored - kept),
    ]
    rows += _reason_rows("clips", table["dropped"])
    rows.append(("hours", "out", round(float(table["kept_s"].sum()) / 3600, 6)))
    shown = [hours_text(n) if stage == "hours" else f"{n:,}" for stage, _, n in rows]
    # object: counts stay integers beside the hours
    return pd.DataFrame(
        [(*row, text) for row, text in zip(rows, shown, strict=True)],
        columns=FUNNEL_COLUMNS,
        dtype=object,
    )


def _counted(values: pd.Series) -> list[tuple[str, int]]:
    """Value counts, most first, then by name (the order reason_counts gives)."""
    counts = values.value_counts()
    return sorted(((str(k), int(n)) for k, n in counts.items()), key=lambda kn: (-kn[1], kn[0]))


def _reason_rows(stage: str, dicts: pd.Series) -> list[tuple[str, str, int]]:
    return [(stage, f"dropped: {reason}", n) for reason, n in _sum_dicts(dicts).items()]


def _text_table(rows: list[list], header: list[str]) -> str:
    """Left-aligned columns, two spaces apart (numbers right-aligned)."""
    cells = [header, *[[str(v) for v in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    numeric = [all(str(row[i]).isdigit() for row in rows) and rows for i in range(len(header))]
    lines = []
    for row in cells:
        parts = [
            cell.rjust(width) if numeric[i] else cell.ljust(width)
            for i, (cell, width) in enumerate(zip(row, widths, strict=True))
        ]
        lines.append("  ".join(parts).rstrip())
    return "\n".join(lines)


def _counts_text(counts: dict[str, int], empty: str = "none") -> str:
    return ", ".join(f"{key} {n}" for key, n in counts.items()) or empty


def _sum_dicts(dicts) -> dict[str, int]:
    total: dict[str, int] = {}
    for counts in dicts:
        for key, n in counts.items():
            total[key] = total.get(key, 0) + n
    return dict(sorted(total.items(), key=lambda item: (-item[1], item[0])))


def console_table(table: pd.DataFrame, limit: int = CONSOLE_VIDEOS) -> str:
    """The summary as the end of a run prints it: per split, videos by status and clips
    kept; the clips dropped by reason; then one line per video (up to ``limit``: past
    that, the videos that gave no clip come first, and the rest are in the JSON)."""
    statuses = ["ok", "no_clips", "rejected"]
    splits = []
    for split, group in table.groupby("split", sort=False):
        counts = group["status"].value_counts()
        splits.append(
            [
                split,
                len(group),
                *(int(counts.get(s, 0)) for s in statuses),
                group["clips_kept"].sum(),
            ]
        )
    splits.append(
        [
            "all",
            len(table),
            *(int((table["status"] == s).sum()) for s in statuses),
            table["clips_kept"].sum(),
        ]
    )
    parts = [
        _text_table(splits, ["split", "videos", *statuses, "clips kept"]),
        f"windows dropped: {_counts_text(_sum_dicts(table['windows_dropped']))}",
        f"clips dropped: {_counts_text(_sum_dicts(table['dropped']))}",
    ]
    shown = table
    if len(table) > limit:
        shown = pd.concat([table[table.status != "ok"], table[table.status == "ok"]]).head(limit)
    rows = [
        [
            r.video_id,
            r.split,
            r.status,
            r.stage,
            r.clips_kept,
            _counts_text(r.dropped, ""),
            r.reason,
        ]
        for r in shown.itertuples()
    ]
    header = ["video", "split", "status", "stage", "kept", "dropped", "reason"]
    parts.append(_text_table(rows, header))
    if len(shown) < len(table):
        parts.append(f"... and {len(table) - len(shown)} more videos (every one in the JSON)")
    return "\n".join(parts)


def write_run_summary(
    videos_parquet: str,
    metadata_parquet: str,
    windows_parquet: str,
    out_json: str,
    splits_tsv: str | None = None,
) -> str:
    """Write the summary as JSON; return the table the run prints. ``splits_tsv``
    (curate's) names the videos withdrawn on request, which no dataset table holds."""
    withdrawn = {}
    if splits_tsv:
        splits = pd.read_csv(splits_tsv, sep="\t", dtype=str, keep_default_na=False)
        marked = splits[splits["withdrawn"] != ""]
        withdrawn = dict(zip(marked["video_id"], marked["withdrawn"], strict=True))
    table = run_summary(
        pd.read_parquet(videos_parquet),
        pd.read_parquet(metadata_parquet),
        pd.read_parquet(windows_parquet),
    )
    summary = {
        "counts": table["status"].value_counts().to_dict(),
        "windows": {
            "planned": int(table["windows"].sum()),
            "dropped": _sum_dicts(table["windows_dropped"]),
        },
        "clips": {"kept": int(table["clips_kept"].sum()), "dropped": _sum_dicts(table["dropped"])},
        # a rejected video's unknown duration is null (NaN is not JSON)
        "videos": table.astype(object).where(table.notna(), None).to_dict("records"),
        "withdrawn": withdrawn,
    }
    write_text(out_json, json.dumps(summary, indent=2) + "\n")
    text = console_table(table)
    if withdrawn:
        names = ", ".join(list(withdrawn)[:10]) + (", ..." if len(withdrawn) > 10 else "")
        text += f"\nwithdrawn on request (in no dataset file): {len(withdrawn)} ({names})"
    return text


# --- the report: the run's numbers as HTML (rules/report.smk, run_report) ---------------

# the per-video stages with a `benchmark:`, in the order they run (others follow by name)
BENCHMARKED_STAGES = ["deface", "scenes", "arena", "motion", "tracks", "extract_clips", "score"]


def stage_times(folder: str | Path, video_ids: list[str]) -> pd.DataFrame:
    """Seconds each stage's job took per video: column ``s`` of Snakemake's benchmark
    files ``{folder}/{stage}/{video_id}.tsv`` (the mean over --benchmark-repeats), as
    video_id x stage; NaN where a stage has no file for the video, and only the stages
    that have one for some video. A file holds the stage's last run."""
    folder = Path(folder)
    found = sorted(p.name for p in folder.iterdir() if p.is_dir()) if folder.is_dir() else []
    order = {stage: i for i, stage in enumerate(BENCHMARKED_STAGES)}
    stages = sorted(found, key=lambda stage: (order.get(stage, len(order)), stage))
    times = pd.DataFrame(index=pd.Index(video_ids, name="video_id"), dtype=float)
    for stage in stages:
        column = {}
        for video_id in video_ids:
            path = folder / stage / f"{video_id}.tsv"
            if path.is_file():
                seconds = pd.to_numeric(pd.read_csv(path, sep="\t")["s"], errors="coerce")
                column[video_id] = float(seconds.mean())
        if column:
            times[stage] = pd.Series(column, dtype=float)
    return times


def hours_text(hours: float) -> str:
    """0.0139 h (0:00:50): hours of video, and the same as h:mm:ss."""
    seconds = int(round(hours * 3600))
    clock = f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"
    number = f"{hours:,.1f}" if hours >= 1 else f"{hours:.3g}"
    return f"{number} h ({clock})"


def _funnel_rows(table: pd.DataFrame, stage: str, prefix: str) -> list[tuple[str, int]]:
    """(what, count) of the funnel's rows of ``stage`` whose step starts with ``prefix``."""
    rows = table[(table["stage"] == stage) & table["step"].str.startswith(prefix)]
    return [(step[len(prefix) :], n) for step, n in zip(rows["step"], rows["count"], strict=True)]


def headline(table: pd.DataFrame) -> list[str]:
    """The funnel (``funnel``) in three sentences: videos, windows, clips."""

    def value(stage: str, step: str) -> float:
        return float(table.loc[(table["stage"] == stage) & (table["step"] == step), "count"].sum())

    def n(stage: str, step: str) -> int:
        return int(value(stage, step))

    def why(stage: str, prefix: str) -> str:
        parts = ", ".join(
            f"{what} {int(count)}" for what, count in _funnel_rows(table, stage, prefix)
        )
        return f" ({parts})" if parts else ""

    no_clips = sum(int(count) for _, count in _funnel_rows(table, "videos", "no clips: "))
    rejected = sum(int(count) for _, count in _funnel_rows(table, "videos", "rejected: "))

    def many(count: int, word: str) -> str:
        return f"{count} {word}" if count == 1 else f"{count} {word}s"

    return [
        f"{many(n('videos', 'in'), 'video')} in, {hours_text(value('hours', 'in'))} of video: "
        f"{n('videos', 'ok')} gave clips, {no_clips} gave none, {rejected} rejected"
        f"{why('videos', 'rejected: ')}.",
        f"{many(n('windows', 'planned'), 'window')} planned, {n('windows', 'dropped')} "
        f"dropped before extraction{why('windows', 'dropped: ')}.",
        f"{many(n('clips', 'extracted'), 'clip')} extracted, {n('clips', 'scored')} scored, "
        f"{n('clips', 'kept')} kept, {hours_text(value('hours', 'out'))} of video; "
        f"{n('clips', 'dropped')} dropped{why('clips', 'dropped: ')}.",
    ]


# scoped: the landing page of the report shows this HTML inside Snakemake's own page
_STYLE = """<style>
.vidcurate-run { font-family: system-ui, sans-serif; }
.vidcurate-run table { border-collapse: collapse; font-size: 0.85rem; margin: 0.5rem 0; }
.vidcurate-run th, .vidcurate-run td { border-bottom: 1px solid #ddd; padding: 2px 8px;
  text-align: left; vertical-align: top; }
.vidcurate-run td.n { text-align: right; font-variant-numeric: tabular-nums; }
.vidcurate-run tr.part td:first-child { padding-left: 1.6rem; color: #555; }
.vidcurate-run img { max-width: 100%; height: auto; }
.vidcurate-run .note { color: #555; font-size: 0.8rem; }
.vidcurate-run td.reason { min-width: 14rem; }
.vidcurate-run td.counts { white-space: nowrap; }
.vidcurate-run tr.rejected td { background: #fdecea; }
.vidcurate-run tr.no_clips td { background: #fff4e5; }
</style>"""


def _cell(value, kind: str = "") -> str:
    """A table cell; ``kind`` its class (n: a number, right-aligned)."""
    attribute = f' class="{kind}"' if kind else ""
    return f"<td{attribute}>{html.escape(str(value))}</td>"


def funnel_html(table: pd.DataFrame, figure_png: bytes | None = None) -> str:
    """The run's numbers: the headline, the funnel figure (embedded) and the funnel
    table. A fragment (no <html>): the report's landing page embeds it as it is."""
    rows = []
    for stage, step, _, shown in table[FUNNEL_COLUMNS].itertuples(index=False):
        part = ":" in step
        label = step if part else f"{stage} {step}"
        rows.append(
            f'<tr class="{"part" if part else "total"}">{_cell(label)}{_cell(shown, kind="n")}</tr>'
        )
    image = ""
    if figure_png:
        # in lines of 76: reStructuredText (the landing page) refuses lines over 10,000
        # characters, and a data URI's base64 may hold whitespace
        data = base64.encodebytes(figure_png).decode()
        image = f'<p><img alt="the run as a funnel" src="data:image/png;base64,{data}"></p>'
    sentences = "".join(f"<p>{html.escape(line)}</p>" for line in headline(table))
    return (
        f'{_STYLE}<div class="vidcurate-run">{sentences}{image}'
        '<table class="funnel"><thead><tr><th>step</th><th>count</th></tr></thead><tbody>'
        + "".join(rows)
        + "</tbody></table>"
        '<p class="note">Indented rows break down the row above them; a clip that fails two '
        "filters counts under both. Hours are of video: probed durations in, the kept "
        "clips' spans out.</p></div>\n"
    )


def videos_html(table: pd.DataFrame, times: pd.DataFrame) -> str:
    """Every video: status, the stage and reason that decided it, what its windows and
    clips became, and each benchmarked stage's time (seconds; blank: no benchmark)."""
    stages = list(times.columns)
    header = [
        "video",
        "split",
        "status",
        "stage",
        "reason",
        "duration (s)",
        "windows",
        "windows dropped",
        "clips",
        "kept",
        "clips dropped",
        "kept (s)",
        *(f"{stage} (s)" for stage in stages),
        "stages (s)",
    ]
    rows = []
    for row in table.itertuples(index=False):
        spent = times.loc[row.video_id] if row.video_id in times.index else pd.Series(dtype=float)
        seconds = [spent.get(stage) for stage in stages]
        measured = [s for s in seconds if s is not None and not pd.isna(s)]
        cells = [
            _cell(row.video_id),
            _cell(row.split),
            _cell(row.status),
            _cell(row.stage),
            _cell(row.reason, kind="reason"),
            _cell(
                ""
                if row.duration_s is None or pd.isna(row.duration_s)
                else f"{row.duration_s:.1f}",
                kind="n",
            ),
            _cell(row.windows, kind="n"),
            _cell(_counts_text(row.windows_dropped, ""), kind="counts"),
            _cell(row.clips, kind="n"),
            _cell(row.clips_kept, kind="n"),
            _cell(_counts_text(row.dropped, ""), kind="counts"),
            _cell(f"{row.kept_s:.1f}", kind="n"),
            *(_cell("" if s is None or pd.isna(s) else f"{s:.1f}", kind="n") for s in seconds),
            _cell(f"{sum(measured):.1f}" if measured else "", kind="n"),
        ]
        rows.append(f'<tr class="{html.escape(row.status)}">{"".join(cells)}</tr>')
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    return (
        '<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>videos</title>'
        f"{_STYLE}</head><body>"
        f'<div class="vidcurate-run"><p>{len(table)} videos; stage times from Snakemake\'s '
        "benchmark files (benchmarks/&lt;stage&gt;/&lt;video&gt;.tsv, seconds of each "
        "stage's last run; stages without a benchmark are not timed).</p>"
        f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
        "</div></body></html>\n"
    )


def _videos(n: int) -> str:
    return f"{n} video" if n == 1 else f"{n} videos"


def splits_html(splits: pd.DataFrame) -> str:
    """How the videos were dealt (curate's splits.tsv): per split the groups, videos and
    the largest group; every video whose group moved it from the split it would have
    had alone, and why; every video withdrawn on request."""
    dealt = splits[splits["withdrawn"] == ""]
    sizes = group_sizes(dealt)
    header = ["split", "groups", "videos", "largest group (videos)", "groups of one video"]
    body = "".join(
        "<tr>" + _cell(row.split) + "".join(_cell(v, kind="n") for v in row[1:]) + "</tr>"
        for row in sizes.itertuples(index=False)
    )
    moved = dealt[dealt["moved_because"] != ""]
    moved_rows = "".join(
        "<tr>"
        + "".join(_cell(v) for v in (r.video_id, r.split_group, r.planned_split, r.split))
        + _cell(r.moved_because, kind="reason")
        + "</tr>"
        for r in moved.itertuples(index=False)
    )
    withdrawn = splits[splits["withdrawn"] != ""]
    withdrawn_rows = "".join(
        f"<tr>{_cell(r.video_id)}{_cell(r.withdrawn, kind='reason')}</tr>"
        for r in withdrawn.itertuples(index=False)
    )

    def table(head: list[str], rows: str) -> str:
        cells = "".join(f"<th>{html.escape(h)}</th>" for h in head)
        return f"<table><thead><tr>{cells}</tr></thead><tbody>{rows}</tbody></table>"

    parts = [
        f"<p>{_videos(len(dealt))} in {dealt['split_group'].nunique()} groups; a group never "
        "straddles splits.</p>",
        table(header, body),
        f"<p>{_videos(len(moved))} moved by grouping: dealt alone, the split would have "
        "been another (near-duplicate footage of a video in another split).</p>",
    ]
    if len(moved):
        parts.append(table(["video", "group", "alone", "dealt", "why"], moved_rows))
    parts.append(f"<p>{_videos(len(withdrawn))} withdrawn on request (in no dataset file).</p>")
    if len(withdrawn):
        parts.append(table(["video", "withdrawn by"], withdrawn_rows))
    return (
        '<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>splits</title>'
        f'{_STYLE}</head><body><div class="vidcurate-run">{"".join(parts)}</div></body></html>\n'
    )


# --- a run that failed: the FAILED lines of this run's jobs --------------------------------


def mark_run_start(log_dir: str | Path) -> int:
    """The start of a run on the file system's own clock (nanoseconds): the mtime of a
    marker written and removed in ``log_dir``. Logs are compared with it rather than
    with this machine's clock, which on a cluster need not agree with the file
    server's or the compute nodes'."""
    marker = Path(log_dir) / RUN_MARKER
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text(f"{os.getpid()}\n")
    try:
        return marker.stat().st_mtime_ns
    finally:
        marker.unlink(missing_ok=True)


def failures_in_logs(log_dir: str | Path, since_ns: int | None = None) -> dict[str, dict]:
    """video_id -> {stage, reason, log, mtime_ns} from the FAILED lines stage scripts
    write, only from logs written since ``since_ns`` (a run's start) when given: a log
    an earlier run left behind is no failure of this run. The newest log wins."""
    found: dict[str, dict] = {}
    for log in sorted(Path(log_dir).glob("*/*.log")):
        mtime_ns = log.stat().st_mtime_ns
        if since_ns is not None and mtime_ns < since_ns:
            continue
        for line in log.read_text(errors="replace").splitlines():
            match = _FAILED.match(line)
            video = match and match["video"]
            if video and (video not in found or found[video]["mtime_ns"] <= mtime_ns):
                found[video] = {
                    "stage": match["stage"],
                    "reason": match["reason"],
                    "log": str(log),
                    "mtime_ns": mtime_ns,
                }
    return found


def failed_jobs_table(log_dir: str | Path, since_ns: int | None = None) -> str:
    """The failed jobs of a run, one line each, for the console ('' when none)."""
    failures = failures_in_logs(log_dir, since_ns)
    if not failures:
        return ""
    table = pd.DataFrame(
        [
            {"video_id": v, **{k: f[k] for k in ("stage", "reason", "log")}}
            for v, f in failures.items()
        ]
    )
    return table.to_string(index=False)
