"""Link emulation: a transparent ZeroMQ proxy that delays every frame like a slow network link would.

Robots connect their DEALER to the proxy's ROUTER front; the proxy's DEALER connects to the cloud's
ROUTER. Each direction is a FIFO: a message (all its frames) first waits for the link to be free
(bandwidth: ``bytes * 8 / bandwidth_bps`` seconds of transmission, one message after another), then
travels ``delay_s`` ± ``jitter_s`` (uniform), and is delivered no earlier than its due time and never
before a message sent earlier in the same direction (in order, as TCP would). The cloud sees one extra
routing frame (the robot's identity), which its ROUTER handles as an ordinary envelope. Against a CURVE
cloud the proxy is the authenticated client (``back_security``); the robot–proxy hop is then local.

Runs as a thread (``LinkEmulator``) or a process (``run_link`` / ``LinkProcess``) for benchmarks.
"""

from __future__ import annotations

import math
import multiprocessing as mp
import random
import threading
import time
from collections import deque
from dataclasses import dataclass

import zmq

from spec_decode_ros.bridge.security import ClientSecurity, make_curve_client
from spec_decode_ros.bridge.sockets import bind_with_retry
from spec_decode_ros.start_stop import StartStop


@dataclass(frozen=True)
class LinkProfile:
    """One-way delay and jitter in seconds, bandwidth in bit/s (0: unlimited), seed for the jitter draws."""

    delay_s: float = 0.0
    jitter_s: float = 0.0
    bandwidth_bps: float = 0.0
    seed: int = 0

    def __post_init__(self) -> None:
        if not (self.delay_s >= 0 and self.jitter_s >= 0 and self.bandwidth_bps >= 0):
            raise ValueError(f"link delay, jitter and bandwidth must be >= 0, got {self}")
        if self.jitter_s > self.delay_s:
            raise ValueError(f"jitter {self.jitter_s} s must not exceed the delay {self.delay_s} s")

    @property
    def rtt_s(self) -> float:
        return 2.0 * self.delay_s

    @classmethod
    def from_rtt_ms(cls, rtt_ms: float, jitter_ms: float = 0.0, bandwidth_mbps: float = 0.0, seed: int = 0) -> LinkProfile:
        return cls(delay_s=rtt_ms / 2000.0, jitter_s=jitter_ms / 1000.0, bandwidth_bps=bandwidth_mbps * 1e6, seed=seed)


class _Direction:
    """The queue of one direction: (due time, frames), due times non-decreasing."""

    def __init__(self, profile: LinkProfile, rng: random.Random) -> None:
        self.profile = profile
        self.rng = rng
        self.queue: deque[tuple[float, list[bytes]]] = deque()
        self.link_free_at = 0.0
        self.last_due = 0.0

    def push(self, frames: list[bytes], now: float) -> None:
        p = self.profile
        start = max(now, self.link_free_at)
        if p.bandwidth_bps > 0:
            start += sum(len(f) for f in frames) * 8.0 / p.bandwidth_bps
        self.link_free_at = start
        latency = p.delay_s + (self.rng.uniform(-p.jitter_s, p.jitter_s) if p.jitter_s > 0 else 0.0)
        due = max(start + max(latency, 0.0), self.last_due)
        self.last_due = due
        self.queue.append((due, frames))

    def next_due(self) -> float:
        return self.queue[0][0] if self.queue else math.inf


