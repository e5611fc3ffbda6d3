"""What one answer costs in each decoding mode, from measured costs: the one cost model (pure, no I/O), which the
robot's mode chooser (``decoding.mode_choice``) and the benchmarks' predictions both use.

Symbols (seconds unless said): RTT the link's round trip (as the robot sees it: network, wire and queueing);
t_v(k) the cloud's forward over k tokens (verification: k = γ + 1; one autoregressive token: k = 1);
t_ar the interval between two streamed tokens of cloud_ar; t_d the draft's time per drafted token;
α the acceptance rate (each draft accepted with probability α until the first rejection); h the early-hit rate;
W the EARLY→FINAL window, (1 − ℓ/L)·t_v for an exit after layer ℓ of L; o_ar / o_sd what an answer's opening costs
beyond its first round (the prompt prefills, the draft's on the robot, the JPEG), measured, not modelled::

    tokens a round commits     E(α, γ) = 1 + α + α² + … + α^γ       (accepted drafts + the verdict's own token)
    per-round lower bound      max(γ·t_d, RTT + t_v)                 (drafting entirely hidden behind verification)
    sd, sd_ee round            γ·t_d + RTT + t_v                     (nothing hidden: the early verdict is not used)
    sd_ee_predraft round       γ·t_d + RTT + t_v − hidden
        hidden = h·min(γ·t_d, W) − (1 − h)·t_d/2·[γ·t_d > W]          while hits are likely (h >= 1/2)
               = h·min(γ, ⌊W / t_d⌋)·t_d                              otherwise (the pre-draft policy's budget)
    answer of N tokens
        cloud_ar               o_ar + RTT + t_v(1) + (N − 1)·t_ar    (the cloud streams: no round trip per token)
        speculative            o_sd + round₁ + (R(N) − 1)·round      (R(N): expected rounds to commit N tokens,
                                                                       exact over the truncated geometric, each round
                                                                       drafting min(γ, tokens left); the first round
                                                                       has no early verdict behind it)
    first command              the time until K tokens are committed (K: the tokens up to the first complete
                               command) of an answer of N: cloud_ar's answer of K tokens; speculative: rounds that
                               draft min(γ, N − committed), since the draft does not know where the command ends

So the early exit and pre-drafting can only pay from an answer's second round on, and by at most
min(γ·t_d, W) per round: answers of one round (short answers, high α, large γ) have nothing for them to hide.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from spec_decode_ros.decoding.mode import Mode
from spec_decode_ros.decoding.predraft import LIKELY_HIT

CHOOSABLE: tuple[Mode, ...] = (Mode.CLOUD_AR, Mode.SD, Mode.SD_EE, Mode.SD_EE_PREDRAFT)  # lossless: the target's output
MAX_TOKENS = 1024  # answers longer than this are costed as this long (R(N) is exact up to it)


@dataclass(frozen=True)
class Costs:
    """The measured (or assumed) costs one prediction rests on; see the module's symbols."""

    rtt_s: float
    verify_fixed_s: float  # t_v(k) = verify_fixed_s + verify_per_token_s · k
    verify_per_token_s: float
    ar_interval_s: float  # t_ar
    draft_token_s: float  # t_d
    acceptance: float  # α
    early_hit_rate: float = 0.0  # h
    late_fraction: float = 0.0  # 1 − ℓ/L: the share of a forward after the exit (W = late_fraction · t_v)
    open_ar_s: float = 0.0  # o_ar
    open_sd_s: float = 0.0  # o_sd

    def __post_init__(self) -> None:
        if not all(0.0 <= x <= 1.0 for x in (self.acceptance, self.early_hit_rate, self.late_fraction)):
            raise ValueError(f"acceptance, early_hit_rate and late_fraction must be in [0, 1]: {self}")
        times = (self.rtt_s, self.verify_fixed_s, self.verify_per_token_s, self.ar_interval_s, self.draft_token_s,
                 self.open_ar_s, self.open_sd_s)
        if not all(math.isfinite(t) and t >= 0 for t in times):
            raise ValueError(f"costs must be finite and >= 0: {self}")

    def verify_s(self, tokens: int) -> float:
        """t_v(k): one forward over ``tokens`` tokens."""
        return self.verify_fixed_s + self.verify_per_token_s * tokens

    def window_s(self, gamma: int) -> float:
        """W = (1 − ℓ/L)·t_v(γ + 1): from the early verdict to the final one."""
        return self.late_fraction * self.verify_s(gamma + 1)


