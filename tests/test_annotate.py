"""The arena annotation page (vidcurate-annotate): its API on a temporary project, and a
real headless Chromium that is refused a damaged upload, uploads the mouse video, clicks
the hand-annotated arena corners on the median frame, picks a choice, types two fields,
saves, and removes a row."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from PIL import Image
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait

from conftest import REPO, chromium, damage_video, data_file
from vidcurate import annotate
from vidcurate.annotate import AnnotateServer, Project, safe_video_id
from vidcurate.arena import ArenaError, check_polygon, read_arena_file
from vidcurate.arena_stage import suggest_polygon
from vidcurate.atomic import FILE_MODE
from vidcurate.errors import SheetError, VideoError
from vidcurate.frames import median_frame
from vidcurate.plan import deface_enabled, scenes_backend
from vidcurate.probe import probe_video
from vidcurate.sheet import load_sheet
from vidcurate.splits import assign_split

MOUSE = "mouse/dlc_openfield_m3v1.mp4"
MOUSE_ARENA = "mouse/dlc_openfield_m3v1.arena.json"
SCHEMA = REPO / "config" / "schemas" / "samples.schema.yaml"
# the sheet's per-video columns with fixed values, as the schema lists them
ENUMS = {
    column: node["enum"]
    for column, node in yaml.safe_load(SCHEMA.read_text())["properties"].items()
    if "enum" in node
}
SCREENSHOT_COPY = Path("/tmp/annotate_screenshot.png")
# a clockwise quadrilateral well inside the 640x480 frame
GOOD_POLYGON = [[20.0, 50.0], [610.0, 60.0], [600.0, 455.0], [18.0, 462.0]]

pytestmark = pytest.mark.network


def make_project(root: Path) -> Path:
    """A project as a lab would have it: config, a sheet with one video and an
    experiment column, the video beside it."""
    (root / "config").mkdir(parents=True)
    (root / "raw").mkdir()
    shutil.copy(data_file(MOUSE), root / "raw" / "m3.mp4")
    (root / "config" / "config.yaml").write_text(
        "samples: config/videos.tsv\n"
        "arena:\n  folder: config/arenas\n  median_samples: 25\n"
        "annotate:\n  upload_dir: data/videos\n  default_split: train\n"
    )
    (root / "config" / "videos.tsv").write_text(
        "video_id\tsource\tsplit\tcondition\tarena\nm3\t../raw/m3.mp4\tval\topenfield\tauto\n"
    )
    return root


@pytest.fixture
def project(tmp_path) -> Project:
    return Project.from_files("config/config.yaml", make_project(tmp_path / "proj"))


@pytest.fixture
def server(project):
    server = AnnotateServer(project, "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join(10)


def request(server, method, path, body=None, headers=None, content_type=None):
    """(status, parsed JSON or bytes) of one request to the test server."""
    headers = {"X-Requested-With": "vidcurate", **(headers or {})}
    if isinstance(body, dict | list):
        body, content_type = json.dumps(body).encode(), "application/json"
    if content_type:
        headers["Content-Type"] = content_type
    req = urllib.request.Request(server.url.rstrip("/") + path, body, headers, method=method)
    try:
        with urllib.request.urlopen(req, timeout=120) as res:
            status, data, kind = res.status, res.read(), res.headers.get("Content-Type", "")
    except urllib.error.HTTPError as err:
        status, data, kind = err.code, err.read(), err.headers.get("Content-Type", "")
    return status, json.loads(data) if kind.startswith("application/json") else data


def partial_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob(".*") if ".partial-" in p.name or ".upload-" in p.name)


def sheet_rows(project: Project) -> pd.DataFrame:
    return load_sheet(project.sheet_path, SCHEMA)


# --- uploads --------------------------------------------------------------------------


def test_upload_of_a_non_video_is_refused_with_the_probe_reason(server, project, tmp_path):
    fake = tmp_path / "notes.mp4"
    fake.write_text("strain\tC57BL/6J\nthis is a text file, not a video\n")
    with pytest.raises(VideoError) as probed:
        probe_video(str(fake), "notes")
    sheet_before = project.sheet_path.read_bytes()

    status, data = request(server, "POST", "/api/upload?name=notes.mp4", fake.read_bytes())

    assert status == 422
    assert data == {
        "error": f"notes.mp4 is not a video the workflow can read: {probed.value.reason}; "
        "not added to config/videos.tsv"
    }
    assert probed.value.reason  # a real reason, not an empty one
    assert project.sheet_path.read_bytes() == sheet_before
    assert list((project.root / "data" / "videos").iterdir()) == []  # the bytes are gone


def test_damaged_upload_is_refused_and_gets_no_row(server, project, tmp_path):
    """A damaged video probes (its index is intact) but its median frame, which the page
    shows next, does not decode: it is refused before it reaches the sheet."""
    damaged = damage_video(tmp_path / "damaged.mp4")
    probe = probe_video(str(damaged), "damaged")  # the probe alone lets it through
    with pytest.raises(VideoError) as decoded:
        median_frame(str(damaged), probe, 25, "damaged")
    assert decoded.value.reason.startswith("damaged video: ")
    sheet_before = project.sheet_path.read_bytes()

    status, data = request(server, "POST", "/api/upload?name=damaged.mp4", damaged.read_bytes())

    assert status == 422
    assert data["error"].startswith(
        "damaged.mp4 is not a video the workflow can read: damaged video: "
    )
    assert data["error"].endswith("; not added to config/videos.tsv")
    assert project.sheet_path.read_bytes() == sheet_before
    assert list((project.root / "data" / "videos").iterdir()) == []
    assert partial_files(project.root) == []


def test_upload_adds_a_sheet_row_with_a_safe_unique_id(server, project):
    video = data_file(MOUSE).read_bytes()
    first = request(server, "POST", "/api/upload?name=my%20mouse%20(1).MP4", video)
    second = request(server, "POST", "/api/upload?name=my%20mouse%20(1).MP4", video)

    assert first[0] == second[0] == 200, (first, second)
    assert first[1]["video_id"] == "my_mouse_1"
    assert second[1]["video_id"] == "my_mouse_1_2"
    assert first[1]["frame_size"] == [640, 480]
    uploads = project.root / "data" / "videos"
    assert sorted(p.name for p in uploads.iterdir()) == ["my_mouse_1.mp4", "my_mouse_1_2.mp4"]
    assert (uploads / "my_mouse_1.mp4").read_bytes() == video
    assert (uploads / "my_mouse_1.mp4").stat().st_mode & 0o777 == FILE_MODE  # not mkstemp's
    sheet = sheet_rows(project)  # the workflow's own check accepts the new sheet
    assert list(sheet["video_id"]) == ["m3", "my_mouse_1", "my_mouse_1_2"]
    row = sheet.loc["my_mouse_1"]
    assert (row["source"], row["split"], row["condition"], row["arena"]) == (
        "../data/videos/my_mouse_1.mp4",
        "train",
        "",
        "",
    )
    assert row["source_path"] == str((uploads / "my_mouse_1.mp4").resolve())
    assert partial_files(project.root) == []


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("m3 day 1.mp4", "m3_day_1"),
        ("../../etc/passwd", "passwd"),
        ("C:\\videos\\rig-2.run.avi", "rig-2.run"),
        ("__.mp4", "video"),
        ("Ümlaut & co.mov", "mlaut_co"),
    ],
)
def test_safe_video_id(name, expected):
    assert safe_video_id(name) == expected


# --- saving ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "polygon",
    [
        [[20, 50], [610, 60], [18, 462], [600, 455]],  # corners out of order
        [[20, 50], [660, 60], [600, 455], [18, 462]],  # outside the 640x480 frame
        [[18, 462], [600, 455], [610, 60], [20, 50]],  # counter-clockwise
        [[20, 50], [610, 60]],  # two points
    ],
)
def test_bad_polygon_is_refused_with_check_polygon_message(server, project, polygon):
    with pytest.raises(ArenaError) as checked:
        check_polygon(polygon, "config/arenas/m3.json", (640, 480))
    sheet_before = project.sheet_path.read_bytes()

    status, data = request(server, "POST", "/api/videos/m3/save", {"polygon": polygon})

    assert (status, data) == (422, {"error": str(checked.value)})
    assert not project.arena_path("m3").exists()
    assert project.sheet_path.read_bytes() == sheet_before


@pytest.mark.parametrize(
    ("size_cm", "polygon"),
    [
        ([float("nan"), 5], GOOD_POLYGON),
        ([float("inf"), 5], GOOD_POLYGON),
        ([-44, 30], GOOD_POLYGON),
        ([True, 30], GOOD_POLYGON),
        (None, [[True, 50], *GOOD_POLYGON[1:]]),
        (None, [[float("nan"), 50], *GOOD_POLYGON[1:]]),
    ],
)
def test_non_finite_or_non_positive_numbers_are_refused(server, project, size_cm, polygon):
    """size_cm [NaN, 5] was written as a bare NaN into the arena JSON, and the arena job
    then crashed; JSON true passed as a coordinate."""
    sheet_before = project.sheet_path.read_bytes()
    body = json.dumps({"polygon": polygon, "size_cm": size_cm}).encode()  # NaN as JSON does
    status, data = request(
        server, "POST", "/api/videos/m3/save", body, content_type="application/json"
    )
    assert status == 422, data
    assert re.search(
        r"(size_cm must be|'polygon' must be a list of \[x, y\] pairs of finite)", data["error"]
    )
    assert not project.arena_path("m3").exists()
    assert project.sheet_path.read_bytes() == sheet_before


def test_sheet_problems_are_refused_with_load_sheet_message(server, project):
    """(A value a choice column does not allow is refused before, naming its values.)"""
    fields = {"clip": "x"}
    # what load_sheet says about the same sheet
    expected_sheet = pd.read_csv(project.sheet_path, sep="\t", dtype=str, keep_default_na=False)
    for name, value in fields.items():
        expected_sheet.loc[0, name] = value
    copy = project.sheet_path.parent / "expected.tsv"
    expected_sheet.to_csv(copy, sep="\t", index=False)
    with pytest.raises(SheetError) as loaded:
        load_sheet(copy, SCHEMA)
    copy.unlink()
    expected = str(loaded.value).replace(str(copy), "config/videos.tsv")
    assert "column(s) clip are reserved" in expected
    sheet_before = project.sheet_path.read_bytes()

    status, data = request(
        server, "POST", "/api/videos/m3/save", {"polygon": GOOD_POLYGON, "fields": fields}
    )

    assert (status, data) == (422, {"error": expected})
    assert project.sheet_path.read_bytes() == sheet_before
    assert not project.arena_path("m3").exists()
    assert partial_files(project.root) == []


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ([["video_id", "x"]], "field 'video_id' is set by the page and cannot be edited"),
        ([["arena", "auto"]], "field 'arena': the arena is the polygon on the frame"),
        ([["notes", "a\tb"]], "field 'notes': the value holds a tab or line break (TSV sheet)"),
        ([["", "C57BL/6J"]], "field 1 has a value ('C57BL/6J') but no name"),
        ([["strain", "a"], ["strain", "b"]], "field 'strain' is given twice"),
    ],
)
def test_fields_the_sheet_cannot_hold_are_refused(server, project, fields, error):
    status, data = request(
        server, "POST", "/api/videos/m3/save", {"polygon": GOOD_POLYGON, "fields": fields}
    )
    assert status == 422
    assert data["error"].startswith(error)


def test_choice_columns_come_from_the_schema_enums(server, project):
    status, listing = request(server, "GET", "/api/videos")
    assert status == 200
    choices = {c["column"]: c for c in listing["project"]["choices"]}
    assert {"scenes", "deface", "tracks", "split"} <= set(choices)
    assert {column: c["values"] for column, c in choices.items()} == ENUMS
    # an empty cell means the config's value; the test config sets none of them
    config_schema = yaml.safe_load((REPO / "config/schemas/config.schema.yaml").read_text())
    defaults = {
        key: config_schema["properties"][section]["properties"][name]["default"]
        for key, (section, name) in {
            "scenes": ("scenes", "backend"),
            "deface": ("deface", "enabled"),
            "tracks": ("tracks", "detector"),
        }.items()
    }
    assert (choices["scenes"]["config_key"], choices["scenes"]["config_default"]) == (
        "scenes.backend",
        defaults["scenes"],
    )
    assert choices["deface"]["config_default"] == str(defaults["deface"]).lower()
    assert choices["tracks"]["config_default"] == defaults["tracks"]
    assert (choices["deface"]["arena_default"], choices["scenes"]["arena_default"]) == (
        "false",
        "none",
    )


@pytest.mark.parametrize(
    ("column", "value", "empty"),
    [
        ("scenes", "TransNetV2", "config scenes.backend"),
        ("deface", "off", "config deface.enabled"),
        ("tracks", "yolo", "config tracks.detector"),
        ("split", "validation", "dealt by the workflow from config splits"),
    ],
)
def test_a_value_a_choice_column_does_not_allow_is_refused(server, project, column, value, empty):
    sheet_before = project.sheet_path.read_bytes()
    status, data = request(
        server, "POST", "/api/videos/m3/save", {"polygon": GOOD_POLYGON, "fields": {column: value}}
    )
    allowed = ", ".join(v for v in ENUMS[column] if v)
    assert (status, data) == (
        422,
        {"error": f"column '{column}': {value!r} is not allowed; use {allowed} or empty ({empty})"},
    )
    assert project.sheet_path.read_bytes() == sheet_before
    assert not project.arena_path("m3").exists()


def test_an_uploaded_arena_video_gets_deface_off_and_scenes_none(server, project):
    video = data_file(MOUSE).read_bytes()
    ids = [request(server, "POST", "/api/upload?name=rig.mp4", video)[1]["video_id"] for _ in "ab"]
    listing = {v["video_id"]: v for v in request(server, "GET", "/api/videos")[1]["videos"]}
    # before an arena is drawn an upload is no arena video (m3's sheet says arena auto)
    assert [listing[i]["arena_video"] for i in ("m3", *ids)] == [True, False, False]

    status, data = request(server, "POST", f"/api/videos/{ids[0]}/save", {"polygon": GOOD_POLYGON})
    assert status == 200, data
    assert data["message"] == (
        "saved config/arenas/rig.json and config/videos.tsv; set deface false, scenes none "
        "(an arena video's defaults); the next snakemake run uses them"
    )
    # the user's own choice wins, the config's default ("") included
    status, data = request(
        server,
        "POST",
        f"/api/videos/{ids[1]}/save",
        {"polygon": GOOD_POLYGON, "fields": {"deface": "true", "scenes": ""}},
    )
    assert status == 200, data

    sheet = sheet_rows(project)
    rows = {i: sheet.loc[i].to_dict() for i in ids}
    assert [(rows[i]["deface"], rows[i]["scenes"]) for i in ids] == [
        ("false", "none"),
        ("true", ""),
    ]
    assert sheet.loc["m3", "deface"] == sheet.loc["m3", "scenes"] == ""  # not saved, not touched
    # what the workflow then runs for them
    config = project.config
    assert [deface_enabled(rows[i], config) for i in ids] == [False, True]
    assert [scenes_backend(rows[i], config) for i in ids] == ["none", "transnetv2"]


def test_a_damaged_video_in_the_sheet_is_not_saved(server, project):
    damage_video(project.root / "raw" / "bad.mp4")
    with project.sheet_path.open("a") as sheet:
        sheet.write("bad\t../raw/bad.mp4\ttrain\t\t\n")
    sheet_before = project.sheet_path.read_bytes()

    status, flagged = request(server, "GET", "/api/videos/bad/frame.png")
    assert status == 422
    assert flagged["error"].startswith("bad: damaged video: ")  # what the page shows
    status, data = request(server, "POST", "/api/videos/bad/save", {"polygon": GOOD_POLYGON})

    assert status == 422
    assert data["error"].startswith("bad: damaged video: ")
    assert data["error"].endswith("; the workflow cannot use it, nothing saved")
    assert project.sheet_path.read_bytes() == sheet_before
    assert not project.arena_path("bad").exists()


def test_remove_takes_the_row_out_and_keeps_the_files(server, project):
    shutil.copy(project.root / "raw" / "m3.mp4", project.root / "raw" / "m4.mp4")
    with project.sheet_path.open("a") as sheet:
        sheet.write("m4\t../raw/m4.mp4\ttrain\tnovel\t\n")
        sheet.write("gone\t../raw/gone.mp4\ttrain\t\t\n")  # its file is missing
    error = request(server, "GET", "/api/videos")[1]["sheet_error"]
    assert re.search(r"line 4, column 'source': local file .*gone\.mp4 does not exist$", error)
    status, data = request(server, "POST", "/api/videos/m3/save", {"polygon": GOOD_POLYGON})
    assert status == 409  # the broken row blocks saving ...

    status, data = request(server, "POST", "/api/videos/gone/remove")  # ... and can go
    assert (status, data["message"]) == (
        200,
        "removed gone from config/videos.tsv; kept its files (source ../raw/gone.mp4)",
    )
    assert request(server, "POST", "/api/videos/m3/save", {"polygon": GOOD_POLYGON})[0] == 200
    status, data = request(server, "POST", "/api/videos/m3/remove")
    assert data["message"] == (
        "removed m3 from config/videos.tsv; kept its files "
        "(source ../raw/m3.mp4, arena file config/arenas/m3.json)"
    )

    sheet = sheet_rows(project)
    assert list(sheet["video_id"]) == ["m4"]
    assert sheet.loc["m4", "condition"] == "novel"
    assert (project.root / "raw" / "m3.mp4").read_bytes() == data_file(MOUSE).read_bytes()
    assert project.arena_path("m3").is_file()
    status, data = request(server, "POST", "/api/videos/m3/remove")
    assert (status, data) == (404, {"error": "no video 'm3' in config/videos.tsv"})
    assert partial_files(project.root) == []


def test_remove_waits_for_the_sheet_lock_and_writes_all_or_nothing(project, monkeypatch):
    done = threading.Event()
    with project.sheet_lock():  # another writer holds the sheet
        thread = threading.Thread(target=lambda: (project.remove("m3"), done.set()))
        thread.start()
        assert not done.wait(0.5)
    thread.join(30)
    assert done.is_set()
    assert list(sheet_rows(project)["video_id"]) == []

    project.sheet_path.write_text("video_id\tsource\nm3\t../raw/m3.mp4\n")
    before = project.sheet_path.read_bytes()

    def broken_disk(sheet, path):
        path.write_text("video_id\tsou")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(annotate, "_write_sheet", broken_disk)
    with pytest.raises(OSError):
        project.remove("m3")
    assert project.sheet_path.read_bytes() == before
    assert partial_files(project.root) == []


def test_a_split_left_empty_shows_the_split_the_workflow_deals(server, project):
    with project.sheet_path.open("a") as sheet:
        for video_id in ("m4", "rig_7", "b"):
            sheet.write(f"{video_id}\t../raw/m3.mp4\t\t\t\n")
    status, listing = request(server, "GET", "/api/videos")
    seed = project.config["splits"]["seed"]
    fractions = {name: project.config["splits"][name] for name in ("train", "val", "test")}
    shown = {v["video_id"]: (v["split"], v["dealt_split"]) for v in listing["videos"]}
    assert shown == {
        "m3": ("val", None),
        **{i: ("", assign_split(i, seed, fractions)) for i in ("m4", "rig_7", "b")},
    }
    assert len({dealt for _, dealt in shown.values()}) == 4  # None and all three splits


def test_save_writes_arena_file_and_sheet_row(server, project):
    status, data = request(
        server,
        "POST",
        "/api/videos/m3/save",
        {
            "polygon": GOOD_POLYGON,
            "size_cm": [44, 30],
            "fields": [["condition", "novel object"], ["strain", "C57BL/6J"], ["session", "s1"]],
        },
    )

    assert status == 200, data
    assert data["message"] == (
        "saved config/arenas/m3.json and config/videos.tsv (the sheet's arena value 'auto' "
        "was cleared: the file is used now); set deface false, scenes none (an arena video's "
        "defaults); the next snakemake run uses them"
    )
    arena = read_arena_file(project.arena_path("m3"))
    assert arena.polygon == tuple(map(tuple, GOOD_POLYGON))
    assert arena.frame_size == (640, 480)
    assert arena.size_cm == (44.0, 30.0)
    sheet = sheet_rows(project)
    assert list(sheet.columns[:7]) == [
        "video_id",
        "source",
        "split",
        "condition",
        "arena",
        "strain",
        "session",
    ]
    row = sheet.loc["m3"]
    assert (row["split"], row["condition"], row["arena"], row["strain"], row["session"]) == (
        "val",
        "novel object",
        "",
        "C57BL/6J",
        "s1",
    )
    assert partial_files(project.root) == []
    # what the page shows next
    status, listing = request(server, "GET", "/api/videos")
    assert listing["videos"][0]["arena"] is True
    assert listing["videos"][0]["fields"]["strain"] == "C57BL/6J"
    status, saved = request(server, "GET", "/api/videos/m3/arena")
    assert saved["arena"] == {"polygon": GOOD_POLYGON, "size_cm": [44.0, 30.0]}
    assert saved["sheet_arena"] == ""


def test_save_writes_both_files_or_neither(server, project, monkeypatch):
    def broken_disk(path, definition):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(annotate, "write_arena_file", broken_disk)
    sheet_before = project.sheet_path.read_bytes()
    status, data = request(
        server,
        "POST",
        "/api/videos/m3/save",
        {"polygon": GOOD_POLYGON, "fields": {"strain": "C57BL/6J"}},
    )
    assert status == 500
    assert "No space left on device" in data["error"]
    assert project.sheet_path.read_bytes() == sheet_before
    assert not project.arena_path("m3").exists()
    assert partial_files(project.root) == []


def test_concurrent_saves_keep_each_others_rows(project):
    # a second video: two rows saved at the same time from several threads
    shutil.copy(project.root / "raw" / "m3.mp4", project.root / "raw" / "m4.mp4")
    with project.sheet_path.open("a") as sheet:
        sheet.write("m4\t../raw/m4.mp4\ttrain\topenfield\t\n")
    for video_id in ("m3", "m4"):
        project.probe(video_id)
    errors = []

    def save(n):
        try:
            project.save(
                ("m3", "m4")[n % 2],
                {"polygon": GOOD_POLYGON, "fields": {f"tag{n}": f"value{n}"}},
            )
        except Exception as err:  # reported below
            errors.append(err)

    threads = [threading.Thread(target=save, args=(n,)) for n in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    sheet = sheet_rows(project)
    for n in range(12):
        assert sheet.loc[("m3", "m4")[n % 2], f"tag{n}"] == f"value{n}"
        assert sheet.loc[("m4", "m3")[n % 2], f"tag{n}"] == ""
    assert partial_files(project.root) == []


# --- frames and the page ------------------------------------------------------------------


def test_median_frame_is_computed_once_and_cached(server, project, monkeypatch):
    calls = []
    real = annotate.median_frame

    def counting(*args, **kwargs):
        calls.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(annotate, "median_frame", counting)
    status, png = request(server, "GET", "/api/videos/m3/frame.png")
    assert status == 200
    again = request(server, "GET", "/api/videos/m3/frame.png")
    assert again == (200, png)
    assert len(calls) == 1
    frame = np.asarray(Image.open(project.root / "resources/annotate/m3.png"))
    video = project.root / "raw" / "m3.mp4"
    expected = median_frame(str(video), probe_video(str(video), "m3"), 25)
    assert np.array_equal(frame, expected)
    # a new server (a restart) finds it on disk
    assert Project.from_files("config/config.yaml", project.root).frame("m3")[0].is_file()
    assert len(calls) == 1
    status, suggestion = request(server, "GET", "/api/videos/m3/suggestion")
    assert status == 200
    assert suggestion == {"polygon": [list(p) for p in suggest_polygon(expected)]}


def test_page_and_request_checks(server):
    status, page = request(server, "GET", "/")
    assert status == 200
    text = page.decode()
    assert "<svg" in text and 'id="upload"' in text
    # self-contained: no address outside the server but the SVG namespace
    assert text.count("http://") == text.count("http://www.w3.org/2000/svg")
    assert "https://" not in text
    status, data = request(server, "GET", "/api/videos/nope/arena")
    assert (status, data) == (404, {"error": "no video 'nope' in config/videos.tsv"})
    status, data = request(
        server, "POST", "/api/videos/m3/save", {}, headers={"X-Requested-With": ""}
    )
    assert status == 403
    status, data = request(server, "GET", "/api/videos", headers={"Host": "evil.example:80"})
    assert status == 403


def test_cli_refuses_a_bad_config(tmp_path, capsys):
    root = make_project(tmp_path / "proj")
    (root / "config" / "config.yaml").write_text("samples: config/videos.tsv\nannotate: {x: 1}\n")
    assert annotate.main(["--directory", str(root), "--port", "0"]) == 2
    assert "annotate: unknown key(s) x (known: default_split, upload_dir)" in (
        capsys.readouterr().err
    )


# --- a real browser ---------------------------------------------------------------------------


def start_cli(root: Path, log: Path) -> tuple[subprocess.Popen, str]:
    """vidcurate-annotate as a user starts it (any free port); its URL from the banner."""
    env = {**os.environ, "PYTHONPATH": str(REPO / "scripts")}
    out = log.open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "vidcurate.annotate", "--config", "config/config.yaml"]
        + ["--directory", str(root), "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=out,
        text=True,
        env=env,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if line.startswith("serving on "):
            return proc, line.split()[2]
        if not line and proc.poll() is not None:
            break
    proc.kill()
    pytest.fail(f"vidcurate-annotate did not start: {log.read_text()}")


@pytest.mark.slow
def test_browser_uploads_clicks_the_arena_and_saves(tmp_path, monkeypatch):

    monkeypatch.setenv("SE_OFFLINE", "true")  # Selenium Manager: nothing to download
    root = make_project(tmp_path / "proj")
    with (root / "config" / "videos.tsv").open("a") as sheet:
        sheet.write("m4\t../raw/m3.mp4\t\t\t\n")  # no split: the workflow deals it one
    splits = Project.from_files("config/config.yaml", root).config["splits"]
    dealt = assign_split("m4", splits["seed"], {n: splits[n] for n in ("train", "val", "test")})
    damaged = damage_video(tmp_path / "damaged.mp4")
    proc, url = start_cli(root, tmp_path / "server.log")
    driver = None
    try:
        driver = chromium(tmp_path)
        wait = WebDriverWait(driver, 90)
        driver.get(url)
        wait.until(lambda d: d.find_element(By.ID, "count").text == "2")
        tags = {
            li.get_attribute("data-video-id"): li.find_element(By.CSS_SELECTOR, ".tag.split").text
            for li in driver.find_elements(By.CSS_SELECTOR, "#list li")
        }
        assert tags == {"m3": "val", "m4": f"{dealt} (dealt)"}

        def status():
            wait.until(
                lambda d: (
                    d.find_element(By.ID, "status").get_attribute("data-kind") in ("ok", "error")
                )
            )
            element = driver.find_element(By.ID, "status")
            return element.get_attribute("data-kind"), element.text

        def choice(column):
            """A choice column's select: its option values and the one selected."""
            element = driver.find_element(
                By.CSS_SELECTOR, f'#fields select[data-column="{column}"]'
            )
            select = Select(element)
            values = [o.get_attribute("value") for o in select.options]
            return values, select.first_selected_option.get_attribute("value"), select

        driver.find_element(By.ID, "upload").send_keys(str(damaged))
        kind, message = status()
        assert kind == "error"
        assert message.startswith(
            "Upload refused: damaged.mp4 is not a video the workflow can read: damaged video: "
        )
        assert message.endswith("; not added to config/videos.tsv")
        assert driver.find_element(By.ID, "count").text == "2"

        driver.find_element(By.ID, "upload").send_keys(str(data_file(MOUSE)))
        wait.until(
            lambda d: (
                d.find_element(By.ID, "stage").get_attribute("data-state") in ("ready", "error")
            )
        )
        stage = driver.find_element(By.ID, "stage")
        assert stage.get_attribute("data-state") == "ready", driver.find_element(
            By.ID, "status"
        ).text
        assert driver.find_element(By.ID, "title").text.startswith("dlc_openfield_m3v1")
        img = driver.find_element(By.ID, "img")
        left, top, width, height, natural_w, natural_h = driver.execute_script(
            "const r = arguments[0].getBoundingClientRect();"
            "return [r.left, r.top, r.width, r.height, arguments[0].naturalWidth,"
            " arguments[0].naturalHeight];",
            img,
        )
        assert (natural_w, natural_h) == (640, 480)
        assert width >= 600  # the frame is shown large at 1280x800

        def click(x, y):
            """Click natural pixel (x, y) of the frame; the natural pixel clicked."""
            css_x, css_y = round(left + x * width / natural_w), round(top + y * height / natural_h)
            actions = ActionChains(driver)
            actions.w3c_actions.pointer_action.move_to_location(css_x, css_y).click()
            actions.perform()
            return (css_x - left) * natural_w / width, (css_y - top) * natural_h / height

        assert status()[0] == "ok"  # "Added dlc_openfield_m3v1 ..."
        # every choice column is a select of the schema's values; no arena yet: the
        # config's defaults (empty) but for the split the upload was given
        for column in ENUMS:
            assert choice(column)[:2] == (ENUMS[column], "train" if column == "split" else "")
        assert choice("scenes")[2].options[-1].text == "config: transnetv2"
        corners = json.loads(data_file(MOUSE_ARENA).read_text())["polygon"]

        # two points are no arena: check_polygon's message on the page, nothing written
        first_two = [click(*p) for p in corners[:2]]
        driver.find_element(By.ID, "save").click()
        with pytest.raises(ArenaError) as checked:
            check_polygon(first_two, "config/arenas/dlc_openfield_m3v1.json", (640, 480))
        assert status() == ("error", str(checked.value))
        driver.find_element(By.ID, "clear").click()

        clicked = [click(*p) for p in corners]
        handles = driver.find_elements(By.CSS_SELECTOR, "#svg .handle")
        assert [h.text for h in handles] == ["1", "2", "3", "4"]
        # an arena now: no faces to blur, one shot, unless picked otherwise
        assert [choice(c)[1] for c in ("deface", "scenes", "tracks")] == ["false", "none", ""]
        choice("tracks")[2].select_by_value("background")
        for name, value in (("strain", "C57BL/6J"), ("session", "s1")):
            driver.find_element(By.ID, "add-field").click()
            row = driver.find_elements(By.CSS_SELECTOR, "#fields .field-row")[-1]
            row.find_element(By.CSS_SELECTOR, ".field-name").send_keys(name)
            row.find_element(By.CSS_SELECTOR, ".field-value").send_keys(value)
        driver.find_element(By.ID, "save").click()
        kind, message = status()
        assert kind == "ok", message
        assert message == (
            "Saved config/arenas/dlc_openfield_m3v1.json and config/videos.tsv; "
            "the next snakemake run uses them."
        )
        wait.until(lambda d: "arena ✓" in d.find_element(By.CSS_SELECTOR, "li.selected").text)

        shot = tmp_path / "annotate.png"
        assert driver.save_screenshot(str(shot))
        shutil.copy(shot, SCREENSHOT_COPY)

        # the dealt split in the video's own select; then the row goes
        driver.find_element(By.CSS_SELECTOR, '#list li[data-video-id="m4"]').click()
        wait.until(lambda d: d.find_element(By.ID, "stage").get_attribute("data-state") == "ready")
        values, value, select = choice("split")
        assert (values, value, select.first_selected_option.text) == (
            ENUMS["split"],
            "",
            f"dealt: {dealt}",
        )
        driver.find_element(By.ID, "remove").click()
        driver.switch_to.alert.accept()
        wait.until(lambda d: d.find_element(By.ID, "status").text.startswith("Removed"))
        assert status() == (
            "ok",
            "Removed m4 from config/videos.tsv; kept its files (source ../raw/m3.mp4).",
        )
        assert driver.find_element(By.ID, "count").text == "2"
        assert driver.find_element(By.ID, "title").text == "No video"

        # no script error (the refused upload's and save's 422s are network entries)
        log = driver.get_log("browser")
        assert [e for e in log if e["level"] == "SEVERE" and e["source"] != "network"] == []
        assert [e["message"].split(" - ")[-1] for e in log if e["source"] == "network"] == [
            "Failed to load resource: the server responded with a status of 422 "
            "(Unprocessable Entity)"
        ] * 2
    finally:
        if driver is not None:
            driver.quit()
        proc.terminate()
        proc.wait(30)

    arena = json.loads((root / "config/arenas/dlc_openfield_m3v1.json").read_text())
    assert arena["frame_size"] == [640, 480]
    saved = np.array(arena["polygon"])
    assert saved.shape == (4, 2)
    # the page stores what was clicked (to 0.1 px) ...
    assert np.abs(saved - np.array(clicked)).max() <= 0.051
    # ... and the clicks land on the hand annotation
    assert np.abs(saved - np.array(corners)).max() <= 1.5
    sheet = load_sheet(root / "config/videos.tsv", SCHEMA)
    assert list(sheet["video_id"]) == ["m3", "dlc_openfield_m3v1"]
    # choices left empty (motion, require_motion) add no column
    assert list(sheet.columns[:10]) == [
        "video_id",
        "source",
        "split",
        "condition",
        "arena",
        "scenes",
        "deface",
        "tracks",
        "strain",
        "session",
    ]
    row = sheet.loc["dlc_openfield_m3v1"]
    assert (row["source"], row["split"], row["strain"], row["session"]) == (
        "../data/videos/dlc_openfield_m3v1.mp4",
        "train",
        "C57BL/6J",
        "s1",
    )
    assert (row["deface"], row["scenes"], row["tracks"]) == ("false", "none", "background")
    assert (sheet.loc["m3", "strain"], sheet.loc["m3", "session"]) == ("", "")
    assert (root / "data/videos/dlc_openfield_m3v1.mp4").read_bytes() == (
        data_file(MOUSE).read_bytes()
    )
