"""Read what a video is with ffprobe, and fail early with one line when it is not one."""

from __future__ import annotations

import json
import logging
from fractions import Fraction
from pathlib import Path

from .atomic import write_text
from .errors import VideoError, ffmpeg_reason
from .ffprobe import FfprobeError, ffprobe_json, packet_times
from .frames import FrameSpec, open_frames
from .geometry import displayed_size
from .provenance import file_sha256

log = logging.getLogger(__name__)

TEXT_FORMATS = {"tty"}
# transfer functions of high dynamic range video: PQ (HDR10, Dolby Vision) and HLG
HDR_TRANSFERS = {"smpte2084", "arib-std-b67"}
HDR_POLICIES = ("tonemap", "reject")


def _colour(stream: dict, key: str) -> str | None:
    value = stream.get(key)
    return None if value in (None, "", "unknown", "unspecified", "reserved") else str(value)


def _rate(text: str | None) -> Fraction | None:
    if not text or text in ("0/0", "N/A"):
        return None
    rate = Fraction(text)
    return rate if rate > 0 else None


def _float(text) -> float | None:
    try:
        return float(text)
    except (TypeError, ValueError):
        return None


def _rotation(stream: dict) -> float:
    for side in stream.get("side_data_list") or []:
        if "rotation" in side:
            return float(side["rotation"])
    return _float((stream.get("tags") or {}).get("rotate")) or 0.0


def _packet_span(path: str) -> tuple[float, int] | None:
    """Duration and packet count of the first video stream from its packets, for
    containers that state no duration (e.g. some WebM files)."""
    times = packet_times(path)
    if not times:
        return None
    step = times[-1][1] or (times[-1][0] - times[-2][0] if len(times) > 1 else 0.0)
    return times[-1][0] + step - times[0][0], len(times)


def check_decodable(path: str, video_id: str, probe: dict) -> None:
    """Decode the first frame through the frame source; a container that parses but
    holds no picture fails here."""
    size = (min(probe["width"], 64), min(probe["height"], 64))
    try:
        with open_frames(path, probe, FrameSpec(size=size, pix_fmt="gray", max_frames=1)) as frames:
            first = next(iter(frames), None)
    except VideoError as err:
        raise VideoError(video_id, f"no decodable video frame: {err.reason}") from None
    if first is None:
        raise VideoError(video_id, "no decodable video frame: decoder gave no frame")


def displayed_frame_size(path: str) -> tuple[int, int] | None:
    """Upright, square-pixel frame size from the stream header alone (no packet count,
    no decoding): cheap enough to check arena polygons while planning. None when
    ffprobe finds no video stream (the probe job then reports why)."""
    try:
        info = ffprobe_json(str(path), "-select_streams", "v:0")
    except FfprobeError:
        return None
    for stream in info.get("streams", []):
        width, height = int(stream.get("width") or 0), int(stream.get("height") or 0)
        if width > 0 and height > 0:
            aspect = _rate(str(stream.get("sample_aspect_ratio", "")).replace(":", "/"))
            return displayed_size(width, height, _rotation(stream), aspect or Fraction(1))
    return None


