"""Arena definitions: read and check a polygon, and turn it into the source -> arena
transform the frame source applies while decoding (crop, scale, perspective warp, mask).
Suggesting an arena and the arena stage itself are vidcurate.arena_stage.

Coordinates are continuous image coordinates in displayed-source pixels (rotation
and sample aspect applied): (0, 0) is the top-left corner of the top-left pixel,
(w, h) the bottom-right corner of the bottom-right one, which is what a click on
the frame gives. Points go clockwise as seen on screen, starting at the corner
that becomes the arena's top-left.

- 4 points: a perspective warp of the quadrilateral onto a rectangle (the arena's
  floor as seen from straight above).
- other N (>= 3): the bounding box cropped and scaled uniformly, the outside of the
  polygon masked, so a round arena stays round.

The transform is a 3x3 homography ``H`` from source to arena pixels, in the same
continuous coordinates: the polygon's corners land on the output's corners.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from .atomic import write_text
from .geometry import apply, homography

DEFAULT_LONGEST_SIDE = 512
MIN_AREA_FRACTION = 0.01  # of the frame: anything smaller is a mis-click, not an arena
MIN_SIDE_PX = 4.0


class ArenaError(ValueError):
    """An arena definition that cannot be used; the message names where it came from."""


@dataclass(frozen=True)
class ArenaDefinition:
    polygon: tuple[tuple[float, float], ...]
    where: str  # the file or sheet cell it came from, for messages
    size_cm: tuple[float, float] | None = None
    output_px: tuple[int, int] | None = None
    frame_size: tuple[int, int] | None = None  # the frame the polygon was drawn on
    extra: dict = field(default_factory=dict, compare=False)

    @property
    def kind(self) -> str:
        return "perspective" if len(self.polygon) == 4 else "mask"


# --- reading ---------------------------------------------------------------------


def _finite(value, text: bool = False) -> float:
    """A finite number from JSON (an int or a float: never true/false or a string), or
    from the sheet's ``text``; ValueError otherwise (NaN and infinities included)."""
    if isinstance(value, bool) or not isinstance(value, str if text else int | float):
        raise ValueError(value)
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(value)
    return number


def parse_points(text: str, where: str) -> tuple[tuple[float, float], ...]:
    """``x1,y1;x2,y2;...`` (the sheet's `arena` column) as points."""
    points = []
    for number, pair in enumerate(p for p in text.replace(" ", "").split(";") if p):
        try:
            x, y = (_finite(v, text=True) for v in pair.split(","))
        except ValueError:
            raise ArenaError(
                f"{where}: point {number + 1} {pair!r} is not 'x,y' of finite numbers "
                "(use x1,y1;x2,y2;...)"
            ) from None
        points.append((x, y))
    return tuple(points)


def _pair(value, key: str, where: str, kind=float) -> tuple | None:
    if value is None:
        return None
    try:
        if isinstance(value, str | bytes):
            raise ValueError(value)
        first, second = (_finite(v) for v in value)
        if kind is int and not (first.is_integer() and second.is_integer()):
            raise ValueError(value)
    except (TypeError, ValueError):
        raise ArenaError(f"{where}: {key} must be two finite numbers, got {value!r}") from None
    if first <= 0 or second <= 0:
        raise ArenaError(f"{where}: {key} must be positive, got {value!r}")
    return kind(first), kind(second)


def definition_from_json(data: dict, where: str) -> ArenaDefinition:
    if not isinstance(data, dict) or "polygon" not in data:
        raise ArenaError(f"{where}: needs a 'polygon' list of [x, y] points")
    try:
        if isinstance(data["polygon"], str | bytes):
            raise ValueError(data["polygon"])
        polygon = tuple((_finite(x), _finite(y)) for x, y in data["polygon"])
    except (TypeError, ValueError):
        raise ArenaError(
            f"{where}: 'polygon' must be a list of [x, y] pairs of finite numbers"
        ) from None
    return ArenaDefinition(
        polygon=polygon,
        where=where,
        size_cm=_pair(data.get("size_cm"), "size_cm", where),
        output_px=_pair(data.get("output_px"), "output_px", where, kind=int),
        frame_size=_pair(data.get("frame_size"), "frame_size", where, kind=int),
        extra={k: v for k, v in data.items() if k not in ("polygon", "size_cm", "output_px")},
    )


def read_arena_file(path: str | os.PathLike) -> ArenaDefinition:
    where = str(path)
    try:
        data = json.loads(Path(path).read_text())
    except json.JSONDecodeError as err:
        raise ArenaError(f"{where}: not valid JSON ({err.msg} at line {err.lineno})") from None
    return definition_from_json(data, where)


