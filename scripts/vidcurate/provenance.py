"""Where each clip came from: the hashes and terms every row of metadata.parquet carries.

- the content hash of the ingested source file (sha256 of its bytes, read in chunks);
- a stage's settings hash: 12 hex digits of sha256 over the settings that stage's rule
  got for the video, as JSON with sorted keys (vidcurate.plan.video_stage_settings);
- the footage's licence and attribution: the sample sheet's own, else the config's;
- a time of the clip in the source file's own timeline.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections.abc import Mapping

# read this much of a file at a time: a source of many gigabytes is never in memory
CHUNK_BYTES = 1 << 20
SETTINGS_HASH_CHARS = 12


def file_sha256(path: str | os.PathLike) -> str:
    """Hex sha256 of the file's bytes, streamed in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def text_sha256(text: str) -> str:
    """Hex sha256 of ``text`` as UTF-8."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def settings_sha256(settings: Mapping) -> str:
    """12 hex digits of sha256 over ``settings`` as JSON with sorted keys (so key order
    never changes it)."""
    text = json.dumps(settings, sort_keys=True, separators=(",", ":"), default=str)
    return text_sha256(text)[:SETTINGS_HASH_CHARS]


def stage_hashes(stages: Mapping[str, Mapping]) -> dict[str, str]:
    """stage -> settings hash of each stage's settings, stages in sorted order."""
    return {stage: settings_sha256(stages[stage]) for stage in sorted(stages)}


def own_or_default(value, default: str) -> str:
    """A sheet cell, stripped, or ``default`` where it is missing or blank (None, NaN,
    empty): how the licence and the attribution of a video are resolved everywhere."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return default
    return str(value).strip() or default


def licence_terms(row: Mapping, license_default: str, attribution_default: str) -> dict:
    """The footage's ``license`` and ``attribution``: the sheet row's own columns where
    given, else the config's dataset.license and dataset.attribution."""
    return {
        "license": own_or_default(row.get("license"), license_default),
        "attribution": own_or_default(row.get("attribution"), attribution_default),
    }


def source_time(probe: Mapping, time_s: float) -> float:
    """``time_s`` (measured from the video stream's first frame, as windows and clips
    are) as a presentation time of the ingested file: plus the stream's start time, to
    the microsecond."""
    return round(float(probe.get("stream_start_s") or 0.0) + float(time_s), 6)
