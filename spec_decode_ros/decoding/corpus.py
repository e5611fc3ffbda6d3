"""Training sequences for exit adapters and draft distillation: what the target itself generates.

Text: prompts go through the model's chat template; the target samples continuations in batches (its own
``generate``); sequences are token-id tensors and ``batches`` pads them for teacher-forced passes.
Images (a VLM): ``answer_corpus`` has the target answer each prompt (image + instruction) greedily, as the
robot decodes, and keeps each as a ``Sample``: the whole sequence with the processor's image inputs, so a
teacher-forced pass sees the image tokens as verification does.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

import torch
from tqdm import tqdm

from spec_decode_ros.decoding.models import SEQUENCE_KEYS, LoadedModel, reference_generation_config, reset_rope_deltas
from spec_decode_ros.decoding.types import Prompt

T = TypeVar("T")

DEFAULT_PROMPTS = (
    "Walk forward two meters, then turn left.", "What do you see in front of you?", "Find the red box and go to it.",
    "Describe the room in one sentence.", "Turn right slowly and stop near the door.", "Is the path ahead clear?",
    "Go back one meter.", "Where is the blue ball?", "Explain how a robot dog keeps its balance.",
    "List three safe ways to cross a room with obstacles.", "Write a short poem about a quadruped robot.",
    "What is the capital of France?", "Give me a recipe for pancakes.", "How do I reset my password?",
    "Summarize the rules of chess in two sentences.", "Why is the sky blue?", "Tell me a joke about robots.",
    "What should a robot do when it sees a person?", "Plan a route around the table to the chair.",
    "Count from one to ten in words.", "Translate 'good morning' into Spanish.", "What is speculative decoding?",
    "Name five animals that live in the ocean.", "How far can a robot walk in ten seconds at one meter per second?",
    "Sit down and wait.", "Look around and report any obstacles.", "Move to the green door and stop.",
    "What are the benefits of edge computing?", "Write a haiku about autumn.", "How does a camera work?",
    "Turn around and walk to the wall.", "Which object is closest to you?", "Describe a sunset.",
    "What does a stop sign look like?", "Give directions from the kitchen to the living room.",
    "What is two plus two?", "Explain gravity to a child.", "How do bees make honey?",
    "Stand up and walk forward slowly.", "What is the weather like on Mars?",
)


def generate_corpus(model: LoadedModel, prompts: Sequence[str] = DEFAULT_PROMPTS, *, new_tokens: int = 64,
                    batch_size: int = 8, temperature: float = 0.8, seed: int = 0,
                    progress: bool = True) -> list[torch.Tensor]:
    """Prompt + sampled continuation per prompt, as 1D token tensors (text only; VLMs use their text model)."""
    if not prompts:
        raise ValueError("generate_corpus needs at least one prompt")
    torch.manual_seed(seed)
    tok = model.tokenizer
    encoded = [model.encode(Prompt(p)).input_ids[0] if not model.is_vlm else _text_ids(model, p) for p in prompts]
    pad = tok.pad_token_id if tok.pad_token_id is not None else min(model.eos_token_ids)
    out: list[torch.Tensor] = []
    bar = tqdm(total=len(encoded), desc="target generates training text", disable=not progress)
    for start in range(0, len(encoded), batch_size):
        chunk = encoded[start:start + batch_size]
        width = max(len(x) for x in chunk)
        ids = torch.full((len(chunk), width), pad, dtype=torch.long)
        mask = torch.zeros_like(ids)
        for i, x in enumerate(chunk):  # left padding for generation
            ids[i, width - len(x):] = x
            mask[i, width - len(x):] = 1
        with torch.inference_mode():
            gen = model.model.generate(input_ids=ids.to(model.model.device), attention_mask=mask.to(model.model.device),
                                       do_sample=True, temperature=temperature, top_k=0, top_p=1.0,
                                       max_new_tokens=new_tokens, pad_token_id=pad, eos_token_id=sorted(model.eos_token_ids))
        for i, x in enumerate(chunk):
            cont = gen[i, width:].cpu()
            ends = [j for j, t in enumerate(cont.tolist()) if t in model.eos_token_ids]
            cont = cont[: ends[0] + 1] if ends else cont
            out.append(torch.cat([x.cpu(), cont]))
        bar.update(len(chunk))
    bar.close()
    return out


def _text_ids(model: LoadedModel, text: str) -> torch.Tensor:
    return model.encode(Prompt(text)).input_ids[0]


def batches(corpus: Sequence[torch.Tensor], batch_size: int, *, pad: int, seed: int = 0,
            forever: bool = True) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """(ids [B, T], mask [B, T]) right-padded batches, shuffled each epoch."""
    rng = random.Random(seed)
    order = list(range(len(corpus)))
    while True:
        if forever:
            rng.shuffle(order)
        for start in range(0, len(order), batch_size):
            chunk = [corpus[i] for i in order[start:start + batch_size]]
            width = max(len(x) for x in chunk)
            ids = torch.full((len(chunk), width), pad, dtype=torch.long)
            mask = torch.zeros_like(ids)
            for i, x in enumerate(chunk):
                ids[i, : len(x)] = x
                mask[i, : len(x)] = 1
            yield ids, mask
        if not forever:
            return


def split(corpus: Sequence[T], heldout_fraction: float = 0.2) -> tuple[list[T], list[T]]:
    """(train, held-out): the first ``heldout_fraction`` (at least one, when there are two or more) held out."""
    n_held = max(1, round(len(corpus) * heldout_fraction)) if len(corpus) > 1 else 0
    return list(corpus[n_held:]), list(corpus[:n_held])


@dataclass
class Sample:
    """One teacher-forced sequence: ``ids`` [T] (prompt + answer) and the model's other inputs for it (pixels,
    image grid, masks laid out like ``ids``); positions from ``answer_start - 1`` on predict the answer."""

    ids: torch.Tensor
    extras: dict[str, torch.Tensor] = field(default_factory=dict)
    answer_start: int = 0

    def __len__(self) -> int:
        return int(self.ids.shape[0])

    @property
    def first_kept(self) -> int:
        """The first position whose next-token prediction training keeps (0: all of them)."""
        return max(self.answer_start - 1, 0)

    def inputs(self, device: torch.device | str) -> dict[str, torch.Tensor]:
        out = {"input_ids": self.ids[None].to(device)}
        out.update({k: v.to(device) for k, v in self.extras.items()})
        return out


def as_sample(item: torch.Tensor | Sample) -> Sample:
    """A text corpus's token tensor as a ``Sample`` (every position kept); a ``Sample`` as is."""
    return item if isinstance(item, Sample) else Sample(item.cpu())