def write_arena_file(path: str | os.PathLike, definition: ArenaDefinition) -> None:
    """Atomically write the JSON a user (or the annotation page) keeps per video."""
    data = {**definition.extra, "polygon": [list(p) for p in definition.polygon]}
    if definition.size_cm:
        data["size_cm"] = list(definition.size_cm)
    if definition.output_px:
        data["output_px"] = list(definition.output_px)
    if definition.frame_size:
        data["frame_size"] = list(definition.frame_size)
    # allow_nan=False: a bare NaN is not JSON, and no arena has one
    write_text(path, json.dumps(data, indent=2, allow_nan=False) + "\n")


# --- checking ----------------------------------------------------------------------


def signed_area(polygon) -> float:
    """Shoelace area; positive when the points go clockwise on screen (y down)."""
    pts = np.asarray(polygon, float)
    x, y = pts[:, 0], pts[:, 1]
    return float((x * np.roll(y, -1) - np.roll(x, -1) * y).sum() / 2)


def _segments_cross(a, b, c, d) -> bool:
    """Proper or touching intersection of segments ab and cd."""

    def orient(p, q, r):
        return (q[0] - p[0]) * (r[1] - p[1]) - (q[1] - p[1]) * (r[0] - p[0])

    def on_segment(p, q, r):
        return min(p[0], r[0]) <= q[0] <= max(p[0], r[0]) and min(p[1], r[1]) <= q[1] <= max(
            p[1], r[1]
        )

    d1, d2, d3, d4 = orient(c, d, a), orient(c, d, b), orient(a, b, c), orient(a, b, d)
    if ((d1 > 0) != (d2 > 0)) and ((d3 > 0) != (d4 > 0)) and 0 not in (d1, d2, d3, d4):
        return True
    return (
        (d1 == 0 and on_segment(c, a, d))
        or (d2 == 0 and on_segment(c, b, d))
        or (d3 == 0 and on_segment(a, c, b))
        or (d4 == 0 and on_segment(a, d, b))
    )


def check_polygon(
    polygon, where: str, frame_size: tuple[int, int] | None = None
) -> tuple[tuple[float, float], ...]:
    """The polygon as a tuple, or ArenaError naming ``where`` and the problem."""
    pts = tuple((float(x), float(y)) for x, y in polygon)
    if len(pts) < 3:
        raise ArenaError(f"{where}: an arena needs at least 3 points, got {len(pts)}")
    if not all(math.isfinite(v) for p in pts for v in p):
        raise ArenaError(f"{where}: polygon has a coordinate that is not a finite number")
    for i, (p, q) in enumerate(zip(pts, pts[1:] + pts[:1], strict=True)):
        if math.dist(p, q) < MIN_SIDE_PX:
            raise ArenaError(
                f"{where}: degenerate polygon: points {i + 1} and {(i + 1) % len(pts) + 1} "
                f"are {math.dist(p, q):.1f} px apart"
            )
    n = len(pts)
    for i in range(n):
        for j in range(i + 1, n):
            if j == i + 1 or (i == 0 and j == n - 1):
                continue  # neighbouring sides share a corner
            if _segments_cross(pts[i], pts[(i + 1) % n], pts[j], pts[(j + 1) % n]):
                raise ArenaError(
                    f"{where}: self-intersecting polygon: side {i + 1}-{(i + 1) % n + 1} "
                    f"crosses side {j + 1}-{(j + 1) % n + 1} (corners out of order?)"
                )
    area = signed_area(pts)
    if frame_size:
        width, height = frame_size
        outside = [
            i + 1 for i, (x, y) in enumerate(pts) if not (0 <= x <= width and 0 <= y <= height)
        ]
        if outside:
            raise ArenaError(
                f"{where}: point(s) {', '.join(map(str, outside))} lie outside the "
                f"{width}x{height} frame"
            )
        if abs(area) < MIN_AREA_FRACTION * width * height:
            raise ArenaError(
                f"{where}: degenerate polygon: area {abs(area):.0f} px² is under "
                f"{MIN_AREA_FRACTION:.0%} of the frame"
            )
    elif abs(area) < MIN_SIDE_PX**2:
        raise ArenaError(f"{where}: degenerate polygon: area {abs(area):.1f} px²")
    if area < 0:
        raise ArenaError(
            f"{where}: wrongly ordered polygon: points go counter-clockwise on screen; "
            "list them clockwise, starting at the arena's top-left corner"
        )
    return pts


def check_definition(definition: ArenaDefinition, frame_size=None) -> ArenaDefinition:
    check_polygon(definition.polygon, definition.where, frame_size or definition.frame_size)
    return definition


# --- the transform -------------------------------------------------------------------


