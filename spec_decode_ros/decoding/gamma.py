"""How many tokens to draft next: fixed, or adaptive (transformers' heuristic: +2 after a full
accept, −1 otherwise, kept within [min_gamma, max_gamma])."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class GammaSchedule:
    gamma: int = 4
    adaptive: bool = False
    min_gamma: int = 1
    max_gamma: int = 16

    def __post_init__(self) -> None:
        if not 0 <= self.min_gamma <= self.max_gamma:
            raise ValueError(f"GammaSchedule needs 0 <= min_gamma <= max_gamma, got {self.min_gamma}, {self.max_gamma}")
        if self.gamma < 0:
            raise ValueError(f"GammaSchedule.gamma must be >= 0, got {self.gamma}")
        if self.adaptive:
            self.gamma = min(max(self.gamma, self.min_gamma), self.max_gamma)

    def update(self, n_accepted: int, gamma: int) -> int:
        """Record a round that accepted ``n_accepted`` of ``gamma`` drafts; returns the next γ."""
        if self.adaptive and gamma > 0:
            step = 2 if n_accepted >= gamma else -1
            self.gamma = min(max(self.gamma + step, self.min_gamma), self.max_gamma)
        return self.gamma

    def peek(self, n_accepted: int, gamma: int) -> int:
        """The γ that ``update(n_accepted, gamma)`` would give, without recording it (for pre-drafting)."""
        if not (self.adaptive and gamma > 0):
            return self.gamma
        step = 2 if n_accepted >= gamma else -1
        return min(max(self.gamma + step, self.min_gamma), self.max_gamma)