class LinkEmulator(StartStop):
    """The proxy as a thread. ``front`` is bound (``tcp://127.0.0.1:0`` picks a port; see ``front_endpoint``),
    ``back`` is the cloud's endpoint. Use as a context manager or ``start()``/``stop()``."""

    def __init__(self, front: str, back: str, profile: LinkProfile, *, context: zmq.Context | None = None,
                 back_security: ClientSecurity | None = None) -> None:
        self.profile = profile
        self._ctx = context or zmq.Context.instance()
        self._front = self._ctx.socket(zmq.ROUTER)
        self._front.linger = 0
        self.front_endpoint: str = bind_with_retry(self._front, front)
        self._back = self._ctx.socket(zmq.DEALER)
        self._back.linger = 0
        if back_security is not None:  # the proxy authenticates to a CURVE cloud with its own key
            make_curve_client(self._back, back_security)
        self._back.connect(back)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="link-emulator", daemon=True)
        rng = random.Random(profile.seed)
        self._up = _Direction(profile, rng)  # robot -> cloud
        self._down = _Direction(profile, rng)  # cloud -> robot
        self.forwarded = [0, 0]  # messages delivered up, down

    def start(self) -> LinkEmulator:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
        self._front.close(0)
        self._back.close(0)

    def _run(self) -> None:
        poller = zmq.Poller()
        poller.register(self._front, zmq.POLLIN)
        poller.register(self._back, zmq.POLLIN)
        while not self._stop.is_set():
            now = time.monotonic()
            wait = min(self._up.next_due(), self._down.next_due()) - now
            timeout_ms = 50 if math.isinf(wait) else max(0, min(50, math.ceil(wait * 1000)))
            events = dict(poller.poll(timeout_ms))
            now = time.monotonic()
            if self._front in events:
                self._drain(self._front, self._up, now)
            if self._back in events:
                self._drain(self._back, self._down, now)
            self._deliver(self._up, self._back, 0)
            self._deliver(self._down, self._front, 1)

    @staticmethod
    def _drain(sock: zmq.Socket, direction: _Direction, now: float) -> None:
        while True:
            try:
                frames = sock.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                return
            direction.push(frames, now)

    def _deliver(self, direction: _Direction, sock: zmq.Socket, index: int) -> None:
        now = time.monotonic()
        while direction.queue and direction.queue[0][0] <= now:
            _, frames = direction.queue.popleft()
            try:
                sock.send_multipart(frames, zmq.NOBLOCK)
                self.forwarded[index] += 1
            except zmq.ZMQError:
                pass  # peer gone or queue full: a lossy link drops it, as the network would


def run_link(front: str, back: str, profile: LinkProfile, ready: mp.synchronize.Event | None = None,
             stop: mp.synchronize.Event | None = None) -> None:
    """Process entry point: run the proxy until ``stop`` is set (or forever)."""
    link = LinkEmulator(front, back, profile, context=zmq.Context()).start()
    if ready is not None:
        ready.set()
    try:
        while stop is None or not stop.wait(0.2):
            pass
    finally:
        link.stop()


class LinkProcess:
    """The proxy in its own process, so it does not compete with the robot's Python thread for the GIL."""

    def __init__(self, front: str, back: str, profile: LinkProfile) -> None:
        if front.endswith(":0") or front.endswith(":*"):
            raise ValueError("a link process needs a fixed front port (the parent must know it)")
        ctx = mp.get_context("spawn")
        self.front_endpoint = front
        self._ready = ctx.Event()
        self._stop = ctx.Event()
        self._proc = ctx.Process(target=run_link, args=(front, back, profile, self._ready, self._stop), daemon=True)

    def __enter__(self) -> LinkProcess:
        self._proc.start()
        if not self._ready.wait(30):
            self._proc.kill()
            raise RuntimeError("link emulator process did not start within 30 s")
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._proc.join(5)
        if self._proc.is_alive():
            self._proc.kill()


def main(argv: list[str] | None = None) -> int:
    """``python -m spec_decode_ros.bench.link --front EP --back EP --rtt-ms MS``: the proxy as a command (the demo
    puts it between the draft node and a local cloud); prints READY once it listens, runs until SIGTERM/SIGINT."""
    import argparse
    import signal

    ap = argparse.ArgumentParser(prog="python -m spec_decode_ros.bench.link", description=main.__doc__)
    ap.add_argument("--front", required=True, help="where robots connect (a loopback endpoint)")
    ap.add_argument("--back", required=True, help="the cloud's endpoint")
    ap.add_argument("--rtt-ms", type=float, required=True)
    ap.add_argument("--jitter-ms", type=float, default=0.0)
    ap.add_argument("--bandwidth-mbps", type=float, default=0.0, help="0: unlimited")
    args = ap.parse_args(argv)
    profile = LinkProfile.from_rtt_ms(args.rtt_ms, args.jitter_ms, args.bandwidth_mbps)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    with LinkEmulator(args.front, args.back, profile):
        print(f"READY link {args.front} -> {args.back}, RTT {args.rtt_ms} ms", flush=True)
        stop.wait()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
