"""Frame-size arithmetic for clips: aspect kept, even sides, never upscaled."""

from __future__ import annotations

from fractions import Fraction


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
