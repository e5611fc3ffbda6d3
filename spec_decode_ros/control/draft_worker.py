"""The draft node's worker (no ROS): one request at a time on a thread of its own, heartbeats in between.

The node feeds it the latest image, the instruction ("" pauses) and each ``motion/done``; the worker
waits until a request may start (``RequestGate``: the previous answer executed, an image captured
``settle`` after that, never longer than ``done_timeout_s``), then calls ``decode(request_id, image,
instruction)``. Between requests it pings the cloud every ``heartbeat_s``; what link status that makes
is ``LinkMonitor``'s to decide, and every update goes to ``publish_link``. A ping in flight is given up the moment
a request can start (a heartbeat never delays a camera frame's answer by a round trip). While the link is
unreachable, a request starts only after a ping got through.

Answers are tied to their instruction by id, not text: every ``new_instruction`` (even the same words
again) is a new task, and ``answer_current()`` says whether the request being answered still serves
the current one; the node publishes nothing more of an answer once it does not. ``hold(name, True)``
(the e-stop, an operator's lock) starts no new request until every hold is released, and makes the
answer under way not current either.

Two clocks, as the node has them: image stamps and ``done``'s and ``new_instruction``'s ``now_ns`` are ROS
time (``stamp_ns`` reads an image's), the rest runs on the monotonic ``clock``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Generic, Protocol, TypeVar

from spec_decode_ros.control.link_monitor import LinkMonitor, LinkUpdate
from spec_decode_ros.control.request_gate import RequestGate

ImageT = TypeVar("ImageT")
MIN_PING_TIMEOUT_S = 0.2


class Pinger(Protocol):
    """The cloud connection as the heartbeat uses it (``bridge.client.CloudClient``)."""

    def ping(self, timeout_s: float = ..., *, give_up: Callable[[], bool] | None = ...) -> bool | None: ...

    def reset(self) -> None: ...


class DraftWorker(Generic[ImageT]):
    """Request gating, heartbeats and link reports for the draft node; ``start()`` runs the thread."""

    def __init__(self, *, decode: Callable[[int, ImageT, str], bool], stamp_ns: Callable[[ImageT], int],
                 publish_link: Callable[[LinkUpdate | None], None], cloud: Pinger | None, instruction: str,
                 heartbeat_s: float, gate: RequestGate, wait_for_idle: bool = True,
                 warn: Callable[[str], None] = lambda _: None, clock: Callable[[], float] = time.monotonic,
                 on_rtt: Callable[[float], None] | None = None) -> None:
        """``decode`` answers one request and returns True when the answer is complete (then, with
        ``wait_for_idle``, the next request waits for its ``motion/done``); ``cloud`` None: no cloud (edge only);
        ``on_rtt``: each answered ping's round trip in seconds (mode auto's estimates)."""
        self._decode, self._stamp_ns, self._publish_link = decode, stamp_ns, publish_link
        self._cloud, self._warn, self._clock, self._on_rtt = cloud, warn, clock, on_rtt
        self.heartbeat_s, self.wait_for_idle = heartbeat_s, wait_for_idle
        self.link = LinkMonitor(heartbeat_s, clock=clock)  # the worker thread's (and decode's) only
        self._lock = threading.Condition()
        self._gate = gate  # guarded by _lock, as are the three below
        self._image: ImageT | None = None
        self.instruction = instruction
        self._running = True
        self._holds: set[str] = set()  # what keeps new requests from starting (e-stop, lock)
        self.instruction_id = 0  # bumped by every new instruction
        self._answering = 0  # the instruction id of the request being answered
        self.request_id = 0
        self._thread = threading.Thread(target=self._run, name="draft-worker", daemon=True)

    # --- inputs (any thread) ----------------------------------------------------------------------
    def image(self, image: ImageT) -> None:
        with self._lock:
            self._image = image
            self._lock.notify_all()

    def new_instruction(self, text: str, now_ns: int) -> None:
        """A new task (whatever its text) arrived at ``now_ns`` (ROS time): answer it on a fresh image only."""
        with self._lock:
            self.instruction = text.strip()
            self.instruction_id += 1
            self._gate.new_task(now_ns)
            self._lock.notify_all()

    def hold(self, name: str, on: bool) -> None:
        """Hold off new requests while ``name`` is on (the e-stop, a lock); released when every hold is off."""
        with self._lock:
            if on:
                self._holds.add(name)
            else:
                self._holds.discard(name)
            self._lock.notify_all()

    def answer_current(self) -> bool:
        """Does the request being answered still serve the current instruction, with nothing holding?"""
        with self._lock:
            return self._answering == self.instruction_id and not self._holds

    def done(self, request_id: int, now_ns: int) -> None:
        with self._lock:
            self._gate.done(request_id, now_ns)
            self._lock.notify_all()

    def start(self) -> None:
        self._thread.start()

    def is_alive(self) -> bool:
        return self._thread.is_alive()

    def close(self, timeout_s: float = 5.0) -> None:
        with self._lock:
            self._running = False
            self._lock.notify_all()
        if self._thread.is_alive():
            self._thread.join(timeout=timeout_s)

    # --- the worker thread ------------------------------------------------------------------------
    def _ready(self) -> bool:
        return (bool(self.instruction) and not self._holds and self._image is not None
                and self._gate.ready(self._stamp_ns(self._image), self._clock()))

    def next_request(self) -> tuple[ImageT, str] | None:
        """Block until a request can start (the image and instruction), or None when a heartbeat is due."""
        with self._lock:
            ready = self._lock.wait_for(self._stop_or_ready, timeout=self.heartbeat_s)
            if not ready or not self._running or self._image is None:
                return None
            given_up = self._gate.start(self._clock())
            if given_up is not None:
                self._warn(f"no motion/done for request {given_up} within {self._gate.done_timeout_s:.1f} s: "
                           "not waiting any longer")
            self._answering = self.instruction_id
            return self._image, self.instruction

    def _stop_or_ready(self) -> bool:
        """Something for the worker to do: stop, or start a request (call with the lock held)."""
        return not self._running or self._ready()

    def _request_waiting(self) -> bool:
        with self._lock:
            return self._stop_or_ready()

    def _run(self) -> None:
        self.heartbeat(yield_to_requests=True)
        while self._running:
            job = self.next_request()
            if job is None:
                if self._running:
                    self.heartbeat(yield_to_requests=not self.link.unreachable)
                continue
            if self.link.unreachable and not self.heartbeat():
                continue
            self.request_id += 1
            if self._decode(self.request_id, *job) and self.wait_for_idle:
                with self._lock:
                    self._gate.answer_sent(self.request_id, self._clock())

    def heartbeat(self, *, yield_to_requests: bool = False) -> bool:
        """Ping the cloud (a failed ping resets the connection) and report the link; True when it answered.
        ``yield_to_requests``: give the ping up, reporting nothing, as soon as a request can start."""
        if self._cloud is None:
            self._publish_link(self.link.no_cloud())
            return True
        timeout = max(self.heartbeat_s, MIN_PING_TIMEOUT_S)
        t0 = time.monotonic()
        ok = self._cloud.ping(timeout_s=timeout, give_up=self._request_waiting if yield_to_requests else None)
        if ok is None:
            return True  # given up for a request: no news about the link
        rtt_ms = (time.monotonic() - t0) * 1000
        if not ok:
            self._cloud.reset()
        elif self._on_rtt is not None:
            self._on_rtt(rtt_ms / 1000)
        self._publish_link(self.link.ping(ok, rtt_ms, timeout))
        return ok
