"""Auxiliary training signal: which landmark each image token shows, from the simulator's object maps.

The expert's answer is a few tokens per image, a thin signal for learning to tell a yellow box from
a yellow cylinder ten pixels wide. The simulator knows exactly what every pixel shows
(``Go2World.render_object_map``), so during training a linear probe on the multi-modal projector's
output (the image tokens the text decoder reads, [B, P, D]) is asked which landmark kind each patch
holds. Its cross-entropy is added to the answer loss; the probe is dropped afterwards, so the saved
model stays a plain Llava checkpoint.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from transformers import PreTrainedModel

from spec_decode_ros.embedded.batching import Example

MIN_PIXELS = 4  # a patch is labelled with a landmark it shows at least this many pixels of


def n_object_classes() -> int:
    """Background plus every landmark kind of the simulator."""
    from spec_decode_ros.sim.world import LANDMARK_KINDS

    return 1 + len(LANDMARK_KINDS)


def patch_labels(maps: np.ndarray, patch: int, n_classes: int, min_pixels: int = MIN_PIXELS) -> torch.Tensor:
    """Per-patch class of (B, H, W) object maps: the landmark with most pixels in the patch (if it has at
    least ``min_pixels``), else 0; flattened row-major like a ViT's patch tokens -> [B, (H/patch)*(W/patch)]."""
    if maps.ndim != 3 or maps.shape[1] % patch or maps.shape[2] % patch:
        raise ValueError(f"object maps of shape {maps.shape} do not tile into {patch}-pixel patches")
    onehot = F.one_hot(torch.from_numpy(maps.astype(np.int64)), n_classes)  # [B, H, W, C]
    counts = F.avg_pool2d(onehot.permute(0, 3, 1, 2).float(), patch) * (patch * patch)  # [B, C, h, w]
    best, kind = counts[:, 1:].max(dim=1)  # [B, h, w]
    return torch.where(best >= min_pixels, kind + 1, torch.zeros_like(kind)).flatten(1)


class ObjectMapProbe(nn.Module):
    """A linear probe on ``model``'s projector output, trained with it; ``loss`` reads the last forward's features."""

    def __init__(self, model: PreTrainedModel) -> None:
        super().__init__()
        vision = model.config.vision_config
        self.image_size, self.patch = int(vision.image_size), int(vision.patch_size)
        self.n_classes = n_object_classes()
        self.head = nn.Linear(model.config.text_config.hidden_size, self.n_classes)
        self._features: torch.Tensor | None = None
        self._hook = model.model.multi_modal_projector.register_forward_hook(self._keep)

    def _keep(self, _module: nn.Module, _inputs: object, output: torch.Tensor) -> None:
        self._features = output  # [B, P, D]

    def loss(self, examples: Sequence[Example]) -> torch.Tensor:
        """Cross-entropy of the probe over every patch of the last forward's images (``examples`` in batch order)."""
        if self._features is None:
            raise RuntimeError("ObjectMapProbe.loss: the model has not run a forward with images yet")
        maps = [e.object_map for e in examples]
        if any(m is None or m.shape != (self.image_size, self.image_size) for m in maps):
            raise ValueError(f"ObjectMapProbe: every example needs a {self.image_size}x{self.image_size} object map")
        labels = patch_labels(np.stack(maps), self.patch, self.n_classes)  # [B, P]
        logits = self.head(self._features)  # [B, P, C]
        if logits.shape[:2] != labels.shape:
            raise RuntimeError(f"probe features {tuple(logits.shape[:2])} do not match labels {tuple(labels.shape)}")
        return F.cross_entropy(logits.flatten(0, 1), labels.flatten())

    def close(self) -> None:
        self._hook.remove()
        self._features = None
