"""When pre-drafting pays (mode ``sd_ee_predraft``): one policy, owned by the round machine (``decoding/round.py``),
so the robot's session and the in-process loop pre-draft alike. No I/O: the drivers measure, the policy averages.

The EARLY and the FINAL verdict of a round cross the same link, so the robot hears the FINAL only
W = (1 - ℓ/L) · t_verify after the EARLY: that window is all the time pre-drafting can hide. A pre-drafted token
finished inside W costs nothing (the robot would be idle); on an early hit it is the next block's head, on a miss
it is dropped. A token still being drafted when the FINAL arrives delays the next round by up to one token's time
t_d: on a hit that work still counts, on a miss it is lost. Hence::

    budget = γ_pre                         while hits are likely (hit rate >= 1/2; it starts at 1)
           = min(γ_pre, ⌊W / t_d⌋)         otherwise: only the tokens that fit in the window
           = 0                             while W is unknown (a round without pre-drafting measures it)

With a draft slower than the window and early verdicts that rarely hold (the SmolLM2 pair under a Jetson-class
draft emulation: t_d 210 ms, W 100 ms, hit rate 0.09), pre-drafting stops; with the embedded pair (hit rate
~0.9) it runs as before. W, t_d and the hit rate are exponential moving averages of what the driver measured
(in the in-process loop, which pre-drafts inside the target's forward, W is the forward's time after the EARLY).
"""

from __future__ import annotations

from dataclasses import dataclass

LIKELY_HIT = 0.5  # a token past the window gains t_d on a hit and loses up to t_d on a miss


@dataclass
class PredraftPolicy:
    """Running estimates of the early-hit rate, the EARLY→FINAL window and one draft token's time."""

    smoothing: float = 0.25  # weight of the newest measurement
    hit_rate: float = 1.0  # optimistic: pre-draft until hits prove rare
    window_s: float | None = None
    token_s: float | None = None

    def budget(self, gamma: int) -> int:
        """How many of ``gamma`` pre-draft tokens to draft now."""
        if self.hit_rate >= LIKELY_HIT:
            return gamma
        if self.window_s is None or not self.token_s:
            return 0  # W is measured exactly only in a round the robot does not pre-draft past
        return max(0, min(gamma, int(self.window_s / self.token_s)))

    def record_hit(self, hit: bool) -> None:
        self.hit_rate = self._mix(self.hit_rate, 1.0 if hit else 0.0)

    def record_window(self, seconds: float) -> None:
        """The time from the EARLY to the FINAL, measured while the robot was free to hear the FINAL."""
        self.window_s = self._mix(self.window_s, max(0.0, seconds))

    def record_draft(self, seconds: float, tokens: int) -> None:
        if tokens > 0:
            self.token_s = self._mix(self.token_s, seconds / tokens)

    def _mix(self, old: float | None, new: float) -> float:
        return new if old is None else (1.0 - self.smoothing) * old + self.smoothing * new
