"""Video ids: what the workflow accepts, and how a file or member name becomes one.

An id names the video's files in every stage (``results/{stage}/{video_id}...``) and is
a wildcard value Snakemake matches, so besides its characters it must not end in one
piece repeated 20 or more times: Snakemake takes such a value for a rule that feeds
itself forever and refuses to plan (PeriodicWildcardError).
"""

from __future__ import annotations

import re

VIDEO_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
# every file name the workflow makes from an id adds at most a short suffix: ids of
# the sheet (and each part of an archive member's id) stay far below 255 bytes
MAX_ID_LENGTH = 120
# Snakemake's limit (snakemake.io.PeriodicityDetector): a value ending in a piece
# repeated this many times is refused
PERIODIC_REPEATS = 20
_PERIODIC_TAIL = re.compile(rf"(.+?)\1{{{PERIODIC_REPEATS - 1},}}$")


def periodic_tail(video_id: str) -> str | None:
    """The piece ``video_id`` ends with PERIODIC_REPEATS or more times, or None."""
    match = _PERIODIC_TAIL.search(video_id)
    return match.group(1) if match else None


def id_problem(video_id: str, max_length: int = MAX_ID_LENGTH) -> str:
    """Why ``video_id`` cannot name a video ('' when it can), as a sentence."""
    if not VIDEO_ID_PATTERN.match(video_id):
        return (
            f"{video_id!r} is not allowed: use letters, digits, '_', '.', '-', "
            "starting with a letter or digit"
        )
    if len(video_id) > max_length:
        return f"{video_id[:20]!r}... has {len(video_id)} characters, more than {max_length}"
    piece = periodic_tail(video_id)
    if piece is not None:
        return (
            f"{video_id!r} ends in {piece!r} repeated {PERIODIC_REPEATS} or more times, which "
            "Snakemake takes for a rule that feeds itself and will not plan; shorten the run"
        )
    return ""


def _shorten_periodic_tail(text: str) -> str:
    """``text`` with a repeated tail cut to one repeat fewer than Snakemake refuses."""
    while (piece := periodic_tail(text)) is not None:
        run = re.search(rf"(?:{re.escape(piece)})+$", text)
        text = text[: run.start()] + piece * (PERIODIC_REPEATS - 1)
    return text


def safe_id(text: str, fallback: str = "v", max_length: int = MAX_ID_LENGTH) -> str:
    """An id made from ``text`` (a file or member name) that id_problem accepts: letters,
    digits, '_', '.', '-' only, starting with a letter or digit (else ``fallback`` is
    put first), at most ``max_length`` characters, no tail Snakemake would refuse."""
    text = re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_.-")
    if not text:
        text = fallback
    elif not text[0].isalnum():
        text = f"{fallback}{text}"
    text = _shorten_periodic_tail(text[:max_length].rstrip("_.-"))
    return text.rstrip("_.-") or fallback


def unique_ids(stems: list[str], report) -> list[str]:
    """safe_id of every stem, made unique by a -2, -3... suffix; ``report`` is told of
    each collision."""
    taken: dict[str, str] = {}
    ids = []
    for stem in stems:
        base = safe_id(stem)
        candidate, n = base, 1
        while candidate in taken:
            n += 1
            candidate = f"{base}-{n}"
        if candidate != base:
            report(
                f"id collision: {stem!r} gives {base!r} like {taken[base]!r}; using {candidate!r}"
            )
        taken[candidate] = stem
        ids.append(candidate)
    return ids
