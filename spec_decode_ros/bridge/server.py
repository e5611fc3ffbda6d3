"""The cloud verifier (``spec-decode cloud``): one ROUTER socket, one thread, many robots.

Each loop iteration drains the socket (bounded), answers what needs no model at once (PING, CLOSE, STATS,
every refused frame), prefills newly opened sessions, queues DRAFTs, and when the batching queue is ready
runs ONE batched ``EarlyExitTarget.verify`` over the queued sessions. The early verdicts go out from the
``on_early`` callback (same thread, inside the forward, before the remaining layers run); the final
verdicts after it. Autoregressive sessions (the cloud-AR baseline) join batches as γ=0 rows and get one
FINAL per token. A bad frame gets an ERROR and changes nothing; a session the server drops (idle expiry,
memory cap, a failed forward) gets ERROR ``evicted`` and resumes by re-opening with its committed tokens.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import zmq

from spec_decode_ros.bridge import protocol as p
from spec_decode_ros.bridge.batching import BatchQueue, Request
from spec_decode_ros.bridge.fingerprint import tokenizer_fingerprint
from spec_decode_ros.bridge.images import decode_jpeg
from spec_decode_ros.bridge.security import ServerSecurity, make_curve_server, start_authenticator
from spec_decode_ros.bridge.sessions import Limits, SessionEntry, SessionTable
from spec_decode_ros.bridge.sockets import bind_with_retry
from spec_decode_ros.decoding import precision
from spec_decode_ros.decoding.types import DraftBlock, Prompt, Verdict

if TYPE_CHECKING:
    from spec_decode_ros.decoding.early_exit import EarlyExitTarget

MAX_DRAIN = 1000  # frames handled per loop iteration before the queue gets a turn
MAX_ENVELOPE = 4


@dataclass(frozen=True)
class ServerConfig:
    """Where to listen and how to batch; ``max_batch=1`` is unbatched verification."""

    bind: str = "tcp://127.0.0.1:5555"
    max_batch: int = 8
    max_wait_s: float = 0.002
    limits: Limits = field(default_factory=Limits)
    security: ServerSecurity | None = None
    housekeeping_s: float = 0.5
    # emulation of a larger target (benchmarks): every forward lasts at least this long, its early verdict
    # goes out no sooner than the exit layer's share of it (0: off, the model's own time)
    forward_floor_s: float = 0.0


@dataclass
class ServerStats:
    busy_s: float = 0.0
    forwards: int = 0
    rows: int = 0
    tokens: int = 0
    errors: int = 0


class VerifierServer:
    """The cloud side. ``serve_forever()`` until ``stop()``; or ``step()`` for one iteration."""

    def __init__(self, target: EarlyExitTarget, config: ServerConfig = ServerConfig(), *,
                 context: zmq.Context | None = None) -> None:
        self.target = target
        self.config = config
        self.table = SessionTable(config.limits)
        self.queue: BatchQueue[SessionEntry] = BatchQueue(config.max_batch, config.max_wait_s)
        self.stats = ServerStats()
        tokenizer = target.model.tokenizer
        self._vocab_len = len(tokenizer)
        self._vocab_rows = target.model.vocab_size
        self._fingerprint = tokenizer_fingerprint(tokenizer)
        self._ctx = context or zmq.Context()
        self._own_ctx = context is None
        self._auth = None
        self.sock = self._ctx.socket(zmq.ROUTER)
        self.sock.linger = 0
        self.sock.setsockopt(zmq.MAXMSGSIZE, p.MAX_FRAME_BYTES)
        self.sock.setsockopt(zmq.SNDHWM, 10_000)
        self.sock.setsockopt(zmq.RCVHWM, 10_000)
        self.sock.setsockopt(zmq.HEARTBEAT_IVL, 1000)
        self.sock.setsockopt(zmq.HEARTBEAT_TIMEOUT, 5000)
        if config.security is not None:
            self._auth = start_authenticator(self._ctx, config.security.allow_dir)
            make_curve_server(self.sock, config.security)
        self.endpoint: str = bind_with_retry(self.sock, config.bind)
        self._stop = threading.Event()
        self._next_housekeeping = 0.0

    # ------------------------------------------------------------------------------------------ loop
    def serve_forever(self) -> None:
        while not self._stop.is_set():
            self.step()

    def stop(self) -> None:
        self._stop.set()

    def close(self) -> None:
        self.sock.close(0)
        if self._auth is not None:
            self._auth.stop()
        if self._own_ctx:
            self._ctx.term()

    def step(self, max_block_s: float = 0.1) -> None:
        """Wait for frames (at most until the batch deadline), handle them, run a ready batch, housekeeping."""
        now = time.monotonic()
        deadline = self.queue.deadline()
        timeout = max_block_s if deadline is None else max(0.0, min(max_block_s, deadline - now))
        if self.sock.poll(int(timeout * 1000)):
            for _ in range(MAX_DRAIN):
                try:
                    frames = self.sock.recv_multipart(zmq.NOBLOCK, copy=False)
                except zmq.Again:
                    break
                self._handle(frames)
        if self.queue.ready(time.monotonic()):
            self._run_batch(self.queue.pop_batch())
        if time.monotonic() >= self._next_housekeeping:
            self._housekeeping()

    # ------------------------------------------------------------------------------------------ frames
    def _send(self, route: Sequence[bytes], msg: p.Message) -> None:
        try:
            self.sock.send_multipart([*route, p.encode(msg)], zmq.NOBLOCK)
        except zmq.ZMQError:
            pass  # robot gone or its queue full: it will time out and resume

    def _refuse(self, route: Sequence[bytes], err: p.ProtocolError) -> None:
        self.stats.errors += 1
        self._send(route, p.Error.from_error(err))

    def _handle(self, frames: list[zmq.Frame]) -> None:
        route = [f.bytes for f in frames[:-1]]
        payload = frames[-1]
        if not route or len(route) > MAX_ENVELOPE or any(len(r) > 256 for r in route):
            self.stats.errors += 1
            return  # cannot be answered safely
        data = payload.bytes
        try:
            msg = p.decode(data)
        except p.ProtocolError as e:
            e.session, e.round = p.session_of(data)
            self._refuse(route, e)
            return
        try:
            owner: str | None = payload.get("User-Id") if self.config.security is not None else None
        except zmq.ZMQError:
            owner = None
        try:
            self._dispatch(msg, route, owner)
        except p.ProtocolError as e:
            self._refuse(route, e)
        except Exception as e:  # a bug or a model failure must not take the server down
            session = getattr(msg, "session", "")
            self._refuse(route, p.ProtocolError(p.ErrorCode.INTERNAL, f"{type(e).__name__}: {e}"[:500],
                                                session=session))

    def _dispatch(self, msg: p.Message, route: list[bytes], owner: str | None) -> None:
        if isinstance(msg, p.Draft):
            entry = self.table.check_draft(msg, owner, self._vocab_rows)
            entry.route, entry.last_active = route, time.monotonic()
            entry.in_flight = True
            entry.next_round += 1
            self.queue.push(Request(entry, entry.sid, msg))
        elif isinstance(msg, p.Open):
            self._open(msg, route, owner)
        elif isinstance(msg, p.Ping):
            self._send(route, p.Pong(sent=msg.sent, sessions=len(self.table)))
        elif isinstance(msg, p.Close):
            entry = self.table.get(msg.session, owner)
            self._drop(entry)
            self._send(route, p.Closed(session=msg.session))
        elif isinstance(msg, p.StatsRequest):
            s = self.stats
            self._send(route, p.Stats(busy_s=s.busy_s, forwards=s.forwards, rows=s.rows, tokens=s.tokens,
                                      errors=s.errors, sessions=len(self.table), memory_bytes=self.table.memory_bytes()))
            if msg.reset:
                self.stats = ServerStats()
        else:
            raise p.ProtocolError(p.ErrorCode.UNSUPPORTED, f"'{msg.TAG}' is sent by the cloud, not to it",
                                  session=getattr(msg, "session", ""))

    def _open(self, msg: p.Open, route: list[bytes], owner: str | None) -> None:
        def refuse(code: p.ErrorCode, reason: str) -> p.ProtocolError:
            return p.ProtocolError(code, reason, session=msg.session)

        if msg.vocab_size and msg.vocab_size != self._vocab_len:
            raise refuse(p.ErrorCode.TOKENIZER_MISMATCH,
                         f"robot tokenizer has {msg.vocab_size} tokens, the target's has {self._vocab_len}")
        if msg.tokenizer_hash and msg.tokenizer_hash != self._fingerprint:
            raise refuse(p.ErrorCode.TOKENIZER_MISMATCH, "robot tokenizer differs from the target's (fingerprint)")
        bad = [t for t in msg.committed if t >= self._vocab_rows]
        if bad:
            raise refuse(p.ErrorCode.BAD_TOKEN, f"committed token {bad[0]} is outside the vocabulary")
        image = None
        if msg.image_jpeg:
            if not self.target.model.is_vlm:
                raise refuse(p.ErrorCode.UNSUPPORTED, f"target {self.target.model.name} is a text model: send no image")
            image = decode_jpeg(msg.image_jpeg)
        old = self.table.check_open(msg, owner)
        if old is not None:
            self._drop(old)
        for victim in self.table.over_memory():
            self._evict(victim, "KV memory cap reached")
        t0 = time.perf_counter()
        session = self.target.open(Prompt(text=msg.text, image=image, system=msg.system), msg.sampling)
        try:
            resumed = self._resume(session, msg)
        except Exception:
            self.target.close(session)
            raise
        self._pad(t0, self.config.forward_floor_s)
        busy = time.perf_counter() - t0
        self.stats.busy_s += busy  # prefill is cloud work too; ``forwards`` counts verifications only
        entry = SessionEntry(sid=msg.session, route=route, owner=owner, target=session, request=msg)
        self.table.add(entry)
        self._send(route, p.Opened(session=msg.session, target=self.target.model.name,
                                   exit_layers=tuple(self.target.exit_layers) if msg.early_exit else (),
                                   resumed=resumed, prefill_s=busy))
        if msg.autoregressive and not entry.done:
            entry.in_flight = True
            self.queue.push(Request(entry, entry.sid, None, arrived=time.monotonic() - self.queue.max_wait_s))

    def _resume(self, session: Any, msg: p.Open) -> int:
        """Rebuild the target's state for tokens the robot already committed (after a restart or eviction)."""
        committed = list(msg.committed)
        if not committed:
            return 0
        resume = getattr(self.target, "resume", None)
        if resume is not None:  # the engine's own, when it has one
            resume(session, committed)
        else:
            resume_session(self.target, session, committed)
        return len(committed)

    # ------------------------------------------------------------------------------------------ batches
    @staticmethod
    def _pad(t0: float, floor_s: float) -> None:
        """Sleep until ``floor_s`` after ``t0`` (``forward_floor_s`` emulation; nothing when already later)."""
        left = t0 + floor_s - time.perf_counter()
        if left > 0:
            time.sleep(left)

    def _run_batch(self, batch: list[Request[SessionEntry]]) -> None:
        batch = [r for r in batch if r.sid in self.table and self.table.get(r.sid, r.entry.owner) is r.entry]
        if not batch:
            return
        drafts = [r.draft.to_block() if r.draft is not None else DraftBlock(tokens=()) for r in batch]
        wants_early = [r.draft is not None and r.entry.request.early_exit for r in batch]
        use_early = any(wants_early) and bool(self.target.exit_layers)
        started = time.monotonic()

        def on_early(verdicts: list[Verdict]) -> None:
            self._pad(t0, self.config.forward_floor_s * verdicts[0].exit_layer / self.target.model.num_layers)
            for r, v, want in zip(batch, verdicts, wants_early, strict=True):
                if want:
                    self._send(r.entry.route, p.Early(session=r.sid, round=r.draft.round, n=v.n_accepted,
                                                      y=v.next_token, confidence=float(v.confidence),
                                                      exit_layer=int(v.exit_layer)))

        t0 = time.perf_counter()
        try:
            verdicts = self.target.verify([r.entry.target for r in batch], drafts,
                                          on_early=on_early if use_early else None, early_exit=use_early)
            self._pad(t0, self.config.forward_floor_s)
        except Exception as e:
            self.stats.busy_s += time.perf_counter() - t0
            for r in batch:  # their target state is unknown now: drop them; robots resume from what they hold
                self._evict(r.entry, f"verification failed: {type(e).__name__}: {e}"[:300])
            return
        busy = time.perf_counter() - t0
        self.stats.busy_s += busy
        self.stats.forwards += 1
        self.stats.rows += len(batch)
        now = time.monotonic()
        for r, v in zip(batch, verdicts, strict=True):
            entry = r.entry
            entry.in_flight = False
            entry.last_active = now
            self.stats.tokens += v.n_accepted + 1
            if r.draft is None:  # autoregressive step: the round is the token index
                rnd = entry.next_round
                entry.next_round += 1
            else:
                rnd = r.draft.round
            self._send(entry.route, p.Final(session=entry.sid, round=rnd, n=v.n_accepted, y=v.next_token,
                                            finished=entry.done, busy_s=busy, batch=len(batch),
                                            queued_s=max(0.0, started - r.arrived)))
            if r.draft is None and not entry.done:
                entry.in_flight = True
                self.queue.push(Request(entry, entry.sid, None, arrived=now - self.queue.max_wait_s))
        for victim in self.table.over_memory(keep={r.sid for r in batch}):
            self._evict(victim, "KV memory cap reached")

    # ------------------------------------------------------------------------------------------ upkeep
    def _drop(self, entry: SessionEntry) -> None:
        self.queue.drop(entry.sid)
        self.table.remove(entry.sid)
        self.target.close(entry.target)

    def _evict(self, entry: SessionEntry, reason: str) -> None:
        self._drop(entry)
        self._send(entry.route, p.Error(session=entry.sid, round=-1, code=p.ErrorCode.EVICTED.value,
                                        reason=f"{reason}; re-open with the committed tokens to resume"))

    def _housekeeping(self) -> None:
        now = time.monotonic()
        self._next_housekeeping = now + self.config.housekeeping_s
        for entry in self.table.expired(now):
            self._evict(entry, f"idle for more than {self.config.limits.idle_timeout_s} s")


