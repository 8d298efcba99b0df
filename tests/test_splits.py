"""Splits dealt by group (vidcurate.splits): no group straddles splits, pins hold the
whole group, adding videos keeps existing groups where they are, near-duplicates pull
their videos together, and the leak check names what straddles."""

from __future__ import annotations

import random

import pandas as pd
import pytest

from vidcurate import plan
from vidcurate.curation import curate
from vidcurate.errors import SheetError
from vidcurate.reasons import CurationSettings
from vidcurate.sheet import fill_splits
from vidcurate.splits import (
    Link,
    SplitConflict,
    SplitSettings,
    assign_split,
    deal_splits,
    group_members,
    group_sizes,
    straddling_duplicates,
    straddling_groups,
)

FRACTIONS = {"train": 0.8, "val": 0.1, "test": 0.1}
GROUP_BY = ["subject", "session"]


def synthetic_rows(n: int, seed: int, start: int = 0) -> list[dict]:
    """Rows of a lab sheet: 30 subjects, sessions shared by a few subjects' videos (the
    same day's recordings), a blank value now and then, a few own splits."""
    rng = random.Random(seed)
    rows = []
    for i in range(start, start + n):
        rows.append(
            {
                "video_id": f"v{i:04d}",
                "subject": "" if rng.random() < 0.1 else f"m{rng.randrange(30):02d}",
                "session": "" if rng.random() < 0.3 else f"s{rng.randrange(60):02d}",
                "split": "",
            }
        )
    return rows


def components(rows: list[dict]) -> list[set[str]]:
    """The groups counted the slow way: repeatedly merge sets sharing a value."""
    sets = [({r["video_id"]}, {(c, r[c]) for c in GROUP_BY if r[c]}) for r in rows]
    merged = True
    while merged:
        merged = False
        for i in range(len(sets)):
            for j in range(i + 1, len(sets)):
                if sets[i][1] & sets[j][1]:
                    sets[i] = (sets[i][0] | sets[j][0], sets[i][1] | sets[j][1])
                    del sets[j]
                    merged = True
                    break
            if merged:
                break
    return [ids for ids, _ in sets]


def test_200_rows_no_group_straddles_and_every_group_is_found():
    rows = synthetic_rows(200, seed=1)
    dealt = deal_splits(rows, GROUP_BY, 0, FRACTIONS).set_index("video_id")
    groups = group_members(rows, GROUP_BY)
    assert sorted(map(frozenset, groups.values()), key=sorted) == sorted(
        map(frozenset, components(rows)), key=sorted
    )
    for key, videos in groups.items():
        assert dealt.loc[videos, "split"].nunique() == 1, key
        assert (dealt.loc[videos, "split_group"] == key).all()
        # the group's split is the seeded hash of its key, whatever its size
        assert dealt.loc[videos[0], "split"] == assign_split(key, 0, FRACTIONS)
    assert set(dealt["split_source"]) == {"assigned"}
    assert straddling_groups(dealt.reset_index()) == []
    # a video sharing nothing is its own group, dealt by its own id
    alone = [r["video_id"] for r in rows if not r["subject"] and not r["session"]]
    assert alone and all(dealt.loc[v, "split_group"] == v for v in alone)
    assert all(dealt.loc[v, "split"] == assign_split(v, 0, FRACTIONS) for v in alone)


def test_adding_rows_keeps_every_existing_video_where_it_was():
    rows = synthetic_rows(200, seed=1)
    before = deal_splits(rows, ["subject"], 0, FRACTIONS).set_index("video_id")["split"]
    # new videos of known subjects, of new subjects, and with no subject
    more = synthetic_rows(100, seed=2, start=200)
    for row in more[:30]:
        row["subject"] = f"m{int(row['video_id'][1:]) % 30:02d}"
    for row in more[30:60]:
        row["subject"] = f"new{row['video_id']}"
    after = deal_splits(rows + more, ["subject"], 0, FRACTIONS).set_index("video_id")["split"]
    assert after.loc[before.index].tolist() == before.tolist()
    # a new video of a known subject joins that subject's split
    subject_split = {r["subject"]: before[r["video_id"]] for r in rows if r["subject"]}
    for row in more[:30]:
        assert after[row["video_id"]] == subject_split[row["subject"]]
    # with two columns, new videos that link no two groups move nothing either
    grouped = deal_splits(rows, GROUP_BY, 0, FRACTIONS).set_index("video_id")
    keys = set(grouped["split_group"])
    fresh = [
        {"video_id": f"n{i}", "subject": f"x{i}", "session": f"y{i}", "split": ""}
        for i in range(50)
    ]
    joined = deal_splits(rows + fresh, GROUP_BY, 0, FRACTIONS).set_index("video_id")
    assert joined.loc[grouped.index, "split"].tolist() == grouped["split"].tolist()
    assert keys <= set(joined["split_group"])


