"""Turns (image, instruction[, answer]) examples into model batches through the model's own processor.

Training batches are right-padded with labels on the answer tokens and EOS only (everything up to
and including ``<answer>`` is -100); prompt batches for ``generate`` are left-padded.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from transformers import BatchFeature, ProcessorMixin

from spec_decode_ros.embedded.tokenizer import ANSWER, EOS, prompt_text

IGNORE_INDEX = -100


@dataclass(frozen=True)
class Example:
    """One supervised step: the robot's camera image (H×W×3 uint8), the instruction, the expert answer."""

    image: np.ndarray
    instruction: str
    answer: str
    object_map: np.ndarray | None = None  # (H, W) uint8 landmark kind per pixel, for auxiliary training only
    state: str = ""  # sim.margins.state_kind of the state behind it, for error breakdowns ("" if unknown)


def _check_images(images: Sequence[np.ndarray]) -> None:
    for i, image in enumerate(images):
        if not isinstance(image, np.ndarray) or image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            got = f"{type(image).__name__} {getattr(image, 'shape', '')} {getattr(image, 'dtype', '')}"
            raise ValueError(f"image {i}: expected an H×W×3 uint8 array, got {got}")


def training_batch(processor: ProcessorMixin, examples: Sequence[Example]) -> BatchFeature:
    """input_ids / attention_mask / pixel_values / labels for teacher-forced training (right-padded)."""
    if not examples:
        raise ValueError("training_batch: no examples")
    _check_images([e.image for e in examples])
    texts = [prompt_text(e.instruction) + e.answer + EOS for e in examples]
    batch = processor(text=texts, images=[e.image for e in examples], return_tensors="pt", padding=True,
                      padding_side="right", add_special_tokens=False)
    ids: torch.Tensor = batch["input_ids"]  # [B, T]
    answer_id = processor.tokenizer.convert_tokens_to_ids(ANSWER)
    is_answer = ids == answer_id
    if not bool((is_answer.sum(dim=1) == 1).all()):
        raise ValueError("training_batch: every text must hold exactly one <answer> token")
    after_answer = torch.cumsum(is_answer.int(), dim=1).bool() & ~is_answer  # [B, T] strictly after <answer>
    labels = torch.where(after_answer & batch["attention_mask"].bool(), ids, torch.full_like(ids, IGNORE_INDEX))
    batch["labels"] = labels
    return batch


def prompt_batch(processor: ProcessorMixin, images: Sequence[np.ndarray], instructions: Sequence[str]) -> BatchFeature:
    """Left-padded prompts (ending in ``<answer>``) for batched ``generate``."""
    if len(images) != len(instructions) or not images:
        raise ValueError(f"prompt_batch: {len(images)} images for {len(instructions)} instructions")
    _check_images(images)
    texts = [prompt_text(t) for t in instructions]
    return processor(text=texts, images=list(images), return_tensors="pt", padding=True, padding_side="left",
                     add_special_tokens=False)