def probe_video(path: str, video_id: str) -> dict:
    """Facts about the first video stream of ``path`` that later stages rely on.

    Raises VideoError with a one-line reason for a broken container, a file with
    no video stream, or one whose first frame does not decode.
    """
    if Path(path).stat().st_size == 0:
        raise VideoError(video_id, "empty file (0 bytes)")
    try:
        info = ffprobe_json(str(path), "-count_packets")
    except FfprobeError as err:
        raise VideoError(
            video_id, f"cannot read container: {ffmpeg_reason(err.stderr, str(path))}"
        ) from None
    streams = info.get("streams", [])
    videos = [
        s
        for s in streams
        if s.get("codec_type") == "video" and not (s.get("disposition") or {}).get("attached_pic")
    ]
    if not videos:
        kinds = sorted({s.get("codec_type", "unknown") for s in streams}) or ["none"]
        raise VideoError(video_id, f"no video stream (streams found: {', '.join(kinds)})")
    stream = videos[0]
    fmt = info.get("format", {})
    if fmt.get("format_name") in TEXT_FORMATS:
        # ffmpeg's tty demuxer renders any text file as "video"
        raise VideoError(video_id, f"not a video file (read as {fmt.get('format_name')} text)")

    coded_w, coded_h = int(stream.get("width") or 0), int(stream.get("height") or 0)
    if coded_w <= 0 or coded_h <= 0:
        raise VideoError(video_id, "video stream has no frame size")
    rotation = _rotation(stream)
    sample_aspect = _rate(stream.get("sample_aspect_ratio", "").replace(":", "/")) or Fraction(1)
    width, height = displayed_size(coded_w, coded_h, rotation, sample_aspect)

    avg_rate = _rate(stream.get("avg_frame_rate"))
    real_rate = _rate(stream.get("r_frame_rate"))
    n_frames = int(stream.get("nb_frames") or stream.get("nb_read_packets") or 0)
    duration = _float(stream.get("duration"))
    duration_from = "stream"
    if duration is None:
        span = _packet_span(str(path))
        if span is not None:
            duration, packets = span
            n_frames = n_frames or packets
            duration_from = "packets"
    if duration is None or duration <= 0:
        raise VideoError(video_id, "video stream has no duration and no timed packets")
    if avg_rate is None and n_frames and duration:
        avg_rate = Fraction(n_frames / duration).limit_denominator(1001000)

    info = {
        "video_id": video_id,
        "path": str(path),
        "container": fmt.get("format_name"),
        "codec": stream.get("codec_name"),
        "profile": stream.get("profile"),
        "pix_fmt": stream.get("pix_fmt"),
        "coded_width": coded_w,
        "coded_height": coded_h,
        "rotation": rotation,
        "sample_aspect_ratio": str(sample_aspect),
        "width": width,
        "height": height,
        "avg_frame_rate": str(avg_rate) if avg_rate else None,
        "avg_fps": float(avg_rate) if avg_rate else None,
        "real_frame_rate": str(real_rate) if real_rate else None,
        "real_fps": float(real_rate) if real_rate else None,
        "variable_frame_rate": bool(
            avg_rate and real_rate and abs(avg_rate - real_rate) / real_rate > 0.01
        ),
        "duration_s": round(duration, 6),
        "duration_from": duration_from,
        "stream_start_s": _float(stream.get("start_time")) or 0.0,
        "n_frames": n_frames,
        "has_audio": any(s.get("codec_type") == "audio" for s in streams),
        "size_bytes": int(fmt.get("size") or 0),
        # colour as the stream declares it (None where it does not)
        "color_primaries": _colour(stream, "color_primaries"),
        "color_transfer": _colour(stream, "color_transfer"),
        "color_space": _colour(stream, "color_space"),
        "color_range": _colour(stream, "color_range"),
        "hdr": _colour(stream, "color_transfer") in HDR_TRANSFERS,
    }
    check_decodable(str(path), video_id, info)
    return info


def probe_stage(video: str, video_id: str, out_json: str, hdr: str = "tonemap") -> dict:
    """Probe ``video`` and write the facts as JSON (atomically).

    A high dynamic range source (PQ or HLG transfer) is, by ``hdr`` (config ``hdr``),
    tone-mapped to SDR BT.709 by the frame source for every later stage (``tonemap``
    true in the JSON), or rejected with the reason (``reject``). ``content_sha256``: the
    sha256 of the file's bytes (read in chunks), which every clip of it carries."""
    if hdr not in HDR_POLICIES:
        raise ValueError(f"hdr must be one of {', '.join(HDR_POLICIES)}, got {hdr!r}")
    info = probe_video(video, video_id)
    if info["hdr"] and hdr == "reject":
        raise VideoError(
            video_id,
            f"high dynamic range source (transfer {info['color_transfer']}, primaries "
            f"{info['color_primaries']}) and config hdr is reject",
        )
    info["tonemap"] = info["hdr"]
    # what the dataset's rows name as their source's content: the ingested bytes
    info["content_sha256"] = file_sha256(video)
    write_text(out_json, json.dumps(info, indent=2) + "\n")
    log.info(
        "%s: %dx%d %s, %.3f s, %s frames",
        video_id,
        info["width"],
        info["height"],
        info["codec"],
        info["duration_s"],
        info["n_frames"],
    )
    return info
