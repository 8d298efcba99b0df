"""vidcurate-sheet: a sample sheet from folders, globs and archives of videos.

    vidcurate-sheet DIR|GLOB|FILE|ARCHIVE... [--join meta.csv] [--split train] > videos.tsv

Folders are searched recursively for video files (by extension); a glob is expanded
(``**`` included); a tar or zip archive becomes one row whose source is the archive (the
workflow opens it and makes one video per member, ``{archive_id}.{member_stem}``). Ids
come from the path (below the folder given, separators as ``_``), made safe for file
names and unique (``-2``, ``-3`` on a collision, each reported on stderr). Splits are
dealt by video with the workflow's own hash (seeded, stable when files are added) unless
``--split`` or a ``split`` column of the joined table gives one. ``--join`` adds the
columns of a CSV/TSV whose ``file_name`` (or ``--join-on``) column names each video by
its path below the folder or glob root it was found under (a longer path, or the file
name alone where no other video has it, will do). The result is checked with the
workflow's sheet validation before it is printed. A user error is one line on stderr
and exit status 2, as argparse's own.
"""

from __future__ import annotations

import argparse
import glob
import os
import sys
import tempfile
from pathlib import Path, PurePosixPath
from typing import NamedTuple

import pandas as pd

from .columns import SPLITS
from .errors import SheetError
from .ids import unique_ids
from .sheet import load_sheet
from .sources import archive_stem, is_archive, is_resource_fork, is_video
from .splits import assign_split

SCHEMA = Path(__file__).resolve().parents[2] / "config" / "schemas" / "samples.schema.yaml"


class Found(NamedTuple):
    file: Path  # as found from the input given
    stem: str  # what its id is made from
    below: str  # its path below the folder or glob root, as a join table names it


def _glob_root(pattern: str) -> Path:
    """The folder a glob searches: its leading parts without a wildcard."""
    parts = []
    for part in Path(pattern).parts:
        if any(char in part for char in "*?["):
            break
        parts.append(part)
    return Path(*parts)


def find_sources(inputs: list[str]) -> list[Found]:
    """Every video or archive the inputs name, in sorted order per input; a folder's
    files are named by their path below it."""
    found: list[Found] = []
    for given in inputs:
        path = Path(given)
        if path.is_dir():
            for file in sorted(p for p in path.rglob("*") if p.is_file()):
                if is_resource_fork(file.relative_to(path)):
                    continue
                if is_video(file) or is_archive(file):
                    relative = file.relative_to(path)
                    stem = archive_stem(relative) if is_archive(file) else relative.with_suffix("")
                    found.append(Found(file, str(stem).replace(os.sep, "_"), relative.as_posix()))
        elif path.is_file():
            stem = archive_stem(path) if is_archive(path) else path.stem
            found.append(Found(path, stem, path.name))
        else:
            matches = sorted(glob.glob(given, recursive=True))
            files = [Path(m) for m in matches if Path(m).is_file()]
            if not files:
                raise SheetError(f"{given}: no such file, folder, or files matching the glob")
            root = _glob_root(given)
            for file in files:
                if (is_video(file) or is_archive(file)) and not is_resource_fork(file):
                    stem = archive_stem(file) if is_archive(file) else file.stem
                    found.append(Found(file, stem, file.relative_to(root).as_posix()))
    return found


