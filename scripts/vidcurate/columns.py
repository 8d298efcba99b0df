"""Column names of the per-video clip table, in a module light enough for the sheet
loader to import at planning time (clips.py pulls in PyAV)."""

# one row per candidate window of a video: a clip, or a dropped window and why
CLIP_COLUMNS = [
    "video_id",
    "window",
    "start_s",
    "end_s",
    "start_frame",
    "status",
    "reason",
    "clip",
    "n_frames",
    "width",
    "height",
    "clip_file",
    "keyframe_file",
    # arena videos: JSON 3x3 homography from clip pixels to displayed source pixels
    "to_source",
]
