"""Arena definitions: validate a polygon, turn it into a source -> arena transform,
and suggest one from the video itself.

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
import tempfile
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import numpy as np

from .atomic import write_text
from .errors import VideoError

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
        import cv2

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
        import cv2

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
    import cv2

    outline = apply(transform.scaled_to(size), transform.polygon)
    inside = np.zeros((size[1], size[0]), np.uint8)
    shift = 4  # sub-pixel vertices; pixel centres at +0.5
    vertices = np.round((outline - 0.5) * (1 << shift)).astype(np.int32)
    cv2.fillPoly(inside, [vertices], 1, lineType=cv2.LINE_8, shift=shift)
    return inside == 0


# --- suggesting ------------------------------------------------------------------------


SUGGEST_BLUR_PX = 2.0
SUGGEST_EDGE_PERCENTILE = 92  # gradient strength that walls off the floor region
SUGGEST_REACH = 0.03  # of the frame diagonal: how far a side may move to its edge


def _floor_region(grey: np.ndarray):
    """The region around the frame centre bounded by strong edges (the floor's
    outline), and the image gradients used to refine it."""
    import cv2

    gx = cv2.Sobel(grey, cv2.CV_32F, 1, 0)
    gy = cv2.Sobel(grey, cv2.CV_32F, 0, 1)
    magnitude = np.hypot(gx, gy)
    edges = (magnitude > np.percentile(magnitude, SUGGEST_EDGE_PERCENTILE)).astype(np.uint8)
    edges = cv2.dilate(edges, np.ones((3, 3), np.uint8))
    _, labels = cv2.connectedComponents(1 - edges, connectivity=4)
    height, width = grey.shape
    return (labels == labels[height // 2, width // 2]).astype(np.uint8), gx, gy


def _sample(image: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Bilinear samples at continuous coordinates (pixel centres at +0.5)."""
    import cv2

    xy = (points - 0.5).astype(np.float32)
    return cv2.remap(image, xy[:, :1], xy[:, 1:], cv2.INTER_LINEAR).ravel()


def _edge_of_side(p, q, centre, gx, gy, reach: float, darker_outside: bool):
    """Move side pq along its normal to the nearest strong floor edge: the first
    local maximum of the mean brightness step that reaches half the strongest."""
    direction = q - p
    tangent = direction / np.hypot(*direction)
    normal = np.array([tangent[1], -tangent[0]])
    if np.dot((p + q) / 2 - centre, normal) < 0:
        normal = -normal  # outward
    along = p + np.linspace(0.15, 0.85, 60)[:, None] * direction  # corners are rounded
    offsets = np.arange(-reach / 2, reach + 0.01, 0.25)
    sign = -1.0 if darker_outside else 1.0
    steps = np.array(
        [
            sign
            * (
                _sample(gx, along + o * normal) * normal[0]
                + _sample(gy, along + o * normal) * normal[1]
            ).mean()
            for o in offsets
        ]
    )
    best = int(steps.argmax())
    for i in range(1, len(offsets) - 1):
        if steps[i] >= 0.5 * steps[best] and steps[i] >= steps[i - 1] and steps[i] >= steps[i + 1]:
            best = i
            break
    return p + offsets[best] * normal, q + offsets[best] * normal


def _intersection(a1, a2, b1, b2) -> np.ndarray:
    da, db = a2 - a1, b2 - b1
    t = np.linalg.solve(np.array([da, -db]).T, b1 - a1)
    return a1 + t[0] * da