def test_without_group_by_every_video_is_dealt_as_before():
    rows = synthetic_rows(50, seed=3)
    dealt = deal_splits(rows, [], 7, FRACTIONS)
    assert dealt["split"].tolist() == [assign_split(r["video_id"], 7, FRACTIONS) for r in rows]


def test_a_pin_carries_its_group_and_two_pins_are_refused_naming_the_rows():
    rows = [
        {"video_id": "a", "subject": "m1", "split": "test"},
        {"video_id": "b", "subject": "m1", "split": ""},
        {"video_id": "c", "subject": "m2", "split": ""},
    ]
    dealt = deal_splits(rows, ["subject"], 0, FRACTIONS).set_index("video_id")
    assert dealt.loc[["a", "b"], "split"].tolist() == ["test", "test"]
    assert dealt.loc[["a", "b"], "split_source"].tolist() == ["sheet", "group"]
    assert dealt.loc["c", "split_source"] == "assigned"
    rows[2] = {"video_id": "c", "subject": "m1", "split": "train"}
    with pytest.raises(SplitConflict) as err:
        deal_splits(rows, ["subject"], 0, FRACTIONS)
    assert str(err.value) == (
        "the group subject=m1 (3 videos) has rows pinned to different splits: "
        "a -> test; c -> train; give the group one split or leave all but one blank"
    )


def test_the_sheet_check_refuses_pins_apart_and_unknown_columns(tmp_path):
    sheet = pd.DataFrame(
        {
            "video_id": ["a", "b", "c"],
            "subject": ["m1", "m2", "m1"],
            "split": ["train", "", "val"],
        }
    )
    with pytest.raises(
        SheetError, match=r"^splits.group_by: the group subject=m1 .* a -> train; c -> val"
    ):
        fill_splits(sheet, 0, FRACTIONS, ["subject"])
    with pytest.raises(
        SheetError, match="^splits.group_by: the sample sheet has no column 'cage'$"
    ):
        fill_splits(sheet, 0, FRACTIONS, ["cage"])
    sheet.loc[2, "split"] = ""
    filled = fill_splits(sheet, 0, FRACTIONS, ["subject"])
    assert filled["split"].tolist()[::2] == ["train", "train"]
    assert filled["split_source"].tolist() == ["sheet", "assigned", "group"]


def test_links_join_groups_and_the_smaller_key_keeps_its_split():
    rows = [{"video_id": v, "split": ""} for v in ("orig", "reupload", "other")]
    link = Link("orig", "reupload", "near-duplicate clips reupload/0001 ~ orig/0001")
    dealt = deal_splits(rows, [], 0, FRACTIONS, [link]).set_index("video_id")
    assert dealt.loc["orig", "split"] == dealt.loc["reupload", "split"]
    # the group is known by its smallest key, so orig's split stands
    assert dealt.loc["orig", "split_group"] == "orig"
    assert dealt.loc["orig", "split"] == assign_split("orig", 0, FRACTIONS)
    rows[1]["split"], rows[0]["split"] = "test", "train"
    with pytest.raises(SplitConflict, match="joined by near-duplicate clips reupload/0001"):
        deal_splits(rows, [], 0, FRACTIONS, [link])