@torch.inference_mode()
def answer_corpus(model: LoadedModel, prompts: Sequence[Prompt], *, new_tokens: int = 48,
                  progress: bool = True, desc: str = "target answers") -> list[Sample]:
    """The target's own greedy answer to each prompt (an image and an instruction for a VLM), as ``Sample``s."""
    if not prompts:
        raise ValueError("answer_corpus needs at least one prompt")
    config = reference_generation_config(model, new_tokens)
    out: list[Sample] = []
    for prompt in tqdm(prompts, desc=desc, disable=not progress):
        enc = model.encode(prompt)
        reset_rope_deltas(model.model)
        gen = model.model.generate(**enc.inputs(), generation_config=config)[0, enc.length:].cpu()
        ends = [j for j, t in enumerate(gen.tolist()) if t in model.eos_token_ids]
        answer = gen[: ends[0] + 1] if ends else gen
        out.append(_sample(enc.input_ids[0].cpu(), {k: v.cpu() for k, v in enc.extras.items()}, answer))
    return out


def _sample(prompt_ids: torch.Tensor, extras: dict[str, torch.Tensor], answer: torch.Tensor) -> Sample:
    """Prompt + answer as one sequence; inputs laid out like the ids grow with the answer (attention 1, types 0)."""
    grown = {}
    for key, value in extras.items():
        if key in SEQUENCE_KEYS:
            fill = torch.ones if key == "attention_mask" else torch.zeros
            value = torch.cat([value, fill((value.shape[0], len(answer)), dtype=value.dtype)], dim=1)
        grown[key] = value
    return Sample(torch.cat([prompt_ids, answer]), grown, answer_start=len(prompt_ids))
