"""Assemble the trainer's layout (seed 001) and its metadata from per-video results.

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
from urllib.parse import urlsplit, urlunsplit

import pandas as pd

from .atomic import atomic_dir, atomic_path
from .columns import MOTION_COLUMNS

CLIP_METADATA_COLUMNS = [
    "video_id",
    "split",
    "clip",
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
]
# facts of the ingested file, from its probe JSON, in every row of videos.parquet
PROBE_COLUMNS = ["duration_s", "width", "height", "avg_frame_rate", "codec", "size_bytes"]
# what videos.parquet adds to the sheet's columns
VIDEO_COLUMNS = ["n_windows", "n_clips", "status", "reason", *PROBE_COLUMNS]


def redact_source(source: str) -> str:
    """A URL without userinfo, query string or fragment (signed tokens, passwords);
    a local path as it is ('#' and '?' are file name characters there)."""
    parts = urlsplit(source)
    if len(parts.scheme) <= 1:  # no scheme, or a Windows drive letter
        return source
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def place(src: Path, dest: Path) -> None:
    """Hard-link ``src`` to ``dest`` (no second copy of the bytes), copying across filesystems."""
    try:
        os.link(src, dest)
    except OSError:
        shutil.copy2(src, dest)


def build_dataset(
    videos: list[dict],
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
) -> pd.DataFrame:
    """Lay out clips and keyframes by split and write the three metadata tables.

    ``videos`` are the sample-sheet rows (video_id, source, split and any extra
    columns, which are carried into every clip's metadata row). A URL source is
    written without its query string, fragment and userinfo (signed tokens).
    """
    clip_rows, window_tables, video_rows = [], [], []
    with atomic_dir(out_clips) as tmp_clips, atomic_dir(out_keyframes) as tmp_keys:
        for sheet_row in videos:
            if "source" in sheet_row:
                sheet_row = {**sheet_row, "source": redact_source(str(sheet_row["source"]))}
            video_id, split = sheet_row["video_id"], sheet_row["split"]
            table = pd.read_csv(
                clip_tables[video_id], sep="\t", keep_default_na=False, dtype={"clip": str}
            )
            for column in MOTION_COLUMNS:  # blank = not measured
                table[column] = pd.to_numeric(table.get(column, ""), errors="coerce")
            probe = json.loads(Path(probes[video_id]).read_text())
            window_tables.append(table.assign(split=split))
            clips = table[table["status"] == "clip"]
            if len(clips):
                (tmp_clips / split / video_id).mkdir(parents=True)
                (tmp_keys / split / video_id).mkdir(parents=True)
            for clip in clips.itertuples():
                clip_rel = Path("clips", split, video_id, clip.clip_file)
                key_rel = Path("keyframes", split, video_id, clip.keyframe_file)
                place(
                    Path(clip_dirs[video_id]) / clip.clip_file,
                    tmp_clips / clip_rel.relative_to("clips"),
                )
                place(
                    Path(keyframe_dirs[video_id]) / clip.keyframe_file,
                    tmp_keys / key_rel.relative_to("keyframes"),
                )
                clip_rows.append(
                    {
                        **sheet_row,
                        "clip": clip.clip,
                        "start_s": clip.start_s,
                        "end_s": clip.end_s,
                        "n_frames": clip.n_frames,
                        "fps": fps,
                        "width": clip.width,
                        "height": clip.height,
                        "clip_path": str(clip_rel),
                        "keyframe_path": str(key_rel),
                        "to_source": clip.to_source,
                        **{c: getattr(clip, c) for c in MOTION_COLUMNS},
                    }
                )
            reasons = sorted(set(table.loc[table["status"] != "clip", "reason"]) - {""})
            video_rows.append(
                {
                    **sheet_row,
                    "n_windows": len(table),
                    "n_clips": len(clips),
                    "status": "ok" if len(clips) else "no_clips",
                    "reason": "" if len(clips) else ",".join(reasons),
                    **{key: probe[key] for key in PROBE_COLUMNS},
                }
            )
        columns = [*(videos[0] if videos else {}), *CLIP_METADATA_COLUMNS]
        metadata = pd.DataFrame(clip_rows, columns=list(dict.fromkeys(columns)))
        _write_parquet(metadata, out_metadata)
        _write_parquet(
            pd.concat(window_tables, ignore_index=True) if window_tables else pd.DataFrame(),
            out_windows,
        )
        _write_parquet(pd.DataFrame(video_rows), out_videos)
    return metadata


def _write_parquet(table: pd.DataFrame, path: str) -> None:
    with atomic_path(path, suffix=".parquet") as tmp:
        table.to_parquet(tmp, index=False)