def hashes(n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    return [f"{rng.getrandbits(64):016x}" for _ in range(n)]


def scores(video_id: str, key_hashes: list[str]) -> pd.DataFrame:
    n = len(key_hashes)
    return pd.DataFrame(
        {
            "video_id": video_id,
            "clip": [f"{i + 1:04d}" for i in range(n)],
            "start_s": [float(i) for i in range(n)],
            "end_s": [float(i + 1) for i in range(n)],
            "phash_key": key_hashes,
            "phash_mid": key_hashes,
        }
    )


def find_pair(seed: int):
    """Two video ids the seeded deal puts in different splits (so a move shows)."""
    ids = [f"clip_source_{i}" for i in range(100)]
    first = ids[0]
    other = next(
        v for v in ids if assign_split(v, seed, FRACTIONS) != assign_split(first, seed, FRACTIONS)
    )
    return first, other


def test_a_reupload_under_another_id_lands_in_the_originals_split_and_the_move_is_named():
    original, reupload = find_pair(0)
    shared = hashes(3, 1)
    table = {
        original: scores(original, shared),
        # the same footage re-uploaded with one extra clip of its own
        reupload: scores(reupload, [shared[1], shared[2], hashes(1, 9)[0]]),
        "unrelated": scores("unrelated", hashes(2, 5)),
    }
    videos = [
        {"video_id": v, "split": "", "withdrawn": ""} for v in (original, reupload, "unrelated")
    ]
    settings = CurationSettings(dedup_max_hamming=2, **no_filters())
    result = curate(videos, table, settings, SplitSettings())
    clips = result.clips
    assert clips.groupby("video_id")["split"].unique().map(len).eq(1).all()
    assert set(clips.loc[clips["video_id"] == reupload, "split"]) == {
        assign_split(original, 0, FRACTIONS)
    }
    assert (clips["duplicate_of"] != "").sum() == 2  # the pair is there, in one split
    assert straddling_duplicates(metadata_of(clips)) == []
    splits = result.splits.set_index("video_id")
    assert splits.loc[reupload, "planned_split"] == assign_split(reupload, 0, FRACTIONS)
    assert splits.loc[reupload, "split"] == assign_split(original, 0, FRACTIONS)
    assert splits.loc[reupload, "moved_because"] == (
        f"near-duplicate clips {reupload}/0001 ~ {original}/0002 and 1 more"
    )
    assert splits.loc[original, "moved_because"] == ""
    assert splits.loc[reupload, "split_group"] == splits.loc[original, "split_group"]
    # switched off: each keeps its own split, and the leak check sees the pair
    apart = curate(videos, table, settings, SplitSettings(group_near_duplicates=False))
    problems = straddling_duplicates(metadata_of(apart.clips))
    assert len(problems) == 2 and problems[0].startswith(
        f"{assign_split(reupload, 0, FRACTIONS)} clip {reupload}/0001 is a near-duplicate of"
    )


def no_filters() -> dict:
    return {
        "min_sharpness": None,
        "min_luma": None,
        "max_luma": None,
        "max_text_area": None,
    }


def metadata_of(clips: pd.DataFrame) -> pd.DataFrame:
    """The columns the leak check reads, laid out as the dataset writes them."""
    split_of = dict(zip(clips["video_id"], clips["split"], strict=False))
    paths = [
        f"clips/{split_of[d.rsplit('/', 1)[0]]}/{d}.mp4" if d else "" for d in clips["duplicate_of"]
    ]
    return clips.assign(source_clip=clips["clip"], duplicate_of=paths)


def test_the_leak_check_names_a_straddling_group_and_video():
    metadata = pd.DataFrame(
        {
            "video_id": ["a", "a", "b", "c"],
            "split": ["train", "train", "test", "val"],
            "split_group": ["subject=m1", "subject=m1", "subject=m1", "c"],
            "source_clip": ["0001", "0002", "0001", "0001"],
            "duplicate_of": ["", "", "", ""],
        }
    )
    assert straddling_groups(metadata) == ["group subject=m1 straddles splits (test: b; train: a)"]
    metadata.loc[1, "split"] = "val"
    assert straddling_groups(metadata) == [
        "video a straddles splits (train: a; val: a)",
        "group subject=m1 straddles splits (test: b; train: a; val: a)",
    ]


def test_group_sizes_count_groups_and_videos_per_split():
    table = pd.DataFrame(
        {
            "split": ["train", "train", "train", "val"],
            "split_group": ["subject=m1", "subject=m1", "x", "y"],
        }
    )
    sizes = group_sizes(table).set_index("split")
    assert sizes.loc["train"].tolist() == [2, 3, 2, 1]
    assert sizes.loc["val"].tolist() == [1, 1, 1, 1]
    assert sizes.loc["test"].tolist() == [0, 0, 0, 0]


def test_withdrawn_videos_are_left_out_as_if_not_in_the_sheet():
    # 0a holds a's footage and sorts first: were it read, a's clips would be its duplicates
    a = scores("a", hashes(2, 1))
    copy = a.assign(video_id="0a")
    settings = CurationSettings(dedup_max_hamming=2, **no_filters())
    rows = [
        {"video_id": "0a", "split": "", "withdrawn": "withdraw.videos"},
        {"video_id": "a", "split": "", "withdrawn": ""},
    ]
    result = curate(rows, {"0a": copy, "a": a}, settings)
    alone = curate(rows[1:], {"a": a}, settings)
    pd.testing.assert_frame_equal(result.clips, alone.clips)
    assert set(result.clips["video_id"]) == {"a"} and result.clips["keep"].all()
    assert (result.clips["duplicate_of"] == "").all()
    splits = result.splits.set_index("video_id")
    assert splits.loc["0a", ["split", "withdrawn"]].tolist() == ["", "withdraw.videos"]
    assert splits.loc["a", "moved_because"] == ""
    # not withdrawn, 0a is the copy that stays
    kept = curate([{**rows[0], "withdrawn": ""}, rows[1]], {"0a": copy, "a": a}, settings).clips
    assert kept.loc[kept["video_id"] == "a", "reason"].tolist() == ["duplicate", "duplicate"]


def test_one_shared_clip_does_not_group_two_recordings():
    """Two recordings of one rig share an empty-arena clip: no group; a copy sharing
    half its clips or more is grouped."""
    first, second = find_pair(0)
    own = hashes(10, 3)
    table = {
        first: scores(first, own),
        second: scores(second, [own[0], *hashes(9, 4)]),  # 1 of 10 shared
    }
    videos = [{"video_id": v, "split": "", "withdrawn": ""} for v in (first, second)]
    settings = CurationSettings(dedup_max_hamming=2, **no_filters())
    apart = curate(videos, table, settings).splits.set_index("video_id")
    assert apart.loc[second, "split"] == assign_split(second, 0, FRACTIONS)
    assert apart.loc[second, "split_group"] == second
    table[second] = scores(second, [*own[:5], *hashes(5, 4)])  # 5 of 10 shared
    together = curate(videos, table, settings).splits.set_index("video_id")
    assert together.loc[second, "split"] == assign_split(first, 0, FRACTIONS)
    share = SplitSettings(near_duplicate_min_share=0.6)
    still_apart = curate(videos, table, settings, share).splits.set_index("video_id")
    assert still_apart.loc[second, "split_group"] == second


def plan_config(**withdraw) -> dict:
    return {
        "splits": {"group_by": ["subject"]},
        "withdraw": {"videos": withdraw.get("videos", []), "sources": []},
    }


def test_split_rows_say_why_a_video_is_withdrawn_and_refuse_unknown_ids():
    rows = [
        {"video_id": "a", "split": "train", "split_source": "sheet", "subject": "m1"},
        {
            "video_id": "b",
            "split": "val",
            "split_source": "assigned",
            "subject": "m1",
            "withdrawn": "yes",
        },
        {"video_id": "pack.x", "split": "val", "split_source": "assigned", "archive_id": "pack"},
    ]
    chosen = plan.split_rows(rows, plan_config(videos=["pack"]))
    assert chosen == [
        {"video_id": "a", "split": "train", "subject": "m1", "withdrawn": ""},
        {"video_id": "b", "split": "", "subject": "m1", "withdrawn": "sheet column withdrawn"},
        {
            "video_id": "pack.x",
            "split": "",
            "subject": "",
            "withdrawn": "withdraw.videos (archive pack)",
        },
    ]
    with pytest.raises(plan.PlanError, match="^withdraw.videos: typo is no video or archive"):
        plan.split_rows(rows, plan_config(videos=["typo"]))
    # an empty id withdraws nothing (rows outside archives have no archive id)
    assert [r["withdrawn"] for r in plan.split_rows(rows, plan_config(videos=[""]))] == [
        "",
        "sheet column withdrawn",
        "",
    ]
    # the steering column never reaches the dataset's tables
    config = {"dataset": {"license": "", "attribution": ""}}
    assert "withdrawn" not in plan.dataset_row({**rows[1], "source": "x.mp4"}, config)
