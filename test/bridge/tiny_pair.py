"""A tiny target/draft pair for bridge tests, built from configs (no download).

Target: a random 4-layer Llama whose last layer is made the identity (its output projections zeroed)
and whose layer 2 is damped (projections scaled by ``DAMP``), with an exit adapter (identity init) at
layer 2 saved beside it: exit and final head, and draft (the target's first 2 layers) and target, agree
often but not always, so tests see accepted and rejected drafts, early-exit hits and misses.
"""

from __future__ import annotations

from pathlib import Path

import torch
from decoding.tiny_models import build_llama
from transformers import LlamaForCausalLM

from spec_decode_ros.decoding.adapters import ExitAdapters
from spec_decode_ros.decoding.derive import truncated_copy
from spec_decode_ros.decoding.models import LoadedModel, load_model

EXIT_LAYER = 2
DAMP = 0.1
PROMPTS = ("go to the red box", "turn left then walk forward", "find the blue ball near the door",
           "where is the green chair")


def build_target(folder: Path, exit_layer: int = EXIT_LAYER) -> Path:
    build_llama(folder, layers=4, seed=0)
    model = LlamaForCausalLM.from_pretrained(folder)
    with torch.no_grad():
        last = model.model.layers[-1]
        last.self_attn.o_proj.weight.zero_()
        last.mlp.down_proj.weight.zero_()
        damped = model.model.layers[2]
        damped.self_attn.o_proj.weight.mul_(DAMP)
        damped.mlp.down_proj.weight.mul_(DAMP)
    model.save_pretrained(folder)
    ExitAdapters([exit_layer], model.config.hidden_size).save(folder)
    return folder


def load_draft(folder: Path, dtype: str = "float32") -> LoadedModel:
    return truncated_copy(load_model(folder, dtype=dtype), 2, name="tiny-draft")
