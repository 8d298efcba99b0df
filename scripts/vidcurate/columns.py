"""Column names of the per-video clip table, in a module light enough for the sheet
loader to import at planning time (clips.py pulls in PyAV)."""

# a window's motion (vidcurate.motion), carried from windows into clips and metadata:
# means over the window's frame pairs, and the share of it inside moving segments
MOTION_COLUMNS = [
    "motion_mean_px_s",
    "motion_p95_px_s",
    "motion_moving_fraction",
    "motion_min_patch_px_s",
    "motion_mean_cm_s",
    "motion_covered",
]

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
    *MOTION_COLUMNS,
]

# what the score stage measures beyond the window's motion (vidcurate.scores), carried
# into every row of metadata.parquet
SCORE_ONLY_COLUMNS = [
    "flash_frames",
    "faces",
    "faces_max",
    "track_boxes",
    "track_speed",
    "action",
    "sharpness",
    "luma_mean",
    "luma_clipped",
    "text_area",
    "phash_key",
    "phash_mid",
]
