"""Devices: which one a stage uses, what NVDEC would decode, and onnxruntime's providers.

- ``resolve_device``: config ``device: auto | cpu | cuda`` -> cpu or cuda.
- ``nvdec_refusal``: why NVDEC would not decode a video ("" when it would), from its
  probe: H.264 only as 8-bit 4:2:0 (the DeepLabCut mouse video is 4:4:4: refused);
  HEVC, VP9 and AV1 at 4:2:0 up to 10 bits; VP8, MPEG-2, MPEG-4 part 2. A refused
  video falls back to the CPU decoder with the reason logged.
- ``onnx_providers``: onnxruntime's execution providers for a device setting, the one
  CUDA/TensorRT seam of every ONNX model (TransNetV2, CenterFace, detectors);
  ``onnx_session`` opens a model on them and logs the provider it got, so a job's log
  says whether it ran on the GPU.
"""

from __future__ import annotations

import logging

import onnxruntime

log = logging.getLogger(__name__)

# codec -> pixel formats NVDEC decodes (Turing and later; conservative: what every
# data-centre GPU of the last generations has)
NVDEC_FORMATS = {
    "h264": {"yuv420p", "yuvj420p", "nv12"},
    "hevc": {"yuv420p", "yuvj420p", "yuv420p10le", "nv12", "p010le"},
    "vp9": {"yuv420p", "yuv420p10le"},
    "av1": {"yuv420p", "yuv420p10le"},
    "vp8": {"yuv420p"},
    "mpeg2video": {"yuv420p"},
    "mpeg4": {"yuv420p"},
}


def cuda_available() -> bool:
    try:
        import torch  # optional heavy backend: only to ask whether CUDA is there
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


def resolve_device(setting: str, cuda: bool | None = None) -> str:
    """``auto``: cuda when a CUDA device is there, else cpu; ``cuda`` without one is
    an error naming the setting, not a silent CPU run."""
    cuda = cuda_available() if cuda is None else cuda
    if setting == "auto":
        return "cuda" if cuda else "cpu"
    if setting == "cuda" and not cuda:
        raise RuntimeError("device: cuda, but no CUDA device is visible to this job")
    if setting not in ("cpu", "cuda"):
        raise ValueError(f"device must be auto, cpu or cuda, got {setting!r}")
    return setting


def nvdec_refusal(probe: dict) -> str:
    """Why NVDEC would not decode this video, or "" when it would."""
    codec = str(probe.get("codec") or "")
    pix_fmt = str(probe.get("pix_fmt") or "")
    if codec not in NVDEC_FORMATS:
        return f"NVDEC does not decode {codec or 'this codec'}"
    if pix_fmt not in NVDEC_FORMATS[codec]:
        return f"NVDEC does not decode {codec} in {pix_fmt or 'an unknown pixel format'}"
    return ""


def onnx_providers(device: str) -> list[str]:
    """onnxruntime providers for a device setting: the GPU seam (CUDA, TensorRT) is
    here; "auto" takes CUDA where this onnxruntime build has it."""

    available = onnxruntime.get_available_providers()
    wanted = {
        "cpu": [],
        "auto": ["CUDAExecutionProvider"],
        "cuda": ["CUDAExecutionProvider"],
        "tensorrt": ["TensorrtExecutionProvider", "CUDAExecutionProvider"],
    }[device]
    if device in ("cuda", "tensorrt") and wanted[0] not in available:
        raise RuntimeError(
            f"device {device}: onnxruntime {onnxruntime.__version__} here has no {wanted[0]} "
            f"(it has {', '.join(available)}); install onnxruntime-gpu=={onnxruntime.__version__}"
        )
    return [p for p in wanted if p in available] + ["CPUExecutionProvider"]


def onnx_session(model, options, device: str, what: str):
    """An onnxruntime session of ``model`` (a path or serialized bytes) on the providers
    for ``device``; its log line names the provider it runs on (`device: auto` with the
    CPU-only onnxruntime says so instead of staying silently on the CPU)."""
    session = onnxruntime.InferenceSession(
        model, sess_options=options, providers=onnx_providers(device)
    )
    provider = session.get_providers()[0]
    if provider == "CPUExecutionProvider" and device == "auto":
        log.info(
            "%s runs on the CPU (onnxruntime %s has no CUDA provider; onnxruntime-gpu of "
            "the same version runs it on a GPU)",
            what,
            onnxruntime.__version__,
        )
    else:
        log.info("%s runs on %s", what, provider)
    return session
