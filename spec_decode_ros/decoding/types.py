"""Plain data shared by the decoding engine, the bridge and the nodes (no torch needed to import).

The round protocol (docs/architecture.md follows it hop by hop): the robot holds the committed generated tokens C; it drafts
``DraftBlock`` d_1..d_γ after C; the target verifies [pending, d_1..d_γ] and answers with a
``Verdict`` (n, y): the first n drafts are accepted and y is the target's own next token
(correction, or bonus when n == γ). An early exit answers the same question from layer ℓ.
Token positions on the wire count *generated* tokens only: prompt encodings (image tokens
included) may differ between a draft VLM and the target VLM.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

CONSTRAIN_CHOICES = ("grammar", "none")  # the command grammar as a constraint on both models (decoding.constraint), or not


def check_constrain(value: str) -> str:
    """``grammar`` or ``none`` (a parameter's value), else ValueError naming both."""
    if value not in CONSTRAIN_CHOICES:
        raise ValueError(f"constrain must be one of {', '.join(CONSTRAIN_CHOICES)}, got {value!r}")
    return value


@dataclass(frozen=True)
class Prompt:
    """What a request asks about: an instruction and, for a VLM, one RGB image (H×W×3 uint8)."""

    text: str
    image: np.ndarray | None = None
    system: str | None = None


@dataclass(frozen=True)
class SamplingConfig:
    """How tokens are chosen. ``do_sample=False`` is greedy (argmax) and ignores the rest.

    Draft and target apply the same temperature/top-k/top-p to their own logits; the
    acceptance rule then keeps the target's (processed) distribution exactly.
    """

    do_sample: bool = False
    temperature: float = 1.0
    top_k: int = 0  # 0: whole vocabulary
    top_p: float = 1.0
    seed: int = 0


@dataclass(frozen=True)
class DraftBlock:
    """γ drafted tokens continuing the committed tokens (plus ``after``, if pre-drafted).

    ``prob_ids``/``prob_values`` hold the draft's distribution at each drafted position when sampling, as a
    sparse top-k table (the draft samples from its own top-k truncation, so nothing is lost):
    ``prob_ids[i]`` and ``prob_values[i]`` are the support and probabilities at position i.
    Both are None for greedy drafting.
    """

    tokens: tuple[int, ...]
    after: tuple[int, ...] = ()
    prob_ids: np.ndarray | None = None  # [γ, k] int64
    prob_values: np.ndarray | None = None  # [γ, k] float32, rows sum to 1
    seconds: float = 0.0  # wall time spent drafting

    @property
    def gamma(self) -> int:
        return len(self.tokens)


@dataclass(frozen=True)
class Verdict:
    """The target's answer to one DraftBlock: accept ``n_accepted`` drafts, then ``next_token``.

    It commits drafts[:n_accepted] + (next_token,) (``round.committed``); the wire calls them n and y
    (``bridge.protocol.verdict_fields``). For an early verdict, ``exit_layer`` is
    the layer index of the exit and ``confidence`` the exit's certainty (min top-1 probability
    over the decided positions); for a final verdict, ``exit_layer`` is -1 and confidence 1.0.
    """

    n_accepted: int
    next_token: int
    confidence: float = 1.0
    exit_layer: int = -1


@dataclass
class SpecMetrics:
    """Counters of one generation (or many, merged), named as vLLM names them."""

    num_drafts: int = 0
    num_draft_tokens: int = 0
    num_accepted_tokens: int = 0
    accepted_per_position: list[int] = field(default_factory=list)
    num_generated_tokens: int = 0
    early_exit_hits: int = 0
    early_exit_misses: int = 0
    exit_agreement_matches: int = 0  # positions where exit top-1 == final top-1
    exit_agreement_total: int = 0
    target_forward_passes: int = 0
    target_busy_s: float = 0.0
    draft_busy_s: float = 0.0

    @property
    def acceptance_rate(self) -> float:
        return self.num_accepted_tokens / self.num_draft_tokens if self.num_draft_tokens else 0.0

    @property
    def mean_acceptance_length(self) -> float:
        return 1.0 + self.num_accepted_tokens / self.num_drafts if self.num_drafts else 0.0

    @property
    def early_hit_rate(self) -> float:
        total = self.early_exit_hits + self.early_exit_misses
        return self.early_exit_hits / total if total else 0.0

    @property
    def exit_agreement(self) -> float:
        return self.exit_agreement_matches / self.exit_agreement_total if self.exit_agreement_total else 0.0

    @property
    def target_busy_s_per_token(self) -> float:
        return self.target_busy_s / self.num_generated_tokens if self.num_generated_tokens else 0.0

    def record_round(self, gamma: int, n_accepted: int) -> None:
        if gamma > 0:
            self.num_drafts += 1
            self.num_draft_tokens += gamma
            self.num_accepted_tokens += n_accepted
            while len(self.accepted_per_position) < gamma:
                self.accepted_per_position.append(0)
            for i in range(n_accepted):
                self.accepted_per_position[i] += 1
        self.num_generated_tokens += n_accepted + 1

    def record_early(self, hit: bool) -> None:
        """One early verdict: the final one agreed (a hit) or not."""
        self.early_exit_hits += int(hit)
        self.early_exit_misses += int(not hit)

    def merge(self, other: SpecMetrics) -> SpecMetrics:
        out = SpecMetrics()
        for name in self.__dataclass_fields__:
            a, b = getattr(self, name), getattr(other, name)
            if isinstance(a, list):
                n = max(len(a), len(b))
                setattr(out, name, [(a[i] if i < len(a) else 0) + (b[i] if i < len(b) else 0) for i in range(n)])
            else:
                setattr(out, name, a + b)
        return out

    def as_dict(self) -> dict[str, float | int | list[int]]:
        d: dict[str, float | int | list[int]] = {k: getattr(self, k) for k in self.__dataclass_fields__}
        for k in ("acceptance_rate", "mean_acceptance_length", "early_hit_rate", "exit_agreement",
                  "target_busy_s_per_token"):
            d[k] = getattr(self, k)
        return d
