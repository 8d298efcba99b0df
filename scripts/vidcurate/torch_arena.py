"""The arena's crop, scale and perspective warp on (N, H, W, C) uint8 torch tensors: the
twin of ffmpeg's crop+scale and ``arena.PerspectiveWarp``, equal to them within a stated
tolerance (tests/test_gpu.py). For a GPU frame source; it runs on CPU tensors too, which
is how the tests check it on a machine without a GPU."""

from __future__ import annotations

import numpy as np

from .arena import PerspectiveWarp, mask_for, source_crop


class TorchArena:
    """Frames of the displayed source -> the arena at ``size``, on torch tensors.

    The CPU path crops the arena's bounding box and scales it in ffmpeg (area), then
    ``PerspectiveWarp`` remaps it (bilinear, OpenCV). Here: the same crop, an
    antialiased resize, and ``grid_sample`` through the very map ``PerspectiveWarp``
    builds, so both read the same source positions."""

    def __init__(self, transform, size: tuple[int, int], device: str = "cpu"):
        import torch  # optional heavy backend: a GPU frame source's arena

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
