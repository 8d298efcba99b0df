"""The arena stage: suggest an arena from the video itself (``auto``), then write the
video's source -> arena transform (JSON) and its rectified median frame (PNG).

Suggesting: the floor is the large, evenly lit region around the middle of the median
frame (whatever moved through the arena is gone from it); each side of its bounding box
moves to the strongest nearby edge with the darker side out, and the four sides'
intersections are the corners, clockwise from the top left.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from vidcurate.settings import FromConfig

from .arena import (
    DEFAULT_LONGEST_SIDE,
    MIN_AREA_FRACTION,
    ArenaDefinition,
    ArenaError,
    ArenaTransform,
    arena_transform,
)
from .atomic import atomic_path, write_text
from .errors import VideoError
from .frames import FrameSpec, median_frame, open_frames

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ArenaSettings(FromConfig):
    """What the arena stage reads (arena.folder only decides which file is its input)."""

    longest_side: int = 512
    mask_colour: tuple[int, int, int] = (0, 0, 0)
    median_samples: int = 25


SUGGEST_BLUR_PX = 2.0
SUGGEST_EDGE_PERCENTILE = 92  # gradient strength that walls off the floor region
SUGGEST_REACH = 0.03  # of the frame diagonal: how far a side may move to its edge


def _floor_region(grey: np.ndarray):
    """The region around the frame centre bounded by strong edges (the floor's
    outline), and the image gradients used to refine it."""

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


def rectified_image(image: np.ndarray, transform: ArenaTransform, folder: Path) -> np.ndarray:
    """``image`` (source pixels, RGB) as the frame source delivers it in arena pixels:
    the same ffmpeg filters and mask clips get, run on a still picture."""

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
