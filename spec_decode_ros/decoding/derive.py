"""Derive a draft from a target: the target's first k decoder layers + its own final norm and head.

Shares the tokenizer (same vocabulary by construction); for VLMs the vision tower is kept whole.
"""

from __future__ import annotations

import copy

import torch

from spec_decode_ros.decoding.models import LoadedModel


def truncated_copy(model: LoadedModel, num_layers: int, *, name: str | None = None) -> LoadedModel:
    """A deep copy of ``model`` keeping decoder layers [0, num_layers) (weights copied, not shared)."""
    if not 1 <= num_layers <= model.num_layers:
        raise ValueError(f"num_layers must be in [1, {model.num_layers}], got {num_layers}")
    clone = copy.deepcopy(model.model)
    decoder = LoadedModel(clone, model.tokenizer, model.processor, model.is_vlm, model.name,
                          model.eos_token_ids).decoder
    decoder.layers = torch.nn.ModuleList(list(decoder.layers)[:num_layers])
    text_cfg = clone.config.get_text_config()
    text_cfg.num_hidden_layers = num_layers
    if getattr(text_cfg, "layer_types", None):
        text_cfg.layer_types = list(text_cfg.layer_types)[:num_layers]
    if clone.config is not text_cfg and hasattr(clone.config, "num_hidden_layers"):
        clone.config.num_hidden_layers = num_layers
    return LoadedModel(clone, model.tokenizer, model.processor, model.is_vlm,
                       name or f"{model.name}[:{num_layers}]", model.eos_token_ids)
