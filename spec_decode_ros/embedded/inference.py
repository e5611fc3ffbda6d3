"""Greedy answers from an embedded VLM through its own ``generate`` (batched, left-padded prompts)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from transformers import PreTrainedModel, ProcessorMixin

from spec_decode_ros.embedded.batching import Example, prompt_batch

MAX_ANSWER_TOKENS = 24


@torch.inference_mode()
def greedy_answers(model: PreTrainedModel, processor: ProcessorMixin, images: Sequence[np.ndarray],
                   instructions: Sequence[str], *, batch_size: int = 64,
                   max_new_tokens: int = MAX_ANSWER_TOKENS) -> list[str]:
    """The model's greedy answer text for each (image, instruction)."""
    tokenizer = processor.tokenizer
    was_training = model.training
    model.eval()
    out: list[str] = []
    try:
        for start in range(0, len(images), batch_size):
            batch = prompt_batch(processor, images[start:start + batch_size], instructions[start:start + batch_size])
            batch = batch.to(model.device)
            batch["pixel_values"] = batch["pixel_values"].to(model.dtype)
            gen = model.generate(**batch, do_sample=False, max_new_tokens=max_new_tokens,
                                 eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id)
            new = gen[:, batch["input_ids"].shape[1]:]  # [B, ≤max_new_tokens]
            out.extend(tokenizer.batch_decode(new, skip_special_tokens=True))
    finally:
        model.train(was_training)
    return out


def exact_match(model: PreTrainedModel, processor: ProcessorMixin, examples: Sequence[Example], *,
                batch_size: int = 64) -> tuple[float, list[str]]:
    """Fraction of examples whose greedy answer equals the expert answer exactly, and the answers."""
    if not examples:
        raise ValueError("exact_match: no examples")
    answers = greedy_answers(model, processor, [e.image for e in examples], [e.instruction for e in examples],
                             batch_size=batch_size)
    hits = sum(a == e.answer for a, e in zip(answers, examples, strict=True))
    return hits / len(examples), answers
