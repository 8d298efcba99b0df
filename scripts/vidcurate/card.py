"""The dataset card: ``results/dataset/README.md`` in the Hugging Face dataset-card format.

A YAML header the Hub reads (licence, task categories, size category by clips kept,
pretty name, tags), then what a user of the dataset asks first: clips kept and hours per
split, where the videos came from (URLs without query string, fragment or password),
which filters dropped how many clips at which thresholds, what each file is, and the
workflow version and config hash that made it. Every number is counted from the
dataset's own tables (metadata.parquet, videos.parquet), so the card and the tables
never disagree.

With WebDataset shards on, a second card for the shards' folder: the same facts, the
shards' files, and a ``configs`` header naming each split's tar files (the Hub's
data-files configuration: a reader takes the tars, not the {split}.json indexes).
"""

from __future__ import annotations

import hashlib
import json
import math
import urllib.parse

import pandas as pd
import yaml

from vidcurate import __version__

from .atomic import write_text
from .columns import SPLITS, reason_counts
from .provenance import own_or_default
from .reasons import FILTERS, CurationSettings
from .web import redact_source

# the Hub's size buckets: (exclusive upper bound, name); past the last one, n>1T
SIZE_CATEGORIES = [
    (10**3, "n<1K"),
    (10**4, "1K<n<10K"),
    (10**5, "10K<n<100K"),
    (10**6, "100K<n<1M"),
    (10**7, "1M<n<10M"),
    (10**8, "10M<n<100M"),
    (10**9, "100M<n<1B"),
    (10**10, "1B<n<10B"),
    (10**11, "10B<n<100B"),
    (10**12, "100B<n<1T"),
]
# config keys that change no file of the dataset: where jobs run, the report's figures,
# the annotation page, calibration mode (which writes no dataset)
NOT_IN_HASH = ("gpu_jobs", "report", "annotate", "calibration")
# the card lists at most this many videos' sources (videos.parquet holds every one)
SOURCES_SHOWN = 100
COUNT_COLUMNS = ["split", "videos", "clips scored", "clips kept", "hours kept", "source hours"]


def size_category(n: int) -> str:
    """The Hub's size category of a dataset of ``n`` examples (kept clips)."""
    for bound, name in SIZE_CATEGORIES:
        if n < bound:
            return name
    return "n>1T"


