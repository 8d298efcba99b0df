"""The dataset card: its numbers equal what plain pandas counts in the tables, its YAML
header is what the Hugging Face Hub reads, sources never show a token, and the shards'
folder gets its own card."""

from __future__ import annotations

import hashlib
import json

import pandas as pd
import pytest
import yaml

from conftest import REPO
from vidcurate import plan
from vidcurate.card import config_hash, render_card, size_category, write_cards
from vidcurate.config import validate_config
from vidcurate.shards import write_shards

SCHEMA = yaml.safe_load((REPO / "config" / "schemas" / "config.schema.yaml").read_text())
TOKEN = "sig-5f3a9c0d2e7b41aa"
PASSWORD = "hunter2-lab-pass"
CURATION = {
    "min_motion_px_s": None,
    "min_sharpness": 5.0,
    "min_luma": 20.0,
    "max_luma": 240.0,
    "max_clipped": None,
    "max_text_area": 0.05,
    "max_faces": None,
    "max_flash_frames": None,
    "min_tracks": None,
    "dedup_max_hamming": 2,
}
SETTINGS = {
    "pretty_name": "mice",
    "license": "CC-BY-4.0",
    "attribution": "Lab A",
    "task_categories": ["object-detection"],
    "webdataset": True,
    "captions": False,
}


def tables() -> tuple[pd.DataFrame, pd.DataFrame]:
    """Four videos: two train (one with its own licence), one val from a signed URL
    with a password, one test that was rejected; clips kept and dropped for several
    reasons, one clip for two, at 25 and 30 fps."""
    videos = pd.DataFrame(
        {
            "video_id": ["a", "b", "c", "d"],
            "split": ["train", "train", "val", "test"],
            "source": [
                "raw/a.mp4",
                "raw/b.mp4",
                f"https://lab:{PASSWORD}@media.example.org/c.mp4?X-Amz-Signature={TOKEN}",
                "https://media.example.org/d.mp4",
            ],
            "license": ["", "mit", "", ""],
            "attribution": ["", "© Lab B | CC BY 4.0 via Zenodo 10.5281/zenodo.1", " ", "x"],
            "status": ["ok", "ok", "ok", "rejected"],
            "n_clips": [3, 1, 2, 0],
            "duration_s": [10.0, 4.5, 7.25, None],
        }
    )
    clip_rows = [
        # video, keep, reason, frames, fps
        ("a", True, "", 25, 25),
        ("a", True, "", 25, 25),
        ("a", True, "", 25, 25),
        ("a", False, "blurry", 25, 25),
        ("a", False, "dark,text", 25, 25),
        ("b", True, "", 50, 25),
        ("b", False, "duplicate", 50, 25),
        ("c", True, "", 30, 30),
        ("c", True, "", 30, 30),
        ("c", False, "text", 30, 30),
    ]
    split = dict(zip(videos["video_id"], videos["split"], strict=True))
    licence = dict(zip(videos["video_id"], videos["license"], strict=True))
    credit = dict(zip(videos["video_id"], videos["attribution"], strict=True))
    metadata = pd.DataFrame(
        [
            {
                "video_id": v,
                "split": split[v],
                "license": licence[v],
                "attribution": credit[v],
                "keep": keep,
                "reason": reason,
                "n_frames": frames,
                "fps": fps,
            }
            for v, keep, reason, frames, fps in clip_rows
        ]
    )
    return metadata, videos


def header_and_body(card: str) -> tuple[dict, str]:
    assert card.startswith("---\n")
    head, body = card[4:].split("\n---\n", 1)
    return yaml.safe_load(head), body


def table_rows(body: str, section: str) -> list[list[str]]:
    """The cells of the first markdown table under ``## section`` (header row dropped)."""
    text = body.split(f"## {section}\n", 1)[1]
    lines = [line for line in text.split("\n## ", 1)[0].splitlines() if line.startswith("|")]
    return [[c.strip() for c in line.strip("|").split("|")] for line in lines[2:]]


def test_split_counts_equal_plain_pandas_counts():
    metadata, videos = tables()
    _, body = header_and_body(render_card(metadata, videos, SETTINGS, CURATION, "0" * 64))
    rows = {row[0]: row[1:] for row in table_rows(body, "Splits")}
    assert list(rows) == ["train", "val", "test", "all"]
    kept = metadata[metadata["keep"]]
    for split in ("train", "val", "test", "all"):
        k = kept if split == "all" else kept[kept["split"] == split]
        m = metadata if split == "all" else metadata[metadata["split"] == split]
        v = videos if split == "all" else videos[videos["split"] == split]
        hours = (k["n_frames"] / k["fps"]).sum() / 3600
        source_hours = v["duration_s"].fillna(0).sum() / 3600
        assert rows[split] == [
            str(len(v)),
            str(len(m)),
            str(len(k)),
            f"{hours:.3f}",
            f"{source_hours:.3f}",
        ], split
    assert rows["all"][2] == "6"  # 3 + 1 + 2 kept, written out once by hand


