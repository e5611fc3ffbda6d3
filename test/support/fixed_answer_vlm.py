"""A real, tiny Llava (the embedded architecture and tokenizer) trained in seconds to give one fixed
answer whatever it sees, so that closed-loop tests can make the robot move predictably."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from spec_decode_ros.embedded.architecture import VLMSpec, build_model, build_processor
from spec_decode_ros.embedded.batching import Example, training_batch
from spec_decode_ros.embedded.tokenizer import default_tokenizer
from spec_decode_ros.embedded.trainer import target_loss

SPEC = VLMSpec(image_size=32, patch_size=16, vision_hidden=32, vision_layers=1, vision_heads=2, text_hidden=32,
               text_layers=2, text_heads=2, text_kv_heads=2, intermediate_factor=2, max_positions=128)


def build_fixed_answer_vlm(folder: Path, answer: str, steps: int = 150, seed: int = 0) -> Path:
    """Train until the model's greedy answer to random images is ``answer``; save it in ``folder``."""
    tokenizer = default_tokenizer()
    processor = build_processor(SPEC, tokenizer)
    model = build_model(SPEC, tokenizer, seed)
    rng = np.random.default_rng(seed)
    optim = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(steps):
        examples = [Example(rng.integers(0, 255, (32, 32, 3), dtype=np.uint8), "go to the red box", answer)
                    for _ in range(4)]
        loss = target_loss(model, training_batch(processor, examples))
        optim.zero_grad()
        loss.backward()
        optim.step()
    model.eval()
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    return folder
