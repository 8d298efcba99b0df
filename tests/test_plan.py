"""The plan's decisions as plain functions: each stage's settings (every field of its
dataclass, none forgotten), per-video choices from the sheet, archive members' rows, and
the code hash that decides which rules an edit reruns."""

from __future__ import annotations

import copy
import dataclasses
import json
import re
import shutil

import pytest
import yaml

from conftest import REPO
from vidcurate import plan, provenance
from vidcurate.annotations import AnnotationSettings, CocoSettings
from vidcurate.archives import ArchiveLimits
from vidcurate.arena_stage import ArenaSettings
from vidcurate.captions import CaptionSettings
from vidcurate.clips import ClipSettings
from vidcurate.config import validate_config
from vidcurate.deface import DefaceSettings
from vidcurate.ingest import IngestSettings
from vidcurate.learned_settings import LearnedSettings
from vidcurate.motion import MotionSettings
from vidcurate.reasons import CurationSettings
from vidcurate.scenes import FlashSettings, SceneSettings
from vidcurate.scores import ScoreSettings
from vidcurate.shards import ShardSettings
from vidcurate.splits import SplitSettings
from vidcurate.tracks import TrackClipSettings
from vidcurate.windows import ShotSettings, WindowSettings

SCHEMA = yaml.safe_load((REPO / "config" / "schemas" / "config.schema.yaml").read_text())


@pytest.fixture
def config() -> dict:
    """The repository's config as the workflow sees it (defaults filled in)."""
    return validate_config(yaml.safe_load((REPO / "config" / "config.yaml").read_text()), SCHEMA)


STAGES = {
    "windows": WindowSettings,
    "clips": ClipSettings,
    "shots": ShotSettings,
    "flash": FlashSettings,
    "deface": DefaceSettings,
    "arena": ArenaSettings,
    "motion": MotionSettings,
    "annotations": AnnotationSettings,
    "coco": CocoSettings,
    "score": ScoreSettings,
    "learned": LearnedSettings,
    "curation": CurationSettings,
    "captions": CaptionSettings,
    "shards": ShardSettings,
    "ingest": IngestSettings,
    "archives": ArchiveLimits,
    "track_clips": TrackClipSettings,
    "splits": SplitSettings,
}


def test_every_stage_gets_every_field_of_its_settings_and_nothing_else(config):
    settings = plan.stage_settings(config)
    assert set(settings) == set(STAGES)
    for name, cls in STAGES.items():
        fields = sorted(f.name for f in dataclasses.fields(cls))
        assert list(settings[name]) == fields, name  # sorted keys: params compare as text
        cls.from_config(settings[name])  # and they make the stage's settings
    # what comes from another section than the stage's own
    assert settings["shots"]["flash_record_only"] is config["flash"]["record_only"]
    assert settings["annotations"]["label_min_iou"] == config["labels"]["min_iou"]
    assert "min_short_side" in settings["windows"] and "min_short_side" not in settings["clips"]
    assert "crf" in settings["clips"] and "crf" not in settings["windows"]


def test_window_alignment_reaches_the_windows_jobs_only(config):
    """windows.align changes the windows rule's params and no other rule's: windows rerun,
    and the stages after them only because the windows table is new (never deface, scenes,
    motion or tracks)."""
    shot = copy.deepcopy(config)
    shot["windows"]["align"] = "shot"
    before, after = plan.stage_settings(config), plan.stage_settings(shot)
    assert before["windows"]["align"] == "grid" and after["windows"]["align"] == "shot"
    assert {name for name in before if before[name] != after[name]} == {"windows"}
    for backend in ("transnetv2", "pyscenedetect", "none"):
        assert plan.scenes_settings(shot, backend) == plan.scenes_settings(config, backend)
    video = {"video_id": "v"}
    for has_arena in (False, True):
        assert plan.tracks_settings(video, shot, has_arena) == plan.tracks_settings(
            video, config, has_arena
        )


