"""One speculative round: its rules as pure functions, and ``RoundMachine``, the one object both loops drive.

The machine has no I/O (h11's shape: events in, actions out; no sockets, no clocks, no models). It owns the
committed tokens C, the target's end-of-sequence set, M = max_new_tokens, the γ schedule, the pre-draft policy
and the round's metrics. The in-process loop (``local.speculative_generate``) and the robot's session
(``bridge.edge.EdgeSession``) run the models and the sockets around it and feed it what happened; timings come in
as numbers (a ``DraftBlock``'s seconds, the measured EARLY→FINAL window). One round::

    plan = m.plan()                        # what block next: draft plan.gamma tokens after plan.after
                                           #   (after = a kept pre-draft's head, which leads the block)
    block = m.drafted(draft(plan))         # the block [γ] to verify (head + what was drafted)
    EARLY (n_ee, y_ee):  ask = m.early(v)  # what to pre-draft: ask.gamma tokens after ask.after, or None
                         m.predrafted(draft(ask))
    FINAL (n, y):        new = m.final(v)  # what it commits, token by token: cut at EOS or M (then m.done)
    (the session lost:   m.lost()          # the round's verdicts are void; the same block goes again)

with, for C committed tokens::

    γ      = capped_gamma(schedule.gamma, M, |C|)              # never drafting past M
    EARLY:   g = policy.budget(predraft_gamma(...))            # 0: do not pre-draft (EOS, M reached, or it won't pay)
    FINAL:   C += committed(block, n, y)                       # [n + 1], cut at the stop
             early_hit(...) and pre: next block = next_block(pre, γ') (+ extend(...) if short)
             else:                   next block = draft(γ')

The mode and the γ schedule are per answer (a machine per answer): a driver may pick them per answer. A grammar
constraint lives inside the draft and target sessions, not here: the machine sees only tokens.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field

import numpy as np

from spec_decode_ros.decoding.gamma import GammaSchedule
from spec_decode_ros.decoding.mode import Mode
from spec_decode_ros.decoding.predraft import PredraftPolicy
from spec_decode_ros.decoding.types import DraftBlock, SpecMetrics, Verdict

NO_BLOCK = DraftBlock(())


@dataclass(frozen=True)
class DraftAsk:
    """Action: draft ``gamma`` tokens continuing the committed tokens + ``after`` (gamma 0: draft nothing)."""

    gamma: int
    after: tuple[int, ...] = ()


@dataclass(frozen=True)
class Committed:
    """Action: what a final verdict commits (stream ``tokens`` in order), whether its early verdict held
    (``early`` None: none came), and whether the answer is done."""

    tokens: tuple[int, ...]
    early: Verdict | None
    hit: bool
    done: bool


@dataclass
class RoundMachine:
    """The round's state for one answer. ``eos``: the target's end-of-sequence ids (``opened`` may replace them
    with the verifier's own); ``mode``: what the answer runs (not speculative: blocks of γ = 0)."""

    eos: Collection[int]
    max_new_tokens: int
    mode: Mode = Mode.SD_EE_PREDRAFT
    schedule: GammaSchedule = field(default_factory=GammaSchedule)
    policy: PredraftPolicy = field(default_factory=PredraftPolicy)
    metrics: SpecMetrics = field(default_factory=SpecMetrics)
    committed: list[int] = field(default_factory=list, init=False)  # C, the answer so far
    done: bool = field(default=False, init=False)
    _head: DraftBlock = field(default=NO_BLOCK, init=False)  # the kept pre-draft's part that leads the next block
    _kept: DraftBlock | None = field(default=None, init=False)  # a pre-draft that the last FINAL confirmed
    _block: DraftBlock | None = field(default=None, init=False)  # the block in flight
    _early: Verdict | None = field(default=None, init=False)  # its early verdict (the first one)
    _pre: DraftBlock | None = field(default=None, init=False)  # what was pre-drafted on it

    def __post_init__(self) -> None:
        if self.max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be >= 1, got {self.max_new_tokens}")
        self.mode = Mode(self.mode)
        self.eos = frozenset(int(t) for t in self.eos)

    # ------------------------------------------------------------------------------------------ events
    def opened(self, eos: Collection[int]) -> None:
        """The verifier opened the session and named its end-of-sequence ids (empty: keep what we have)."""
        if eos:
            self.eos = frozenset(int(t) for t in eos)

    def plan(self) -> DraftAsk:
        """What block next: the kept pre-draft (cut to γ) leads it; draft the rest after it."""
        self._live()
        gamma = capped_gamma(self.schedule.gamma, self.max_new_tokens, len(self.committed)) \
            if self.mode.speculative else 0
        if self._kept is not None:
            self._head, short = next_block(self._kept, gamma, self.eos)
            self._kept = None
            return DraftAsk(short, self._head.tokens)
        self._head = NO_BLOCK
        return DraftAsk(gamma)

    def drafted(self, tail: DraftBlock | None) -> DraftBlock:
        """What ``plan`` asked for was drafted (None: nothing was asked); returns the block to verify."""
        if tail is None:
            block = self._head
        else:
            self.policy.record_draft(tail.seconds, tail.gamma)
            block = concat(self._head, tail) if self._head.tokens else tail
        self._head, self._block, self._early, self._pre = NO_BLOCK, block, None, None
        return block

    def early(self, verdict: Verdict) -> DraftAsk | None:
        """The block's early verdict (later ones are ignored): what to pre-draft on it, None for nothing."""
        block = self._block
        if block is None or self._early is not None:
            return None
        self._early = verdict
        if not self.mode.predraft:
            return None
        after = committed(block.tokens, verdict.n_accepted, verdict.next_token)
        gamma = predraft_gamma(after, self.schedule.peek(verdict.n_accepted, block.gamma), self.max_new_tokens,
                               len(self.committed), self.eos)
        gamma = self.policy.budget(gamma)
        return DraftAsk(gamma, after) if gamma > 0 else None

    def predrafted(self, block: DraftBlock) -> None:
        """What was pre-drafted on the early verdict (kept if the final verdict agrees)."""
        self._pre = block

    def final(self, verdict: Verdict, *, finished: bool = False, window_s: float | None = None) -> Committed:
        """The block's final verdict (with no block in flight: a γ = 0 round). ``finished``: the verifier ended
        the answer; ``window_s``: the EARLY→FINAL time, when the driver could measure it."""
        self._live()
        block = self._block if self._block is not None else NO_BLOCK
        early = self._early
        new = committed(block.tokens, verdict.n_accepted, verdict.next_token)  # [n + 1]
        taken = 0
        for token in new:  # stop token by token: nothing past EOS or M is ever committed
            taken += 1
            self.committed.append(int(token))
            if token in self.eos or len(self.committed) >= self.max_new_tokens:
                self.done = True
                break
        self.done = self.done or finished
        self.metrics.record_round(block.gamma, verdict.n_accepted)
        self.metrics.num_generated_tokens = len(self.committed)
        hit = early_hit(_pair(early), _pair(verdict))
        if early is not None:
            self.metrics.record_early(hit)
            self.policy.record_hit(hit)
            if window_s is not None:
                self.policy.record_window(window_s)
        self.schedule.update(verdict.n_accepted, block.gamma)
        self._kept = self._pre if (hit and not self.done) else None
        self._block, self._early, self._pre = None, None, None
        return Committed(tuple(new[:taken]), early, hit, self.done)

    def lost(self) -> None:
        """The verifier lost the session before the block's FINAL: its verdicts are void, the block goes again."""
        self._early, self._pre = None, None

    def _live(self) -> None:
        if self.done:
            raise RuntimeError(f"the answer is done ({len(self.committed)} tokens): no more rounds")


def _pair(verdict: Verdict | None) -> tuple[int, int] | None:
    return None if verdict is None else (verdict.n_accepted, verdict.next_token)


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
