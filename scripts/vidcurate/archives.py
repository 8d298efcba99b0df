"""Archives as sources: a tar or zip of videos becomes one video per member.

The ``archive`` checkpoint opens the archive (downloading it first when the source is
an http(s) URL), extracts every member that is a video to
``resources/archives/{archive_id}/members/{video_id}.{ext}`` and writes the listing
``results/archives/{archive_id}.tsv``: every member, its video_id
(``{archive_id}.{member path below the root, separators as _}``, made safe and unique),
``video`` or ``skipped`` and the reason (not a video, not a regular file, an unsafe
path, a macOS resource fork, unreadable). A member that is a video by name but broken
inside is extracted all the same and fails in its own probe job, so one bad member
never stops the others. Members are streamed to disk, never held in memory.
"""

from __future__ import annotations

import errno
import logging
import shutil
import stat
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import pandas as pd

from vidcurate.settings import FromConfig

from .atomic import atomic_dir, atomic_path
from .errors import VideoError
from .ids import periodic_tail, safe_id, unique_ids
from .outcome import Rejection, rejection_of
from .sources import is_resource_fork, is_video

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ArchiveLimits(FromConfig):
    """What an archive may hold (config ``archives``): members are refused in the
    listing, before anything is extracted."""

    max_member_gb: float = 20.0
    max_ratio: float = 100.0  # extracted / stored bytes, for members of 64 MiB and more
    min_free_gb: float = 1.0  # left free on the disk after extracting


LISTING_COLUMNS = ["member", "video_id", "status", "reason", "bytes", "file"]
CHUNK = 1 << 20


@dataclass
class Member:
    name: str
    size: int  # bytes once extracted (the archive's own header says)
    regular: bool
    stored: int | None = None  # bytes it takes in the archive, where known


# a video barely compresses; the ratio of smaller members says little
RATIO_FROM_BYTES = 64 << 20


def _skip_reason(member: Member, limits: ArchiveLimits) -> str:
    path = PurePosixPath(member.name)
    if not member.regular:
        return "not a regular file"
    if member.size > limits.max_member_gb * 1e9:
        return f"{member.size} bytes, more than archives.max_member_gb ({limits.max_member_gb:g})"
    if member.stored and member.size >= RATIO_FROM_BYTES:
        ratio = member.size / member.stored
        if ratio > limits.max_ratio:
            return (
                f"compressed {ratio:.0f} to 1, more than archives.max_ratio "
                f"({limits.max_ratio:g}): not a video"
            )
    if path.is_absolute() or ".." in path.parts:
        return "unsafe path (absolute or with ..)"
    if is_resource_fork(member.name):
        return "macOS resource fork"
    if not is_video(path.name):
        suffix = path.suffix or "(none)"
        return f"not a video (extension {suffix})"
    return ""


def printable_name(name: str) -> str:
    """A member name as text: bytes that are not UTF-8 (tar keeps them as they were
    written, Python reads them as lone surrogates) become ``\\xNN``, so the listing can
    be written and an extraction finds the member by the same name."""
    return name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def _zip_regular(info: zipfile.ZipInfo) -> bool:
    """A plain file: not a folder, and no symlink or device in its Unix mode bits."""
    mode = info.external_attr >> 16
    return not info.is_dir() and (stat.S_IFMT(mode) in (0, stat.S_IFREG))


def _members(path: Path, archive_id: str) -> tuple[list[Member], str]:
    """The members of a tar (any compression, read as a stream) or zip, and why the
    listing stopped early ("" when it did not): a tar truncated or corrupt part-way
    still lists the members before the damage. VideoError if it cannot be opened.

    ``stored`` is a zip member's compressed size; for a tar, the stretch of the archive
    file read while its data went by (compressed tars are one stream)."""
    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as handle:
                infos = handle.infolist()
            members = [
                Member(i.filename, i.file_size, _zip_regular(i), i.compress_size) for i in infos
            ]
            return [m for m in members if not m.name.endswith("/")], ""
        with open(path, "rb") as raw:
            return _tar_members(raw, path, archive_id)
    except (tarfile.TarError, zipfile.BadZipFile, OSError, EOFError) as err:
        raise VideoError(archive_id, f"cannot open archive {path.name}: {err}") from None


