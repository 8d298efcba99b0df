"""Which split each video lands in: dealt by group, so footage that belongs together
never sits on both sides of an evaluation.

Videos are joined into one group when they share a non-empty value of any column named
in ``splits.group_by`` (subject, session, camera, channel...), transitively, and when
curation finds near-duplicate clips between them (``links``). A group's split is the
split a sheet row of it pins (rows pinning different splits are an error naming them),
else a seeded hash of the group's key cut at the configured fractions.

The key is what the group is known by: the smallest ``column=value`` of the first
``group_by`` column any member has a value of (then the next column), else, for a video
that shares nothing, its own video_id. So a video alone is dealt exactly as without
grouping, a ``subject`` group keeps its split whatever videos join it, and only a video
that links two groups (or brings a smaller value of an earlier column) moves one.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import pandas as pd

from .columns import SPLITS
from .settings import FromConfig

# columns of the table deal_splits returns (results/curation/splits.tsv adds the
# planned split, why a group moved and withdrawals)
DEAL_COLUMNS = ["video_id", "split", "split_source", "split_group"]


class SplitConflict(ValueError):
    """One group with rows pinned to different splits."""


@dataclass(frozen=True)
class Link:
    """Two videos that must share a split, and why (shown when that moves a group)."""

    a: str
    b: str
    why: str


def assign_split(key: str, seed: int, fractions: dict[str, float]) -> str:
    """The split of a video or group the sheet leaves without one: a hash of (seed, key)
    read as a number in [0, 1), cut at the cumulative fractions of ``fractions`` (train,
    val, test order). It depends on nothing else, so adding or removing videos never
    moves another video between splits, and every clip of a video lands in the same split."""
    total = sum(fractions.get(name, 0.0) for name in SPLITS)
    if total <= 0:
        raise ValueError("splits: the fractions add up to 0")
    digest = hashlib.sha256(f"{seed}:{key}".encode()).digest()
    point = int.from_bytes(digest[:8], "big") / 2**64 * total
    edge = 0.0
    for name in SPLITS:
        edge += fractions.get(name, 0.0)
        if point < edge:
            return name
    return next(name for name in reversed(SPLITS) if fractions.get(name, 0.0) > 0)


class _Groups:
    """Union-find over video ids."""

    def __init__(self, ids: Iterable[str]):
        self.parent = {video_id: video_id for video_id in ids}

    def find(self, video_id: str) -> str:
        root = video_id
        while self.parent[root] != root:
            root = self.parent[root]
        while self.parent[video_id] != root:  # path compression
            self.parent[video_id], video_id = root, self.parent[video_id]
        return root

    def join(self, a: str, b: str) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


def _value(row: dict, column: str) -> str:
    value = row.get(column)
    if value is None or (isinstance(value, float) and value != value):
        return ""
    return str(value).strip()


def group_members(
    rows: Sequence[dict], group_by: Sequence[str], links: Iterable[Link] = ()
) -> dict[str, list[str]]:
    """Group key -> its video ids (in row order); see the module's docstring for the key."""
    ids = [row["video_id"] for row in rows]
    groups = _Groups(ids)
    for column in group_by:
        first_with: dict[str, str] = {}
        for row in rows:
            value = _value(row, column)
            if value:
                groups.join(first_with.setdefault(value, row["video_id"]), row["video_id"])
    known = set(ids)
    for link in links:
        if link.a in known and link.b in known:
            groups.join(link.a, link.b)
    labels: dict[str, tuple[int, str]] = {}
    members: dict[str, list[str]] = {}
    for row in rows:
        root = groups.find(row["video_id"])
        members.setdefault(root, []).append(row["video_id"])
        own = [(i, f"{c}={_value(row, c)}") for i, c in enumerate(group_by) if _value(row, c)]
        label = min([*own, (len(group_by), row["video_id"])])
        labels[root] = min(labels.get(root, label), label)
    return {labels[root][1]: videos for root, videos in members.items()}


def deal_splits(
    rows: Sequence[dict],
    group_by: Sequence[str],
    seed: int,
    fractions: dict[str, float],
    links: Sequence[Link] = (),
) -> pd.DataFrame:
    """Every row's split, in row order: ``rows`` are dicts with video_id, split (the
    sheet's own, "" when it has none) and the ``group_by`` columns.

    split_source: ``sheet`` (the row's own), ``group`` (pinned by another row of its
    group), ``assigned`` (dealt). Raises SplitConflict naming the rows when one group
    holds rows pinned to different splits (and the links that joined them)."""
    by_id = {row["video_id"]: row for row in rows}
    dealt: dict[str, tuple[str, str, str]] = {}
    for key, videos in group_members(rows, group_by, links).items():
        pins: dict[str, list[str]] = {}
        for video_id in videos:
            pinned = _value(by_id[video_id], "split")
            if pinned:
                pins.setdefault(pinned, []).append(video_id)
        if len(pins) > 1:
            raise SplitConflict(_conflict(key, videos, pins, links))
        split = next(iter(pins)) if pins else assign_split(key, seed, fractions)
        for video_id in videos:
            own = video_id in pins.get(split, ())
            source = "sheet" if own else ("group" if pins else "assigned")
            dealt[video_id] = (split, source, key)
    table = [(video_id, *dealt[video_id]) for video_id in by_id]
    return pd.DataFrame(table, columns=DEAL_COLUMNS)


