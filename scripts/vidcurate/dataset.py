"""Assemble the SlowFast/AlphAction custom-data layout and its metadata from per-video results.

results/dataset/
  clips/{split}/{video_id}/0001.mp4      keyframes/{split}/{video_id}/0001.jpg
  metadata.parquet  one row per clip      windows.parquet  every window, with reasons
  videos.parquet    one row per video
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pandas as pd

from vidcurate import __version__

from .atomic import atomic_dir, atomic_path
from .columns import (
    CAPTION_METADATA_COLUMNS,
    CLIP_METADATA_COLUMNS,
    LEARNED_COLUMNS,
    MOTION_COLUMNS,
    PROBE_COLUMNS,
    SCORE_ONLY_COLUMNS,
    TERMS_COLUMNS,
)
from .outcome import Rejection, rejection_of
from .provenance import source_time
from .web import redact_source

CAPTION_MATCH_KEYS = ["video_id", "source_clip", "caption_match"]


def place(src: Path, dest: Path) -> None:
    """Hard-link ``src`` to ``dest`` (no second copy of the bytes), copying across filesystems."""
    try:
        os.link(src, dest)
    except OSError:
        shutil.copy2(src, dest)


def dataset_numbers(curated: pd.DataFrame) -> dict[tuple[str, str], str]:
    """(video_id, source clip) -> dataset clip number 0001.. of every kept clip, per
    video in time order."""
    numbers = {}
    kept = curated[curated["keep"].astype(bool)].sort_values(["video_id", "start_s", "clip"])
    for video_id, group in kept.groupby("video_id", sort=False):
        for n, clip in enumerate(group["clip"], start=1):
            numbers[(video_id, clip)] = f"{n:04d}"
    return numbers


def build_dataset(
    videos: list[dict],
    curated_parquet: str,
    clip_tables: dict[str, str],
    clip_dirs: dict[str, str],
    keyframe_dirs: dict[str, str],
    probes: dict[str, str],
    fps: int,
    out_clips: str,
    out_keyframes: str,
    out_metadata: str,
    out_windows: str,
    out_videos: str,
    captions_parquet: str | None = None,
    rejected: dict[str, Rejection] | None = None,
    splits_tsv: str | None = None,
    stage_settings: dict[str, str] | None = None,
    caption_match_parquet: str | None = None,
) -> pd.DataFrame:
    """Lay out the kept clips and keyframes by split and write the three metadata tables.

    ``videos`` are the sample-sheet rows (video_id, source, split and any extra
    columns, which are carried into every clip's metadata row). ``curated_parquet`` is
    the curation table (vidcurate.curation): every scored clip with keep and reason.
    A URL source is written without its query string, fragment and userinfo.
    ``captions_parquet`` (captions on) adds each kept clip's caption, and
    ``caption_match_parquet`` its CLIP similarity to the clip (caption_match). The
    learned scores (vidcurate.learned) are columns when the curation table has them. A
    video whose
    files are rejected (vidcurate.outcome), or that is in ``rejected`` (an archive that
    gave no video), has one row in videos.parquet saying where and why, and no clips.
    ``splits_tsv`` (curate's, vidcurate.curation) gives each video its split and group;
    a video withdrawn there is in none of the files, as if not in the sheet.

    Every clip row carries its provenance: the sheet's license and attribution (as
    ``videos`` give them), the ingested file's sha256 (its probe's content_sha256), the
    clip's span in that file's timeline (source_start_s, source_end_s: start_s and
    end_s plus the stream's start time), ``stage_settings`` (video_id -> the video's
    JSON of stage settings hashes, vidcurate.plan.stage_settings_json) and the
    vidcurate version writing the table. A video missing from ``stage_settings`` (when
    given) is a ValueError naming it.
    """
    curated = pd.read_parquet(curated_parquet)
    learned = [c for c in LEARNED_COLUMNS if c in curated.columns]
    caption_match = {}
    if caption_match_parquet:
        matched = pd.read_parquet(caption_match_parquet)
        caption_match = {
            (video_id, clip): value
            for video_id, clip, value in matched[CAPTION_MATCH_KEYS].itertuples(index=False)
        }
    captions = {}
    if captions_parquet:
        for row in pd.read_parquet(captions_parquet).to_dict("records"):
            captions[(row["video_id"], row["source_clip"])] = row
    numbers = dataset_numbers(curated)
    split_of = dict(zip(curated["video_id"], curated["split"], strict=True))
    dealt = {}
    if splits_tsv:
        table = pd.read_csv(splits_tsv, sep="\t", dtype=str, keep_default_na=False)
        dealt = {row["video_id"]: row for row in table.to_dict("records")}
    by_video = dict(tuple(curated.groupby("video_id", sort=False)))
    clip_rows, window_tables, video_rows = [], [], []
    with atomic_dir(out_clips) as tmp_clips, atomic_dir(out_keyframes) as tmp_keys:
        for sheet_row in videos:
            if "source" in sheet_row:
                sheet_row = {**sheet_row, "source": redact_source(str(sheet_row["source"]))}
            deal = dealt.get(sheet_row["video_id"])
            if splits_tsv and deal is None and sheet_row["video_id"] not in (rejected or {}):
                raise ValueError(
                    f"{sheet_row['video_id']}: not in {splits_tsv} (a split table older "
                    "than the sheet?)"
                )
            if deal is not None:
                if deal["withdrawn"]:
                    continue
                sheet_row = {
                    **sheet_row,
                    **{key: deal[key] for key in ("split", "split_source", "split_group")},
                }
            video_id, split = sheet_row["video_id"], sheet_row["split"]
            rejection = (rejected or {}).get(video_id) or rejection_of(clip_tables[video_id])
            if rejection is not None:
                probe = (
                    {} if video_id not in probes else json.loads(Path(probes[video_id]).read_text())
                )
                video_rows.append(
                    _video_row(sheet_row, probe, status="rejected", rejection=rejection)
                )
                continue
            table = pd.read_csv(
                clip_tables[video_id], sep="\t", keep_default_na=False, dtype={"clip": str}
            )
            for column in MOTION_COLUMNS:  # blank = not measured
                table[column] = pd.to_numeric(table.get(column, ""), errors="coerce")
            probe = json.loads(Path(probes[video_id]).read_text())
            if stage_settings is not None and video_id not in stage_settings:
                raise ValueError(f"{video_id}: no stage settings hashes given for the video")
            provenance = {
                "source_content_sha256": probe.get("content_sha256", ""),
                "stage_settings": (stage_settings or {}).get(video_id, ""),
                "workflow_version": __version__,
            }
            window_tables.append(table.assign(split=split))
            clips = table[table["status"] == "clip"].set_index("clip", drop=False)
            scored = by_video.get(video_id, curated.iloc[:0])
            unscored = sorted(set(clips.index) ^ set(scored["clip"]))
            if unscored:
                raise ValueError(
                    f"{video_id}: clips {', '.join(unscored)} are in one of "
                    f"{clip_tables[video_id]} and the curation table, not both (scores "
                    "older than the clips?)"
                )
            kept = 0
            for row in scored.sort_values("start_s").to_dict("records"):
                clip = clips.loc[row["clip"]]
                number = numbers.get((video_id, row["clip"]), "")
                clip_rel = key_rel = ""
                if number:
                    kept += 1
                    clip_rel = Path("clips", split, video_id, f"{number}.mp4")
                    key_rel = Path("keyframes", split, video_id, f"{number}.jpg")
                    for tmp_root, rel, src in (
                        (tmp_clips, clip_rel, Path(clip_dirs[video_id]) / clip.clip_file),
                        (tmp_keys, key_rel, Path(keyframe_dirs[video_id]) / clip.keyframe_file),
                    ):
                        dest = tmp_root / Path(*rel.parts[1:])
                        dest.parent.mkdir(parents=True, exist_ok=True)
                        place(src, dest)
                duplicate_of = ""
                if isinstance(row["duplicate_of"], str) and row["duplicate_of"]:
                    other_video, other_clip = row["duplicate_of"].rsplit("/", 1)
                    other = split_of[other_video]
                    duplicate_of = str(
                        Path(
                            "clips",
                            other,
                            other_video,
                            f"{numbers[(other_video, other_clip)]}.mp4",
                        )
                    )
                clip_rows.append(
                    {
                        **sheet_row,
                        "clip": number,
                        "keep": bool(row["keep"]),
                        "reason": row["reason"],
                        "duplicate_of": duplicate_of,
                        "source_clip": row["clip"],
                        "window": int(clip.window),
                        "start_s": clip.start_s,
                        "end_s": clip.end_s,
                        "n_frames": clip.n_frames,
                        "fps": fps,
                        "width": clip.width,
                        "height": clip.height,
                        "clip_path": str(clip_rel),
                        "keyframe_path": str(key_rel),
                        "to_source": clip.to_source,
                        **{c: clip[c] for c in MOTION_COLUMNS},
                        **{c: row.get(c) for c in SCORE_ONLY_COLUMNS},
                        **{c: row.get(c) for c in learned},
                        "source_start_s": source_time(probe, clip.start_s),
                        "source_end_s": source_time(probe, clip.end_s),
                        **provenance,
                    }
                )
                if captions_parquet:
                    caption = captions.get((video_id, row["clip"]), {})
                    reason = caption.get("caption_reason", "")
                    if number and not caption:
                        reason = "no caption made (captions older than the curation?)"
                    clip_rows[-1]["caption"] = caption.get("caption", "") if number else ""
                    clip_rows[-1]["caption_reason"] = reason if number else ""
                    for column in ("caption_model", "caption_prompt_sha256"):
                        clip_rows[-1][column] = caption.get(column, "") if number else ""
                if caption_match_parquet:
                    clip_rows[-1]["caption_match"] = caption_match.get(
                        (video_id, row["clip"]), float("nan")
                    )
            dropped = table.loc[table["status"] != "clip", "reason"]
            if not len(clips):
                why = ",".join(sorted(set(dropped) - {""}))
            else:
                why = ",".join(sorted({r for rs in scored["reason"] for r in rs.split(",") if r}))
            video_rows.append(
                _video_row(
                    sheet_row,
                    probe,
                    status="ok" if kept else "no_clips",
                    reason="" if kept else why,
                    counts=(len(table), len(scored), kept),
                )
            )
        columns = [*(videos[0] if videos else {}), *TERMS_COLUMNS, *CLIP_METADATA_COLUMNS]
        columns += learned
        if captions_parquet:
            columns += CAPTION_METADATA_COLUMNS
        if caption_match_parquet:
            columns += ["caption_match"]
        metadata = pd.DataFrame(clip_rows, columns=list(dict.fromkeys(columns)))
        _write_parquet(metadata, out_metadata)
        _write_parquet(
            pd.concat(window_tables, ignore_index=True) if window_tables else pd.DataFrame(),
            out_windows,
        )
        _write_parquet(pd.DataFrame(video_rows), out_videos)
    return metadata


def _video_row(
    sheet_row: dict,
    probe: dict,
    status: str,
    reason: str = "",
    counts: tuple[int, int, int] = (0, 0, 0),
    rejection: Rejection | None = None,
) -> dict:
    """The video's row of videos.parquet: its sheet columns, then VIDEO_COLUMNS."""
    n_windows, n_scored, n_clips = counts
    return {
        **sheet_row,
        "n_windows": n_windows,
        "n_scored": n_scored,
        "n_clips": n_clips,
        "status": status,
        "rejected_at": rejection.stage if rejection else "",
        "reason": rejection.reason if rejection else reason,
        # a probe that rejected the video holds no facts about it
        **{key: probe.get(key) for key in PROBE_COLUMNS},
    }


def _write_parquet(table: pd.DataFrame, path: str) -> None:
    with atomic_path(path, suffix=".parquet") as tmp:
        table.to_parquet(tmp, index=False)
