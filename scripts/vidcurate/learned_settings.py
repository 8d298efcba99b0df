"""What the learned scores read from config ``score`` (vidcurate.learned runs them), in a
module light enough for planning: which scores are on, which model files they read
(the rule's inputs) and what is missing (said at planning, before any job)."""

from __future__ import annotations

from dataclasses import dataclass, field

from .settings import FromConfig


@dataclass(frozen=True)
class LearnedSettings(FromConfig):
    """The config keys of score the learned scores read (each off until given a model)."""

    clip: dict = field(default_factory=dict)  # model, checkpoint, model_config, frames
    embedding: bool = False
    aesthetic: dict = field(default_factory=dict)  # head
    text_match: dict = field(default_factory=dict)  # prompts, category
    quality: dict = field(default_factory=dict)  # model, views, frames, fuse
    device: str = "auto"
    batch_size: int = 32

    @property
    def needs_clip(self) -> bool:
        return bool(self.embedding or self.aesthetic.get("head") or self.text_match.get("prompts"))

    @property
    def enabled(self) -> bool:
        return self.needs_clip or bool(self.quality.get("model"))

    def model_files(self) -> list[str]:
        """Every model file these settings read (the rule's inputs: a new file reruns)."""
        files = []
        if self.needs_clip:
            files.append(self.clip["checkpoint"])
            if self.clip.get("model_config"):
                files.append(self.clip["model_config"])
        if self.aesthetic.get("head"):
            files.append(self.aesthetic["head"])
        if self.quality.get("model"):
            files.append(self.quality["model"])
        return files

    def problems(self) -> list[str]:
        """What is missing for the scores switched on (said at planning)."""
        found = []
        if self.needs_clip and not self.clip.get("checkpoint"):
            wanting = [
                name
                for name, on in [
                    ("score.embedding", self.embedding),
                    ("score.aesthetic.head", self.aesthetic.get("head")),
                    ("score.text_match.prompts", self.text_match.get("prompts")),
                ]
                if on
            ]
            found.append(
                f"{', '.join(wanting)} need score.clip.checkpoint (an open_clip checkpoint)"
            )
        if self.needs_clip and not (self.clip.get("model") or self.clip.get("model_config")):
            found.append("score.clip.model (an open_clip architecture, e.g. ViT-L-14) is not set")
        category = self.text_match.get("category")
        if category and category not in (self.text_match.get("prompts") or {}):
            found.append(
                f"score.text_match.category {category!r} is not one of score.text_match.prompts"
            )
        return found
