"""Geometry every stage shares: clip sizes (aspect kept, even sides, never upscaled),
displayed sizes, homographies, and boxes (mapped through a homography, compared by IoU)."""

from __future__ import annotations

from fractions import Fraction

import numpy as np


def _even_floor(x: float) -> int:
    return int(x) // 2 * 2


def clip_size(width: int, height: int, max_short_side: int) -> tuple[int, int]:
    """Size of a clip cut from a ``width`` x ``height`` (displayed) video.

    The short side becomes at most ``max_short_side``; both sides are even
    (yuv420p needs it) and never larger than the source. A degenerate source
    (e.g. 1x1) gives a side of 0, which callers report as ``too_small``.
    """
    if width <= 0 or height <= 0:
        raise ValueError(f"frame size must be positive, got {width}x{height}")
    if max_short_side < 2:
        raise ValueError(f"max_short_side must be at least 2, got {max_short_side}")
    short = min(width, height)
    scale = min(1.0, max_short_side / short)
    sides = []
    for side in (width, height):
        target = side * scale
        even = 2 * round(target / 2)
        # rounding up past the source or the short-side cap would upscale
        if even > side or (side == short and even > max_short_side):
            even = _even_floor(target)
        sides.append(even)
    return sides[0], sides[1]


def displayed_size(
    coded_width: int, coded_height: int, rotation: float, sample_aspect: Fraction = Fraction(1)
) -> tuple[int, int]:
    """Width and height as shown to a viewer, in square pixels: the coded width
    stretched by the sample aspect ratio (anamorphic DV, broadcast), then the
    display-matrix rotation."""
    width = coded_width
    if sample_aspect > 0 and sample_aspect != 1:
        width = max(1, round(coded_width * sample_aspect))
    if round(rotation) % 180 == 90 or round(rotation) % 180 == -90:
        return coded_height, width
    return width, coded_height


def homography(src, dst) -> np.ndarray:
    """The 3x3 projective map sending 4 ``src`` points onto 4 ``dst`` points."""
    rows, rhs = [], []
    for (x, y), (u, v) in zip(src, dst, strict=True):
        rows.append([x, y, 1, 0, 0, 0, -u * x, -u * y])
        rows.append([0, 0, 0, x, y, 1, -v * x, -v * y])
        rhs += [u, v]
    h = np.linalg.solve(np.asarray(rows, float), np.asarray(rhs, float))
    return np.append(h, 1.0).reshape(3, 3)


def apply(matrix: np.ndarray, points) -> np.ndarray:
    """Map (N, 2) points through a 3x3 homography."""
    pts = np.asarray(points, float).reshape(-1, 2)
    mapped = np.c_[pts, np.ones(len(pts))] @ np.asarray(matrix, float).T
    return mapped[:, :2] / mapped[:, 2:3]


def iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise IoU of (n, 4) and (m, 4) xyxy boxes."""
    a, b = np.asarray(a, float)[:, None, :], np.asarray(b, float)[None, :, :]
    w = np.clip(np.minimum(a[..., 2], b[..., 2]) - np.maximum(a[..., 0], b[..., 0]), 0, None)
    h = np.clip(np.minimum(a[..., 3], b[..., 3]) - np.maximum(a[..., 1], b[..., 1]), 0, None)
    inter = w * h
    area_a = (a[..., 2] - a[..., 0]) * (a[..., 3] - a[..., 1])
    area_b = (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1])
    return inter / np.maximum(area_a + area_b - inter, 1e-12)


def map_boxes(xyxy: np.ndarray, matrix: np.ndarray, size) -> np.ndarray:
    """(n, 4) xyxy boxes through the 3x3 map ``matrix`` (e.g. delivered -> displayed
    source pixels): the four corners mapped, their bounding box taken (exact for a
    scale or crop; the enclosing box of the quadrilateral for a perspective warp),
    clipped to an image of ``size`` (w, h)."""
    if len(xyxy) == 0:
        return np.zeros((0, 4))
    x1, y1, x2, y2 = (np.asarray(xyxy, float)[:, i] for i in range(4))
    corners = np.stack(
        [np.c_[x1, y1], np.c_[x2, y1], np.c_[x2, y2], np.c_[x1, y2]], axis=1
    )  # (n, 4, 2)
    mapped = apply(matrix, corners.reshape(-1, 2)).reshape(-1, 4, 2)
    return clip_boxes(np.c_[mapped.min(axis=1), mapped.max(axis=1)], size)


def clip_boxes(xyxy: np.ndarray, size) -> np.ndarray:
    """(n, 4) float xyxy boxes clipped, in place, to an image of ``size`` (w, h)."""
    width, height = size
    xyxy[:, [0, 2]] = xyxy[:, [0, 2]].clip(0, width)
    xyxy[:, [1, 3]] = xyxy[:, [1, 3]].clip(0, height)
    return xyxy
