"""Acceptance rules: given the target's distributions at [pending, d_1..d_γ] decide (n, y).

Greedy: accept while d_i equals the target's argmax; y is the argmax at the first mismatch (or
the bonus position). Sampling (Leviathan et al.; Chen et al.): accept d_i with probability
min(1, q(d_i)/p(d_i)); on rejection sample y from norm(max(0, q − p)); after γ accepts, y ~ q_γ.
The random numbers ``u`` (accept tests) and ``v`` (resampling) are given, so an early exit and
the final layer can share them (common random numbers). EOS: an accepted EOS ends the block.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from spec_decode_ros.decoding.sampling import sample_index
from spec_decode_ros.decoding.types import DraftBlock, Verdict
from spec_decode_ros.decoding.vocab import first_outside


def greedy_verdict(logits: torch.Tensor, drafts: Sequence[int], eos: frozenset[int]) -> tuple[Verdict, list[int]]:
    """logits [γ+1, V]. Returns the verdict and the target's top-1 at every position (for agreement stats)."""
    top1 = logits.argmax(dim=-1).tolist()  # [γ+1]
    n = 0
    while n < len(drafts) and drafts[n] == top1[n]:
        n += 1
    return _eos_cut(Verdict(n, top1[n]), drafts, eos), top1


def draft_probs_dense(block: DraftBlock, vocab: int) -> torch.Tensor | None:
    """The draft's sparse per-position tables as dense [γ, V] probabilities (None for greedy drafts)."""
    if block.prob_ids is None or block.prob_values is None:
        return None
    ids = torch.as_tensor(np.asarray(block.prob_ids), dtype=torch.int64)
    vals = torch.as_tensor(np.asarray(block.prob_values), dtype=torch.float32)
    if ids.shape != vals.shape or ids.ndim != 2 or ids.shape[0] != block.gamma:
        raise ValueError(f"DraftBlock probability tables must both be [γ={block.gamma}, k], "
                         f"got ids {tuple(ids.shape)} values {tuple(vals.shape)}")
    if first_outside(ids.numpy(), vocab) is not None:
        raise ValueError(f"DraftBlock.prob_ids out of the vocabulary [0, {vocab})")
    dense = torch.zeros(block.gamma, vocab, dtype=torch.float32)
    return dense.scatter_add_(1, ids, vals)


def sampling_verdict(probs: torch.Tensor, block: DraftBlock, draft_dense: torch.Tensor | None,
                     u: torch.Tensor, v: torch.Tensor, eos: frozenset[int]) -> Verdict:
    """probs [γ+1, V] target (processed); draft_dense [γ, V] or None (then the draft was deterministic:
    p = one-hot at d_i); u, v [γ+1] uniforms. Lossless for any draft distribution that d was drawn from.
    Float32 math whatever the model's dtype (``processed_probs`` gives float32), on the target's device."""
    drafts = block.tokens
    probs = probs.float()
    if draft_dense is not None:
        draft_dense = draft_dense.to(device=probs.device, dtype=probs.dtype)
    for i, d in enumerate(drafts):
        q_d = float(probs[i, d])
        p_d = 1.0 if draft_dense is None else float(draft_dense[i, d])
        if p_d <= 0.0:
            raise ValueError(f"draft token {d} at position {i} has probability 0 under the draft's own table")
        if float(u[i]) < min(1.0, q_d / p_d):
            continue
        if draft_dense is None:
            residual = probs[i].clone()
            residual[d] = 0.0
        else:
            residual = torch.clamp(probs[i] - draft_dense[i], min=0.0)
        if float(residual.sum()) <= 0.0:  # q == p: rejection has probability 0; fall back to q
            residual = probs[i]
        return _eos_cut(Verdict(i, sample_index(residual, v[i])), drafts, eos)
    n = len(drafts)
    return _eos_cut(Verdict(n, sample_index(probs[n], v[n])), drafts, eos)


def confidence(probs: torch.Tensor, n_accepted: int) -> float:
    """Min top-1 probability over the decided positions 0..n (how sure the exit was of its verdict)."""
    return float(probs[: n_accepted + 1].max(dim=-1).values.min())


def _eos_cut(verdict: Verdict, drafts: Sequence[int], eos: frozenset[int]) -> Verdict:
    for k in range(verdict.n_accepted):
        if drafts[k] in eos:
            return Verdict(k, drafts[k], verdict.confidence, verdict.exit_layer)
    return verdict
