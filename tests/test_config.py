"""Config rules between keys: checked when the workflow is planned, before any job."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml
from test_workflow import GOOD, make_project, planned, snakemake

from conftest import REPO
from vidcurate.config import ConfigError, validate_config
from vidcurate.plan import check_config, check_config_inputs

SCHEMA = str(REPO / "config" / "schemas" / "config.schema.yaml")
SCHEMA_DATA = yaml.safe_load(Path(SCHEMA).read_text())


def validated(**sections) -> dict:
    """A config as the workflow sees it: validated, every default filled in."""
    return validate_config(copy.deepcopy(sections), SCHEMA_DATA)


def message(config: dict) -> str:
    with pytest.raises(ConfigError) as caught:
        check_config(config)
    return str(caught.value)


def test_defaults_and_repository_config_pass():
    check_config(validated())
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    check_config(validate_config(config, SCHEMA_DATA))


def test_config_error_is_a_value_error():
    assert issubclass(ConfigError, ValueError)


@pytest.mark.parametrize(
    ("seconds", "fps", "expected"),
    [
        (
            1.1,
            25,
            "clips.seconds * clips.fps must be a whole number of frames, got 1.1 * 25 = 27.5",
        ),
        (
            0.3,
            25,
            "clips.seconds * clips.fps must be a whole number of frames, got 0.3 * 25 = 7.5",
        ),
        (
            1e-9,
            1,
            "clips.seconds * clips.fps must be at least 1 frame, got 1e-09 * 1 = 1e-09",
        ),
    ],
)
def test_clip_frames_must_be_whole_and_at_least_one(seconds, fps, expected):
    config = validated(clips={"seconds": seconds, "fps": fps}, flash={"both_directions": False})
    assert message(config) == expected


@pytest.mark.parametrize(("seconds", "fps"), [(1.0, 25), (0.04, 25), (2.0, 30), (0.5, 24)])
def test_whole_clip_frames_pass(seconds, fps):
    check_config(validated(clips={"seconds": seconds, "fps": fps}, flash={"window_s": 0.01}))


@pytest.mark.parametrize(
    ("min_side", "max_side", "expected"),
    [
        (
            400,
            360,
            "clips.min_short_side must be at most clips.max_short_side, got 400 > 360: "
            "every video would give no clips (too_small)",
        ),
        (
            361,
            361,
            "clips.min_short_side must be at most clips.max_short_side (rounded down to even, "
            "as clip sides are), got 361 > 361: every video would give no clips (too_small)",
        ),
    ],
)
def test_min_short_side_above_max_short_side(min_side, max_side, expected):
    config = validated(clips={"min_short_side": min_side, "max_short_side": max_side})
    assert message(config) == expected


@pytest.mark.parametrize(("min_side", "max_side"), [(360, 360), (360, 361), (2, 2), (64, 360)])
def test_min_short_side_a_clip_can_reach_passes(min_side, max_side):
    check_config(validated(clips={"min_short_side": min_side, "max_short_side": max_side}))


@pytest.mark.parametrize("box", ["16x360", "640x31", "0x0"])
def test_detection_size_below_32_fails(box):
    config = validated(deface={"detection_size": box})
    assert message(config) == (
        "deface.detection_size sides must be at least 32 pixels (the detector's smallest "
        f"input), got '{box}'"
    )


@pytest.mark.parametrize("box", ["", "32x32", "1920x1080"])
def test_detection_size_passes(box):
    check_config(validated(deface={"detection_size": box}))


def test_flash_window_as_long_as_a_clip_fails():
    config = validated(clips={"seconds": 0.4, "fps": 25}, flash={"window_s": 0.4})
    assert message(config) == (
        "flash.window_s must be shorter than clips.seconds when flash.both_directions is on, "
        "got 0.4 >= 0.4"
    )


def test_flash_window_unused_or_shorter_passes():
    check_config(validated(clips={"seconds": 0.4}, flash={"window_s": 2, "both_directions": False}))
    check_config(validated(clips={"seconds": 0.4}, flash={"window_s": 0.36}))


def test_every_broken_rule_is_reported():
    config = validated(
        clips={"seconds": 0.1, "fps": 25, "min_short_side": 400},
        deface={"detection_size": "8x8"},
    )
    assert message(config).split("; ") == [
        "clips.seconds * clips.fps must be a whole number of frames, got 0.1 * 25 = 2.5",
        "clips.min_short_side must be at most clips.max_short_side, got 400 > 360: "
        "every video would give no clips (too_small)",
        "deface.detection_size sides must be at least 32 pixels (the detector's smallest "
        "input), got '8x8'",
        "flash.window_s must be shorter than clips.seconds when flash.both_directions is on, "
        "got 0.25 >= 0.1",
    ]


def test_a_luma_range_that_keeps_nothing_fails_naming_both_keys():
    assert message(validated(curation={"min_luma": 200, "max_luma": 100})) == (
        "curation.min_luma must be at most curation.max_luma, got 200 > 100: every clip "
        "would be dropped"
    )
    check_config(validated(curation={"min_luma": 100, "max_luma": 100}))
    check_config(validated(curation={"min_luma": 200, "max_luma": None}))


def test_a_subset_range_that_keeps_nothing_fails():
    subsets = [{"kind": "random", "count": 5, "min": {"sharpness": 9}, "max": {"sharpness": 3}}]
    assert message(validated(subsets=subsets)) == (
        "subsets[0].min.sharpness must be at most subsets[0].max.sharpness, got 9 > 3: the "
        "subset would be empty"
    )


def test_two_subsets_of_one_name_fail_before_any_job():
    # names come from the request alone, so they are known when the workflow is planned
    subsets = [{"kind": "random", "count": 5}, {"kind": "random", "count": 5, "seed": 1}]
    assert message(validated(subsets=subsets, annotations={"dataset_name": "mice"})) == (
        "subsets[0] and subsets[1] are both named mice-R5-5; give one a tag"
    )
    check_config(validated(subsets=[subsets[0], {**subsets[1], "tag": "s1"}]))


def test_labels_file_and_captions_key_are_checked_at_every_plan(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    config = validated(labels={"file": "labels.csv"}, captions={"enabled": True})
    with pytest.raises(ConfigError) as caught:
        check_config_inputs(config, {})
    assert str(caught.value) == (
        f"labels.file labels.csv does not exist (relative to {tmp_path}); captions.api_key_env "
        "names OPENAI_API_KEY, which is not set in this environment (set it, or "
        "api_key_env: null for a server without keys)"
    )
    (tmp_path / "labels.csv").write_text("v,1,0,0,1,1,walk,1\n")
    check_config_inputs(config, {"OPENAI_API_KEY": "sk-x"})
    check_config_inputs(validated(captions={"enabled": True, "api_key_env": None}), {})


@pytest.mark.parametrize("key", ["threshold", "gradual_threshold"])
def test_zero_transnet_thresholds_fail_the_schema(key):
    """0 would make every frame a cut or a transition: no shot, no clip."""
    with pytest.raises(ConfigError, match=f"^scenes.{key}: 0 must be > 0$"):
        validated(scenes={key: 0})
    validated(scenes={key: 0.01})


@pytest.mark.workflow
def test_bad_config_fails_the_dry_run_before_any_job(tmp_path):

    project = make_project(
        tmp_path, {"carphone": GOOD["carphone"]}, config={"clips": {"seconds": 1.1, "fps": 25}}
    )
    proc = snakemake(REPO, project, "-n", check=False)
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert (
        "bad config: clips.seconds * clips.fps must be a whole number of frames, "
        "got 1.1 * 25 = 27.5"
    ) in output
    assert planned(proc) == []
    assert "Job stats" not in output
    assert not (project / "results").exists()
    # the same project with a whole number of frames plans its jobs
    (project / "good.yaml").write_text(
        yaml.safe_dump({**yaml.safe_load((project / "config.yaml").read_text()), "clips": {}})
    )
    jobs = planned(snakemake(REPO, project, "-n", configfile="good.yaml"))
    assert ("windows", "carphone") in jobs


def test_schema_problems_are_one_line_each_naming_key_and_allowed_values():
    with pytest.raises(ConfigError) as caught:
        validated(
            scenes={"backend": "transnet"},
            clips={"fps": "25", "crff": 20},
            on_video_error="skip",
        )
    assert str(caught.value).splitlines() == [
        "clips: unknown key(s) crff (known: crf, fps, jpeg_quality, max_short_side, "
        "min_short_side, preset, require_motion, seconds)",
        "clips.fps: '25' is not integer",
        "on_video_error: 'skip' is not one of record, stop",
        "scenes.backend: 'transnet' is not one of transnetv2, pyscenedetect, none",
    ]