def _tar_members(raw, path: Path, archive_id: str) -> tuple[list[Member], str]:
    members, starts, stopped = [], [], ""
    with tarfile.open(fileobj=raw, mode="r|*") as handle:
        try:
            for info in handle:
                if not info.isdir():
                    starts.append(raw.tell())
                    members.append(Member(printable_name(info.name), info.size, info.isfile()))
        except Exception as err:  # truncated or corrupt after some members
            stopped = (
                f"archive unreadable after {len(members)} members: {type(err).__name__}: {err}"
            )
        starts.append(raw.tell())
    for member, start, end in zip(members, starts, starts[1:], strict=False):
        member.stored = max(end - start, 1)
    if not members and stopped:
        raise VideoError(archive_id, f"cannot open archive {path.name}: {stopped}")
    return members, stopped


def member_ids(archive_id: str, names: list[str]) -> list[str]:
    """``{archive_id}.{member path without extension, separators as _}``: the member part
    made safe on its own (never empty, so the archive's prefix always stays; no tail
    Snakemake refuses, vidcurate.ids) and unique within the archive."""
    stems = [PurePosixPath(n).with_suffix("").as_posix().replace("/", "_") for n in names]
    parts = unique_ids(
        [safe_id(stem) for stem in stems],
        lambda message: log.info("%s: %s", archive_id, message),
    )
    ids = []
    for part in parts:
        video_id = f"{archive_id}.{part}"
        if periodic_tail(video_id):  # a repeated run across the dot, each side short
            video_id += "-m"
        ids.append(video_id)
    return ids


def list_archive(
    archive: str, archive_id: str, out_listing: str, limits: ArchiveLimits | None = None
) -> pd.DataFrame:
    """List every member of ``archive`` with its video_id or the reason it is skipped
    (reads the archive's headers; a compressed tar is decompressed, not written).
    Members over ``limits`` are skipped here, so they are never extracted."""
    limits = limits or ArchiveLimits()
    path = Path(archive)
    members, stopped = _members(path, archive_id)
    seen: set[str] = set()
    reasons = []
    for member in members:
        reason = _skip_reason(member, limits)
        if not reason and member.name in seen:  # tar allows it; the last would win
            reason = "repeats an earlier member of the same name"
        seen.add(member.name)
        reasons.append(reason)
    videos = [m.name for m, reason in zip(members, reasons, strict=True) if not reason]
    ids = dict(zip(videos, member_ids(archive_id, videos), strict=True))
    rows = []
    for member, reason in zip(members, reasons, strict=True):
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
    if stopped:
        rows.append(
            {
                "member": "(rest of the archive)",
                "video_id": "",
                "status": "skipped",
                "reason": stopped,
                "bytes": 0,
                "file": "",
            }
        )
    listing = pd.DataFrame(rows, columns=LISTING_COLUMNS)
    with atomic_path(out_listing) as tmp:
        listing.to_csv(tmp, sep="\t", index=False)
    log.info(
        "%s: %d members, %s", archive_id, len(listing), listing["status"].value_counts().to_dict()
    )
    for row in listing[listing["status"] != "video"].itertuples():
        log.info("%s: skipped %s: %s", archive_id, row.member, row.reason)
    return listing


def check_free_space(folder: str | Path, needed: int, min_free_gb: float, what: str) -> None:
    """Fail (an OSError: the disk is not the video's fault) when writing ``needed``
    bytes under ``folder`` would leave less than ``min_free_gb`` free."""
    folder = Path(folder)
    while not folder.exists():
        folder = folder.parent
    free = shutil.disk_usage(folder).free
    if needed + min_free_gb * 1e9 > free:
        raise OSError(
            errno.ENOSPC,
            f"{what} needs {needed / 1e9:.2f} GB and archives.min_free_gb "
            f"({min_free_gb:g}) more, but {folder} has {free / 1e9:.2f} GB free",
        )


