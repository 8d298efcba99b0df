"""Model weights a job must never download itself (compute nodes often have no
internet): fetched once by a localrule on the submit host, or taken from a path."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

from .atomic import atomic_path

log = logging.getLogger(__name__)


def fetch_fasterrcnn_weights(out: str) -> None:
    """torchvision's COCO Faster R-CNN ResNet-50 FPN state dict to ``out``: from the
    torch hub cache ($TORCH_HOME) when it is there, else downloaded into it first."""
    from torch.hub import get_dir, load_state_dict_from_url  # optional heavy backend
    from torchvision.models.detection import FasterRCNN_ResNet50_FPN_Weights

    url = FasterRCNN_ResNet50_FPN_Weights.COCO_V1.url
    cached = Path(get_dir()) / "checkpoints" / Path(url).name
    if not cached.is_file():
        log.info("downloading %s into the torch cache %s", url, cached.parent)
        load_state_dict_from_url(url, progress=False, check_hash=True)
    with atomic_path(out, suffix=".pth") as tmp:
        shutil.copyfile(cached, tmp)
    log.info("Faster R-CNN weights: %s (from %s)", out, cached)