def resume_session(target: EarlyExitTarget, session: Any, committed: Sequence[int]) -> None:
    """Feed [pending, committed[:-1]] into a freshly opened session's KV cache in one forward, so that it holds
    prompt + committed tokens with committed[-1] pending: the state the lost session had. Exact for greedy
    and sampling alike (no acceptance rule involved)."""
    import torch

    if session.generated:
        raise ValueError("resume_session needs a freshly opened session")
    model = target.model.model
    tokens = [session.pending, *committed[:-1]]
    with torch.inference_mode():
        ids = torch.tensor([tokens], device=model.device)
        pos = session.next_pos + torch.arange(len(tokens), device=model.device)[None]
        model(input_ids=ids, position_ids=pos, cache=session.cache, use_cache=True, logits_to_keep=1)
    session.generated.extend(int(t) for t in committed)
    session.pending = int(committed[-1])
    session.next_pos += len(tokens)
    session.finished = session.pending in target.model.eos_token_ids


# ---------------------------------------------------------------------------------------------- command


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="spec-decode cloud", description="Run the cloud verifier on ZeroMQ.")
    ap.add_argument("--model", required=True,
                    help="target model folder (exit adapters beside it are loaded), 'embedded' for the bundled Go2 "
                         "VLM target, or 'smollm2' for the zoo's target")
    ap.add_argument("--bind", default="tcp://0.0.0.0:5555", help="ZeroMQ endpoint to bind (default %(default)s)")
    ap.add_argument("--max-batch", type=int, default=8, help="rows per batched verification (1: unbatched)")
    ap.add_argument("--max-wait-ms", type=float, default=2.0, help="longest a DRAFT waits for its batch to fill")
    ap.add_argument("--emulate-forward-ms", type=float, default=0.0,
                    help="benchmarks: pad every target forward to at least this long (its early verdict to the exit "
                         "layer's share), emulating a large target on a GPU, where a forward over a few tokens "
                         "costs about as much as over one (0: off)")
    ap.add_argument("--max-sessions", type=int, default=64)
    ap.add_argument("--idle-timeout-s", type=float, default=300.0)
    ap.add_argument("--memory-cap-mb", type=float, default=4096.0, help="cap on all sessions' KV caches")
    ap.add_argument("--secret-key", type=Path, default=None, help="the cloud's .key_secret (turns CURVE on)")
    ap.add_argument("--allow-dir", type=Path, default=None, help="folder of allowed robot public *.key files")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    ap.add_argument("--cpus", default="", help="pin the process to these CPUs, e.g. '1' or '0,1'")
    precision.add_arguments(ap)
    ap.add_argument("--replicas", type=int, default=0,
                    help="serve with N verifier replicas as Ray actors behind one front (0: this process alone)")
    ap.add_argument("--ray-address", default="", help="with --replicas: join this Ray cluster (default: a local one)")
    return ap


