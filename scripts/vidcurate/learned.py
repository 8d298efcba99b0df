"""Learned scores per clip, from model files the user has on disk (nothing downloads).

- ``embedding``: an open_clip image embedding of ``clip.frames`` frames spread evenly
  over the clip, each L2-normalised, averaged and normalised again: the clip's
  embedding (semantic dedup, text match), stored per clip beside the scores.
- ``aesthetic``: the LAION aesthetic predictor's formula: a head (ONNX: a linear layer or
  the improved predictor's MLP) over each frame's L2-normalised CLIP image embedding;
  the clip's score is the mean over its frames.
- ``text_match``: cosine similarity of the clip's embedding and the CLIP text embedding
  of each configured prompt: ``text_match`` for the category prompt (or the best prompt
  without one), ``text_match_margin`` by how much the category prompt beats the best
  other prompt, ``text_match_top`` the prompt that matches best.
- ``quality``: an ONNX video-quality model (DOVER's layout: vidcurate.quality_views)
  over the clip's frames.

One model load per job; frames go through the models ``batch_size`` at a time, on the
CPU or on CUDA (``device``). Pixels come from the clip files through the frame source.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import onnxruntime
import open_clip
import pandas as pd
import torch
from PIL import Image

from .atomic import atomic_path
from .columns import LEARNED_COLUMNS
from .errors import VideoError
from .frames import FrameSpec, open_frames
from .gpu import onnx_session, resolve_device
from .learned_settings import LearnedSettings
from .semantic import EMBEDDING_COLUMNS, read_embeddings, write_embeddings

log = logging.getLogger(__name__)


# --- models ---------------------------------------------------------------------------------


class ClipEmbedder:
    """An open_clip model loaded once from a checkpoint file: image and text embeddings,
    L2-normalised, ``batch_size`` at a time."""

    def __init__(self, clip: dict, device: str = "cpu", batch_size: int = 32):
        name = clip.get("model")
        if clip.get("model_config"):
            config = Path(clip["model_config"])
            open_clip.add_model_config(config)
            name = name or config.stem
        checkpoint = clip["checkpoint"]
        if not Path(checkpoint).is_file():
            raise FileNotFoundError(f"score.clip.checkpoint {checkpoint}: no such file")
        self.model, _, self.preprocess = open_clip.create_model_and_transforms(
            name, pretrained=str(checkpoint), device=device
        )
        self.model.eval()
        self.tokenizer = open_clip.get_tokenizer(name)
        self.device = device
        self.batch_size = batch_size
        self.name = name

    @torch.no_grad()
    def images(self, frames: list[np.ndarray]) -> np.ndarray:
        """(n, D) unit embeddings of RGB frames, through open_clip's own preprocessing."""
        out = []
        for start in range(0, len(frames), self.batch_size):
            batch = torch.stack(
                [
                    self.preprocess(Image.fromarray(f))
                    for f in frames[start : start + self.batch_size]
                ]
            ).to(self.device)
            out.append(self.model.encode_image(batch, normalize=True).float().cpu().numpy())
        if not out:
            return np.zeros((0, 0), np.float32)
        return np.concatenate(out).astype(np.float32)

    @torch.no_grad()
    def texts(self, texts: list[str]) -> np.ndarray:
        """(n, D) unit text embeddings (a text longer than the model's context is cut)."""
        out = []
        for start in range(0, len(texts), self.batch_size):
            tokens = self.tokenizer(list(texts[start : start + self.batch_size]))
            encoded = self.model.encode_text(tokens.to(self.device), normalize=True)
            out.append(encoded.float().cpu().numpy())
        return np.concatenate(out).astype(np.float32) if out else np.zeros((0, 0), np.float32)