def test_a_field_the_config_lacks_fails_the_plan(config):
    broken = copy.deepcopy(config)
    del broken["deface"]["mosaic_size"]
    with pytest.raises(plan.PlanError, match="DefaceSettings.mosaic_size has no config key"):
        plan.stage_settings(broken)


def test_scenes_jobs_get_their_backends_keys_only(config):
    transnet = plan.scenes_settings(config, "transnetv2")
    assert transnet["backend"] == "transnetv2" and "threshold" in transnet
    assert "adaptive_threshold" not in transnet
    assert plan.scenes_settings(config, "none") == {"backend": "none"}
    keys = {
        k
        for backend in ("transnetv2", "pyscenedetect")
        for k in plan.scenes_settings(config, backend)
    }
    assert keys - {"backend"} == {f.name for f in dataclasses.fields(SceneSettings)} - {"backend"}


def test_per_video_choices_follow_the_sheet_then_the_config(config):
    rig = {"video_id": "rig", "deface": "false", "scenes": "none", "motion": "codec"}
    film = {"video_id": "film", "deface": "", "tracks": ""}
    assert plan.deface_enabled(rig, config) is False
    assert plan.deface_enabled(film, config) is config["deface"]["enabled"]
    assert plan.deface_enabled({"deface": "On"}, config) is True
    assert plan.scenes_backend(rig, config) == "none"
    assert plan.scenes_backend(film, config) == config["scenes"]["backend"]
    assert plan.motion_backend(rig, config) == "codec"
    # auto: an arena video's animal is tracked alone, by background subtraction; the
    # others by the installed person detector (make setup installs its graph)
    assert plan.tracks_detector(film, config, has_arena=True) == "background"
    assert plan.tracks_detector(film, config, has_arena=False) == "ssdlite"
    assert plan.single_track(config, "background", has_arena=True) is True
    assert plan.single_track(config, "ssdlite", has_arena=False) is False
    assert plan.require_motion(film, config, has_arena=True) is True
    assert plan.require_motion({**film, "require_motion": "no"}, config, has_arena=True) is False
    with pytest.raises(plan.PlanError, match="column 'deface'"):
        plan.deface_enabled({"video_id": "x", "deface": "maybe"}, config)


def test_tracks_settings_hold_the_detectors_keys_and_the_trackers(config):
    many = plan.tracks_settings({"video_id": "v"}, config, has_arena=False)
    assert many["detector"] == "ssdlite" and many["settings"] == config["tracks"]["ssdlite"]
    assert "bytetrack" in many and "clip" not in many
    one = plan.tracks_settings({"video_id": "v"}, config, has_arena=True)
    assert one["single_track"] is True and "bytetrack" not in one
    assert list(many) == sorted(many)


def test_only_jobs_whose_backend_uses_a_gpu_ask_for_one(config):
    gpu = {**config, "gpu_jobs": True}
    assert plan.scenes_gpu({"scenes": "transnetv2"}, gpu) == 1
    assert plan.scenes_gpu({"scenes": "pyscenedetect"}, gpu) == 0
    assert plan.scenes_gpu({"scenes": "transnetv2"}, config) == 0  # auto without gpu_jobs
    assert plan.tracks_gpu({}, gpu, has_arena=True) == 0  # background subtraction


def test_urls_reach_params_redacted_with_their_hash():
    signed = "https://u:pw@host/v.mp4?X-Amz-Signature=abc123456789"
    params = plan.source_params(signed, "http")
    assert params == {
        "source": "https://host/v.mp4?…",
        "source_sha256": plan.url_sha256(signed),
    }
    assert plan.source_params("/data/v.mp4", "local") == {"source": "/data/v.mp4"}


