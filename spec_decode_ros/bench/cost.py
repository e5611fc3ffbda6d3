"""A GPU-like forward cost for benchmarks: a wrapper around a target that pads each verification to
``t(rows, tokens) = a + b·rows·tokens`` seconds (the real CPU time when that is longer).

``rows`` is the batch size and ``tokens`` the padded width of the batch (the pending token plus the longest
draft block), so the modelled cost grows with the batch as a GPU's does once the batch stops being free:
a fixed part ``a`` (weights streamed once per forward, kernel launches) and a part ``b`` per row·token.
Prefill (``open``, ``prefill``, ``prefill_many``: the verifier prefills the openings ready together in one forward)
runs at its real cost; with ``prefill="floor"`` it lasts at least ``a`` (one forward, as ``spec-decode cloud
--emulate-forward-ms`` has it: ``ForwardCost.floor``); with ``prefill="cached"`` a prompt seen before is served from
a copy of its first prefill's KV cache (exact: same model inputs, same cache), which takes the per-answer prefill off the
verifier's path, as a prefill that rides in the batched forward or runs on other hardware would: an upper
bound for what batching verification alone is worth when each answer needs its own prefill.
A deferred prefill (``prefill(defer=True)``, the verifier's fused first round) runs no forward and is padded by
nothing; the verification that then prefills it is one forward and is padded once, like any other.
The early verdict goes out after the exit layer's share of ``t`` (``exit_layer / num_layers``), as it would
on a real accelerator. The wrapper delegates everything else to the wrapped target, so runtime classes
(``VerifierServer``, ``EarlyExitTarget``) carry no emulation knob: the benchmark puts it in place.
"""

from __future__ import annotations

import copy
import hashlib
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from spec_decode_ros.bench.emulation import sleep_until
from spec_decode_ros.decoding.sampling import GREEDY
from spec_decode_ros.decoding.types import DraftBlock, Prompt, SamplingConfig, Verdict

PREFILL = ("real", "cached", "floor")


@dataclass(frozen=True)
class ForwardCost:
    """``t(rows, tokens) = a_s + b_s·rows·tokens`` seconds. Calling it on a target wraps that target."""

    a_s: float = 0.020
    b_s: float = 0.0005
    prefill: str = "real"

    def __post_init__(self) -> None:
        if not (self.a_s >= 0 and self.b_s >= 0):
            raise ValueError(f"cost model a and b must be >= 0, got {self}")
        if self.prefill not in PREFILL:
            raise ValueError(f"prefill must be one of {PREFILL}, got {self.prefill!r}")

    @classmethod
    def floor(cls, seconds: float) -> ForwardCost:
        """Every forward, prefill included, lasts at least ``seconds`` (``--emulate-forward-ms``: a large target on
        a GPU, where a forward over a few tokens, or a few rows, costs about as much as over one)."""
        return cls(a_s=seconds, b_s=0.0, prefill="floor")

    def seconds(self, rows: int, tokens: int) -> float:
        return self.a_s + self.b_s * rows * tokens

    def __call__(self, target: Any) -> CostModelTarget:
        return CostModelTarget(target, self)


def _inputs_key(enc: Any) -> bytes:
    """A digest of an encoded prompt's model inputs (token ids, pixels, masks): equal inputs, equal prefill."""
    h = hashlib.sha256()
    for name, t in sorted({"input_ids": enc.input_ids, **enc.extras}.items()):
        h.update(f"{name}{tuple(t.shape)}{t.dtype}".encode())
        h.update(t.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy().tobytes())
    return h.digest()



class CostModelTarget:
    """``target`` whose ``verify`` lasts at least ``cost.seconds(rows, tokens)``; all else is the target's."""

    def __init__(self, target: Any, cost: ForwardCost) -> None:
        self.inner = target
        self.cost = cost
        self.forwards = 0
        self.over_model = 0  # forwards whose real time exceeded the model's (the CPU, not the model, set them)
        self.prefills = 0
        self.prefills_cached = 0
        self.prefill_forwards = 0  # the target's prefill forwards (each of one or more prompts)
        self._prefilled: dict[tuple[object, ...], Any] = {}

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def open(self, prompt: Prompt, sampling: SamplingConfig = GREEDY, *, defer: bool = False) -> Any:
        return self.prefill(self.inner.model.encode(prompt), sampling, defer=defer)

    def prefill(self, enc: Any, sampling: SamplingConfig = GREEDY, *, defer: bool = False) -> Any:
        """``defer`` (not with ``cached``, which serves a prompt seen before without a forward anyway): the
        target's deferred prefill, no forward and no padding; its first ``verify`` is the one forward."""
        if defer and self.cost.prefill != "cached" and self.inner.fuses_exactly:
            self.prefills += 1
            return self.inner.prefill(enc, sampling, defer=True)
        return self.prefill_many([enc], [sampling])[0]

    def prefill_many(self, encs: Sequence[Any], samplings: Sequence[SamplingConfig] | None = None) -> list[Any]:
        """The target's prefill (one forward for all, at its real cost, at least ``a`` with ``floor``); ``cached``: the prompts not seen
        before prefill together, the others get a copy of their first prefill's cache (exact: same inputs)."""
        samplings = list(samplings) if samplings is not None else [GREEDY] * len(encs)
        self.prefills += len(encs)
        if self.cost.prefill != "cached":
            self.prefill_forwards += 1
            t0 = time.perf_counter()
            sessions = ([self.inner.prefill(encs[0], samplings[0])] if len(encs) == 1 else
                        list(self.inner.prefill_many(encs, samplings)))
            if self.cost.prefill == "floor":
                sleep_until(t0 + self.cost.a_s)  # one forward, however many prompts ride in it
            return sessions
        keys = [_inputs_key(enc) for enc in encs]
        new = {k: (enc, s) for k, enc, s in zip(keys, encs, samplings, strict=True) if k not in self._prefilled}
        if new:
            self.prefill_forwards += 1
            firsts = ([self.inner.prefill(*next(iter(new.values())))] if len(new) == 1 else
                      self.inner.prefill_many([e for e, _ in new.values()], [s for _, s in new.values()]))
            self._prefilled.update(zip(new, firsts, strict=True))
        self.prefills_cached += len(encs) - len(new)
        out = []
        for k, sampling in zip(keys, samplings, strict=True):
            first = self._prefilled[k]
            out.append(type(first)(copy.deepcopy(first.cache), first.pending, first.next_pos, sampling))
        return out

    def verify(self, sessions: Sequence[Any], drafts: Sequence[DraftBlock], *, on_early: Any = None,
               early_exit: bool = True) -> list[Verdict]:
        tokens = 1 + max((d.gamma for d in drafts), default=0)
        t = self.cost.seconds(len(sessions), tokens)
        t0 = time.perf_counter()
        num_layers = self.inner.model.num_layers

        def early(verdicts: list[Verdict]) -> None:
            sleep_until(t0 + t * verdicts[0].exit_layer / num_layers)
            on_early(verdicts)

        verdicts = self.inner.verify(sessions, drafts, on_early=early if on_early is not None else None,
                                     early_exit=early_exit)
        self.forwards += 1
        self.over_model += time.perf_counter() - t0 > t
        sleep_until(t0 + t)
        return verdicts

    def counters(self) -> dict[str, int]:
        return {"modelled_forwards": self.forwards, "over_model": self.over_model, "prefills": self.prefills,
                "prefills_cached": self.prefills_cached, "prefill_forwards": self.prefill_forwards}
