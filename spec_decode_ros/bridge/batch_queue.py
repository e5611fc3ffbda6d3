"""The cloud's batching queue: verification requests wait here until a batch is full or the oldest has waited
long enough; then one batched target forward serves them all (SLED-style). A batch that every live session has
already joined is full too: waiting longer could only delay it (a lone robot's DRAFT is verified at once).

A request is one session's DRAFT, or one step of an autoregressive session (``draft is None``). A
session has at most one request queued; ``max_batch=1`` is unbatched verification.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from spec_decode_ros.bridge.protocol import Draft

E = TypeVar("E")


@dataclass
class Request(Generic[E]):
    """One session's DRAFT (or autoregressive step); ``urgent``: served at the next batch, whoever else waits."""

    entry: E
    sid: str
    draft: Draft | None
    arrived: float = field(default_factory=time.monotonic)
    urgent: bool = False


class BatchQueue(Generic[E]):
    """FIFO of requests with a size bound per batch and a maximum wait for the oldest request. ``live`` counts
    the sessions that could still add a request (default: unknown, so a batch waits for ``max_batch``)."""

    def __init__(self, max_batch: int = 8, max_wait_s: float = 0.002, live: Callable[[], int] | None = None) -> None:
        if max_batch < 1 or max_wait_s < 0:
            raise ValueError(f"max_batch must be >= 1 and max_wait_s >= 0, got {max_batch}, {max_wait_s}")
        self.max_batch = max_batch
        self.max_wait_s = max_wait_s
        self._live = live
        self._queue: list[Request[E]] = []

    def __len__(self) -> int:
        return len(self._queue)

    def push(self, request: Request[E]) -> None:
        if any(r.sid == request.sid for r in self._queue):
            raise ValueError(f"session {request.sid!r} already has a queued request")
        self._queue.append(request)

    def deadline(self) -> float | None:
        """When the batch must be served (None: queue empty; the oldest arrival: the batch is already due)."""
        if not self._queue:
            return None
        oldest = self._queue[0].arrived
        if self._full() or any(r.urgent for r in self._queue[: self.max_batch]):
            return oldest
        return oldest + self.max_wait_s

    def ready(self, now: float) -> bool:
        deadline = self.deadline()
        return deadline is not None and now >= deadline

    def _full(self) -> bool:
        """max_batch requests, or one from each session that could send one (nobody else can join)."""
        limit = self.max_batch if self._live is None else min(self.max_batch, max(1, self._live()))
        return len(self._queue) >= limit

    def pop_batch(self) -> list[Request[E]]:
        batch, self._queue = self._queue[: self.max_batch], self._queue[self.max_batch:]
        return batch

    def drop(self, sid: str) -> bool:
        """Forget a session's queued request (closed, evicted); True if there was one."""
        n = len(self._queue)
        self._queue = [r for r in self._queue if r.sid != sid]
        return len(self._queue) != n