def test_archive_members_inherit_the_archive_and_never_take_a_sheet_id(config):
    archive = {
        "video_id": "pack",
        "source": "https://h/pack.tar?sig=x",
        "split": "val",
        "split_source": "sheet",
        "lab": "rig1",
        "source_kind": "archive",
        "ext": "archive",
        "source_path": "https://h/pack.tar?sig=x",
        "archive_id": "",
    }
    members = [{"video_id": "pack.a", "member": "a.mp4", "file": "pack.a.mp4"}]
    rows = plan.member_rows("pack", archive, members, config, frozenset({"pack"}))
    assert rows["pack.a"]["split"] == "val" and rows["pack.a"]["lab"] == "rig1"
    assert rows["pack.a"]["source"] == "https://h/pack.tar!/a.mp4"
    assert plan.dataset_row(rows["pack.a"], config) == {
        "video_id": "pack.a",
        "source": "https://h/pack.tar!/a.mp4",
        "split": "val",
        "split_source": "sheet",
        "lab": "rig1",
        "license": config["dataset"]["license"],
        "attribution": config["dataset"]["attribution"],
    }
    with pytest.raises(plan.PlanError, match="member a.mp4 gets the id pack.a, which the sample"):
        plan.member_rows("pack", archive, members, config, frozenset({"pack", "pack.a"}))


def test_config_keys_are_kept_in_one_order():
    assert list(plan.sorted_keys({"b": 1, "a": {"d": 1, "c": [{"f": 1, "e": 2}]}})) == ["a", "b"]
    assert plan.sorted_keys({"a": {"d": 1, "c": [{"f": 1, "e": 2}]}}) == {
        "a": {"c": [{"e": 2, "f": 1}], "d": 1}
    }
    assert plan.switch("true") is True and plan.switch(False) is False


def test_code_hash_follows_imports_and_ignores_what_does_not_run(tmp_path):
    package = tmp_path / "vidcurate"
    shutil.copytree(REPO / "scripts" / "vidcurate", package)
    script = REPO / "scripts" / "windows.py"
    before = plan.script_code(script, package)
    assert before.startswith("library ")
    # comments, docstrings, the version: the same code
    for module in ("windows.py", "columns.py", "__init__.py"):
        path = package / module
        text = path.read_text().replace('"""', '"""Reworded. ', 1) + "\n# note\n"
        path.write_text(text.replace('__version__ = "', '__version__ = "9', 1))
    assert plan.script_code(script, package) == before
    # a module the script does not reach: the same code
    (package / "deface.py").write_text((package / "deface.py").read_text() + "\nX = 1\n")
    assert plan.script_code(script, package) == before
    # one it reaches through another module (windows -> columns): new code
    (package / "columns.py").write_text((package / "columns.py").read_text() + "\nX = 1\n")
    assert plan.script_code(script, package) != before


# --- provenance: the settings hash of every stage that made a video's clips ---------------

LOCAL = {
    "video_id": "rig",
    "source": "raw/rig.mp4",
    "split": "train",
    "source_kind": "local",
    "ext": "mp4",
    "source_path": "/somewhere/project/raw/rig.mp4",
}


def hashes(row: dict, config: dict, arena=None) -> dict[str, str]:
    stages = plan.video_stage_settings(row, config, plan.stage_settings(config), arena)
    return provenance.stage_hashes(stages)


def changed_stages(before: dict, after: dict) -> set[str]:
    return {s for s in before.keys() | after.keys() if before.get(s) != after.get(s)}