def _conflict(key: str, videos: list[str], pins: dict[str, list[str]], links) -> str:
    pinned = "; ".join(f"{_some(ids)} -> {split}" for split, ids in sorted(pins.items()))
    inside = set(videos)
    joined = [link.why for link in links if link.a in inside and link.b in inside]
    why = f", joined by {'; '.join(joined[:3])}" if joined else ""
    return (
        f"the group {key} ({len(videos)} videos{why}) has rows pinned to different "
        f"splits: {pinned}; give the group one split or leave all but one blank"
    )


def moved_groups(planned: pd.DataFrame, final: pd.DataFrame, links: Sequence[Link]) -> dict:
    """video_id -> why its split changed from ``planned`` to ``final`` (the links of its
    final group), for every video whose split changed."""
    before = dict(zip(planned["video_id"], planned["split"], strict=True))
    group_of = dict(zip(final["video_id"], final["split_group"], strict=True))
    whys: dict[str, list[str]] = {}
    for link in links:
        if link.a in group_of and group_of[link.a] == group_of.get(link.b):
            whys.setdefault(group_of[link.a], []).append(link.why)
    moved = {}
    for video_id, split, group in final[["video_id", "split", "split_group"]].itertuples(
        index=False
    ):
        if before[video_id] != split:
            moved[video_id] = "; ".join(whys.get(group, [])[:3])
    return moved


def group_sizes(table: pd.DataFrame) -> pd.DataFrame:
    """Per split (every split, empty ones too): groups, videos, and the largest group's
    size, from a table with split and split_group per video."""
    rows = []
    for split in SPLITS:
        part = table[table["split"] == split]
        sizes = part.groupby("split_group").size()
        rows.append(
            {
                "split": split,
                "groups": len(sizes),
                "videos": len(part),
                "largest_group": int(sizes.max()) if len(sizes) else 0,
                "groups_of_one": int((sizes == 1).sum()),
            }
        )
    return pd.DataFrame(rows)


@dataclass(frozen=True)
class SplitSettings(FromConfig):
    """Config ``splits``: the fractions, the seed and what ties videos into groups."""

    seed: int = 0
    train: float = 0.8
    val: float = 0.1
    test: float = 0.1
    group_by: tuple[str, ...] = ()
    group_near_duplicates: bool = True
    near_duplicate_min_share: float = 0.5

    def fractions(self) -> dict[str, float]:
        return {"train": self.train, "val": self.val, "test": self.test}


def _some(values) -> str:
    """Up to five of ``values`` in the order given, and how many more."""
    values = list(values)
    return ", ".join(values[:5]) + (f" and {len(values) - 5} more" if len(values) > 5 else "")


def straddling_groups(metadata: pd.DataFrame, group_by: Sequence[str] = ()) -> list[str]:
    """A line per video, per group (split_group) and per non-empty value of each
    ``group_by`` column (read afresh from the sheet's columns the rows carry, so a
    grouping that failed to join two videos is caught too) whose clips sit in more than
    one split, naming the splits and the videos in each."""
    problems = []
    for column in ("video_id", "split_group", *group_by):
        if column not in metadata.columns:
            continue
        values = metadata[column].fillna("").astype(str).str.strip()
        splits_of = metadata[values != ""].groupby(values[values != ""])["split"].unique()
        for name, splits in splits_of.items():
            if len(splits) < 2:
                continue
            part = metadata[values == name]
            where = "; ".join(
                f"{split}: {_some(sorted(part.loc[part['split'] == split, 'video_id'].unique()))}"
                for split in sorted(splits)
            )
            what = {"video_id": "video", "split_group": "group"}.get(column, column)
            problems.append(f"{what} {name} straddles splits ({where})")
    return problems


def straddling_duplicates(metadata: pd.DataFrame) -> list[str]:
    """A line per clip marked a near-duplicate of a kept clip in another split
    (duplicate_of is that clip's path, clips/{split}/...)."""
    problems = []
    marked = metadata[metadata["duplicate_of"].fillna("") != ""]
    for row in marked[["video_id", "source_clip", "split", "duplicate_of"]].itertuples(index=False):
        other = row.duplicate_of.split("/")[1]
        if other != row.split:
            problems.append(
                f"{row.split} clip {row.video_id}/{row.source_clip} is a near-duplicate of "
                f"{other} clip {row.duplicate_of}"
            )
    return problems
