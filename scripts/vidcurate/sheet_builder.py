"""vidcurate-sheet: a sample sheet from folders, globs and archives of videos.

    vidcurate-sheet DIR|GLOB|FILE|ARCHIVE... [--join meta.csv] [--split train] > videos.tsv

Folders are searched recursively for video files (by extension); a glob is expanded
(``**`` included); a tar or zip archive becomes one row whose source is the archive (the
workflow opens it and makes one video per member, ``{archive_id}.{member_stem}``). Ids
come from the path (below the folder given, separators as ``_``), made safe for file
names and unique (``-2``, ``-3`` on a collision, each reported on stderr). Splits are
dealt by video with the workflow's own hash (seeded, stable when files are added) unless
``--split`` or a ``split`` column of the joined table gives one. ``--join`` adds the
columns of a CSV/TSV whose ``file_name`` (or ``--join-on``) column holds file names.
The result is checked with the workflow's sheet validation before it is printed.
"""

from __future__ import annotations

import argparse
import glob
import os
import sys
import tempfile
from pathlib import Path

import pandas as pd

from .columns import SPLITS
from .errors import SheetError
from .ids import unique_ids
from .sheet import assign_split, load_sheet
from .sources import archive_stem, is_archive, is_resource_fork, is_video

SCHEMA = Path(__file__).resolve().parents[2] / "config" / "schemas" / "samples.schema.yaml"


def find_sources(inputs: list[str]) -> list[tuple[Path, str]]:
    """(file, id stem) of every video or archive the inputs name, in sorted order per
    input; a folder's files are named by their path below it."""
    found: list[tuple[Path, str]] = []
    for given in inputs:
        path = Path(given)
        if path.is_dir():
            for file in sorted(p for p in path.rglob("*") if p.is_file()):
                if is_resource_fork(file.relative_to(path)):
                    continue
                if is_video(file) or is_archive(file):
                    relative = file.relative_to(path)
                    stem = archive_stem(relative) if is_archive(file) else relative.with_suffix("")
                    found.append((file, str(stem).replace(os.sep, "_")))
        elif path.is_file():
            found.append((path, archive_stem(path) if is_archive(path) else path.stem))
        else:
            matches = sorted(glob.glob(given, recursive=True))
            files = [Path(m) for m in matches if Path(m).is_file()]
            if not files:
                raise SheetError(f"{given}: no such file, folder, or files matching the glob")
            for file in files:
                if (is_video(file) or is_archive(file)) and not is_resource_fork(file):
                    found.append((file, archive_stem(file) if is_archive(file) else file.stem))
    return found


def read_join(path: str, key: str | None) -> tuple[pd.DataFrame, str]:
    sep = "\t" if path.lower().endswith((".tsv", ".tab")) else ","
    table = pd.read_csv(path, sep=sep, dtype=str, keep_default_na=False)
    table.columns = [c.strip() for c in table.columns]
    if key is None:
        key = next(
            (c for c in ("file_name", "filename", "file", "path") if c in table.columns), None
        )
    if key is None or key not in table.columns:
        raise SheetError(
            f"{path}: no column to join on (file_name, filename, file or path; or --join-on)"
        )
    table[key] = table[key].map(lambda v: Path(v.strip()).name)
    repeated = table[key][table[key].duplicated()].tolist()
    if repeated:
        raise SheetError(f"{path}: file name(s) {', '.join(repeated[:5])} appear more than once")
    return table, key


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
    found = find_sources(inputs)
    if not found:
        raise SheetError(f"no videos or archives found in {', '.join(inputs)}")
    seen: dict[Path, str] = {}
    files, stems = [], []
    for file, stem in found:
        resolved = file.resolve()
        if resolved in seen:
            report(f"{file}: listed twice (also as {seen[resolved]}), kept once")
            continue
        seen[resolved] = str(file)
        files.append(file)
        stems.append(stem)
    ids = unique_ids(stems, report)
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
        names = [f.name for f in files]
        unmatched = sorted(set(extra[key]) - set(names))
        if unmatched:
            report(f"{join}: {len(unmatched)} row(s) match no file, e.g. {unmatched[0]}")
        extra = extra.set_index(key)
        for column in extra.columns:
            values = [extra[column].get(name, "") for name in names]
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="vidcurate-sheet", description=__doc__.split("\n\n")[0])
    parser.add_argument("inputs", nargs="+", help="folders, globs, video files, tar/zip archives")
    parser.add_argument("--join", help="CSV/TSV of extra columns, one row per file name")
    parser.add_argument("--join-on", help="its file name column (default: file_name, ...)")
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
    except SheetError as err:
        print(f"vidcurate-sheet: {err}", file=sys.stderr)
        return 2
    if args.output:
        sheet.to_csv(args.output, sep="\t", index=False)
    else:
        sheet.to_csv(sys.stdout, sep="\t", index=False)
    print(f"vidcurate-sheet: {len(sheet)} rows", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