def test_filters_show_thresholds_and_what_each_dropped():
    metadata, videos = tables()
    _, body = header_and_body(render_card(metadata, videos, SETTINGS, CURATION, "0" * 64))
    rows = {row[0]: row for row in table_rows(body, "Filters")}
    for reason in ("blurry", "dark", "text", "duplicate", "static", "bright"):
        expected = metadata["reason"].str.split(",").apply(lambda r, x=reason: x in r).sum()
        assert rows[reason][3] == str(expected), reason
    assert rows["text"][3] == "2"  # one text alone, one dark and text
    assert rows["blurry"][1] == "sharpness < 5.0"
    assert rows["text"][1] == "text_area > 0.05"
    assert rows["static"][1] == "motion_mean_px_s (off)"
    assert rows["duplicate"][1] == "both pHashes within 2 bits of a kept clip"
    assert rows["blurry"][2] == "`curation.min_sharpness`"


def test_yaml_header_has_the_hubs_keys_and_every_licence_in_use():
    metadata, videos = tables()
    header, body = header_and_body(render_card(metadata, videos, SETTINGS, CURATION, "ab" * 32))
    assert {"license", "pretty_name", "task_categories", "size_categories"} <= set(header)
    # b's own licence, and the config's for the rest, in the Hub's lower case
    assert header["license"] == ["cc-by-4.0", "mit"]
    assert header["pretty_name"] == "mice"
    assert header["task_categories"] == ["object-detection"]
    assert header["size_categories"] == ["n<1K"]
    assert "configs" not in header  # the dataset folder is no WebDataset
    licences = {row[0]: row[-1] for row in table_rows(body, "Licence")}
    kept = metadata[metadata["keep"]]
    assert licences == {"cc-by-4.0": str((kept["video_id"] != "b").sum()), "mit": "1"}
    assert f"config sha256: `{'ab' * 32}`" in body
    # one licence: a plain string
    one = metadata.assign(license="")
    assert header_and_body(render_card(one, videos, SETTINGS, CURATION, ""))[0]["license"] == (
        "cc-by-4.0"
    )


def test_licence_table_counts_kept_clips_per_licence_and_split_as_pandas_does():
    metadata, videos = tables()
    # a split with clips of two licences, and a blank licence in another
    metadata.loc[metadata["video_id"] == "c", "license"] = ["mit", " ", "mit"]
    _, body = header_and_body(render_card(metadata, videos, SETTINGS, CURATION, "0" * 64))
    rows = table_rows(body, "Licence")
    kept = metadata[metadata["keep"]]
    names = kept["license"].str.strip().replace("", "CC-BY-4.0").str.lower()
    expected = pd.crosstab(names, kept["split"]).reindex(
        columns=["train", "val", "test"], fill_value=0
    )
    assert [row[0] for row in rows] == sorted(expected.index) == ["cc-by-4.0", "mit"]
    for row in rows:
        counts = expected.loc[row[0]]
        assert row[1:] == [str(counts[s]) for s in ("train", "val", "test")] + [
            str(counts.sum())
        ], row
    # written out by hand: a's three and c's blank one under the config's, b's and c's
    # other one under mit
    assert [row[1:] for row in rows] == [["3", "1", "0", "4"], ["1", "1", "0", "2"]]
    # the distinct attributions of kept clips: b's own, the config's for a and c (blank);
    # the rejected d's never shows
    text = body.split("## Licence\n", 1)[1].split("\n## ", 1)[0]
    listed = [line[2:] for line in text.splitlines() if line.startswith("- ")]
    assert listed == ["Lab A", "© Lab B \\| CC BY 4.0 via Zenodo 10.5281/zenodo.1"]
    # nobody credited
    none = render_card(
        metadata.assign(attribution=""), videos, {**SETTINGS, "attribution": ""}, CURATION, ""
    )
    assert "- none given" in none