def test_stage_settings_are_what_each_rule_gets(config):
    settings = plan.stage_settings(config)
    arena = ("sheet", "0,0;10,0;10,10;0,10")
    stages = plan.video_stage_settings(LOCAL, config, settings, arena)
    # the functions the rules' params come from (rules/common.smk), entry by entry
    assert stages["motion"] == plan.motion_settings(LOCAL, config, settings)
    assert stages["tracks"] == plan.tracks_settings(LOCAL, config, has_arena=True)
    assert stages["scenes"] == {
        "scenes": plan.scenes_settings(config, plan.scenes_backend(LOCAL, config)),
        "flash": settings["flash"],
    }
    assert stages["windows"]["motion"] == plan.window_motion(LOCAL, config, has_arena=True)
    assert stages["arena"] == {"polygon": arena[1], "arena": settings["arena"]}
    for stage in ("clips", "score", "curation", "deface", "annotations"):
        assert stages[stage] == settings[stage], stage
    # the ingest entry: the source as the sheet names it, never where the project sits
    assert stages["ingest"] == {"kind": "local", "source": "raw/rig.mp4", **settings["ingest"]}
    # no arena, no arena stage; captions only when on
    assert "arena" not in plan.video_stage_settings(LOCAL, config, settings, None)
    assert "captions" not in stages
    cells = json.loads(plan.stage_settings_json(LOCAL, config, settings, arena))
    assert list(cells) == sorted(stages)
    assert all(re.fullmatch(r"[0-9a-f]{12}", h) for h in cells.values())
    assert cells["motion"] == provenance.settings_sha256(stages["motion"])


@pytest.mark.parametrize(
    ("section", "key", "value", "stages"),
    [
        ("motion", "fps", 3, {"motion"}),
        ("motion", "min_window_covered", 0.9, {"windows"}),
        ("deface", "threshold", 0.35, {"deface"}),
        ("clips", "crf", 30, {"clips"}),
        ("curation", "min_sharpness", 1.0, {"curation"}),
        ("score", "clipped_low", 9, {"score"}),
        ("hdr", None, "reject", {"probe"}),
        # another scenes backend's knob is no setting of this video's scenes
        ("scenes", "adaptive_threshold", 9.0, set()),
    ],
)
def test_a_setting_changes_the_hash_of_the_stage_reading_it_only(
    config, section, key, value, stages
):
    assert config["scenes"]["backend"] == "transnetv2" and config["deface"]["enabled"]
    before = hashes(LOCAL, config)
    changed = copy.deepcopy(config)
    if key is None:
        changed[section] = value
    else:
        assert changed[section][key] != value
        changed[section][key] = value
    assert changed_stages(before, hashes(LOCAL, changed)) == stages


def test_a_sheet_override_changes_that_videos_hash_only(config):
    other = {**LOCAL, "video_id": "film", "source": "raw/film.mp4"}
    rig_before, film_before = hashes(LOCAL, config), hashes(other, config)
    assert "deface" in rig_before
    # the sheet's deface column off: no deface stage touched the rig's clips
    rig = hashes({**LOCAL, "deface": "false"}, config)
    assert changed_stages(rig_before, rig) == {"deface"} and "deface" not in rig
    # its own scenes and motion backends: those stages' hashes only
    rig = hashes({**LOCAL, "scenes": "none", "motion": "codec"}, config)
    assert changed_stages(rig_before, rig) == {"scenes", "motion"}
    assert hashes(other, config) == film_before


def test_no_url_token_reaches_a_hash_input_or_a_param(config):
    token, password, key = "sig-7f3a9c0d2e", "hunter2pw", "apikey-55aa"
    url = f"https://lab:{password}@media.example.org/v.mp4?X-Amz-Signature={token}#t={token}"
    row = {**LOCAL, "source": url, "source_kind": "http", "source_path": url}
    config = copy.deepcopy(config)
    config["captions"].update(enabled=True, api_url=f"https://api.example.org/v1?key={key}")
    settings = plan.stage_settings(config)
    stages = plan.video_stage_settings(row, config, settings, None)
    assert stages["ingest"]["source"] == "https://media.example.org/v.mp4"
    assert stages["captions"]["api_url"] == "https://api.example.org/v1?…"
    for text in (
        json.dumps(stages),
        plan.stage_settings_json(row, config, settings, None),
        json.dumps(plan.ingest_params(row, settings)),
        json.dumps(plan.dataset_row(row, config)),
    ):
        for secret in (token, password, key):
            assert secret not in text
    # a new token is still a new ingest (the job's params hold the URL's hash)
    other = {**row, "source_path": url.replace(token, "sig-other")}
    assert plan.ingest_params(other, settings) != plan.ingest_params(row, settings)