def suggest_polygon(background: np.ndarray) -> tuple[tuple[float, float], ...]:
    """The arena floor in a background (median) frame.

    The floor is the region around the frame centre walled off by the strongest
    edges; its convex hull gives a quadrilateral when it is one, and each side is
    then moved to the floor's edge (where the brightness steps to the wall). A
    region that is not four-sided (a round arena) comes back as its hull polygon.
    """
    import cv2

    grey = background if background.ndim == 2 else cv2.cvtColor(background, cv2.COLOR_RGB2GRAY)
    grey = cv2.GaussianBlur(grey, (0, 0), SUGGEST_BLUR_PX).astype(np.float32)
    height, width = grey.shape
    region, gx, gy = _floor_region(grey)
    contours, _ = cv2.findContours(region, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    if not contours:
        raise ArenaError("no arena floor found in the background frame")
    contour = max(contours, key=cv2.contourArea)
    if cv2.contourArea(contour) < MIN_AREA_FRACTION * width * height:
        raise ArenaError("no arena floor found in the background frame")
    hull = cv2.convexHull(contour)
    perimeter = cv2.arcLength(hull, True)
    quad = cv2.approxPolyDP(hull, 0.02 * perimeter, True).reshape(-1, 2).astype(float) + 0.5
    if len(quad) != 4:
        outline = cv2.approxPolyDP(hull, 0.005 * perimeter, True).reshape(-1, 2) + 0.5
        return clockwise_from_top_left(outline)
    quad = np.asarray(clockwise_from_top_left(quad), float)
    centre = quad.mean(axis=0)
    inside = float(grey[region > 0].mean())
    darker_outside = inside > float(grey[region == 0].mean())
    reach = SUGGEST_REACH * float(np.hypot(width, height))
    sides = [
        _edge_of_side(quad[i], quad[(i + 1) % 4], centre, gx, gy, reach, darker_outside)
        for i in range(4)
    ]
    corners = np.array([_intersection(*sides[i - 1], *sides[i]) for i in range(4)])
    corners[:, 0] = corners[:, 0].clip(0, width)
    corners[:, 1] = corners[:, 1].clip(0, height)
    return clockwise_from_top_left(corners)


def clockwise_from_top_left(points) -> tuple[tuple[float, float], ...]:
    pts = np.asarray(points, float)
    centre = pts.mean(axis=0)
    angles = np.arctan2(pts[:, 1] - centre[1], pts[:, 0] - centre[0])
    pts = pts[np.argsort(angles)]  # increasing angle = clockwise on screen (y down)
    start = int(np.argmin(pts.sum(axis=1)))
    pts = np.roll(pts, -start, axis=0)
    return tuple((round(float(x), 1), round(float(y), 1)) for x, y in pts)


def median_frame(
    path: str, probe: dict, samples: int = 25, video_id: str | None = None, **spec_fields
):
    """The per-pixel median of ``samples`` frames spread over the video (RGB, or as
    ``spec_fields`` of FrameSpec ask: size, pix_fmt, arena): the empty arena, whatever
    moved through it.

    Keyframes only are decoded (the first one at or after each of ``samples`` evenly
    spaced times), so a long recording costs a fraction of a decode pass; a video
    with too few keyframes for that is sampled from every frame instead."""
    from .frames import FrameSpec, open_frames

    video_id = video_id or probe.get("video_id", "?")
    duration = max(float(probe["duration_s"]), 1e-3)
    targets = [(k + 0.5) * duration / samples for k in range(samples)]
    picked: list[np.ndarray] = []
    keyframes = FrameSpec(keyframes_only=True, **spec_fields)
    with open_frames(path, probe, keyframes, video_id) as source:
        for frame in source:
            while targets and frame.time_s >= targets[0] - 0.5 * duration / samples:
                targets.pop(0)
                if not picked or picked[-1] is not frame.data:
                    picked.append(frame.data)
            if not targets:
                break
    if len(picked) < min(samples, 5):
        rate = min(max(samples / duration, 1e-3), float(probe.get("avg_fps") or 25))
        spec = FrameSpec(
            fps=Fraction(rate).limit_denominator(100000), max_frames=samples, **spec_fields
        )
        with open_frames(path, probe, spec, video_id) as source:
            picked = [frame.data for frame in source]
    if not picked:
        raise VideoError(video_id, "no frame decoded for the arena's median frame")
    return np.median(np.stack(picked), axis=0).astype(np.uint8)


def rectified_image(image: np.ndarray, transform: ArenaTransform, folder: Path) -> np.ndarray:
    """``image`` (source pixels, RGB) as the frame source delivers it in arena pixels:
    the same ffmpeg filters and mask clips get, run on a still picture."""
    from PIL import Image

    from .frames import FrameSpec, open_frames

    # a name of its own: arena jobs of several videos share the folder and run at once
    handle, name = tempfile.mkstemp(prefix=".arena-source-", suffix=".png", dir=folder)
    os.close(handle)
    still = Path(name)
    Image.fromarray(image).save(still)
    height, width = image.shape[:2]
    probe = {"video_id": "arena", "width": width, "height": height, "duration_s": 1.0}
    try:
        with open_frames(str(still), probe, FrameSpec(arena=transform)) as source:
            return next(source).data
    finally:
        still.unlink(missing_ok=True)


def arena_stage(
    video: str,
    probe_json: str,
    definition: ArenaDefinition | None,
    out_json: str,
    out_png: str,
    longest_side: int = DEFAULT_LONGEST_SIDE,
    mask_colour=(0, 0, 0),
    samples: int = 25,
) -> ArenaTransform:
    """Write the video's arena transform (JSON) and its rectified median frame (PNG).

    ``definition`` None: suggest the arena from the median frame (``auto``)."""
    import logging

    from PIL import Image

    from .atomic import atomic_path

    log = logging.getLogger(__name__)
    probe = json.loads(Path(probe_json).read_text())
    video_id = probe["video_id"]
    frame_size = (probe["width"], probe["height"])
    background = median_frame(video, probe, samples, video_id)
    if definition is None:
        try:
            polygon = suggest_polygon(background)
        except ArenaError as err:
            raise VideoError(video_id, f"arena auto: {err}") from None
        definition = ArenaDefinition(polygon, f"{video_id} (auto)")
        log.info("%s: suggested arena %s", video_id, polygon)
    try:
        transform = arena_transform(definition, frame_size, mask_colour, longest_side)
    except ArenaError as err:
        raise VideoError(video_id, str(err)) from None
    picture = rectified_image(background, transform, Path(out_png).parent)
    with atomic_path(out_png, suffix=".png") as tmp:
        Image.fromarray(picture).save(tmp, format="PNG")
    record = {"video_id": video_id, "definition": definition.where, **transform.to_json()}
    write_text(out_json, json.dumps(record, indent=2) + "\n")
    log.info(
        "%s: %s arena %dx%d from %s",
        video_id,
        transform.kind,
        *transform.output_size,
        definition.where,
    )
    return transform


def read_transform(path: str | os.PathLike) -> ArenaTransform:
    return ArenaTransform.from_json(json.loads(Path(path).read_text()))
