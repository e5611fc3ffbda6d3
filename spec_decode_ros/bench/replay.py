"""Emulated robots for the fleet benchmark: the real draft model's greedy blocks, recorded once, replayed.

Greedy drafting is deterministic given the tokens before it, so the draft is recorded as a table per prompt:
generated-token prefix → the draft's next token. ``DraftTable.record`` walks the draft's greedy chain from
every prefix of the target's own answer (each committed prefix a robot can hold) far enough for a block and
its pre-draft; a prefix the replay meets that was not recorded (an early verdict that disagreed with the
target sends pre-drafting elsewhere) is filled from the real draft on the spot and counted (``misses``).
``ReplayDraftSession`` is a ``DraftSession`` look-alike that reads the table and spends an emulated cost per
drafted token (a robot computer's, as ``bench.emulation.PacedDraftSession``); ``ReplayEdgeSession`` is the
robot's real ``EdgeSession`` (real sockets, protocol, resume, and the same ``RoundMachine`` deciding each round) with
that session as its draft.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from spec_decode_ros.bench.emulation import sleep_until
from spec_decode_ros.bridge.client import CloudClient
from spec_decode_ros.bridge.edge import EdgeConfig, EdgeSession
from spec_decode_ros.decoding.types import DraftBlock, Prompt


@dataclass(frozen=True)
class DraftStandIn:
    """What ``EdgeSession`` needs of a draft model besides drafting: its tokenizer and end tokens."""

    tokenizer: Any
    eos_token_ids: tuple[int, ...]


class DraftTable:
    """Per prompt: generated-token prefix → the draft's greedy next token."""

    def __init__(self, draft: Any, prompts: Sequence[Prompt]) -> None:
        self.draft = draft
        self.prompts = tuple(prompts)
        self.stand_in = DraftStandIn(draft.tokenizer, tuple(draft.eos_token_ids))
        self.next: list[dict[tuple[int, ...], int]] = [{} for _ in self.prompts]
        self._sessions: list[Any] = [None] * len(self.prompts)
        self._lock = threading.Lock()
        self.misses = 0
        self.record_s = 0.0

    def _session(self, i: int) -> Any:
        if self._sessions[i] is None:
            from spec_decode_ros.decoding.draft import DraftSession

            self._sessions[i] = DraftSession(self.draft, self.prompts[i])
        return self._sessions[i]

    def _chain(self, i: int, prefix: tuple[int, ...], length: int) -> None:
        block = self._session(i).draft(length, after=prefix)
        seq = prefix
        for tok in block.tokens:
            self.next[i][seq] = tok
            seq = (*seq, tok)

    def record(self, references: Sequence[Sequence[int]], length: int) -> DraftTable:
        """The greedy chain of ``length`` tokens from every prefix of each prompt's reference answer."""
        t0 = time.perf_counter()
        for i, ref in enumerate(references):
            for k in range(len(ref) + 1):
                self._chain(i, tuple(ref[:k]), length)
        self.record_s = time.perf_counter() - t0
        return self

    def lookup(self, i: int, prefix: tuple[int, ...]) -> int:
        tok = self.next[i].get(prefix)
        if tok is not None:
            return tok
        with self._lock:
            if prefix not in self.next[i]:
                self.misses += 1
                self._chain(i, prefix, 1)
            return self.next[i][prefix]

    @property
    def size(self) -> int:
        return sum(len(t) for t in self.next)


class ReplayDraftSession:
    """``DraftSession``'s interface (``commit``, ``draft``, ``next_token``) over a ``DraftTable``."""

    def __init__(self, table: DraftTable, prompt_index: int, token_floor_s: float = 0.0) -> None:
        self.table = table
        self.index = prompt_index
        self.token_floor_s = token_floor_s
        self.eos = set(table.stand_in.eos_token_ids)
        self.generated: list[int] = []
        self.prefill_s = 0.0  # a recorded table needs no prefill
        self.busy_s = 0.0

    def commit(self, tokens: Sequence[int]) -> None:
        self.generated.extend(int(t) for t in tokens)

    def draft(self, gamma: int, *, after: Sequence[int] = (),
              should_stop: Callable[[], bool] | None = None) -> DraftBlock:
        start = time.perf_counter()
        seq = (*self.generated, *(int(t) for t in after))
        tokens: list[int] = []
        for i in range(gamma):
            if i > 0 and should_stop is not None and should_stop():
                break
            tok = self.table.lookup(self.index, (*seq, *tokens))
            tokens.append(tok)
            sleep_until(start + len(tokens) * self.token_floor_s)
            if tok in self.eos:
                break
        seconds = time.perf_counter() - start
        self.busy_s += seconds
        return DraftBlock(tuple(tokens), tuple(int(t) for t in after), None, None, seconds)

    def next_token(self) -> int:
        start = time.perf_counter()
        tok = self.table.lookup(self.index, tuple(self.generated))
        self.commit([tok])
        sleep_until(start + self.token_floor_s)
        self.busy_s += time.perf_counter() - start
        return tok


class ReplayEdgeSession(EdgeSession):
    """The robot's ``EdgeSession`` drafting from a ``DraftTable`` (greedy only) instead of a model, each drafted
    token costing at least ``token_s`` seconds."""

    def __init__(self, client: CloudClient, table: DraftTable, prompt_index: int, config: EdgeConfig,
                 token_s: float = 0.0, **kwargs: Any) -> None:
        if config.sampling.do_sample:
            raise ValueError("replayed drafts are greedy: sampling needs the real draft model")
        replay = ReplayDraftSession(table, prompt_index, token_s)
        super().__init__(client, table.stand_in, table.prompts[prompt_index], config,  # type: ignore[arg-type]
                         new_draft=lambda *_: replay, **kwargs)  # type: ignore[arg-type,return-value]

    @property
    def session_id(self) -> str:
        """The cloud session id in use now (a fresh one after each resume)."""
        return self._sid
