"""What a sheet's source is: a local file, a media URL, a page for yt-dlp, or an
archive of videos; which file names are videos and which archives."""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlparse

# direct downloads: an http(s) URL whose path ends in one of these
MEDIA_EXTENSIONS = {
    "mp4",
    "m4v",
    "mov",
    "mkv",
    "webm",
    "avi",
    "mpg",
    "mpeg",
    "ts",
    "mts",
    "m2ts",
    "flv",
    "wmv",
    "3gp",
    "ogv",
    "mxf",
    "h264",
    "264",
}


# tar (any compression) and zip: a source holding videos, one per member
ARCHIVE_SUFFIXES = (".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tar.xz", ".txz", ".zip")


def source_kind(source: str) -> str:
    """'local', 'http' (a media file URL), 'archive' (a local or http(s) tar/zip of
    videos) or 'ytdlp' (any other URL, e.g. a video page)."""
    parsed = urlparse(source)
    if parsed.scheme in ("http", "https"):
        if parsed.path.lower().endswith(ARCHIVE_SUFFIXES):
            return "archive"
        ext = Path(parsed.path).suffix.lower().lstrip(".")
        return "http" if ext in MEDIA_EXTENSIONS else "ytdlp"
    if parsed.scheme and len(parsed.scheme) > 1 and parsed.scheme != "file":
        return "ytdlp"
    return "archive" if source.lower().endswith(ARCHIVE_SUFFIXES) else "local"


def source_extension(source: str, kind: str) -> str:
    """File extension of the ingested copy: kept for files, mp4 for what yt-dlp fetches."""
    if kind == "ytdlp":
        return "mp4"
    if kind == "archive":  # never ingested itself: its members are
        return "archive"
    path = urlparse(source).path if kind == "http" else source
    ext = Path(path).suffix.lower().lstrip(".")
    return ext if ext.isalnum() else "mp4"


def is_archive(path: str | os.PathLike) -> bool:
    return str(path).lower().endswith(ARCHIVE_SUFFIXES)


def is_video(path: str | os.PathLike) -> bool:
    return Path(path).suffix.lower().lstrip(".") in MEDIA_EXTENSIONS


def archive_stem(path: str | os.PathLike) -> str:
    name = Path(path).name
    for suffix in sorted(ARCHIVE_SUFFIXES, key=len, reverse=True):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return Path(name).stem


def is_resource_fork(path: str | os.PathLike) -> bool:
    """macOS's AppleDouble companions (._name.mp4, __MACOSX/): not videos."""
    parts = Path(path).parts
    return "__MACOSX" in parts or Path(path).name.startswith("._")
