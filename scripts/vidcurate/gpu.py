"""The GPU side of the frame source and of the arena: device choice, NVDEC's limits,
and torch twins of CPU steps, each equal to its CPU twin within a stated tolerance.

Everything here runs on CPU tensors too, which is how the test suite checks it on a
machine without a GPU; on a CUDA device the same code runs on the GPU.

- ``resolve_device``: config ``device: auto | cpu | cuda`` -> cpu or cuda.
- ``nvdec_refusal``: why NVDEC would not decode a video ("" when it would), from its
  probe: H.264 only as 8-bit 4:2:0 (the DeepLabCut mouse video is 4:4:4: refused);
  HEVC, VP9 and AV1 at 4:2:0 up to 10 bits; VP8, MPEG-2, MPEG-4 part 2. A refused
  video falls back to the CPU decoder with the reason logged.
- ``TorchArena``: the arena's crop, scale and perspective warp on (N, H, W, C) uint8
  tensors: the twin of ffmpeg's crop+scale and ``arena.PerspectiveWarp``.
"""

from __future__ import annotations

import logging

import numpy as np

from .arena import PerspectiveWarp, mask_for, source_crop

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
        import torch
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


class TorchArena:
    """Frames of the displayed source -> the arena at ``size``, on torch tensors.

    The CPU path crops the arena's bounding box and scales it in ffmpeg (area), then
    ``PerspectiveWarp`` remaps it (bilinear, OpenCV). Here: the same crop, an
    antialiased resize, and ``grid_sample`` through the very map ``PerspectiveWarp``
    builds, so both read the same source positions."""

    def __init__(self, transform, size: tuple[int, int], device: str = "cpu"):
        import torch

        self.transform, self.size = transform, size
        self.crop = transform.crop or source_crop(transform)
        self.device = torch.device(device)
        self.grid = None
        if transform.kind == "perspective":
            warp = PerspectiveWarp(transform, size, "rgb24")
            map_x, map_y = warp._map(1)
            width, height = size
            # grid_sample wants [-1, 1] with align_corners=False: pixel centres at
            # (i + 0.5) / n * 2 - 1 for index coordinate i
            gx = (map_x + 0.5) / width * 2 - 1
            gy = (map_y + 0.5) / height * 2 - 1
            grid = np.stack([gx, gy], axis=-1)[None]
            self.grid = torch.from_numpy(grid.astype(np.float32)).to(self.device)
        outside = mask_for(transform, size)  # arenas of other than 4 points
        self.outside = None if outside is None else torch.from_numpy(outside).to(self.device)
        self.colour = torch.tensor(transform.mask_colour, dtype=torch.uint8, device=self.device)

    def __call__(self, frames):
        """(N, H, W, 3) uint8 displayed frames -> (N, h, w, 3) uint8 arena frames."""
        import torch
        import torch.nn.functional as F

        x, y, w, h = self.crop
        width, height = self.size
        box = frames[:, y : y + h, x : x + w].permute(0, 3, 1, 2).float()
        box = F.interpolate(box, size=(height, width), mode="area")
        if self.grid is not None:
            grid = self.grid.expand(box.shape[0], -1, -1, -1)
            box = F.grid_sample(
                box, grid, mode="bilinear", padding_mode="border", align_corners=False
            )
        out = box.round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).contiguous()
        if self.outside is not None:
            out[:, self.outside] = self.colour
        return out


def onnx_providers(device: str) -> list[str]:
    """onnxruntime providers for a device setting: the GPU seam (CUDA, TensorRT) is
    here; "auto" takes CUDA where this onnxruntime build has it."""
    import onnxruntime

    available = onnxruntime.get_available_providers()
    wanted = {
        "cpu": [],
        "auto": ["CUDAExecutionProvider"],
        "cuda": ["CUDAExecutionProvider"],
        "tensorrt": ["TensorrtExecutionProvider", "CUDAExecutionProvider"],
    }[device]
    if device in ("cuda", "tensorrt") and wanted[-1] not in available:
        raise RuntimeError(f"device {device}: onnxruntime here has no {wanted[-1]}")
    return [p for p in wanted if p in available] + ["CPUExecutionProvider"]
