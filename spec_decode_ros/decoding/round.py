"""One speculative round as pure functions, shared by the in-process loop (``local.speculative_generate``) and the
robot's session (``bridge.edge.EdgeSession``), which keep only the I/O and the timing around them.

A round, with C the committed generated tokens and M = max_new_tokens::

    γ      = capped_gamma(schedule.gamma, M, |C|)              # never drafting past M
    block  = draft(γ)                                          # d_1..d_γ after C (or the kept pre-draft)
    EARLY (n_ee, y_ee):  g = predraft_gamma(...)               # 0: do not pre-draft (EOS, or M reached)
                         pre = draft(g, after=committed(block, n_ee, y_ee))
    FINAL (n, y):        C += committed(block, n, y)
                         early_hit(...) and pre: next block = next_block(pre, γ') (+ extend(...) if short)
                         else:                   next block = draft(γ')
"""

from __future__ import annotations

from collections.abc import Collection

import numpy as np

from spec_decode_ros.decoding.types import DraftBlock


def committed(tokens: tuple[int, ...], n: int, y: int) -> tuple[int, ...]:
    """What a verdict (n, y) on drafts ``tokens`` [γ] commits: the first n drafts, then y  -> [n + 1]."""
    return tuple(tokens[:n]) + (y,)


def early_hit(early: tuple[int, int] | None, final: tuple[int, int]) -> bool:
    """Whether the early verdict (n_ee, y_ee) was the final one (n, y); no early verdict is no hit."""
    return early is not None and tuple(early) == tuple(final)


def capped_gamma(gamma: int, max_new_tokens: int, num_committed: int, pending: int = 0) -> int:
    """γ for a block after ``num_committed`` (+ ``pending`` provisional) tokens, so that the block plus the
    verdict's own token never pass ``max_new_tokens``; 0 when there is no room for a draft token."""
    return max(0, min(gamma, max_new_tokens - num_committed - pending - 1))


def predraft_gamma(early: tuple[int, ...], gamma: int, max_new_tokens: int, num_committed: int,
                   eos: Collection[int]) -> int:
    """γ of the pre-draft after the early verdict's tokens ``early`` (= ``committed(block, n_ee, y_ee)``);
    0 (no pre-draft) when they end with EOS or leave no room before ``max_new_tokens``."""
    if early and early[-1] in eos:
        return 0
    return capped_gamma(gamma, max_new_tokens, num_committed, pending=len(early))


def next_block(pre: DraftBlock, gamma: int, eos: Collection[int]) -> tuple[DraftBlock, int]:
    """A kept pre-draft as the next block (now continuing the committed tokens: ``after`` = ()), cut to ``gamma``
    tokens; and how many tokens still to draft after it to reach ``gamma`` (0 when it ends with EOS)."""
    block = cut(pre, gamma)
    short = 0 if (block.tokens and block.tokens[-1] in eos) else gamma - block.gamma
    return block, short


def cut(block: DraftBlock, gamma: int) -> DraftBlock:
    """The first ``gamma`` tokens of ``block`` (and rows of its sparse tables), continuing the committed tokens."""
    ids = None if block.prob_ids is None else block.prob_ids[:gamma]
    values = None if block.prob_values is None else block.prob_values[:gamma]
    return DraftBlock(tokens=block.tokens[:gamma], after=(), prob_ids=ids, prob_values=values,
                      seconds=block.seconds)


def concat(a: DraftBlock, b: DraftBlock) -> DraftBlock:
    """``a`` then ``b`` (drafted after a's tokens) as one block; sparse tables [γa, k], [γb, k'] -> [γa+γb, max k]."""
    ids = values = None
    if a.prob_ids is not None and b.prob_ids is not None and a.prob_values is not None and b.prob_values is not None:
        k = max(a.prob_ids.shape[1], b.prob_ids.shape[1])
        ids = np.concatenate([_widen(a.prob_ids, k), _widen(b.prob_ids, k)])
        values = np.concatenate([_widen(a.prob_values, k), _widen(b.prob_values, k)])
    return DraftBlock(tokens=a.tokens + b.tokens, after=a.after, prob_ids=ids, prob_values=values,
                      seconds=a.seconds + b.seconds)


def _widen(table: np.ndarray, k: int) -> np.ndarray:
    """A [γ, k'] sparse table widened to k columns with zero-probability entries (token 0)."""
    if table.shape[1] == k:
        return table
    return np.concatenate([table, np.zeros((table.shape[0], k - table.shape[1]), dtype=table.dtype)], axis=1)