def config_hash(config: dict) -> str:
    """sha256 of the config as JSON with sorted keys (defaults filled in), without the
    keys that change no file of the dataset (NOT_IN_HASH): two datasets with the same
    hash were made with the same settings, and a Slurm run with GPU jobs gives the card
    of a local run."""
    kept = {key: value for key, value in config.items() if key not in NOT_IN_HASH}
    text = json.dumps(kept, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def _kept(metadata: pd.DataFrame) -> pd.DataFrame:
    return metadata[metadata["keep"].astype(bool)] if len(metadata) else metadata


def _in_split(table: pd.DataFrame, split: str) -> pd.DataFrame:
    return table if split == "all" or not len(table) else table[table["split"] == split]


def split_counts(metadata: pd.DataFrame, videos: pd.DataFrame) -> pd.DataFrame:
    """Per split (and all): videos, clips scored, clips kept, hours of the kept clips
    (frames / fps) and hours of the source videos (their probed duration; none for a
    rejected video)."""
    kept = _kept(metadata)
    rows = []
    for split in [*SPLITS, "all"]:
        clips, here = _in_split(kept, split), _in_split(videos, split)
        seconds = (clips["n_frames"] / clips["fps"]).sum() if len(clips) else 0.0
        source = pd.to_numeric(here["duration_s"], errors="coerce") if len(here) else None
        rows.append(
            {
                "split": split,
                "videos": len(here),
                "clips scored": len(_in_split(metadata, split)),
                "clips kept": len(clips),
                "hours kept": float(seconds) / 3600,
                "source hours": float(source.sum()) / 3600 if source is not None else 0.0,
            }
        )
    return pd.DataFrame(rows, columns=COUNT_COLUMNS)


def _resolved(table: pd.DataFrame, column: str, default: str) -> list[str]:
    """Each row's ``column`` (license, attribution), ``default`` where it is missing or
    blank (vidcurate.provenance.own_or_default, as the dataset's rows were filled)."""
    values = table[column] if column in table.columns else [None] * len(table)
    return [own_or_default(value, default) for value in values]


def licence_table(metadata: pd.DataFrame, default: str) -> pd.DataFrame:
    """Kept clips per licence (rows, sorted, lower case as the Hub spells its ids) and
    split (columns: every split, then all); ``default``: dataset.license, for rows
    without one. No kept clip: the default's row of zeros."""
    kept = _kept(metadata)
    names = [name.lower() for name in _resolved(kept, "license", default)]
    splits = list(kept["split"]) if len(kept) else []
    rows = []
    for name in sorted(set(names)) or [default.lower()]:
        mine = [split for licence, split in zip(names, splits, strict=True) if licence == name]
        rows.append(
            {
                "licence": name,
                **{split: mine.count(split) for split in SPLITS},
                "all": len(mine),
            }
        )
    return pd.DataFrame(rows, columns=["licence", *SPLITS, "all"])


def licences(metadata: pd.DataFrame, default: str) -> dict[str, int]:
    """Licence -> kept clips under it (licence_table's all)."""
    table = licence_table(metadata, default)
    return dict(zip(table["licence"], (int(n) for n in table["all"]), strict=True))


def attributions(metadata: pd.DataFrame, default: str) -> list[str]:
    """The distinct attributions of the kept clips, sorted (``default``:
    dataset.attribution, for rows without one); none when nobody is credited."""
    return sorted(set(_resolved(_kept(metadata), "attribution", default)) - {""})


def filter_rows(metadata: pd.DataFrame, curation: dict) -> list[dict]:
    """Every curation filter: its reason, the score it reads, the config key and its
    threshold (off when null), and the clips it dropped (a clip failing two filters
    counts under both)."""
    settings = CurationSettings(**curation)
    dropped = reason_counts(metadata["reason"]) if len(metadata) else {}
    rows = [
        {
            "reason": reason,
            "rule": f"{column} {'<' if side == 'below' else '>'} {getattr(settings, key)}"
            if getattr(settings, key) is not None
            else f"{column} (off)",
            "key": f"curation.{key}",
            "dropped": dropped.get(reason, 0),
        }
        for reason, column, key, side in FILTERS
    ]
    bits = settings.dedup_max_hamming
    rows.append(
        {
            "reason": "duplicate",
            "rule": f"both pHashes within {bits} bits of a kept clip"
            if bits is not None
            else "pHash (off)",
            "key": "curation.dedup_max_hamming",
            "dropped": dropped.get("duplicate", 0),
        }
    )
    return rows


def _origin(source: str) -> str:
    parts = urllib.parse.urlsplit(source)
    if len(parts.scheme) <= 1:  # no scheme, or a Windows drive letter
        return "local files"
    return f"{parts.scheme}://{parts.netloc}"


def _text(value) -> str:
    """A table value as text: '' for a missing one (None, NaN)."""
    return "" if value is None or (isinstance(value, float) and math.isnan(value)) else str(value)


def _cell(value) -> str:
    """A markdown table cell: one line, no column separator."""
    return " ".join(str(value).replace("|", "\\|").split())


def _table(header: list[str], rows: list[list]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in rows]
    return lines


def _hours(value: float) -> str:
    return f"{value:.3f}"


DATASET_FILES = [
    (
        "clips/{split}/{video_id}/0001.mp4",
        "the kept clips, numbered per video in time order (H.264, no audio); with keyframes/ "
        "and annotations/ the SlowFast/AlphAction custom-data layout",
    ),
    ("keyframes/{split}/{video_id}/0001.jpg", "each kept clip's first frame, same size"),
    (
        "metadata.parquet",
        "one row per scored clip, kept or dropped: keep, reason, every score, the clip and "
        "keyframe paths, the sheet's columns",
    ),
    ("windows.parquet", "every candidate window of every video, with why it was dropped"),
    ("videos.parquet", "one row per video: its sheet columns, status, reason, probed facts"),
    ("annotations/{split}.json, {split}_min.json", "COCO JSON, one image per keyframe"),
    ("boxes/{split}_person_bbox.json", "keyframe -> detected boxes with their scores"),
    (
        "ava/{split}.csv, ava/{split}_proposals.pkl, ava/label_map.pbtxt",
        "AVA CSV, proposals and label map (mmaction2)",
    ),
    ("paths_catalog_entry.py", "AlphAction DatasetCatalog entries for the three splits"),
    ("unmatched_labels.tsv", "rows of the label file that joined no keyframe or box"),
    ("validation.json", "what the validation of the COCO and AVA files checked, per split"),
    ("README.md", "this card"),
]
SHARD_FILES = [
    (
        "{split}-000000.tar, ...",
        "WebDataset shards of the split's kept clips: one sample per clip, key "
        "{video_id}/{clip}, with .mp4 (the clip), .jpg (its keyframe) and .json (its "
        "metadata.parquet row, keyframe boxes and caption)",
    ),
    ("{split}.json", "the split's index: samples, and each shard's name, samples and bytes"),
    ("README.md", "this card"),
]


def front_matter(
    settings: dict, counts: pd.DataFrame, licence_counts: dict[str, int], shards: bool
) -> dict:
    """The YAML header: the Hub's keys; for the shards' folder, each split's tar files
    as a ``configs`` entry (splits without a kept clip have no shard)."""
    names = list(licence_counts)
    kept = int(counts.loc[counts["split"] == "all", "clips kept"].iloc[0])
    header = {
        "license": names[0] if len(names) == 1 else names,
        "pretty_name": settings["pretty_name"],
        "task_categories": list(settings["task_categories"]),
        "size_categories": [size_category(kept)],
        "tags": ["video", *(["webdataset"] if settings["webdataset"] else [])],
    }
    if shards:
        header["configs"] = [
            {
                "config_name": "default",
                "data_files": [
                    {"split": row["split"], "path": f"{row['split']}-*.tar"}
                    for row in counts.to_dict("records")
                    if row["split"] != "all" and row["clips kept"]
                ],
            }
        ]
    return header


def render_card(
    metadata: pd.DataFrame,
    videos: pd.DataFrame,
    settings: dict,
    curation: dict,
    config_sha256: str,
    version: str = __version__,
    shards: bool = False,
) -> str:
    """The card's text. ``settings``: pretty_name, license (dataset.license),
    attribution (dataset.attribution), task_categories, webdataset, captions
    (vidcurate.plan.card_settings); ``curation``: the curation thresholds; ``shards``:
    the card of the WebDataset folder."""
    counts = split_counts(metadata, videos)
    by_licence = licence_table(metadata, settings["license"])
    licence_counts = licences(metadata, settings["license"])
    credits = attributions(metadata, settings["attribution"])
    header = front_matter(settings, counts, licence_counts, shards)
    name = settings["pretty_name"]
    lines = [
        "---",
        yaml.safe_dump(header, sort_keys=False, allow_unicode=True).rstrip(),
        "---",
        "",
        f"# {name}",
        "",
        f"Video clips of {len(videos)} videos, cut, filtered and annotated by vidcurate "
        f"{version}" + (" and packed as WebDataset shards." if shards else "."),
        "",
        "## Splits",
        "",
        *_table(
            COUNT_COLUMNS,
            [
                [
                    r["split"],
                    r["videos"],
                    r["clips scored"],
                    r["clips kept"],
                    _hours(r["hours kept"]),
                    _hours(r["source hours"]),
                ]
                for r in counts.to_dict("records")
            ],
        ),
        "",
        "Videos are split as a whole: every clip of a video is in its split.",
        "",
        "## Licence",
        "",
        "Kept clips per licence and split:",
        "",
        *_table(list(by_licence.columns), by_licence.values.tolist()),
        "",
        "From the sample sheet's `license` column, else the config's `dataset.license`. The "
        "footage's own terms apply: check each source.",
        "",
        "Attribution (the sample sheet's `attribution` column, else the config's "
        "`dataset.attribution`; each clip's is in metadata.parquet):",
        "",
        *([f"- {_cell(credit)}" for credit in credits] or ["- none given"]),
        "",
    ]
    lines += _sources(videos, settings["license"])
    lines += [
        "## Filters",
        "",
        "A scored clip is kept when it fails no filter. Clips dropped per filter (a clip "
        "failing two filters counts under both):",
        "",
        *_table(
            ["reason", "drops a clip when", "config key", "clips dropped"],
            [
                [r["reason"], r["rule"], f"`{r['key']}`", r["dropped"]]
                for r in filter_rows(metadata, curation)
            ],
        ),
        "",
        "## Files",
        "",
        *_table(
            ["file", "what it is"],
            [[f"`{path}`", what] for path, what in (SHARD_FILES if shards else DATASET_FILES)],
        ),
        "",
    ]
    if not shards and settings["webdataset"]:
        lines += ["WebDataset shards of the kept clips: `results/webdataset/`.", ""]
    if settings["captions"]:
        lines += ["Kept clips carry a caption (`caption` in metadata.parquet).", ""]
    lines += [
        "## Provenance",
        "",
        f"- workflow: vidcurate {version}",
        f"- config sha256: `{config_sha256}` (the config of the run that wrote this card, "
        "defaults filled in, as JSON with sorted keys, without "
        + ", ".join(f"`{key}`" for key in NOT_IN_HASH)
        + ")",
        "- per clip, in metadata.parquet: the source file's sha256 (`source_content_sha256`), "
        "the clip's span in it (`source_start_s`, `source_end_s`), the hash of the settings "
        "of every stage that made it (`stage_settings`), `workflow_version`, `license` and "
        "`attribution`",
        "",
    ]
    return "\n".join(lines)


def _sources(videos: pd.DataFrame, default_licence: str) -> list[str]:
    """Where the videos came from: videos per origin, then each video's source (a URL
    without userinfo, query string or fragment), licence, status and clips kept."""
    sources = [redact_source(str(s)) for s in videos.get("source", pd.Series(dtype=str))]
    origins: dict[str, int] = {}
    for source in sources:
        origins[_origin(source)] = origins.get(_origin(source), 0) + 1
    lines = [
        "## Sources",
        "",
        "Videos per origin: "
        + ", ".join(f"{o} {n}" for o, n in sorted(origins.items(), key=lambda i: (-i[1], i[0])))
        + ".",
        "",
    ]
    rows = []
    for video, source in zip(videos.to_dict("records")[:SOURCES_SHOWN], sources, strict=False):
        licence = own_or_default(video.get("license"), default_licence)
        kept = _text(video.get("n_clips"))
        rows.append(
            [
                video["video_id"],
                video.get("split", ""),
                source,
                licence.lower(),
                video.get("status", ""),
                kept,
            ]
        )
    lines += _table(["video", "split", "source", "licence", "status", "clips kept"], rows)
    if len(videos) > SOURCES_SHOWN:
        lines += ["", f"... and {len(videos) - SOURCES_SHOWN} more (videos.parquet lists all)."]
    return [*lines, ""]


def write_cards(
    metadata_parquet: str,
    videos_parquet: str,
    settings: dict,
    curation: dict,
    config: dict,
    out_card: str,
    out_shards_card: str | None = None,
) -> str:
    """Write the dataset's card (and the shards' folder's, when asked); returns the
    dataset's card."""
    metadata = pd.read_parquet(metadata_parquet)
    videos = pd.read_parquet(videos_parquet)
    digest = config_hash(config)
    card = render_card(metadata, videos, settings, curation, digest)
    write_text(out_card, card)
    if out_shards_card:
        write_text(
            out_shards_card, render_card(metadata, videos, settings, curation, digest, shards=True)
        )
    return card