def read_join(path: str, key: str | None) -> tuple[pd.DataFrame, str]:
    """The join table and its key column, keys stripped; one row per key."""
    kind, sep = ("TSV", "\t") if path.lower().endswith((".tsv", ".tab")) else ("CSV", ",")
    try:
        # no header row for pandas: a row longer than the header is then an error,
        # not an index column that shifts every value
        rows = pd.read_csv(path, sep=sep, dtype=str, keep_default_na=False, header=None)
    except OSError as err:
        raise SheetError(f"{path}: cannot read the join table ({err.strerror})") from None
    except UnicodeDecodeError:
        raise SheetError(f"{path}: the join table is not UTF-8 text") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as err:
        reason = str(err).strip().splitlines()[-1].split("C error: ")[-1]
        raise SheetError(f"{path}: not a {kind} table ({reason})") from None
    table = rows.iloc[1:].set_axis([c.strip() for c in rows.iloc[0]], axis=1)
    doubled = sorted(set(table.columns[table.columns.duplicated()]))
    if doubled:
        raise SheetError(f"{path}: column(s) {', '.join(doubled)} appear more than once")
    if key is None:
        key = next(
            (c for c in ("file_name", "filename", "file", "path") if c in table.columns), None
        )
        if key is None:
            raise SheetError(
                f"{path}: no column to join on (file_name, filename, file or path; or --join-on)"
            )
    elif key not in table.columns:
        raise SheetError(
            f"{path}: no column {key!r} to join on; its columns: {', '.join(table.columns)}"
        )
    table[key] = table[key].str.strip()
    parts = table[key].map(lambda v: PurePosixPath(v).parts)
    repeated = table.loc[parts.duplicated(), key].tolist()
    if repeated:
        raise SheetError(f"{path}: {', '.join(repeated[:5])} appear(s) more than once")
    return table, key


def match_join(
    keys: list[str], found: list[Found], where: str
) -> tuple[list[int | None], list[str]]:
    """The video each join key names, and the keys that name none. A key names the
    videos whose path ends in it: the file name, the path below the folder or glob root,
    or more of it. A key two videos end in, or two keys for one video, is a SheetError."""
    ends: dict[tuple[str, ...], list[int]] = {}
    for number, video in enumerate(found):
        parts = Path(os.path.abspath(video.file)).parts
        for start in range(len(parts)):
            ends.setdefault(parts[start:], []).append(number)
    matched: list[int | None] = []
    unmatched = []
    taken: dict[int, str] = {}
    for key in keys:
        videos = ends.get(PurePosixPath(key).parts, []) if key else []
        if len(videos) > 1:
            below = [found[n].below for n in videos]
            # the same path below two different folders: name them as found instead
            names = below if len(set(below)) == len(below) else [str(found[n].file) for n in videos]
            raise SheetError(
                f"{where}: {key!r} could be any of {', '.join(map(repr, names))}; "
                "write more of its path"
            )
        if not videos:
            unmatched.append(key)
            matched.append(None)
            continue
        if videos[0] in taken:
            raise SheetError(
                f"{where}: {taken[videos[0]]!r} and {key!r} both name "
                f"{found[videos[0]].below!r}; keep one row"
            )
        taken[videos[0]] = key
        matched.append(videos[0])
    return matched, unmatched


def build_sheet(
    inputs: list[str],
    seed: int = 0,
    fractions: dict[str, float] | None = None,
    split: str | None = None,
    join: str | None = None,
    join_on: str | None = None,
    relative_to: str | None = None,
    report=lambda message: print(message, file=sys.stderr),
) -> pd.DataFrame:
    """The sheet as a table: video_id, source, split, then the joined columns."""
    fractions = fractions or {"train": 0.8, "val": 0.1, "test": 0.1}
    if not split and (min(fractions.values()) < 0 or sum(fractions.values()) <= 0):
        shares = ", ".join(f"{name} {share:g}" for name, share in fractions.items())
        raise SheetError(f"split shares must be 0 or more, and not all 0 (got {shares})")
    if relative_to and not Path(relative_to).is_dir():
        raise SheetError(
            f"--relative-to {relative_to}: no such folder (the folder the sheet will be in; "
            "make it first)"
        )
    found = find_sources(inputs)
    if not found:
        raise SheetError(f"no videos or archives found in {', '.join(inputs)}")
    seen: dict[Path, str] = {}
    kept: list[Found] = []
    for video in found:
        resolved = video.file.resolve()
        if resolved in seen:
            report(f"{video.file}: listed twice (also as {seen[resolved]}), kept once")
            continue
        seen[resolved] = str(video.file)
        kept.append(video)
    files = [video.file for video in kept]
    ids = unique_ids([video.stem for video in kept], report)
    base = Path(relative_to).resolve() if relative_to else None
    sources = [os.path.relpath(f.resolve(), base) if base else str(f.resolve()) for f in files]
    sheet = pd.DataFrame({"video_id": ids, "source": sources, "split": split or ""})
    if join:
        extra, key = read_join(join, join_on)
        clash = {"video_id", "source"} & set(extra.columns)
        if clash:
            raise SheetError(
                f"{join}: column(s) {', '.join(sorted(clash))} would replace the ones built "
                "from the files; rename them"
            )
        matched, unmatched = match_join(extra[key].tolist(), kept, join)
        if unmatched:
            report(f"{join}: {len(unmatched)} row(s) match no file, e.g. {sorted(unmatched)[0]}")
        rows = {video: row for row, video in enumerate(matched) if video is not None}
        for column in extra.columns.drop(key):
            values = [extra[column].iat[rows[n]] if n in rows else "" for n in range(len(kept))]
            if column == "split":
                if not split:
                    sheet["split"] = values
            else:
                sheet[column] = values
    # an archive without a given split stays blank: the workflow deals each of its
    # videos a split of its own (dealing the archive would put them all in one)
    sheet["split"] = [
        given or ("" if is_archive(file) else assign_split(video_id, seed, fractions))
        for video_id, given, file in zip(sheet["video_id"], sheet["split"], files, strict=True)
    ]
    return sheet