class OnnxHead:
    """A score head over unit image embeddings: ONNX, one float32 input (n, D), first
    output (n,) or (n, 1)."""

    def __init__(self, path: str, device: str, what: str):
        if not Path(path).is_file():
            raise FileNotFoundError(f"{what} {path}: no such file")
        options = onnxruntime.SessionOptions()
        self.session = onnx_session(str(path), options, device, what)
        self.input = self.session.get_inputs()[0].name

    def __call__(self, embeddings: np.ndarray) -> np.ndarray:
        if not len(embeddings):
            return np.zeros(0, np.float32)
        (out, *_) = self.session.run(None, {self.input: embeddings.astype(np.float32)})
        return np.asarray(out, np.float32).reshape(len(embeddings), -1)[:, 0]


# --- clip frames ----------------------------------------------------------------------------


def spread_indices(n_frames: int, k: int) -> list[int]:
    """``k`` frame indices spread evenly over ``n_frames`` (the centre of each of ``k``
    equal parts), repeating frames when the clip has fewer than ``k``."""
    if n_frames <= 0 or k <= 0:
        return []
    return [min(n_frames - 1, int((i + 0.5) * n_frames / k)) for i in range(k)]


def clip_frames(
    path: Path, width: int, height: int, wanted: set[int], video_id: str = ""
) -> dict[int, np.ndarray]:
    """The clip's frames at ``wanted`` indices (RGB, its own size), one decode."""
    probe = {"video_id": path.stem, "width": width, "height": height, "duration_s": 1.0}
    frames = {}
    last = max(wanted) if wanted else -1
    with open_frames(str(path), probe, FrameSpec(max_frames=last + 1)) as decoded:
        for index, frame in enumerate(decoded):
            if index in wanted:
                frames[index] = frame.data
    if wanted and not frames:
        raise VideoError(video_id or path.stem, f"clip {path.name}: no frame decoded")
    missing = sorted(wanted - frames.keys())
    if missing:
        # a clip shorter than its table says: its last decoded frame stands in
        log.warning(
            "%s: clip %s decoded %d frames, its table says more: frame %d stands in for %s",
            video_id,
            path.name,
            max(frames) + 1,
            max(frames),
            missing,
        )
    for index in missing:
        frames[index] = frames[max(frames)]
    return frames


# --- video quality (DOVER's input layout) -----------------------------------------------------

# DOVER's normalisation: ImageNet mean and std on 0-255 RGB
QUALITY_MEAN = np.array([123.675, 116.28, 103.53], np.float32)
QUALITY_STD = np.array([58.395, 57.12, 57.375], np.float32)


def resize_view(frames: list[np.ndarray], size: int) -> np.ndarray:
    """DOVER's aesthetic view: every frame resized whole to size x size, (3, T, H, W)
    float32, normalised."""
    resized = [
        np.asarray(Image.fromarray(f).resize((size, size), Image.Resampling.BILINEAR))
        for f in frames
    ]
    return _normalised(np.stack(resized))


def fragments_view(frames: list[np.ndarray], grid: int, patch: int) -> np.ndarray:
    """DOVER's technical view (grid mini-patch sampling): the frame cut into grid x grid
    cells, a patch x patch fragment at native resolution from the centre of each cell,
    the same place in every frame (temporally aligned), tiled into a (grid*patch)^2
    image; (3, T, H, W) float32, normalised. A frame smaller than grid*patch on a side is
    first scaled up so it is not (DOVER does the same)."""
    side = grid * patch
    height, width = frames[0].shape[:2]
    scale = max(1.0, side / height, side / width)
    if scale > 1.0:
        # ceil, less a hair: 150 * 2.24 is 336.00000000000006, and must stay 336
        size = (int(np.ceil(width * scale - 1e-6)), int(np.ceil(height * scale - 1e-6)))
        frames = [_resized(f, size) for f in frames]
        height, width = frames[0].shape[:2]
    tiled = np.empty((len(frames), side, side, 3), np.uint8)
    for row in range(grid):
        top = int(round((row + 0.5) * height / grid - patch / 2))
        top = min(max(top, 0), height - patch)
        for col in range(grid):
            left = int(round((col + 0.5) * width / grid - patch / 2))
            left = min(max(left, 0), width - patch)
            for t, frame in enumerate(frames):
                tiled[t, row * patch : (row + 1) * patch, col * patch : (col + 1) * patch] = frame[
                    top : top + patch, left : left + patch
                ]
    return _normalised(tiled)


