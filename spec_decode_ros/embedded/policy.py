"""``VLMPolicy``: camera image + instruction -> command text, from the embedded VLMs.

Without a draft it is the target's own greedy ``generate``; with one it runs the engine's
speculative decoding (``decoding.local.speculative_generate``, early exits on), whose output equals
the target's greedy output token for token. The engine is imported lazily, on first use.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from spec_decode_ros.embedded.inference import MAX_ANSWER_TOKENS


class VLMPolicy:
    """``policy(image, instruction) -> answer`` over a target VLM folder (default: the shipped one)."""

    def __init__(self, target: str | Path | None = None, draft: str | Path | None = None, *, gamma: int = 4,
                 max_new_tokens: int = MAX_ANSWER_TOKENS, mode: str = "sd_ee_predraft", dtype: str = "float32",
                 device: str = "cpu", constrain: str = "none", system_prompt: str | None = None) -> None:
        """``dtype``/``device``: as ``decoding.models.load_model`` takes them (names from ``decoding.precision``);
        ``constrain``: ``grammar`` masks the models with the command grammar (``decoding.constraint``);
        ``system_prompt``: through the models' own chat templates."""
        from spec_decode_ros.decoding.models import load_model
        from spec_decode_ros.embedded import default_target_path

        path = target if target is not None else default_target_path()
        self.draft = load_model(draft, dtype=dtype, device=device) if draft is not None else None
        self.early_exit_target: Any = None  # decoding.early_exit.EarlyExitTarget (speculative mode only)
        if self.draft is None:
            self.target = load_model(path, dtype=dtype, device=device)
        else:
            from spec_decode_ros.decoding.early_exit import EarlyExitTarget

            self.early_exit_target = EarlyExitTarget.from_pretrained(path, dtype=dtype, device=device)
            self.target = self.early_exit_target.model
        self.gamma = gamma
        self.max_new_tokens = max_new_tokens
        self.mode = mode  # a decoding.mode.Mode name (speculative modes only)
        self.last_generation: Any = None  # decoding.local.Generation of the last speculative call
        self.constrain = constrain
        self.system_prompt = system_prompt or None

    def __call__(self, image: np.ndarray, instruction: str) -> str:
        from spec_decode_ros.decoding.types import Prompt

        if not isinstance(instruction, str) or not instruction.strip():
            raise ValueError(f"VLMPolicy: instruction must be a non-empty string, got {instruction!r}")
        prompt = Prompt(text=instruction, image=np.asarray(image), system=self.system_prompt)
        if self.draft is None:
            return self._greedy(prompt)
        from spec_decode_ros.decoding.local import speculative_generate

        gen = speculative_generate(self.draft, self.early_exit_target, prompt, gamma=self.gamma,
                                   max_new_tokens=self.max_new_tokens, mode=self.mode, constrain=self.constrain)
        self.last_generation = gen
        return gen.text

    @torch.inference_mode()
    def _greedy(self, prompt: Any) -> str:
        if self.constrain != "none":
            from spec_decode_ros.decoding.local import target_generate

            return self.target.decode(target_generate(self.target, prompt, self.max_new_tokens,
                                                      constrain=self.constrain))
        enc = self.target.encode(prompt)
        tok = self.target.tokenizer
        out = self.target.model.generate(**enc.inputs(), do_sample=False, max_new_tokens=self.max_new_tokens,
                                         eos_token_id=sorted(self.target.eos_token_ids), pad_token_id=tok.pad_token_id)
        return self.target.decode(out[0, enc.length:].tolist())