def check_sheet(sheet: pd.DataFrame, where: str | None = None) -> None:
    """The workflow's own validation (schema, ids, files, reserved names), on a copy
    written where relative sources resolve as they will for the workflow."""
    folder = Path(where) if where else Path.cwd()
    with tempfile.NamedTemporaryFile("w", suffix=".tsv", dir=folder, delete=False) as handle:
        sheet.to_csv(handle, sep="\t", index=False)
    try:
        load_sheet(handle.name, SCHEMA)
    finally:
        os.unlink(handle.name)


EXAMPLES = """examples:
  vidcurate-sheet raw/day1 'raw/day 2' --relative-to config -o config/videos.tsv
  vidcurate-sheet 'raw/**/*.mp4' --split test --relative-to config -o config/test.tsv
  vidcurate-sheet raw/batch.tar.gz --relative-to config -o config/batch.tsv
  vidcurate-sheet raw --join meta.csv --relative-to config -o config/videos.tsv

meta.csv names each video by its path below raw/ (quote names with commas):
  file_name,subject,split
  "day1/cam A run#1.mp4",m3,val
  "day 2/cam A run#1.mp4",m4,
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="vidcurate-sheet",
        description=__doc__.split("\n\n")[0],
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("inputs", nargs="+", help="folders, globs, video files, tar/zip archives")
    parser.add_argument(
        "--join",
        help="CSV/TSV of extra columns, one row per video, named by its path below the "
        "folder or glob root (or its file name where no other video has it)",
    )
    parser.add_argument("--join-on", help="the column naming the videos (default: file_name, ...)")
    parser.add_argument("--split", choices=SPLITS, help="one split for every video")
    parser.add_argument("--seed", type=int, default=0, help="seed of the split hash")
    for name, share in (("train", 0.8), ("val", 0.1), ("test", 0.1)):
        parser.add_argument(f"--{name}", type=float, default=share, help=f"share of {name}")
    parser.add_argument(
        "--relative-to",
        help="write sources relative to this folder (where the sheet will live); default absolute",
    )
    parser.add_argument("-o", "--output", help="write here instead of stdout")
    args = parser.parse_args(argv)
    try:
        sheet = build_sheet(
            args.inputs,
            seed=args.seed,
            fractions={"train": args.train, "val": args.val, "test": args.test},
            split=args.split,
            join=args.join,
            join_on=args.join_on,
            relative_to=args.relative_to,
        )
        check_sheet(sheet, args.relative_to)
        if args.output:
            with open(args.output, "w", newline="") as handle:
                sheet.to_csv(handle, sep="\t", index=False)
        else:
            sheet.to_csv(sys.stdout, sep="\t", index=False)
    except SheetError as err:
        print(f"vidcurate-sheet: {err}", file=sys.stderr)
        return 2
    except OSError as err:  # a folder, table or output the user named cannot be used
        reason = f"{err.filename}: {err.strerror}" if err.filename and err.strerror else err
        print(f"vidcurate-sheet: {reason}", file=sys.stderr)
        return 2
    print(f"vidcurate-sheet: {len(sheet)} rows", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