def _resized(frame: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    return np.asarray(Image.fromarray(frame).resize(size, Image.Resampling.BILINEAR))


def _normalised(frames: np.ndarray) -> np.ndarray:
    """(T, H, W, 3) uint8 -> (3, T, H, W) float32, (x - mean) / std."""
    scaled = (frames.astype(np.float32) - QUALITY_MEAN) / QUALITY_STD
    return np.ascontiguousarray(scaled.transpose(3, 0, 1, 2))


def dover_fuse(aesthetic_raw: float, technical_raw: float) -> tuple[float, float, float]:
    """DOVER's fusion of its two heads' raw outputs: (overall, aesthetic, technical), each
    a sigmoid of the standardised raw score; overall weighs technical 0.6104 and
    aesthetic 0.3896."""
    technical = (technical_raw - 0.1107) / 0.07355
    aesthetic = (aesthetic_raw + 0.08285) / 0.03774
    overall = technical * 0.6104 + aesthetic * 0.3896
    return _sigmoid(overall), _sigmoid(aesthetic), _sigmoid(technical)


def _sigmoid(x: float) -> float:
    return float(1.0 / (1.0 + np.exp(-x)))


class QualityModel:
    """An ONNX video-quality model: each input a (N, 3, T, H, W) view of the clip, in the
    order of ``views`` (``resize`` or ``fragments``); T, H and W from the model's input
    shape where it fixes them, else from ``frames`` and ``size``. ``fuse: dover`` reads
    the first two outputs as DOVER's aesthetic and technical heads; ``fuse: mean`` takes
    the mean of the first output."""

    def __init__(self, quality: dict, device: str):
        path = quality["model"]
        if not Path(path).is_file():
            raise FileNotFoundError(f"score.quality.model {path}: no such file")
        self.session = onnx_session(
            str(path), onnxruntime.SessionOptions(), device, "quality model"
        )
        inputs = self.session.get_inputs()
        views = list(quality.get("views") or ["resize", "fragments"])[: len(inputs)]
        if len(views) != len(inputs):
            raise ValueError(
                f"score.quality.model {path} has {len(inputs)} inputs "
                f"({', '.join(i.name for i in inputs)}); score.quality.views names {len(views)}"
            )
        self.fuse = quality.get("fuse", "dover")
        patch = int(quality.get("fragment_size", 32))
        self.views = []
        for spec, kind in zip(inputs, views, strict=True):
            shape = list(spec.shape)
            if len(shape) != 5:
                raise ValueError(
                    f"score.quality.model {path}: input {spec.name} has shape {shape}, "
                    "not (N, 3, T, H, W)"
                )
            frames = shape[2] if isinstance(shape[2], int) else int(quality.get("frames", 32))
            size = shape[3] if isinstance(shape[3], int) else int(quality.get("size", 224))
            if isinstance(shape[4], int) and shape[4] != size:
                raise ValueError(
                    f"score.quality.model {path}: input {spec.name} is {shape[4]}x{size} "
                    "(W x H); only square views are supported"
                )
            if kind == "fragments" and size % patch:
                raise ValueError(
                    f"score.quality.model {path}: input {spec.name} is {size} px, not a "
                    f"whole number of {patch}-px fragments (score.quality.fragment_size)"
                )
            # a fixed first dimension above 1: that many clips of T frames each (DOVER's
            # exported technical view takes 4), from consecutive parts of the clip
            clips = shape[0] if isinstance(shape[0], int) and shape[0] > 1 else 1
            self.views.append((spec.name, kind, frames, size, patch, clips))

    def __call__(self, clip: list[np.ndarray]) -> dict:
        """quality (and, fused as DOVER does, quality_aesthetic and quality_technical) of
        one clip's frames in time order."""
        feed = {}
        for name, kind, frames, size, patch, clips in self.views:
            indices = spread_indices(len(clip), frames * clips)
            views = []
            for part in range(clips):
                picked = [clip[i] for i in indices[part * frames : (part + 1) * frames]]
                views.append(
                    resize_view(picked, size)
                    if kind == "resize"
                    else fragments_view(picked, size // patch, patch)
                )
            feed[name] = np.stack(views)
        outputs = [float(np.mean(out)) for out in self.session.run(None, feed)]
        if self.fuse == "dover":
            if len(outputs) < 2:
                raise ValueError(
                    "score.quality.fuse dover needs two outputs (aesthetic, technical)"
                )
            overall, aesthetic, technical = dover_fuse(outputs[0], outputs[1])
            return {
                "quality": overall,
                "quality_aesthetic": aesthetic,
                "quality_technical": technical,
            }
        return {"quality": outputs[0]}


# --- one video -------------------------------------------------------------------------------


@dataclass
class Models:
    """What a job loads once: each model switched on, else None."""

    embedder: ClipEmbedder | None = None
    aesthetic: OnnxHead | None = None
    quality: QualityModel | None = None
    prompt_names: list[str] = field(default_factory=list)
    prompts: np.ndarray | None = None  # (n_prompts, D) unit text embeddings
    category: str | None = None


def load_models(settings: LearnedSettings) -> Models:
    problems = settings.problems()
    if problems:
        raise ValueError("; ".join(problems))
    device = resolve_device(settings.device)
    models = Models()
    if settings.needs_clip:
        models.embedder = ClipEmbedder(settings.clip, device, settings.batch_size)
        log.info("CLIP %s from %s on %s", models.embedder.name, settings.clip["checkpoint"], device)
    if settings.aesthetic.get("head"):
        models.aesthetic = OnnxHead(settings.aesthetic["head"], device, "score.aesthetic.head")
    if settings.quality.get("model"):
        models.quality = QualityModel(settings.quality, device)
    prompts = settings.text_match.get("prompts") or {}
    if prompts:
        models.prompt_names = list(prompts)
        models.prompts = models.embedder.texts([prompts[name] for name in models.prompt_names])
        models.category = settings.text_match.get("category")
    return models


def text_scores(embedding: np.ndarray, models: Models) -> dict:
    """text_match, text_match_margin and text_match_top of one unit clip embedding."""
    similarity = models.prompts @ embedding
    best = int(np.argmax(similarity))
    if models.category:
        index = models.prompt_names.index(models.category)
        others = np.delete(similarity, index)
        margin = float(similarity[index] - others.max()) if len(others) else float("nan")
        match = float(similarity[index])
    else:
        match, margin = float(similarity[best]), float("nan")
    return {
        "text_match": match,
        "text_match_margin": margin,
        "text_match_top": models.prompt_names[best],
    }


def score_clips(
    clips: pd.DataFrame, clips_dir: Path, video_id: str, settings: LearnedSettings, models: Models
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(one row of LEARNED_COLUMNS per clip, one row of EMBEDDING_COLUMNS per clip when
    score.embedding is on). ``clips``: the video's clip table (status 'clip' rows)."""
    clips = clips[clips["status"] == "clip"]
    per_clip = int(settings.clip.get("frames", 3))
    rows, frames_of = [], []  # (first, count) of each clip's frames in ``pending``
    pending: list[np.ndarray] = []
    for clip in clips.to_dict("records"):
        n_frames = int(clip["n_frames"])
        if n_frames < 1:
            raise ValueError(f"{video_id}: clip {clip['clip']} has no frames in its table")
        sampled = spread_indices(n_frames, per_clip) if models.embedder else []
        wanted = set(sampled)
        if models.quality is not None:
            wanted |= set(range(n_frames))
        frames = clip_frames(
            clips_dir / clip["clip_file"],
            int(clip["width"]),
            int(clip["height"]),
            wanted,
            video_id,
        )
        row = {"video_id": video_id, "clip": clip["clip"], "start_s": float(clip["start_s"])}
        if models.quality is not None:
            row.update(models.quality([frames[i] for i in range(n_frames)]))
        frames_of.append((len(pending), len(sampled)))
        pending.extend(frames[i] for i in sampled)
        rows.append(row)
    if models.embedder is not None:
        per_frame = models.embedder.images(pending)
        heads = models.aesthetic(per_frame) if models.aesthetic is not None else None
        embeddings = []
        for row, (first, count) in zip(rows, frames_of, strict=True):
            mean = per_frame[first : first + count].mean(axis=0)
            embedding = (mean / max(float(np.linalg.norm(mean)), 1e-12)).astype(np.float32)
            embeddings.append(embedding)
            if heads is not None:
                row["aesthetic"] = float(heads[first : first + count].mean())
            if models.prompts is not None:
                row.update(text_scores(embedding, models))
    table = pd.DataFrame(rows).reindex(columns=["video_id", "clip", "start_s", *LEARNED_COLUMNS])
    embedded = pd.DataFrame(columns=EMBEDDING_COLUMNS)
    if settings.embedding:
        embedded = pd.DataFrame(
            {
                "video_id": table["video_id"],
                "clip": table["clip"],
                "start_s": table["start_s"],
                "embedding": [e.tolist() for e in embeddings] if rows else [],
            },
            columns=EMBEDDING_COLUMNS,
        )
    return table, embedded


def learned_stage(
    clips_table: str,
    clips_dir: str,
    video_id: str,
    settings: LearnedSettings,
    out_scores: str,
    out_embeddings: str | None = None,
) -> pd.DataFrame:
    clips = pd.read_csv(clips_table, sep="\t", keep_default_na=False, dtype={"clip": str})
    models = load_models(settings)
    table, embedded = score_clips(clips, Path(clips_dir), video_id, settings, models)
    with atomic_path(out_scores, suffix=".parquet") as tmp:
        table.to_parquet(tmp, index=False)
    if out_embeddings:
        with atomic_path(out_embeddings, suffix=".parquet") as tmp:
            write_embeddings(embedded, tmp)
    log.info("%s: learned scores of %d clips", video_id, len(table))
    return table


# --- captions against their clips -------------------------------------------------------------

CAPTION_MATCH_COLUMNS = ["video_id", "source_clip", "caption_match"]


def caption_matches(
    captions: pd.DataFrame, embedding_files: dict[str, str], embedder: ClipEmbedder
) -> pd.DataFrame:
    """Cosine similarity of each caption's CLIP text embedding and its clip's image
    embedding (the embeddings parquet); clips without a caption are left out."""
    captions = captions[captions["caption"].astype(str).str.strip() != ""]
    rows = []
    for video_id, group in captions.groupby("video_id", sort=False):
        keys, vectors = read_embeddings(embedding_files[video_id])
        where = dict(zip(keys["clip"].astype(str), range(len(keys)), strict=True))
        group = group[group["source_clip"].astype(str).isin(where)]
        if not len(group):
            continue
        texts = embedder.texts(group["caption"].astype(str).tolist())
        images = vectors[[where[c] for c in group["source_clip"].astype(str)]]
        similarity = np.einsum("ij,ij->i", texts, images)
        for clip, value in zip(group["source_clip"], similarity, strict=True):
            rows.append([video_id, str(clip), round(float(value), 6)])
    return pd.DataFrame(rows, columns=CAPTION_MATCH_COLUMNS)


def caption_match_stage(
    captions_parquet: str,
    embedding_files: dict[str, str],
    settings: LearnedSettings,
    out_table: str,
) -> pd.DataFrame:
    embedder = ClipEmbedder(settings.clip, resolve_device(settings.device), settings.batch_size)
    table = caption_matches(pd.read_parquet(captions_parquet), embedding_files, embedder)
    with atomic_path(out_table, suffix=".parquet") as tmp:
        table.to_parquet(tmp, index=False)
    log.info("caption match of %d captions", len(table))
    return table