@dataclass(frozen=True)
class Prediction:
    """One mode at one γ: seconds per round (0 for cloud_ar), the answer's and the first command's seconds."""

    mode: Mode
    gamma: int
    round_s: float
    answer_s: float
    first_command_s: float

    def ms_per_token(self, tokens: float) -> float:
        return 1000.0 * self.answer_s / max(tokens, 1.0)


def tokens_per_round(alpha: float, gamma: int) -> float:
    """E(α, γ) = 1 + α + … + α^γ: expected tokens a round of γ drafts commits."""
    return float(sum(alpha ** i for i in range(gamma + 1)))


def round_bound_s(c: Costs, gamma: int) -> float:
    """max(γ·t_d, RTT + t_v): no round can be shorter, however drafting and verification overlap."""
    return max(gamma * c.draft_token_s, c.rtt_s + c.verify_s(gamma + 1))


def hidden_s(c: Costs, gamma: int) -> float:
    """What pre-drafting on the early verdict hides per round (negative: what it costs), as the pre-draft policy
    (``decoding.predraft``) drafts: γ tokens while hits are likely, else only those that fit in W."""
    drafting, window = gamma * c.draft_token_s, c.window_s(gamma)
    h = c.early_hit_rate
    if h >= LIKELY_HIT:
        overrun = c.draft_token_s / 2 if drafting > window else 0.0  # the token in progress when FINAL comes
        return h * min(drafting, window) - (1.0 - h) * overrun
    fits = min(gamma, int(window / c.draft_token_s)) if c.draft_token_s > 0 else gamma
    return h * fits * c.draft_token_s


def round_s(c: Costs, mode: Mode, gamma: int, *, first: bool = False) -> float:
    """One speculative round of ``mode`` (the answer's ``first``: no pre-draft behind it)."""
    plain = gamma * c.draft_token_s + c.rtt_s + c.verify_s(gamma + 1)
    if mode is Mode.SD_EE_PREDRAFT and not first:
        return plain - hidden_s(c, gamma)
    return plain


def commit_probs(alpha: float, gamma: int) -> list[float]:
    """P(a round of γ drafts commits k tokens), k = 1..γ + 1: α^(k−1)(1 − α) for k <= γ, α^γ for all γ accepted."""
    return [alpha ** (k - 1) * (1.0 - alpha) for k in range(1, gamma + 1)] + [alpha ** gamma]


def rounds_to_commit(alpha: float, gamma: int, tokens: float) -> float:
    """R(N): expected rounds of γ drafts to commit ``tokens`` tokens (linear between whole numbers of tokens)."""
    n = min(max(tokens, 1.0), float(MAX_TOKENS))
    lo = math.floor(n)
    table = _rounds_table(round(alpha, 4), gamma, min(lo + 1, MAX_TOKENS))
    return table[lo] + (n - lo) * (table[min(lo + 1, MAX_TOKENS)] - table[lo])


@lru_cache(maxsize=256)
def _rounds_table(alpha: float, gamma: int, upto: int) -> tuple[float, ...]:
    """R(m) for m = 0..upto: R(m) = 1 + Σ_k P(k)·R(m − k), P(k) = α^(k−1)(1 − α) for k <= γ, P(γ + 1) = α^γ."""
    probs = commit_probs(alpha, gamma)
    r = [0.0] * (upto + 1)
    for m in range(1, upto + 1):
        r[m] = 1.0 + sum(p * r[max(0, m - k)] for k, p in enumerate(probs, 1))
    return tuple(r)


