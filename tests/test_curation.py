"""Curation: thresholds and their reasons, dedup across the dataset, splits by video,
class-balanced subsets, calibration; exact values on small score tables."""

from __future__ import annotations

import zlib

import numpy as np
import pandas as pd
import pytest

from vidcurate.curation import HashIndex, calibration_table, curate, filter_reasons, mark_duplicates
from vidcurate.reasons import CurationSettings
from vidcurate.scores import hamming
from vidcurate.sheet import fill_splits
from vidcurate.splits import assign_split
from vidcurate.subsets import count_label, read_subset, select, subset_name, write_subsets


def scores(video_id: str, n: int, **columns) -> pd.DataFrame:
    """A score table of n clips, one second each; columns override the defaults."""
    rng = np.random.default_rng(zlib.crc32(video_id.encode()))
    table = pd.DataFrame(
        {
            "video_id": video_id,
            "clip": [f"{i + 1:04d}" for i in range(n)],
            "start_s": np.arange(n, dtype=float),
            "end_s": np.arange(n, dtype=float) + 1,
            "motion_mean_px_s": 30.0,
            "sharpness": 100.0,
            "luma_mean": 120.0,
            "luma_clipped": 0.0,
            "text_area": 0.0,
            "faces_max": 0,
            "flash_frames": 0,
            "track_boxes": 1,
            "action": "walking",
            # random 64-bit hashes: ~32 bits apart, never duplicates of one another
            "phash_key": [f"{v:016x}" for v in rng.integers(0, 2**63, n)],
            "phash_mid": [f"{v:016x}" for v in rng.integers(0, 2**63, n)],
        }
    )
    for column, values in columns.items():
        table[column] = values
    return table


def test_each_filter_names_its_reason_and_nan_never_fails():
    table = scores(
        "v",
        9,
        motion_mean_px_s=[1.0, 30, 30, 30, np.nan, 30, 30, 30, 30],
        sharpness=[100, 5.0, 100, 100, 100, 100, 100, 100, 100],
        luma_mean=[120, 120, 10.0, 250.0, 120, 120, 120, 120, 120],
        text_area=[0, 0, 0.2, 0, np.nan, 0, 0, 0, 0],
        luma_clipped=[0, 0, 0, 0, 0, 0.5, 0, 0, 0],
        faces_max=[0, 0, 0, 0, 0, 0, 3, 0, 0],
        flash_frames=[0, 0, 0, 0, 0, 0, 0, 2, 0],
        track_boxes=[1, 1, 1, 1, 1, 1, 1, 1, 0],
    )
    settings = CurationSettings(
        min_motion_px_s=5,
        min_sharpness=15,
        min_luma=20,
        max_luma=240,
        max_clipped=0.2,
        max_text_area=0.05,
        max_faces=2,
        max_flash_frames=1,
        min_tracks=1,
    )
    assert filter_reasons(table, settings).tolist() == [
        "static",
        "blurry",
        "dark,text",
        "bright",
        "",
        "clipped",
        "faces",
        "flash",
        "no_tracks",
    ]
    # every filter off (dedup too): nothing fails, every clip kept
    assert filter_reasons(table, CurationSettings()).tolist() == [""] * 9
    kept = curate([{"video_id": "v", "split": "train"}], {"v": table}, CurationSettings()).clips
    assert kept["keep"].all() and (kept["duplicate_of"] == "").all()


def test_learned_score_filters_name_their_reasons_and_join_by_clip():
    """The learned scores come in their own table, joined by clip; each threshold names
    its reason, and a clip the model did not score (NaN) never fails."""
    table = scores("v", 5)
    learned = pd.DataFrame(
        {
            "video_id": "v",
            # another order than the score table's: the join is by clip
            "clip": ["0005", "0004", "0003", "0002", "0001"],
            "start_s": [4.0, 3.0, 2.0, 1.0, 0.0],
            "aesthetic": [6.0, 6.0, 6.0, np.nan, 4.0],  # not measured: never fails
            "quality": [0.8, 0.8, 0.8, 0.2, 0.8],
            "text_match": [0.3, 0.3, 0.1, 0.3, 0.3],
            "text_match_margin": [np.nan, -0.05, 0.02, 0.02, 0.02],
            "text_match_top": ["car", "mouse", "car", "car", "car"],
        }
    )
    settings = CurationSettings(
        min_aesthetic=5, min_quality=0.5, min_text_match=0.2, min_text_match_margin=0
    )
    result = curate(
        [{"video_id": "v", "split": "train"}], {"v": table}, settings, learned={"v": learned}
    ).clips
    assert result["reason"].tolist() == [
        "unaesthetic",
        "low_quality",
        "off_topic",
        "off_category",
        "",
    ]
    assert result["text_match_top"].tolist() == ["car", "car", "car", "mouse", "car"]