@pytest.mark.parametrize(
    ("n", "category"),
    [
        (0, "n<1K"),
        (999, "n<1K"),
        (1_000, "1K<n<10K"),
        (9_999, "1K<n<10K"),
        (10_000, "10K<n<100K"),
        (999_999, "100K<n<1M"),
        (1_000_000, "1M<n<10M"),
        (10**9, "1B<n<10B"),
        (10**12 - 1, "100B<n<1T"),
        (10**12, "n>1T"),
    ],
)
def test_size_category_boundaries(n, category):
    assert size_category(n) == category


def test_sources_are_shown_without_password_or_token():
    metadata, videos = tables()
    card = render_card(metadata, videos, SETTINGS, CURATION, "0" * 64)
    assert TOKEN not in card and PASSWORD not in card and "X-Amz" not in card
    _, body = header_and_body(card)
    sources = {row[0]: row[2] for row in table_rows(body, "Sources")}
    assert sources["c"] == "https://media.example.org/c.mp4"
    assert sources["a"] == "raw/a.mp4"
    assert "Videos per origin: https://media.example.org 2, local files 2." in body


def test_the_shards_card_names_each_splits_tar_files(tmp_path):
    metadata, videos = tables()
    card = render_card(metadata, videos, SETTINGS, CURATION, "0" * 64, shards=True)
    header, body = header_and_body(card)
    # test has no kept clip, so no shard: naming it would fail load_dataset
    assert header["configs"] == [
        {
            "config_name": "default",
            "data_files": [
                {"split": "train", "path": "train-*.tar"},
                {"split": "val", "path": "val-*.tar"},
            ],
        }
    ]
    assert "`{split}-000000.tar, ...`" in body and "`metadata.parquet`" not in body
    # write_shards puts it into the folder as README.md
    metadata.assign(keep=False, clip="").to_parquet(tmp_path / "metadata.parquet")
    (tmp_path / "card.md").write_text(card)
    write_shards(
        str(tmp_path / "metadata.parquet"),
        str(tmp_path),
        {},
        str(tmp_path / "wds"),
        card=str(tmp_path / "card.md"),
    )
    assert (tmp_path / "wds" / "README.md").read_text() == card


def test_write_cards_hashes_the_config_and_writes_both(tmp_path):
    metadata, videos = tables()
    metadata.to_parquet(tmp_path / "metadata.parquet")
    videos.to_parquet(tmp_path / "videos.parquet")
    config = {"b": 1, "a": {"y": [1, 2], "x": None}}
    card = write_cards(
        str(tmp_path / "metadata.parquet"),
        str(tmp_path / "videos.parquet"),
        SETTINGS,
        CURATION,
        config,
        str(tmp_path / "README.md"),
        str(tmp_path / "shards.md"),
    )
    assert (tmp_path / "README.md").read_text() == card
    assert "configs" in header_and_body((tmp_path / "shards.md").read_text())[0]
    # key order does not matter; any value does
    assert config_hash(config) == config_hash({"a": {"x": None, "y": [1, 2]}, "b": 1})
    assert config_hash(config) != config_hash({"b": 2, "a": {"y": [1, 2], "x": None}})
    # where jobs run and what the report shows change no file of the dataset
    assert config_hash({**config, "gpu_jobs": True, "report": {"video_figures": 3}}) == (
        config_hash(config)
    )
    # the hash is the sha256 of the config as compact JSON with sorted keys
    compact = json.dumps(config, sort_keys=True, separators=(",", ":"))
    expected = hashlib.sha256(compact.encode()).hexdigest()
    assert config_hash(config) == expected
    assert f"config sha256: `{expected}`" in card


@pytest.fixture
def config() -> dict:
    """The repository's config as the workflow sees it (defaults filled in)."""
    return validate_config(yaml.safe_load((REPO / "config" / "config.yaml").read_text()), SCHEMA)


def test_task_categories_follow_what_the_annotations_hold(config):
    def tasks(videos, **labels):
        config["labels"].update(labels)
        return plan.card_settings(config, videos)["task_categories"]

    assert tasks([("none", False), ("none", True)]) == ["other"]
    assert tasks([("hog", False)]) == ["object-detection"]  # boxes, the detector's classes
    # an arena video with tracks gets locomotion labels
    assert tasks([("background", True)]) == ["object-detection", "video-classification"]
    config["annotations"]["locomotion"] = False
    assert tasks([("background", True)]) == ["object-detection"]
    assert tasks([("none", False)], file="labels.csv") == ["video-classification"]
    settings = plan.card_settings(config, [])
    assert settings["license"] == "unknown" and settings["pretty_name"] == "vidcurate"