def answer_s(c: Costs, mode: Mode, gamma: int, tokens: float) -> float:
    """Seconds to commit ``tokens`` tokens of an answer in ``mode`` (γ ignored by cloud_ar); linear between whole
    numbers of tokens."""
    mode = Mode(mode)
    n = min(max(tokens, 1.0), float(MAX_TOKENS))
    if mode is Mode.CLOUD_AR:
        return c.open_ar_s + c.rtt_s + c.verify_s(1) + (n - 1.0) * c.ar_interval_s
    if not mode.speculative:
        raise ValueError(f"no cost model for mode {mode} (not lossless: the draft alone)")
    lo = math.floor(n)
    first = _answer_table(c, mode, gamma, min(lo + 1, MAX_TOKENS))
    return c.open_sd_s + first[lo] + (n - lo) * (first[min(lo + 1, MAX_TOKENS)] - first[lo])


@lru_cache(maxsize=1024)
def _answer_table(c: Costs, mode: Mode, gamma: int, upto: int) -> tuple[float, ...]:
    """T(m) for m = 0..upto tokens still to commit, from an answer's first round: a round drafts g = min(γ, m)
    tokens (the draft stops at the end it sees coming), costs round_s at g, and commits k <= g + 1 tokens with
    P(k) = α^(k−1)(1 − α) (k <= g), P(g + 1) = α^g; the rounds after the first may hide a pre-draft."""
    tables = {}
    for first in (False, True):
        t = [0.0] * (upto + 1)
        for m in range(1, upto + 1):
            g = min(gamma, m)
            probs = commit_probs(c.acceptance, g)
            later = tables[False] if first else t
            t[m] = round_s(c, mode, g, first=first) + sum(p * later[max(0, m - k)] for k, p in enumerate(probs, 1))
        tables[first] = t
    return tuple(tables[True])


def until_s(c: Costs, mode: Mode, gamma: int, tokens: float, upto: float) -> float:
    """Seconds until the first ``upto`` tokens of an answer of ``tokens`` tokens are committed (its first command:
    ``upto`` = K). cloud_ar streams: its answer of ``upto`` tokens. A speculative round drafts min(γ, tokens left in
    the answer), not in the command, so a command that ends inside a round waits for the whole round."""
    mode = Mode(mode)
    if mode is Mode.CLOUD_AR or upto >= tokens:
        return answer_s(c, mode, gamma, min(upto, tokens))
    if not mode.speculative:
        raise ValueError(f"no cost model for mode {mode} (not lossless: the draft alone)")
    n = min(max(round(tokens), 1), MAX_TOKENS)
    return c.open_sd_s + _until_table(c, mode, gamma, n, min(max(round(upto), 1), n))


@lru_cache(maxsize=1024)
def _until_table(c: Costs, mode: Mode, gamma: int, tokens: int, upto: int) -> float:
    """From an answer's first round, the expected seconds until ``upto`` of its ``tokens`` tokens are committed:
    t[j] (j committed) = round_s at g = min(γ, tokens − j) + Σ_k P(k)·t[min(upto, j + k)], t[upto] = 0."""
    t = [0.0] * (upto + 1)
    for j in range(upto - 1, -1, -1):
        g = min(gamma, tokens - j)
        probs = commit_probs(c.acceptance, g)
        t[j] = round_s(c, mode, g, first=j == 0) + sum(p * t[min(upto, j + k)] for k, p in enumerate(probs, 1))
    return t[0]


def predict(c: Costs, mode: Mode, gamma: int, lengths: Sequence[tuple[float, float]]) -> Prediction:
    """``mode`` at ``gamma``, averaged over answers of the given (length N, tokens K up to the first command)."""
    mode = Mode(mode)
    if not lengths:
        raise ValueError("predict needs at least one (answer length, first-command tokens) pair")
    per_round = 0.0 if mode is Mode.CLOUD_AR else round_s(c, mode, gamma)
    answer = sum(answer_s(c, mode, gamma, n) for n, _ in lengths) / len(lengths)
    first = sum(until_s(c, mode, gamma, n, k) for n, k in lengths) / len(lengths)
    return Prediction(mode, 0 if mode is Mode.CLOUD_AR else gamma, per_round, answer, first)