def test_threshold_is_exclusive_at_the_boundary():
    table = scores("v", 2, sharpness=[15.0, 14.999])
    assert filter_reasons(table, CurationSettings(min_sharpness=15)).tolist() == ["", "blurry"]


def flip(value: str, bits: list[int]) -> str:
    number = int(value, 16)
    for bit in bits:
        number ^= 1 << bit
    return f"{number:016x}"


def test_hash_index_agrees_with_brute_force():
    rng = np.random.default_rng(0)
    base = [f"{v:016x}" for v in rng.integers(0, 2**63, 40)]
    # near copies of the first six: k = 0..5 bits flipped
    queries = [(flip(h, list(rng.choice(64, k, replace=False))), k) for k, h in enumerate(base[:6])]
    for max_bits in (0, 2, 4):
        index = HashIndex(max_bits)
        for i, h in enumerate(base):
            index.add(int(h, 16), int(h, 16), str(i))
        for query, flipped in queries:
            brute = [str(i) for i, h in enumerate(base) if hamming(h, query) <= max_bits]
            found = index.find(int(query, 16), int(query, 16))
            assert found == (brute[0] if brute else None)
            assert (found is not None) == (flipped <= max_bits)


def test_both_hashes_must_be_close():
    a = scores("a", 1)
    close_key_far_mid = a.assign(video_id="b", phash_mid=[flip(a["phash_mid"][0], list(range(10)))])
    table = curate(
        [{"video_id": "a", "split": "train"}, {"video_id": "b", "split": "train"}],
        {"a": a, "b": close_key_far_mid},
        CurationSettings(dedup_max_hamming=2),
    ).clips
    assert table["keep"].tolist() == [True, True]


def test_dedup_keeps_the_first_by_video_and_time_whatever_the_sheet_order():
    a = scores("a_video", 3)
    # b is a copy of a under another id, re-encoded: 1 bit off in each hash
    b = a.assign(
        video_id="b_video",
        phash_key=[flip(h, [3]) for h in a["phash_key"]],
        phash_mid=[flip(h, [60]) for h in a["phash_mid"]],
    )
    c = scores("c_video", 2)
    settings = CurationSettings(dedup_max_hamming=2)
    for order in (["a_video", "b_video", "c_video"], ["c_video", "b_video", "a_video"]):
        videos = [{"video_id": v, "split": "train"} for v in order]
        table = curate(videos, {"a_video": a, "b_video": b, "c_video": c}, settings).clips
        table = table.set_index(["video_id", "clip"])
        assert table.loc["a_video", "keep"].all()
        assert not table.loc["b_video", "keep"].any()
        assert (table.loc["b_video", "reason"] == "duplicate").all()
        assert table.loc["b_video", "duplicate_of"].tolist() == [
            "a_video/0001",
            "a_video/0002",
            "a_video/0003",
        ]
        assert table.loc["c_video", "keep"].all()
    # a copy further off than the threshold is not a duplicate
    far = b.assign(phash_key=[flip(h, [1, 2, 3]) for h in a["phash_key"]], video_id="far")
    videos = [{"video_id": v, "split": "train"} for v in ("a_video", "far")]
    table = curate(videos, {"a_video": a, "far": far}, settings).clips
    assert table["keep"].all()


def test_a_clip_dropped_by_a_filter_is_not_the_copy_that_stays():
    a = scores("a", 1, sharpness=[1.0])  # blurry
    b = a.assign(video_id="b", sharpness=100.0)
    table = curate(
        [{"video_id": "a", "split": "train"}, {"video_id": "b", "split": "train"}],
        {"a": a, "b": b},
        CurationSettings(min_sharpness=15, dedup_max_hamming=2),
    ).clips
    assert table["reason"].tolist() == ["blurry", ""]
    assert table["keep"].tolist() == [False, True]


def test_mark_duplicates_within_one_video():
    table = scores("v", 3)
    table.loc[2, ["phash_key", "phash_mid"]] = table.loc[0, ["phash_key", "phash_mid"]]
    table["reason"] = ""
    assert mark_duplicates(table, 0).tolist() == ["", "", "v/0001"]