def natural_aspect(definition: ArenaDefinition) -> float:
    """Width / height of the arena as it really is: from size_cm when known, else
    from the polygon (mean of opposite sides for 4 points, the bounding box else)."""
    if definition.size_cm:
        return definition.size_cm[0] / definition.size_cm[1]
    pts = np.asarray(definition.polygon, float)
    if len(pts) == 4:
        top, right = math.dist(pts[0], pts[1]), math.dist(pts[1], pts[2])
        bottom, left = math.dist(pts[2], pts[3]), math.dist(pts[3], pts[0])
        return (top + bottom) / (left + right)
    span = pts.max(axis=0) - pts.min(axis=0)
    return float(span[0] / span[1])


def output_size(definition: ArenaDefinition, longest_side: int = DEFAULT_LONGEST_SIDE):
    if definition.output_px:
        return definition.output_px
    aspect = natural_aspect(definition)
    if aspect >= 1:
        return longest_side, max(2, round(longest_side / aspect))
    return max(2, round(longest_side * aspect)), longest_side


@dataclass(frozen=True)
class ArenaTransform:
    """Source (displayed) pixels -> arena pixels, and what the frame source needs."""

    kind: str  # perspective | mask
    polygon: tuple[tuple[float, float], ...]  # source pixels
    source_size: tuple[int, int]
    output_size: tuple[int, int]
    matrix: np.ndarray  # 3x3, source -> arena
    crop: tuple[int, int, int, int] | None = None  # mask: x, y, w, h of the source crop
    mask_colour: tuple[int, int, int] = (0, 0, 0)
    px_per_cm: float | None = None

    @property
    def inverse(self) -> np.ndarray:
        return np.linalg.inv(self.matrix)

    @property
    def mask_polygon(self) -> np.ndarray:
        """The arena's outline in arena pixels."""
        return apply(self.matrix, self.polygon)

    def scaled_to(self, size: tuple[int, int]) -> np.ndarray:
        """Source -> pixels of the arena delivered at ``size`` (e.g. a clip's)."""
        sx, sy = size[0] / self.output_size[0], size[1] / self.output_size[1]
        return np.diag([sx, sy, 1.0]) @ self.matrix

    # what the frame source asks of an arena (it never imports this module, so the
    # stages that have no arena do not depend on it)
    def ffmpeg_filters(self, size: tuple[int, int], scaler: str) -> list[str]:
        return ffmpeg_filters(self, size, scaler)

    def warp(self, size: tuple[int, int], pix_fmt: str) -> PerspectiveWarp:
        return PerspectiveWarp(self, size, pix_fmt)

    def outside(self, size: tuple[int, int]) -> np.ndarray | None:
        return mask_for(self, size)

    def to_json(self) -> dict:
        return {
            "kind": self.kind,
            "polygon": [list(map(float, p)) for p in self.polygon],
            "source_size": list(self.source_size),
            "output_size": list(self.output_size),
            "homography": np.asarray(self.matrix).tolist(),
            "inverse": self.inverse.tolist(),
            "crop": list(self.crop) if self.crop else None,
            "mask_polygon": self.mask_polygon.tolist(),
            "mask_colour": list(self.mask_colour),
            "px_per_cm": self.px_per_cm,
        }

    @classmethod
    def from_json(cls, data: dict) -> ArenaTransform:
        return cls(
            kind=data["kind"],
            polygon=tuple(tuple(p) for p in data["polygon"]),
            source_size=tuple(data["source_size"]),
            output_size=tuple(data["output_size"]),
            matrix=np.asarray(data["homography"], float),
            crop=tuple(data["crop"]) if data.get("crop") else None,
            mask_colour=tuple(data.get("mask_colour") or (0, 0, 0)),
            px_per_cm=data.get("px_per_cm"),
        )


def arena_transform(
    definition: ArenaDefinition,
    source_size: tuple[int, int],
    mask_colour=(0, 0, 0),
    longest_side: int = DEFAULT_LONGEST_SIDE,
) -> ArenaTransform:
    polygon = check_polygon(definition.polygon, definition.where, source_size)
    width, height = output_size(definition, longest_side)
    crop = None
    if len(polygon) == 4:
        corners = [(0, 0), (width, 0), (width, height), (0, height)]
        matrix = homography(polygon, corners)
    else:
        pts = np.asarray(polygon)
        x0, y0 = np.floor(pts.min(axis=0)).astype(int)
        x1, y1 = np.ceil(pts.max(axis=0)).astype(int)
        x1, y1 = min(x1, source_size[0]), min(y1, source_size[1])
        crop = (int(x0), int(y0), int(x1 - x0), int(y1 - y0))
        matrix = np.array(
            [
                [width / crop[2], 0, -x0 * width / crop[2]],
                [0, height / crop[3], -y0 * height / crop[3]],
                [0, 0, 1],
            ]
        )
    px_per_cm = None
    if definition.size_cm:
        px_per_cm = float(np.sqrt(width / definition.size_cm[0] * height / definition.size_cm[1]))
    return ArenaTransform(
        kind="perspective" if len(polygon) == 4 else "mask",
        polygon=polygon,
        source_size=tuple(source_size),
        output_size=(int(width), int(height)),
        matrix=matrix,
        crop=crop,
        mask_colour=tuple(int(c) for c in mask_colour),
        px_per_cm=px_per_cm,
    )


