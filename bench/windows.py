"""Clips gained by shot-aligned windows: grid vs shot alignment on real shot lists.

    .venv/bin/python bench/windows.py [--videos PATH ...] [--shots-dir DIR] [--backend B]

Each video's shots and flashes come from the scenes stage (the default config's
settings, TransNetV2 by default), run once per video and kept in --shots-dir, so a
second run only replans windows. Then the windows planner (vidcurate.windows.plan_windows)
runs on that shot list under both alignments, with the default config's clip length,
margin (scenes.trim_s), shortest shot and flash rule. Per video: shots, usable seconds
(the usable spans of the shots at least scenes.min_scene_s long: where a clip may be
cut), kept windows under grid and under shot, and the gain.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts"))

import pandas as pd
import yaml

from vidcurate.config import validate_config
from vidcurate.probe import probe_stage
from vidcurate.scenes import FlashSettings, SceneSettings, scenes_stage
from vidcurate.windows import ShotSettings, WindowSettings, plan_windows, usable_span

DATA = REPO / "tests" / "data"
DEFAULT_VIDEOS = [
    DATA / "shots" / "psd_testvideo.mp4",  # edited: 2 cuts, 4 fades, a dissolve in 24 s
    DATA / "people" / "moviepy_chaplin.mp4",  # a film excerpt
    DATA / "people" / "mmaction2_basketball.mp4",
    DATA / "people" / "mmaction2_demo_armwrestling.mp4",
]


def default_config() -> dict:
    schema = yaml.safe_load((REPO / "config" / "schemas" / "config.schema.yaml").read_text())
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    return validate_config(config, schema)


def shot_list(video: Path, backend: str, out: Path, config: dict) -> tuple[dict, Path, Path]:
    """The probe and the scenes stage's shots.tsv and flash.tsv of ``video``, computed
    once into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    probe_json, shots, flash = out / "probe.json", out / "shots.tsv", out / "flash.tsv"
    probe = probe_stage(str(video), video.stem, str(probe_json))
    if not (shots.exists() and flash.exists()):
        model = None
        if backend == "transnetv2":
            from vidcurate.transnet_graph import build_onnx

            model = out.parent / "transnetv2.onnx"
            if not model.exists():
                build_onnx(model)
        scenes_stage(
            str(video),
            str(probe_json),
            SceneSettings.from_config(config["scenes"], backend),
            FlashSettings.from_config(config["flash"]),
            str(shots),
            str(flash),
            str(model) if model else None,
            threads=2,
        )
    return probe, shots, flash


def compare(probe: dict, shots_tsv: Path, flash_tsv: Path, config: dict) -> dict:
    trims = ShotSettings(
        config["scenes"]["trim_s"], config["scenes"]["min_scene_s"], config["flash"]["record_only"]
    )
    shots = pd.read_csv(shots_tsv, sep="\t", keep_default_na=False)
    flashes = list(pd.read_csv(flash_tsv, sep="\t")["time_s"])
    last_end = shots.end_s.max()
    usable = sum(
        max(0.0, end - start)
        for shot in shots.itertuples()
        if shot.end_s - shot.start_s >= trims.min_scene_s
        for start, end in [usable_span(shot, trims.trim_s, last_end)]
    )
    kept = {}
    for align in ("grid", "shot"):
        window_settings = WindowSettings.from_config({**config["clips"], "align": align})
        windows, dropped = plan_windows(probe["duration_s"], window_settings, shots, flashes, trims)
        kept[align] = len(windows) - len(dropped)
    return {
        "video": probe["video_id"],
        "duration_s": probe["duration_s"],
        "shots": len(shots),
        "usable_s": usable,
        "grid": kept["grid"],
        "shot": kept["shot"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", nargs="*", type=Path, default=DEFAULT_VIDEOS)
    parser.add_argument(
        "--shots-dir",
        type=Path,
        default=Path(tempfile.gettempdir()) / "vidcurate-bench-windows",
        help="shot lists computed once per video and backend, reused by later runs",
    )
    parser.add_argument("--backend", default="transnetv2", choices=["transnetv2", "pyscenedetect"])
    args = parser.parse_args()
    config = default_config()
    seconds = config["clips"]["seconds"]
    print(
        f"clips.seconds {seconds}, clips.fps {config['clips']['fps']}, scenes.trim_s "
        f"{config['scenes']['trim_s']}, scenes.min_scene_s {config['scenes']['min_scene_s']}, "
        f"shots from {args.backend}\n"
    )
    print("| video | duration s | shots | usable s | windows grid | windows shot | gain |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    total = {"shots": 0, "usable_s": 0.0, "grid": 0, "shot": 0}
    for video in args.videos:
        probe, shots, flash = shot_list(
            video, args.backend, args.shots_dir / args.backend / video.stem, config
        )
        row = compare(probe, shots, flash, config)
        for key in total:
            total[key] += row[key]
        print(
            f"| {row['video']} | {row['duration_s']:.1f} | {row['shots']} | "
            f"{row['usable_s']:.1f} | {row['grid']} | {row['shot']} | {gain(row)} |"
        )
    print(
        f"| all | | {total['shots']} | {total['usable_s']:.1f} | {total['grid']} | "
        f"{total['shot']} | {gain(total)} |"
    )


def gain(row: dict) -> str:
    more = row["shot"] - row["grid"]
    share = f" ({more / row['grid']:+.0%})" if row["grid"] else ""
    return f"{more:+d}{share}"


if __name__ == "__main__":
    main()
