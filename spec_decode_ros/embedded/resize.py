"""Warm-start a saved target at a larger (or smaller) image size instead of training it again from scratch.

Every weight is copied; only the vision tower's position embeddings depend on the patch grid, and they are
resampled bicubically from the old grid to the new one (the CLS position kept), as ViT fine-tuning at a
higher resolution does. The patch size stays, so each patch token keeps its meaning; a continuation on
images rendered at the new size then adapts the rest.
"""

from __future__ import annotations

from dataclasses import replace

import torch
import torch.nn.functional as F
from transformers import LlavaForConditionalGeneration, LlavaProcessor

from spec_decode_ros.embedded.architecture import SetupError, VLMSpec, build_model, build_processor

POSITION_SUFFIX = "embeddings.position_embedding.weight"  # the vision tower's (the text model uses RoPE)
TEXT_ROOM = 32  # positions left for the prompt and the answer beside the image tokens


def resample_positions(table: torch.Tensor, old_grid: int, new_grid: int) -> torch.Tensor:
    """[1 + old_grid², D] position table -> [1 + new_grid², D] (row 0, the CLS position, unchanged)."""
    cls, grid = table[:1], table[1:]
    assert grid.shape[0] == old_grid * old_grid, (grid.shape, old_grid)
    image = grid.reshape(old_grid, old_grid, -1).permute(2, 0, 1).unsqueeze(0)  # [1, D, g, g]
    image = F.interpolate(image, size=(new_grid, new_grid), mode="bicubic", align_corners=False)
    return torch.cat([cls, image.squeeze(0).permute(1, 2, 0).reshape(new_grid * new_grid, -1)])


def resized_target(model: LlavaForConditionalGeneration, processor: LlavaProcessor, spec: VLMSpec,
                   image_size: int) -> tuple[LlavaForConditionalGeneration, LlavaProcessor, VLMSpec]:
    """The same target working on ``image_size`` px images: model, processor and sizes."""
    if image_size % spec.patch_size:
        raise SetupError(f"image size {image_size} is not a multiple of the patch size {spec.patch_size}")
    new_spec = replace(spec, image_size=image_size)
    if new_spec.image_tokens + TEXT_ROOM > spec.max_positions:
        raise SetupError(f"{new_spec.image_tokens} image tokens leave no room in {spec.max_positions} positions")
    tokenizer = processor.tokenizer  # type: ignore[attr-defined]
    state = model.state_dict()
    (key,) = [k for k in state if k.endswith(POSITION_SUFFIX)]
    state[key] = resample_positions(state[key], spec.image_size // spec.patch_size, image_size // spec.patch_size)
    grown = build_model(new_spec, tokenizer, seed=0)
    grown.load_state_dict(state, strict=True)
    grown.generation_config = model.generation_config
    return grown, build_processor(new_spec, tokenizer), new_spec