def source_crop(transform: ArenaTransform) -> tuple[int, int, int, int]:
    """Whole-pixel bounding box (x, y, w, h) of the arena in the source frame."""
    pts = np.asarray(transform.polygon, float)
    x0, y0 = np.floor(pts.min(axis=0)).astype(int).clip(0)
    x1 = min(int(np.ceil(pts[:, 0].max())), transform.source_size[0])
    y1 = min(int(np.ceil(pts[:, 1].max())), transform.source_size[1])
    return int(x0), int(y0), int(x1 - x0), int(y1 - y0)


def ffmpeg_filters(transform: ArenaTransform, size: tuple[int, int], scaler: str) -> list[str]:
    """ffmpeg filters that bring the arena's bounding box to ``size``: crop (free) and
    one scale, the anti-aliased resample plain clips get too. What is left, the
    perspective of a 4-point arena, is ``PerspectiveWarp`` on the delivered frames
    (OpenCV's remap: twice as fast as ffmpeg's perspective filter, and off ffmpeg's
    thread); other N need only the mask."""
    x, y, w, h = transform.crop or source_crop(transform)
    width, height = size
    return [f"crop={w}:{h}:{x}:{y}", f"scale={width}:{height}:flags={scaler}"]


class PerspectiveWarp:
    """Rectify frames that ffmpeg delivered as the arena's scaled bounding box.

    Maps are built once: for each delivered pixel centre, where it lies in the scaled
    box (``box_to_arena``'s inverse); chroma planes of yuv420p use the same map at
    half resolution. Bilinear, edges replicated."""

    def __init__(self, transform: ArenaTransform, size: tuple[int, int], pix_fmt: str):

        x, y, w, h = transform.crop or source_crop(transform)
        width, height = size
        to_box = np.array(
            [[width / w, 0, -x * width / w], [0, height / h, -y * height / h], [0, 0, 1]]
        )
        self.box_from_arena = np.linalg.inv(transform.scaled_to(size) @ np.linalg.inv(to_box))
        self.size, self.pix_fmt = size, pix_fmt
        self.maps = [cv2.convertMaps(*self._map(1), cv2.CV_16SC2)]
        if pix_fmt == "yuv420p":
            self.maps.append(cv2.convertMaps(*self._map(2), cv2.CV_16SC2))

    def _map(self, step: int):
        """Source positions (index coordinates) for a plane subsampled by ``step``."""
        width, height = self.size[0] // step, self.size[1] // step
        u, v = np.meshgrid(np.arange(width) + 0.5, np.arange(height) + 0.5)
        points = np.stack([u.ravel(), v.ravel()], axis=1) * step
        box = apply(self.box_from_arena, points) / step - 0.5
        return (
            box[:, 0].reshape(height, width).astype(np.float32),
            box[:, 1].reshape(height, width).astype(np.float32),
        )

    def __call__(self, data: np.ndarray) -> np.ndarray:

        def warp(plane, maps):
            return cv2.remap(plane, *maps, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)

        if self.pix_fmt != "yuv420p":
            return warp(data, self.maps[0])
        width, height = self.size
        flat, luma, chroma = data.reshape(-1), width * height, (width // 2) * (height // 2)
        out = np.empty_like(flat)
        out[:luma] = warp(flat[:luma].reshape(height, width), self.maps[0]).ravel()
        for start in (luma, luma + chroma):
            plane = flat[start : start + chroma].reshape(height // 2, width // 2)
            out[start : start + chroma] = warp(plane, self.maps[1]).ravel()
        return out.reshape(data.shape)


def mask_for(transform: ArenaTransform, size: tuple[int, int]) -> np.ndarray | None:
    """Boolean (h, w) array, True outside the arena, for frames delivered at ``size``;
    None when nothing is outside (a perspective warp fills the frame)."""
    if transform.kind == "perspective":
        return None

    outline = apply(transform.scaled_to(size), transform.polygon)
    inside = np.zeros((size[1], size[0]), np.uint8)
    shift = 4  # sub-pixel vertices; pixel centres at +0.5
    vertices = np.round((outline - 0.5) * (1 << shift)).astype(np.int32)
    cv2.fillPoly(inside, [vertices], 1, lineType=cv2.LINE_8, shift=shift)
    return inside == 0


def read_transform(path: str | os.PathLike) -> ArenaTransform:
    return ArenaTransform.from_json(json.loads(Path(path).read_text()))
