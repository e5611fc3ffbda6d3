"""What the robot has measured about its link, the cloud and its own draft: moving estimates of the cost model's
inputs (``decoding.mode_cost``), fed from the answers it decoded (pure: the drivers hand in numbers).

From each answer's rounds (``decoding.round_event.RoundEvent``, as the robot's session reports them) and its length:

    RTT      a speculative round without a pre-draft on it: FINAL − server − queue; the heartbeat's pings
             (``observe_rtt``); 0 until known (cloud_ar's opening o_ar then carries it)
    t_v(k)   the cloud's busy time per forward (``server_s`` in FINAL) at k = γ + 1 (an answer's later rounds) and,
             from cloud_ar, at k = 1: a line through the two (flat while only one is known); an answer's first round,
             whose forward may carry the prompt's prefill, adds what it cost beyond the line to o_sd
    t_ar     cloud_ar's interval between two streamed tokens (its rounds after the first); cloud_ar's first forward
             carries the prompt's prefill, and what it costs beyond t_v(1) goes to o_ar
    t_d      drafting seconds / drafted tokens
    α        accepted / (accepted + rejected) over the rounds, a rejection being a draft the target replaced; drafts
             past the answer's end are neither (the answer's length is not the draft's fault)
    h        early verdicts that held (sd_ee, sd_ee_predraft)
    1 − ℓ/L  (EARLY→FINAL) / server time, in sd_ee rounds (where the robot, not pre-drafting, hears FINAL at once)
    o_ar, o_sd  the first token's time minus its round's server (and drafting) time and the RTT: the prefills and the
             rest of the opening (kept with the RTT in, so that an RTT learnt later is not counted twice)
    N, K     the answer's length, and the tokens up to its first complete command (the last ``RECENT`` kept)

Each estimate is an exponential moving average (``smoothing`` the newest sample's weight; α's counts decay by
``1 − smoothing/4`` a round; ``smoothing`` 0: plain means and counts, for a benchmark's after-the-fact check), and each family (``CLOUD``: what only cloud_ar measures; ``SPECULATIVE``; ``EARLY``: what
only an early-exit mode measures) remembers the answer that last measured it, so the chooser knows how stale it is.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field

from spec_decode_ros.decoding.mode import Mode
from spec_decode_ros.decoding.mode_cost import Costs
from spec_decode_ros.decoding.round_event import RoundEvent

CLOUD, SPECULATIVE, EARLY = "cloud", "speculative", "early"
RECENT = 16  # answers whose lengths a prediction averages over
FAMILIES = (CLOUD, SPECULATIVE, EARLY)


@dataclass
class Ema:
    """An exponential moving average (None until the first sample); ``smoothing`` 0: the plain mean."""

    smoothing: float = 0.25
    value: float | None = None
    samples: int = 0

    def add(self, sample: float) -> None:
        if not math.isfinite(sample):
            return
        self.samples += 1
        weight = self.smoothing if self.smoothing > 0 else 1.0 / self.samples
        self.value = sample if self.value is None else (1 - weight) * self.value + weight * sample

    def get(self, default: float = 0.0) -> float:
        return default if self.value is None else self.value


@dataclass
class ModeEstimates:
    """Running estimates of the cost model's inputs. ``observe_answer`` after each answer; ``costs()`` for a
    prediction (None until a cloud round and a speculative round are both known, at least one of them measured)."""

    smoothing: float = 0.25
    rtt: Ema = field(init=False)
    verify: Ema = field(init=False)  # server seconds of a verification forward (an answer's later rounds)
    verify_first: Ema = field(init=False)  # ... of an answer's first round (which may carry the prompt's prefill)
    first_tokens: Ema = field(init=False)  # its k = γ + 1
    verify_tokens: Ema = field(init=False)  # its k = γ + 1
    ar_forward: Ema = field(init=False)  # server seconds of one autoregressive forward (k = 1), after the first
    ar_forward_first: Ema = field(init=False)  # ... of cloud_ar's first (which carries the prompt's prefill)
    ar_interval: Ema = field(init=False)
    draft_token: Ema = field(init=False)
    early_hit: Ema = field(init=False)
    late_fraction: Ema = field(init=False)
    open_ar: Ema = field(init=False)
    open_sd: Ema = field(init=False)
    answer_tokens: Ema = field(init=False)
    first_command_tokens: Ema = field(init=False)
    accepted: float = 0.0  # decayed counts behind α
    rejected: float = 0.0
    answers: int = 0
    recent: deque[tuple[float, float]] = field(default_factory=lambda: deque(maxlen=RECENT))  # (N, K) per answer
    last_measured: dict[str, int] = field(default_factory=dict)  # family -> the answer (1-based) that measured it

    def __post_init__(self) -> None:
        for name in ("rtt", "verify", "verify_first", "first_tokens", "verify_tokens", "ar_forward", "ar_forward_first", "ar_interval", "draft_token", "early_hit",
                     "late_fraction", "open_ar", "open_sd", "answer_tokens", "first_command_tokens"):
            setattr(self, name, Ema(self.smoothing))

    # ------------------------------------------------------------------------------------------ estimates
    @property
    def acceptance(self) -> float | None:
        total = self.accepted + self.rejected
        return self.accepted / total if total > 0 else None

    def measured(self, family: str) -> bool:
        return family in self.last_measured

    def staleness(self, family: str) -> float:
        """Answers since ``family`` was last measured (infinite: never)."""
        return self.answers - self.last_measured[family] if family in self.last_measured else math.inf

    def costs(self) -> Costs | None:
        """The cost model's inputs as now estimated; what was never measured is borrowed from what was (a cloud
        forward of 1 token from one of γ + 1 and back; no early hits until an early verdict was seen)."""
        if all(e.value is None for e in (self.verify, self.verify_first, self.ar_forward, self.ar_forward_first)):
            return None
        per_token, fixed = self._verify_line()
        rtt = self.rtt.get(0.0)
        first_extra = 0.0  # what the first round's forward costs beyond a later one's: the prefill it carries
        if self.verify_first.value is not None and self.first_tokens.value is not None:
            first_extra = max(0.0, self.verify_first.value - fixed - per_token * self.first_tokens.value)
        ar_first_extra = 0.0  # the same for cloud_ar's first forward against t_v(1)
        if self.ar_forward_first.value is not None:
            ar_first_extra = max(0.0, self.ar_forward_first.value - fixed - per_token)
        ar_interval = self.ar_interval.get(fixed + per_token)
        return Costs(rtt_s=rtt, verify_fixed_s=fixed, verify_per_token_s=per_token, ar_interval_s=ar_interval,
                     draft_token_s=self.draft_token.get(0.0), acceptance=self.acceptance or 0.0,
                     early_hit_rate=self.early_hit.get(0.0), late_fraction=self.late_fraction.get(0.0),
                     open_ar_s=max(0.0, self.open_ar.get(self.open_sd.get(0.0)) - rtt) + ar_first_extra,
                     open_sd_s=max(0.0, self.open_sd.get(self.open_ar.get(0.0)) - rtt) + first_extra)

    def _verify_line(self) -> tuple[float, float]:
        """(per token, fixed) of t_v(k): through (1, t_ar forward) and (γ + 1, t_verify) when both are known."""
        one, many, k = self.ar_forward.value, self.verify.value, self.verify_tokens.value
        if many is None and one is None:  # only answers' first forwards seen: the best there is
            many = self.verify_first.value
            one = self.ar_forward_first.value if many is None else None
        if one is None or many is None or k is None or k <= 1.5:
            known = many if many is not None else one
            return 0.0, known if known is not None else 0.0
        per_token = max(0.0, (many - one) / (k - 1.0))
        return per_token, max(0.0, one - per_token)

    # ------------------------------------------------------------------------------------------ samples
    def observe_rtt(self, seconds: float) -> None:
        """A ping's round trip (the heartbeat's)."""
        if seconds > 0:
            self.rtt.add(seconds)

    def observe_answer(self, mode: Mode, rounds: Sequence[RoundEvent], tokens: int, first_token_s: float,
                       first_command_tokens: int | None = None) -> None:
        """One answer decoded in ``mode``: its rounds in order, its length and when its first token came."""
        mode = Mode(mode)
        self.answers += 1
        if tokens > 0:
            k = float(min(first_command_tokens or tokens, tokens))
            self.answer_tokens.add(float(tokens))
            self.first_command_tokens.add(k)
            self.recent.append((float(tokens), k))
        if not rounds:
            return
        if mode is Mode.CLOUD_AR:
            self._cloud_ar(rounds, first_token_s)
        elif mode.speculative:
            self._speculative(mode, rounds, first_token_s)

    def _cloud_ar(self, rounds: Sequence[RoundEvent], first_token_s: float) -> None:
        first = rounds[0]
        self.ar_forward_first.add(first.server_s)
        for r in rounds[1:]:
            self.ar_forward.add(r.server_s)
            self.ar_interval.add(r.final_s)
        self.open_ar.add(max(0.0, first_token_s - first.server_s))  # RTT + o_ar (the RTT is taken off in costs())
        self.last_measured[CLOUD] = self.answers

    def _speculative(self, mode: Mode, rounds: Sequence[RoundEvent], first_token_s: float) -> None:
        before = 0
        for i, r in enumerate(rounds):
            new = r.committed - before
            before = r.committed
            self._acceptance(r.gamma, r.n_accepted, new, last=i == len(rounds) - 1)
            if r.gamma > 0 and r.draft_s > 0:
                self.draft_token.add(r.draft_s / r.gamma)
            if i > 0:
                self.verify.add(r.server_s)
                self.verify_tokens.add(float(r.gamma + 1))
            else:  # the first forward may carry the prompt's prefill (the fused first round)
                self.verify_first.add(r.server_s)
                self.first_tokens.add(float(r.gamma + 1))
            if not (mode.predraft and r.early_sent):  # a pre-draft may have kept the robot from hearing FINAL
                self.rtt.add(max(0.0, r.final_s - r.server_s - r.queued_s))  # clocks apart: never below 0
            if r.early_sent:
                self.early_hit.add(1.0 if r.early_hit else 0.0)
                if i > 0 and not mode.predraft and r.server_s > 0:  # the first round's exit is fused with its prefill
                    self.late_fraction.add(min(1.0, max(0.0, r.final_s - r.early_s) / r.server_s))
        first = rounds[0]
        self.open_sd.add(max(0.0, first_token_s - first.draft_s - first.server_s))  # RTT + o_sd (as o_ar)
        self.last_measured[SPECULATIVE] = self.answers
        if any(r.early_sent for r in rounds):
            self.last_measured[EARLY] = self.answers

    def _acceptance(self, gamma: int, n_accepted: int, committed: int, *, last: bool) -> None:
        """One round's evidence on α: the drafts accepted up to the answer's end, and a rejection when the verdict's
        own token replaced a draft, except where that token ended the answer (the round was the last either way:
        the answer's length is not the draft's fault, and drafts past its end count for nothing)."""
        if gamma <= 0:
            return
        keep = 1.0 - self.smoothing / 4 if self.smoothing > 0 else 1.0  # fading over a few answers' rounds
        accepted = min(n_accepted, committed)
        rejected = 1.0 if (n_accepted < gamma and committed == n_accepted + 1 and not last) else 0.0
        self.accepted = keep * self.accepted + accepted
        self.rejected = keep * self.rejected + rejected

    def snapshot(self) -> dict[str, float | None]:
        """The estimates, as numbers for a log, a message or a JSON record (None: not measured yet)."""
        per_token, fixed = self._verify_line()
        verify = fixed + per_token * (self.verify_tokens.value or self.first_tokens.value or 1.0) \
            if self.costs() is not None else None
        return {"rtt_s": self.rtt.value, "verify_s": verify, "ar_forward_s": self.ar_forward.value,
                "ar_interval_s": self.ar_interval.value, "draft_token_s": self.draft_token.value,
                "acceptance": self.acceptance, "early_hit_rate": self.early_hit.value, "late_fraction": self.late_fraction.value,
                "open_ar_s": self.open_ar.value, "open_sd_s": self.open_sd.value,
                "answer_tokens": self.answer_tokens.value, "first_command_tokens": self.first_command_tokens.value}