def resolve_target_path(name: str) -> str:
    if name == "smollm2":
        from spec_decode_ros.decoding.zoo import smollm2_target_path

        return str(smollm2_target_path())
    if name == "embedded":
        from spec_decode_ros.embedded import default_target_path

        return str(default_target_path())
    return name


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if (args.secret_key is None) != (args.allow_dir is None):
        print("spec-decode cloud: --secret-key and --allow-dir go together (CURVE needs both)", file=sys.stderr)
        return 2
    if args.replicas < 0 or (args.ray_address and not args.replicas):
        print("spec-decode cloud: --replicas must be >= 1 to serve a fleet (--ray-address needs it)", file=sys.stderr)
        return 2
    if args.replicas > 0:
        from spec_decode_ros.fleet.serve import serve_fleet

        return serve_fleet(args)
    if args.cpus:
        os.sched_setaffinity(0, {int(c) for c in args.cpus.split(",")})
    import torch

    from spec_decode_ros.decoding.early_exit import EarlyExitTarget

    if args.threads:
        torch.set_num_threads(args.threads)
    target = EarlyExitTarget.from_pretrained(resolve_target_path(args.model), dtype=args.dtype, device=args.device)
    security = ServerSecurity(args.secret_key, args.allow_dir) if args.secret_key else None
    config = ServerConfig(bind=args.bind, max_batch=args.max_batch, max_wait_s=args.max_wait_ms / 1000.0,
                          limits=Limits(args.max_sessions, args.idle_timeout_s, int(args.memory_cap_mb * 2**20)),
                          security=security, forward_floor_s=args.emulate_forward_ms / 1000.0)
    server = VerifierServer(target, config)
    signal.signal(signal.SIGTERM, lambda *_: server.stop())
    signal.signal(signal.SIGINT, lambda *_: server.stop())
    print(f"spec-decode cloud: {target.model.name} (exit layers {list(target.exit_layers)}) on {server.endpoint}, "
          f"batch {config.max_batch}, wait {args.max_wait_ms} ms, CURVE {'on' if security else 'off'}", flush=True)
    try:
        server.serve_forever()
    finally:
        server.close()
    return 0
