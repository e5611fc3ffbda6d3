"""Slower hardware, emulated around the real parts (benchmarks and the demo's emulation only): a draft session whose
every forward, and whose prompt prefill, lasts at least a given time (a robot computer slower than this machine).
The cloud side's counterpart is ``bench.cost`` (``ForwardCost.floor``). The runtime classes carry no such knob:
the commands that take ``--emulate-*`` put these wrappers in place.
"""

from __future__ import annotations

import time
from functools import partial

from spec_decode_ros.decoding.draft import DraftFactory, DraftSession
from spec_decode_ros.decoding.models import LoadedModel
from spec_decode_ros.decoding.sampling import GREEDY
from spec_decode_ros.decoding.types import Prompt, SamplingConfig


def sleep_until(t: float) -> None:
    """Sleep until ``time.perf_counter()`` reaches ``t`` (at once when it already has)."""
    left = t - time.perf_counter()
    if left > 0:
        time.sleep(left)


class PacedDraftSession(DraftSession):
    """A ``DraftSession`` whose prompt prefill and each forward (one drafted token, or a catch-up over committed
    tokens) last at least ``forward_s`` seconds; its tokens are the plain session's."""

    def __init__(self, model: LoadedModel, prompt: Prompt, sampling: SamplingConfig = GREEDY, *,
                 forward_s: float, **kwargs: int) -> None:
        if not forward_s >= 0:
            raise ValueError(f"forward_s must be >= 0, got {forward_s}")
        self.forward_s = forward_s
        start = time.perf_counter()
        super().__init__(model, prompt, sampling, **kwargs)
        sleep_until(start + forward_s)
        padded = time.perf_counter() - start
        self.busy_s += padded - self.prefill_s
        self.prefill_s = padded

    def _feed(self, tokens: list[int]) -> None:
        start = time.perf_counter()
        super()._feed(tokens)
        sleep_until(start + self.forward_s)


def paced_drafts(forward_s: float) -> DraftFactory:
    """What ``EdgeSession(new_draft=...)`` takes: plain draft sessions for 0, paced ones otherwise."""
    if forward_s < 0:
        raise ValueError(f"the emulated draft forward must be >= 0 s, got {forward_s}")
    return partial(PacedDraftSession, forward_s=forward_s) if forward_s > 0 else DraftSession