def extract_members(
    archive: str,
    archive_id: str,
    listing_tsv: str,
    out_dir: str,
    limits: ArchiveLimits | None = None,
) -> int:
    """Stream the listed videos out of ``archive`` into ``out_dir``; a member that
    cannot be read leaves ``{file}.error`` with the reason, for its own ingest job to
    report, and the others are extracted all the same. Returns the videos extracted.
    Nothing is written unless the disk has room for every listed video."""
    limits = limits or ArchiveLimits()
    listing = read_listing(listing_tsv)
    videos = listing[listing["status"] == "video"]
    wanted = dict(zip(videos["member"], videos["file"], strict=True))
    needed = int(pd.to_numeric(videos["bytes"]).sum()) if len(videos) else 0
    check_free_space(out_dir, needed, limits.min_free_gb, f"extracting {archive_id}")
    path, done, failed = Path(archive), set(), {}
    with atomic_dir(out_dir) as tmp:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as handle:
                # the first entry of a name, as listed (ZipFile.open(name) takes the last)
                first: dict[str, zipfile.ZipInfo] = {}
                for info in handle.infolist():
                    first.setdefault(info.filename, info)
                for member in wanted:
                    try:
                        _copy(handle.open(first[member]), tmp / wanted[member])
                        done.add(member)
                    except Exception as err:  # this member's own failure
                        failed[member] = f"{type(err).__name__}: {err}"
        else:
            # one pass over the stream: a compressed tar is never decompressed twice
            try:
                with tarfile.open(path, "r|*") as handle:
                    for info in handle:
                        name = printable_name(info.name)
                        if name in wanted and name not in done:
                            try:
                                _copy(handle.extractfile(info), tmp / wanted[name])
                                done.add(name)
                            except Exception as err:
                                failed[name] = f"{type(err).__name__}: {err}"
                                (tmp / wanted[name]).unlink(missing_ok=True)
                                break  # a stream cannot go on past broken data
            except Exception as err:  # truncated or corrupt: the rest cannot be read
                stream_error = f"{type(err).__name__}: {err}"
                failed.update({m: stream_error for m in wanted if m not in done})
        for member, file in wanted.items():
            if member not in done:
                reason = failed.get(member, "not found in the archive")
                (tmp / file).unlink(missing_ok=True)
                (tmp / f"{file}.error").write_text(
                    f"{member} cannot be read from the archive: {reason}"
                )
                log.warning("%s: %s cannot be read: %s", archive_id, member, reason)
    done = len(done)
    log.info("%s: extracted %d of %d videos", archive_id, done, len(wanted))
    return done


def extract_archive(
    archive: str,
    archive_id: str,
    out_dir: str,
    out_listing: str,
    limits: ArchiveLimits | None = None,
) -> pd.DataFrame:
    """List and extract in one go (tests and tools; the workflow runs the two apart)."""
    listing = list_archive(archive, archive_id, out_listing, limits)
    extract_members(archive, archive_id, out_listing, out_dir, limits)
    return listing


def _copy(source, dest: Path) -> None:
    with source, open(dest, "wb") as out:
        shutil.copyfileobj(source, out, CHUNK)


def member_file(folder: str, file: str, video_id: str) -> str:
    """The extracted member, or VideoError with the reason it could not be extracted."""
    error = Path(folder) / f"{file}.error"
    if error.is_file():
        raise VideoError(video_id, error.read_text())
    return str(Path(folder) / file)


def read_listing(path: str | Path) -> pd.DataFrame:
    """The archive's listing; an archive that was rejected (a download answering 4xx,
    an archive that cannot be opened) lists no member."""
    if rejection_of(path) is not None:
        return pd.DataFrame(columns=LISTING_COLUMNS)
    return pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)


def archive_outcome(path: str | Path, archive_id: str) -> Rejection | None:
    """Why the archive gave no video (its rejection, or what its members were), or
    None when it gave at least one: such an archive is a row of its own in the
    dataset's videos.parquet and the run summary."""
    rejection = rejection_of(path)
    if rejection is not None:
        return Rejection(archive_id, rejection.stage, rejection.reason)
    listing = read_listing(path)
    if (listing["status"] == "video").any():
        return None
    if not len(listing):
        return Rejection(archive_id, "archive", "empty archive: no members")
    skipped = listing["reason"].value_counts().to_dict()
    reasons = "; ".join(f"{n} {reason}" for reason, n in sorted(skipped.items()))
    return Rejection(archive_id, "archive", f"no video in the archive ({reasons})")