def test_split_assignment_is_by_video_seeded_and_stable_when_videos_are_added():
    fractions = {"train": 0.8, "val": 0.1, "test": 0.1}
    ids = [f"video{i:04d}" for i in range(2000)]
    splits = {v: assign_split(v, 0, fractions) for v in ids}
    shares = pd.Series(splits).value_counts(normalize=True)
    assert shares["train"] == pytest.approx(0.8, abs=0.03)
    assert shares["val"] == pytest.approx(0.1, abs=0.02)
    assert shares["test"] == pytest.approx(0.1, abs=0.02)
    sheet = pd.DataFrame({"video_id": ids[:10], "split": ["", "val", *[""] * 8]})
    filled = fill_splits(sheet, 0, fractions)
    assert filled.loc[1, "split"] == "val"
    assert filled["split_source"].tolist() == ["assigned", "sheet", *["assigned"] * 8]
    # adding videos moves none of the first ten; another seed deals them again
    bigger = fill_splits(pd.DataFrame({"video_id": ids[:500], "split": ""}), 0, fractions)
    assert bigger["split"].tolist()[2:10] == filled["split"].tolist()[2:10]
    other = [assign_split(v, 1, fractions) for v in ids[:200]]
    assert other != [splits[v] for v in ids[:200]]
    # a zero fraction is never dealt
    assert {assign_split(v, 0, {"train": 1, "val": 0, "test": 0}) for v in ids[:100]} == {"train"}


def metadata(n_per_class: dict[str, int], split="train") -> pd.DataFrame:
    rows = []
    for cls, n in n_per_class.items():
        for i in range(n):
            rows.append(
                {
                    "video_id": f"{cls}_video",
                    "clip": f"{i + 1:04d}",
                    "source_clip": f"{i + 1:04d}",
                    "split": split,
                    "keep": True,
                    "action": cls,
                    "motion_mean_px_s": float(i),
                    "clip_path": f"clips/{split}/{cls}_video/{i + 1:04d}.mp4",
                    "keyframe_path": f"keyframes/{split}/{cls}_video/{i + 1:04d}.jpg",
                    "start_s": float(i),
                    "end_s": float(i + 1),
                    "n_frames": 25,
                    "width": 320,
                    "height": 240,
                }
            )
    return pd.DataFrame(rows)


def test_class_balanced_top_k_takes_the_highest_scores_of_each_class():
    meta = metadata({"walking": 10, "still": 3, "running": 6})
    chosen = select(meta, {"kind": "class_balanced", "per_class": 4, "temperature": 0})
    counts = chosen["class"].value_counts().to_dict()
    assert counts == {"walking": 4, "still": 3, "running": 4}
    walking = chosen[chosen["class"] == "walking"]
    assert sorted(walking["score"]) == [6.0, 7.0, 8.0, 9.0]
    assert subset_name("mice", {"kind": "class_balanced", "per_class": 4}) == "mice-CB4-T0"


def test_class_balanced_random_is_at_most_k_and_the_same_for_the_same_seed():
    meta = metadata({"walking": 50, "still": 3})
    spec = {"kind": "class_balanced", "per_class": 5, "temperature": "inf", "seed": 7}
    first, again = select(meta, spec), select(meta, spec)
    assert first["class"].value_counts().to_dict() == {"walking": 5, "still": 3}
    assert first["clip"].tolist() == again["clip"].tolist()
    other = select(meta, {**spec, "seed": 8})
    assert other["clip"].tolist() != first["clip"].tolist()
    # another class gaining clips does not move this class's draw
    more = select(metadata({"walking": 50, "still": 30}), spec)
    assert (
        more.loc[more["class"] == "walking", "clip"].tolist()
        == first.loc[first["class"] == "walking", "clip"].tolist()
    )
    assert subset_name("mice", spec) == "mice-CB5-Tinf"


def test_subset_constraints_splits_and_exclusions():
    meta = pd.concat(
        [
            metadata({"walking": 10}),
            metadata({"still": 4}, split="val"),
            metadata({"running": 4}).assign(video_id="eval_video"),
        ],
        ignore_index=True,
    )
    meta.loc[3, "keep"] = False
    spec = {
        "kind": "class_balanced",
        "per_class": 100,
        "min": {"motion_mean_px_s": 2},
        "exclude_videos": ["eval_video"],
    }
    chosen = select(meta, spec)
    assert set(chosen["class"]) == {"walking"}  # val and excluded videos never enter
    assert chosen["score"].min() >= 2
    assert "0004" not in chosen["clip"].tolist()  # a dropped clip never enters
    assert len(chosen) == 7  # 10 - two below the minimum - one dropped


def test_random_subset_and_count_labels():
    meta = metadata({"walking": 30, "still": 30})
    chosen = select(meta, {"kind": "random", "count": 10, "seed": 1})
    assert len(chosen) == 10
    assert set(chosen["class"]) == {"walking", "still"}  # random over the classes
    assert len(chosen.drop_duplicates(["video_id", "clip"])) == 10
    assert [count_label(n) for n in (0, 999, 1000, 392_400, 999_600, 1_250_000)] == [
        "0",
        "999",
        "1K",
        "392K",
        "1M",
        "1.2M",
    ]


