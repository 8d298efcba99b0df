"""Archives as sources: a tar or zip of videos becomes one video per member.

The ``archive`` checkpoint opens the archive (downloading it first when the source is
an http(s) URL), extracts every member that is a video to
``resources/archives/{archive_id}/{video_id}.{ext}`` and writes the listing
``results/archives/{archive_id}.tsv``: every member, its video_id
(``{archive_id}.{member path below the root, separators as _}``, made safe and unique),
``video`` or ``skipped`` and the reason (not a video, not a regular file, an unsafe
path, a macOS resource fork, unreadable). A member that is a video by name but broken
inside is extracted all the same and fails in its own probe job, so one bad member
never stops the others. Members are streamed to disk, never held in memory.
"""

from __future__ import annotations

import logging
import shutil
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import pandas as pd

from .atomic import atomic_dir, atomic_path
from .errors import VideoError
from .sheet_builder import is_video, unique_ids

log = logging.getLogger(__name__)

LISTING_COLUMNS = ["member", "video_id", "status", "reason", "bytes", "file"]
CHUNK = 1 << 20


@dataclass
class Member:
    name: str
    size: int
    regular: bool


def _skip_reason(member: Member) -> str:
    path = PurePosixPath(member.name)
    if not member.regular:
        return "not a regular file"
    if path.is_absolute() or ".." in path.parts:
        return "unsafe path (absolute or with ..)"
    if "__MACOSX" in path.parts or path.name.startswith("._"):
        return "macOS resource fork"
    if not is_video(path.name):
        suffix = path.suffix or "(none)"
        return f"not a video (extension {suffix})"
    return ""


def _open(path: Path, archive_id: str):
    """(kind, handle, members) of a tar (any compression) or zip; VideoError otherwise."""
    try:
        if zipfile.is_zipfile(path):
            handle = zipfile.ZipFile(path)
            members = [Member(i.filename, i.file_size, not i.is_dir()) for i in handle.infolist()]
            return "zip", handle, [m for m in members if not m.name.endswith("/")]
        handle = tarfile.open(path, "r:*")  # noqa: SIM115 (the caller closes it)
        members = [Member(m.name, m.size, m.isfile()) for m in handle.getmembers() if not m.isdir()]
        return "tar", handle, members
    except (tarfile.TarError, zipfile.BadZipFile, OSError, EOFError) as err:
        raise VideoError(archive_id, f"cannot open archive {path.name}: {err}") from None


def member_ids(archive_id: str, names: list[str]) -> list[str]:
    stems = [
        f"{archive_id}.{PurePosixPath(n).with_suffix('').as_posix().replace('/', '_')}"
        for n in names
    ]
    return unique_ids(stems, lambda message: log.info("%s: %s", archive_id, message))


def list_archive(archive: str, archive_id: str, out_listing: str) -> pd.DataFrame:
    """List every member of ``archive`` with its video_id or the reason it is skipped
    (reads the archive's headers; a compressed tar is decompressed, not written)."""
    path = Path(archive)
    _kind, handle, members = _open(path, archive_id)
    with handle:
        videos = [m.name for m in members if not _skip_reason(m)]
        ids = dict(zip(videos, member_ids(archive_id, videos), strict=True))
        rows = []
        for member in members:
            reason = _skip_reason(member)
            row = {
                "member": member.name,
                "video_id": "",
                "status": "skipped",
                "reason": reason,
                "bytes": member.size,
                "file": "",
            }
            if not reason:
                ext = PurePosixPath(member.name).suffix.lower().lstrip(".")
                video_id = ids[member.name]
                row.update(video_id=video_id, status="video", file=f"{video_id}.{ext}")
            rows.append(row)
    listing = pd.DataFrame(rows, columns=LISTING_COLUMNS)
    with atomic_path(out_listing) as tmp:
        listing.to_csv(tmp, sep="\t", index=False)
    log.info(
        "%s: %d members, %s", archive_id, len(listing), listing["status"].value_counts().to_dict()
    )
    for row in listing[listing["status"] != "video"].itertuples():
        log.info("%s: skipped %s: %s", archive_id, row.member, row.reason)
    return listing


def extract_members(archive: str, archive_id: str, listing_tsv: str, out_dir: str) -> int:
    """Stream the listed videos out of ``archive`` into ``out_dir``; a member that
    cannot be read leaves ``{file}.error`` with the reason, for its own ingest job to
    report, and the others are extracted all the same. Returns the videos extracted."""
    listing = read_listing(listing_tsv)
    wanted = {r.member: r.file for r in listing.itertuples() if r.status == "video"}
    kind, handle, _members = _open(Path(archive), archive_id)
    done = 0
    with handle, atomic_dir(out_dir) as tmp:
        for member, file in wanted.items():
            try:
                source = handle.open(member) if kind == "zip" else handle.extractfile(member)
                with source, open(tmp / file, "wb") as dest:
                    shutil.copyfileobj(source, dest, CHUNK)
                done += 1
            except (tarfile.TarError, zipfile.BadZipFile, OSError, EOFError, KeyError) as err:
                (tmp / file).unlink(missing_ok=True)
                (tmp / f"{file}.error").write_text(
                    f"{member} cannot be read from the archive: {err}"
                )
                log.warning("%s: %s cannot be read: %s", archive_id, member, err)
    log.info("%s: extracted %d of %d videos", archive_id, done, len(wanted))
    return done


def extract_archive(archive: str, archive_id: str, out_dir: str, out_listing: str) -> pd.DataFrame:
    """List and extract in one go (tests and tools; the workflow runs the two apart)."""
    listing = list_archive(archive, archive_id, out_listing)
    extract_members(archive, archive_id, out_listing, out_dir)
    return listing


def member_file(folder: str, file: str, video_id: str) -> str:
    """The extracted member, or VideoError with the reason it could not be extracted."""
    error = Path(folder) / f"{file}.error"
    if error.is_file():
        raise VideoError(video_id, error.read_text())
    return str(Path(folder) / file)


def read_listing(path: str | Path) -> pd.DataFrame:
    return pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
