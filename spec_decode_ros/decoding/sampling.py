"""Logit processing shared by draft and target (temperature, top-k, top-p) and inverse-CDF sampling.

Both sides apply the same processing to their own logits, so the acceptance rule keeps the
target's *processed* distribution, exactly what ``generate(do_sample=True)`` would sample from.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import torch

from spec_decode_ros.decoding.types import SamplingConfig

GREEDY = SamplingConfig()  # the default everywhere: argmax decoding


def resumed_generator(seed: int, committed: Sequence[int]) -> torch.Generator:
    """The target's random stream for a session resumed after ``committed`` tokens: seeded from the seed AND the
    committed tokens, so it is fresh (restarting from the seed alone would repeat the uniforms that chose the
    committed tokens, and the tokens after a resume would follow them instead of the target's distribution),
    yet reproducible for the same session state."""
    h = hashlib.blake2b(digest_size=8)
    h.update(int(seed).to_bytes(8, "little", signed=False))
    for t in committed:
        h.update(int(t).to_bytes(4, "little", signed=False))
    return torch.Generator().manual_seed(int.from_bytes(h.digest(), "little") & (2**63 - 1))


def validate(cfg: SamplingConfig) -> None:
    if cfg.temperature <= 0:
        raise ValueError(f"SamplingConfig.temperature must be > 0, got {cfg.temperature}")
    if cfg.top_k < 0:
        raise ValueError(f"SamplingConfig.top_k must be >= 0, got {cfg.top_k}")
    if not 0 < cfg.top_p <= 1:
        raise ValueError(f"SamplingConfig.top_p must be in (0, 1], got {cfg.top_p}")


def processed_probs(logits: torch.Tensor, cfg: SamplingConfig) -> torch.Tensor:
    """logits [..., V] -> probabilities [..., V] after temperature, top-k and top-p (float32)."""
    x = logits.float() / cfg.temperature
    vocab = x.shape[-1]
    if 0 < cfg.top_k < vocab:
        kth = torch.topk(x, cfg.top_k, dim=-1).values[..., -1:]
        x = x.masked_fill(x < kth, float("-inf"))
    probs = torch.softmax(x, dim=-1)
    if cfg.top_p < 1.0:
        sorted_p, order = torch.sort(probs, dim=-1, descending=True)
        before = torch.cumsum(sorted_p, dim=-1) - sorted_p  # mass strictly above each entry
        drop_sorted = before >= cfg.top_p  # keep the smallest prefix reaching top_p (always >= 1 token)
        drop = torch.zeros_like(drop_sorted).scatter(-1, order, drop_sorted)
        probs = probs.masked_fill(drop, 0.0)
        probs = probs / probs.sum(dim=-1, keepdim=True)
    return probs


def sample_index(probs: torch.Tensor, u: float | torch.Tensor) -> int:
    """Inverse CDF: the index i with cdf[i-1] <= u * total < cdf[i], for probs [V] (need not be normalised)."""
    cdf = torch.cumsum(probs.double(), dim=-1)
    target = torch.as_tensor(u, dtype=torch.float64, device=cdf.device) * cdf[-1]
    idx = int(torch.searchsorted(cdf, target.reshape(1), right=True).item())
    idx = min(idx, probs.shape[-1] - 1)
    while probs[idx] <= 0 and idx > 0:  # u*total == cdf[-1] edge: step back to the last supported token
        idx -= 1
    return idx