def test_subset_files_are_identical_across_runs(tmp_path):
    meta = metadata({"walking": 20, "still": 7})
    meta.to_parquet(tmp_path / "metadata.parquet")
    specs = [
        {"kind": "class_balanced", "per_class": 5, "temperature": 0},
        {"kind": "class_balanced", "per_class": 5, "temperature": "inf", "seed": 3},
        {"kind": "random", "count": 4},
    ]
    write_subsets(str(tmp_path / "metadata.parquet"), specs, "mice", str(tmp_path / "one"))
    index = write_subsets(str(tmp_path / "metadata.parquet"), specs, "mice", str(tmp_path / "two"))
    assert index["name"].tolist() == ["mice-CB5-T0", "mice-CB5-Tinf", "mice-R4-4"]
    for name in index["name"]:
        one = (tmp_path / "one" / f"{name}.jsonl.gz").read_bytes()
        assert one == (tmp_path / "two" / f"{name}.jsonl.gz").read_bytes()
    records = read_subset(str(tmp_path / "one" / "mice-CB5-T0.jsonl.gz"))
    assert len(records) == 10
    assert {r["class"] for r in records} == {"walking", "still"}
    assert [(r["class"], r["score"]) for r in records if r["class"] == "still"] == [
        ("still", 2.0),
        ("still", 3.0),
        ("still", 4.0),
        ("still", 5.0),
        ("still", 6.0),
    ]
    with pytest.raises(ValueError, match="both named mice-R4-4"):
        write_subsets(
            str(tmp_path / "metadata.parquet"), [specs[2], specs[2]], "mice", str(tmp_path / "x")
        )


def test_a_subset_keeps_the_name_asked_for_whatever_it_got(tmp_path):
    """A training config names a subset's file: a request the clips cannot fill keeps
    its name (the index says how many it got), and so does the same request filled
    later, when more clips exist."""
    specs = [
        {"kind": "random", "count": 10},
        {"kind": "random", "count": 2000},
        {"kind": "class_balanced", "per_class": 5},
    ]
    out = tmp_path / "subsets"
    asked = {"mice-R10-10": 10, "mice-R2000-2K": 2000, "mice-CB5-T0": 10}
    rounds = []
    for available in ({"walking": 3, "still": 1}, {"walking": 20, "still": 30}):
        metadata(available).to_parquet(tmp_path / "metadata.parquet")
        write_subsets(str(tmp_path / "metadata.parquet"), specs, "mice", str(out))
        clips = sum(available.values())
        got = {
            "mice-R10-10": min(10, clips),
            "mice-R2000-2K": clips,
            "mice-CB5-T0": sum(min(5, n) for n in available.values()),
        }
        files = sorted(p.name for p in out.iterdir())
        assert files == sorted([*(f"{name}.jsonl.gz" for name in asked), "index.tsv"])
        index = pd.read_csv(out / "index.tsv", sep="\t").set_index("name")
        for name in asked:
            assert len(read_subset(str(out / f"{name}.jsonl.gz"))) == got[name]
            assert (index.loc[name, "asked"], index.loc[name, "got"]) == (asked[name], got[name])
        rounds.append(got)
    # fewer clips than asked for every subset at first; then two of them full
    assert rounds == [
        {"mice-R10-10": 4, "mice-R2000-2K": 4, "mice-CB5-T0": 4},
        {"mice-R10-10": 10, "mice-R2000-2K": 50, "mice-CB5-T0": 10},
    ]


def test_calibration_describes_every_numeric_score():
    table = scores("v", 101, sharpness=np.arange(101, dtype=float), text_area=np.nan)
    calib = calibration_table(table, [0.1, 0.5, 0.9]).set_index("score")
    # the scores scores() fills, numbers only (no hashes, action, times)
    assert sorted(calib.index) == sorted(
        [
            "motion_mean_px_s",
            "sharpness",
            "luma_mean",
            "luma_clipped",
            "text_area",
            "faces_max",
            "flash_frames",
            "track_boxes",
        ]
    )
    assert list(calib.columns) == ["n", "missing", "mean", "q0.1", "q0.5", "q0.9"]
    assert calib.loc["sharpness", "q0.5"] == 50.0
    assert calib.loc["sharpness", "q0.9"] == 90.0
    assert calib.loc["sharpness", "mean"] == 50.0
    assert calib.loc["text_area", "missing"] == 101 and calib.loc["text_area", "n"] == 0


def test_calibration_of_empty_score_tables_still_lists_every_score():
    empty = pd.DataFrame(columns=scores("v", 1).columns)  # a video without clips: object dtypes
    calib = calibration_table(empty, [0.5]).set_index("score")
    assert "sharpness" in calib.index and calib.loc["sharpness", "n"] == 0


def test_temperature_zero_written_as_float_is_still_top_k():
    meta = metadata({"walking": 10})
    top = select(meta, {"kind": "class_balanced", "per_class": 2, "temperature": 0.0})
    assert sorted(top["score"]) == [8.0, 9.0]
    assert (
        subset_name("m", {"kind": "class_balanced", "per_class": 2, "temperature": 0.0})
        == "m-CB2-T0"
    )
