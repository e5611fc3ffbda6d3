"""The cloud verifier (``spec-decode cloud``): one ROUTER socket, one thread, many robots.

Each loop iteration drains the socket (bounded, and cut short when a batch is ready), answers what needs no
model at once (PING, CLOSE, STATS, every refused frame), queues DRAFTs, runs ONE batched
``EarlyExitTarget.verify`` over the queued sessions when the batching queue is ready, and then runs at most
ONE forward for opening sessions. An OPEN's image decoding and prompt encoding (processor, tokenizer,
context-length check) run on a worker thread beside the loop; its prefill (and resume) forward runs on the loop:
a batched verifier prefills every OPEN encoded by then in that one forward (up to the batch cap; the resumes
waiting likewise), so a DRAFT never waits for more than one forward of others' OPENs. A fresh OPEN (no committed
tokens) is, with ``fuse_first_round``, answered at once with no forward: its prefill is deferred into its first
verification (the robot's first DRAFT, or cloud_ar's first step), which then runs alone as ONE forward over prompt +
block, so the answer's first round costs one forward, not two (float32 targets only: ``EarlyExitTarget.fuses_exactly``).
Frames a connection sends behind its OPEN wait, in order, until that OPEN is answered. The early verdicts go out from the
``on_early`` callback (same thread, inside the forward, before the remaining layers run); the final
verdicts after it. Autoregressive sessions (the cloud-AR baseline) join batches as γ=0 rows and get one
FINAL per token. An OPEN that names a grammar (``grammar``/``grammar_hash``) gets its target session masked with
that grammar (``decoding.constraint``), its matcher built over the committed tokens (a resume continues where
the lost session was); a grammar the cloud does not serve is refused (``grammar_mismatch``). A bad frame gets an
ERROR and changes nothing; a session the server drops (idle expiry,
memory cap, a failed forward) gets ERROR ``evicted`` and resumes by re-opening with its committed tokens.

Secure by default: plaintext on a non-loopback endpoint is refused unless ``insecure_plaintext`` says so
(``spec-decode cloud --keys DIR`` turns CURVE on); a session belongs to its CURVE key, or without CURVE to the
connection that opened it; per peer the socket queues few frames (``router.RCVHWM``) of at most ``MAX_FRAME_BYTES``;
a peer that floods it with refused frames is silenced and cut off for a while (``flood_guard``; with CURVE its
key is refused at the handshake meanwhile, so none of its frames is read). A key removed from the allow-list
folder loses its sessions and connections within one housekeeping tick and is refused at its next handshake.

What happens is reported through ``events`` (``service.events.VerifierEvents``: one call per event, which logs
it and moves the Prometheus metrics). The command that builds and runs a server is ``spec_decode_ros.cloud``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import zmq

from spec_decode_ros.bridge import protocol as p
from spec_decode_ros.bridge.batch_queue import BatchQueue, Request
from spec_decode_ros.bridge.connections import ConnectionBook, cut_connection, peer_address
from spec_decode_ros.bridge.fingerprint import tokenizer_fingerprint
from spec_decode_ros.bridge.flood_guard import FloodGuard, FloodLimits
from spec_decode_ros.bridge.images import check_jpeg_size, decode_jpeg
from spec_decode_ros.bridge.memory import fix_mmap_threshold
from spec_decode_ros.bridge.opening import Opening, Stage
from spec_decode_ros.bridge.router import RobotRouter
from spec_decode_ros.bridge.security import (
    AllowList,
    ServerSecurity,
    check_bind_security,
)
from spec_decode_ros.bridge.sessions import Limits, SessionEntry, SessionTable
from spec_decode_ros.decoding.sampling import validate
from spec_decode_ros.decoding.types import DraftBlock, Prompt, Verdict
from spec_decode_ros.decoding.vocab import first_outside
from spec_decode_ros.service.events import VerifierEvents

if TYPE_CHECKING:
    from spec_decode_ros.decoding.constraint import GrammarConstraint
    from spec_decode_ros.decoding.early_exit import EarlyExitTarget
    from spec_decode_ros.decoding.models import EncodedPrompt

MAX_DRAIN = 1000  # frames handled per loop iteration before the queue gets a turn
MAX_ENVELOPE = 4
SNDHWM = 1000  # frames queued to a peer that does not read before further ones are dropped
MAX_PARKED = 8  # frames a connection may send behind its unanswered OPEN; more get ERROR busy
MAX_PARKED_BYTES = 256 * 1024  # and bytes (a robot parks a DRAFT or a PING there, not images)
ENCODE_POLL_S = 0.001  # how often the loop looks for finished encodings while some are under way
PREFIX_CHARS_PER_TOKEN = 8  # a text longer than this many characters per context position is measured by a prefix


@dataclass(frozen=True)
class ServerConfig:
    """Where to listen and how to batch; ``max_batch=1`` is unbatched verification."""

    bind: str = "tcp://127.0.0.1:5555"
    max_batch: int = 8
    max_wait_s: float = 0.002
    limits: Limits = field(default_factory=Limits)
    security: ServerSecurity | None = None
    insecure_plaintext: bool = False  # allow plaintext on a non-loopback endpoint (anyone can drive the robots)
    flood: FloodLimits | None = field(default_factory=FloodLimits)  # None: no flood guard
    housekeeping_s: float = 0.5
    # a fresh session's prefill rides in its first verification's forward (one forward, not two, before the first
    # command); off: each OPEN is prefilled on its own (several together in one forward, ``_prefill_together``)
    fuse_first_round: bool = True
    label: str = ""  # names this verifier in its logs (a fleet replica's "replica 1")


@dataclass
class ServerStats:
    busy_s: float = 0.0
    forwards: int = 0
    rows: int = 0
    tokens: int = 0
    errors: int = 0
    dropped: int = 0  # frames of penalised peers, dropped unread (flood guard)


class VerifierServer:
    """The cloud side. ``serve_forever()`` until ``stop()``; or ``step()`` for one iteration."""

    def __init__(self, target: EarlyExitTarget, config: ServerConfig = ServerConfig(), *,
                 context: zmq.Context | None = None) -> None:
        self.target = target
        self.config = config
        self.table = SessionTable(config.limits)
        self.queue: BatchQueue[SessionEntry] = BatchQueue(config.max_batch, config.max_wait_s,
                                                          live=lambda: sum(not e.done for e in self.table))
        self.stats = ServerStats()
        self._allow: AllowList | None = None
        self.events = VerifierEvents(lambda: len(self.table), name_of=lambda key: (
            None if self._allow is None else self._allow.name(key)), label=config.label)
        self._connections: ConnectionBook[str | None] = ConnectionBook()
        self._reload_keys = threading.Event()
        tokenizer = target.model.tokenizer
        self._vocab_len = len(tokenizer)
        self._vocab_rows = target.model.vocab_size
        self._context_length = target.model.context_length
        self._fingerprint = tokenizer_fingerprint(tokenizer)
        self._constraint, self._grammar_error = self._compile_grammar()
        check_bind_security(config.bind, secure=config.security is not None, insecure_ok=config.insecure_plaintext)
        fix_mmap_threshold()  # frames of a few MB must not grow the heap for good
        self._opening: dict[tuple[bytes, ...], Opening] = {}  # by connection, in arrival order
        self.flood_guard = FloodGuard(config.flood) if config.flood is not None else None
        self._encoder = ThreadPoolExecutor(max_workers=1, thread_name_prefix="open-encode")
        self._ctx = context or zmq.Context()
        self._own_ctx = context is None
        guard = self.flood_guard  # a penalised key is refused at its handshake: none of its frames is read
        refuse = None if guard is None else (lambda key: guard.penalised(key, time.monotonic()))
        self._router = RobotRouter(self._ctx, config.bind, config.security, sndhwm=SNDHWM, refuse=refuse)
        self.sock = self._router.sock
        self._allow = self._router.allow
        self.endpoint: str = self._router.endpoint
        self._stop = threading.Event()
        self._next_housekeeping = 0.0

    # ------------------------------------------------------------------------------------------ loop
    def serve_forever(self) -> None:
        while not self._stop.is_set():
            self.step()

    def stop(self) -> None:
        self._stop.set()

    def reload_keys(self) -> None:
        """Re-read the allow-list folder at the next housekeeping tick (SIGHUP; safe from any thread)."""
        self._reload_keys.set()

    def close(self) -> None:
        self._encoder.shutdown(wait=True, cancel_futures=True)
        self._router.close()
        if self._own_ctx:
            self._ctx.term()

    def step(self, max_block_s: float = 0.1) -> None:
        """Wait for frames (at most until the batch deadline), handle them, run a ready batch, housekeeping."""
        now = time.monotonic()
        deadline = self.queue.deadline()
        timeout = max_block_s if deadline is None else max(0.0, min(max_block_s, deadline - now))
        if self._opening:
            ready = any(o.can_move() for o in self._opening.values())
            timeout = 0.0 if ready else min(timeout, ENCODE_POLL_S)
        if self.sock.poll(int(timeout * 1000)):
            for _ in range(MAX_DRAIN):
                try:
                    frames = self.sock.recv_multipart(zmq.NOBLOCK, copy=False)
                except zmq.Again:
                    break
                self._handle(frames)
                if self.queue.ready(time.monotonic()):
                    break  # the batch's robots wait no longer than it takes to read one frame
        if self.queue.ready(time.monotonic()):
            self._run_batch(self.queue.pop_batch())
        if self._opening:
            self._advance_openings()
        if time.monotonic() >= self._next_housekeeping:
            self._housekeeping()

    # ------------------------------------------------------------------------------------------ frames
    def _send(self, route: Sequence[bytes], msg: p.Message) -> None:
        self._router.send(route, msg)

    def _refuse(self, route: Sequence[bytes], err: p.ProtocolError) -> None:
        self.stats.errors += 1
        self.events.error_sent(err.code.value, err.reason, self._peer(route), err.session)
        self._send(route, p.Error.from_error(err))

    def _peer(self, route: Sequence[bytes]) -> str:
        return self._connections.peer(route)

    def _handle(self, frames: list[zmq.Frame]) -> None:
        route = [f.bytes for f in frames[:-1]]
        payload = frames[-1]
        if not route or len(route) > MAX_ENVELOPE or any(len(r) > 256 for r in route):
            self.stats.errors += 1
            self.events.unanswerable("?", f"routing envelope of {len(route)} frames")
            return  # cannot be answered safely
        owner = self._owner(route, payload)
        if self._revoked(owner):
            self.stats.dropped += 1  # a key revoked since its handshake: unread, unanswered, cut
            cut_connection(payload)
            return
        if route not in self._connections:
            self._connected(tuple(route), owner, payload)
        guard, peer = self.flood_guard, owner or ".".join(r.hex() for r in route)
        if guard is not None and guard.penalised(peer, time.monotonic()):
            self.stats.dropped += 1  # unread, unanswered
            self._cut(peer, route, payload)
            return
        errors = self.stats.errors
        self._receive(route, payload.buffer, owner)
        if guard is not None and self.stats.errors > errors and guard.refused(peer, len(payload), time.monotonic()):
            self.events.flood_penalty(self._peer(route), guard.limits.backoff_s)
            self._cut(peer, route, payload)

    def _connected(self, key: tuple[bytes, ...], owner: str | None, payload: zmq.Frame) -> None:
        """The first frame of a connection: remember it (to name it in the logs and cut it if its key is revoked)."""
        address = peer_address(payload)
        self._connections.add(key, owner, self.events.peer(owner, address), payload)
        self.events.frame(key, owner, address)

    def _revoked(self, owner: str | None) -> bool:
        """Is ``owner`` a robot's CURVE key no longer in the allow-list?"""
        security = self.config.security
        return (self._allow is not None and security is not None and not security.relay and owner is not None
                and not self._allow.allows(owner))

    def _cut(self, peer: str, route: list[bytes], payload: zmq.Frame) -> None:
        """Cut the connection of a penalised peer, once per connection (libzmq stops reading its bytes)."""
        assert self.flood_guard is not None
        if self.flood_guard.should_cut(peer, tuple(route)):
            cut_connection(payload)

    def _owner(self, route: list[bytes], payload: zmq.Frame) -> str | None:
        """Who owns the sessions this frame opens: its CURVE key; without CURVE, its connection (routing envelope)."""
        if self.config.security is None:
            return "conn:" + ".".join(r.hex() for r in route)
        try:
            return payload.get("User-Id")
        except zmq.ZMQError:
            return None

    def _receive(self, route: list[bytes], data: bytes | memoryview, owner: str | None) -> None:
        """Handle one frame now, or park it behind its connection's unanswered OPEN (order kept)."""
        opening = self._opening.get(tuple(route))
        if opening is not None:
            held = sum(len(d) for d, _ in opening.parked) + len(data)
            if len(opening.parked) < MAX_PARKED and held <= MAX_PARKED_BYTES:
                opening.parked.append((bytes(data), owner))
                return
            session, round_number = p.session_of(data)
            self._refuse(route, p.ProtocolError(p.ErrorCode.BUSY, f"more than {MAX_PARKED} frames or "
                                                f"{MAX_PARKED_BYTES} bytes sent behind an OPEN that is not answered "
                                                "yet", session=session, round=round_number))
            return
        try:
            msg = p.decode_to_answer(data)
        except p.ProtocolError as e:
            self._refuse(route, e)
            return
        try:
            self._dispatch(msg, route, owner)
        except p.ProtocolError as e:
            self._refuse(route, e)
        except Exception as e:  # a bug or a model failure must not take the server down
            err = _internal_error(e)
            err.session = getattr(msg, "session", "")
            self._refuse(route, err)

    def _dispatch(self, msg: p.Message, route: list[bytes], owner: str | None) -> None:
        if isinstance(msg, p.Draft):
            entry = self.table.check_draft(msg, owner, self._vocab_rows)
            entry.route, entry.last_active = route, time.monotonic()
            entry.in_flight = True
            entry.next_round += 1
            self.queue.push(Request(entry, entry.sid, msg))
        elif isinstance(msg, p.Open):
            self._start_opening(msg, route, owner)
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
            # read only: a robot may not zero the operator's counters (``reset`` is ignored; metrics are the record)
        else:
            raise p.ProtocolError(p.ErrorCode.UNSUPPORTED, f"'{msg.TAG}' is sent by the cloud, not to it",
                                  session=getattr(msg, "session", ""))

    def _start_opening(self, msg: p.Open, route: list[bytes], owner: str | None) -> None:
        """The checks an OPEN needs no model for and its admission (``SessionTable.admit``, the one check of the
        limits), then its encoding goes to the worker; ``_advance_openings`` takes it from there."""
        def refuse(code: p.ErrorCode, reason: str) -> p.ProtocolError:
            return p.ProtocolError(code, reason, session=msg.session)

        if msg.vocab_size and msg.vocab_size != self._vocab_len:
            raise refuse(p.ErrorCode.TOKENIZER_MISMATCH,
                         f"robot tokenizer has {msg.vocab_size} tokens, the target's has {self._vocab_len}")
        if msg.tokenizer_hash and msg.tokenizer_hash != self._fingerprint:
            raise refuse(p.ErrorCode.TOKENIZER_MISMATCH, "robot tokenizer differs from the target's (fingerprint)")
        bad = first_outside(msg.committed, self._vocab_rows)
        if bad is not None:
            raise refuse(p.ErrorCode.BAD_TOKEN, f"committed token {bad} is outside the vocabulary")
        if len(msg.committed) > msg.max_new_tokens:
            raise refuse(p.ErrorCode.BAD_FIELD, f"{len(msg.committed)} committed tokens exceed max_new_tokens "
                         f"{msg.max_new_tokens}")
        self._check_grammar(msg)
        try:
            validate(msg.sampling)
        except ValueError as e:
            raise refuse(p.ErrorCode.BAD_FIELD, str(e)) from None
        if msg.image_jpeg:
            if not self.target.model.is_vlm:
                raise refuse(p.ErrorCode.UNSUPPORTED, f"target {self.target.model.name} is a text model: send no image")
            check_jpeg_size(msg.image_jpeg)  # header only; refused here, before the worker decodes anything
        admission = self.table.admit(msg, owner)
        self._opening[tuple(route)] = Opening(msg, route, owner, admission, self._encoder.submit(self._encode, msg))

    def _compile_grammar(self) -> tuple[GrammarConstraint | None, str]:
        """The command grammar compiled for the target's tokenizer, at start (not on the loop at a robot's first
        OPEN); a tokenizer it cannot read leaves it off, and OPENs that ask for it are refused with the reason."""
        from spec_decode_ros.decoding.constraint import GrammarConstraint

        try:
            return GrammarConstraint.for_model(self.target.model), ""
        except ValueError as e:
            return None, str(e)

    def _grammar(self) -> GrammarConstraint:
        assert self._constraint is not None  # _check_grammar refused the OPEN otherwise
        return self._constraint

    def _check_grammar(self, msg: p.Open) -> None:
        """An OPEN's grammar must be the one this cloud serves (name and hash), and its committed tokens inside it."""
        if not msg.grammar and not msg.grammar_hash:
            return
        from spec_decode_ros.decoding.constraint import GRAMMAR_NAME, grammar_hash

        if (msg.grammar, msg.grammar_hash) != (GRAMMAR_NAME, grammar_hash()):
            raise p.ProtocolError(p.ErrorCode.GRAMMAR_MISMATCH, f"robot constrains with grammar {msg.grammar!r} "
                                  f"(hash {msg.grammar_hash!r}); this cloud serves {GRAMMAR_NAME!r} (hash "
                                  f"{grammar_hash()!r}): update one side, or open with constrain none",
                                  session=msg.session)
        if self._constraint is None:
            raise p.ProtocolError(p.ErrorCode.UNSUPPORTED, f"this cloud cannot constrain its target: "
                                  f"{self._grammar_error}", session=msg.session)
        try:
            self._grammar().matcher(msg.committed)
        except ValueError as e:
            raise p.ProtocolError(p.ErrorCode.BAD_TOKEN, str(e), session=msg.session) from None

    def _encode(self, msg: p.Open) -> EncodedPrompt:
        """Worker thread: decode the image, run the processor/tokenizer, check the context length. No forward.
        A long text is first measured by a prefix (cut at a space, so no word's tokens change): when that alone
        is over the context the OPEN is refused without tokenizing the rest or touching the image."""
        room = self._context_length - msg.max_new_tokens
        for name, text in (("text", msg.text), ("system", msg.system or "")):
            cut = text.rfind(" ", 0, PREFIX_CHARS_PER_TOKEN * self._context_length)
            if cut > 0 and len(text) > PREFIX_CHARS_PER_TOKEN * self._context_length:
                n = len(self.target.model.tokenizer(text[:cut], add_special_tokens=False)["input_ids"])
                if n > room:
                    raise self._too_long(msg, f"the first {cut} characters of its {name} are {n} tokens")
        image = decode_jpeg(msg.image_jpeg) if msg.image_jpeg else None
        enc = self.target.model.encode(Prompt(text=msg.text, image=image, system=msg.system))
        if enc.length > room:
            raise self._too_long(msg, f"prompt is {enc.length} tokens")
        return enc

    def _too_long(self, msg: p.Open, what: str) -> p.ProtocolError:
        return p.ProtocolError(p.ErrorCode.TOO_LONG, f"{what}; with max_new_tokens {msg.max_new_tokens} that exceeds "
                               f"the target's context of {self._context_length}", session=msg.session)

    # ------------------------------------------------------------------------------------------ openings
    def _advance_openings(self) -> None:
        """Finished encodings make their openings ENCODED (or FAILED); then the oldest openings that can move do,
        up to ONE forward (a prefill or a resume, which takes the other openings ready for one into the same forward:
        ``_prefill_together``, ``_resume_together``); the answered ones are forgotten last, and the frames parked
        behind them handled, in order, after the openings have been gone through."""
        for o in self._opening.values():
            if o.stage is Stage.ENCODING and o.encoding.done():
                error = o.encoding.exception()
                if error is None:
                    o.prompt = o.encoding.result()
                    self._move(o, Stage.ENCODED)
                else:
                    self._move(o, Stage.FAILED, error)
        for o in list(self._opening.values()):
            if o.stage in (Stage.ENCODED, Stage.PREFILLED) and (
                    self._prefill_together(o) or self._resume_together(o) or self._forward_one(o)):
                break
        self._forget_answered()

    def _move(self, o: Opening, to: Stage, error: BaseException | None = None) -> None:
        """The one transition of an opening (``Opening.move`` checks it), with what entering ``to`` does: OPENED
        hands the session to the table and answers OPENED; FAILED answers ``error`` (a ProtocolError as it is, any
        other as INTERNAL) and closes the target session it had."""
        o.move(to)
        if to is Stage.OPENED:
            self._hand_over(o)
        elif to is Stage.FAILED:
            assert error is not None, "an opening fails with its error"
            err = error if isinstance(error, p.ProtocolError) else _internal_error(error)
            err.session = o.msg.session
            self._refuse(o.route, err)
            if o.session is not None:
                self.target.close(o.session)

    def _forget_answered(self) -> None:
        """Forget the answered openings (their admissions end) and handle the frames parked behind each (in order;
        a parked OPEN parks the frames after it again)."""
        answered = [(key, o) for key, o in self._opening.items() if o.answered]
        for key, o in answered:
            del self._opening[key]
            self.table.withdraw(o.admission)
        for _, o in answered:
            for data, owner in o.parked:
                self._receive(o.route, data, owner)

    def _forward_one(self, o: Opening) -> bool:
        """Move ``o`` on by its own prefill or resume; True if that ran a forward (a deferred prefill runs none, a
        failed one lets the next opening move)."""
        if o.stage is Stage.PREFILLED:
            return self._forward([o], lambda: self.target.resume(o.session, o.msg.committed))
        defer = self._defers(o)

        def prefill() -> None:
            o.session = self.target.prefill(o.prompt, o.msg.sampling, defer=defer)

        return self._forward([o], prefill) and not defer

    def _prefill_together(self, first: Opening) -> bool:
        """Prefill ``first`` and the other ENCODED openings whose inputs batch with its (``EncodedPrompt.batch_key``),
        up to ``max_batch``, in ONE forward (``prefill_many``); False (nothing done) when fewer than two are ready,
        when ``first``'s prefill is deferred or when verification is unbatched. Those with committed tokens are then
        PREFILLED: their resume comes in a later iteration."""
        if self.config.max_batch < 2 or first.stage is not Stage.ENCODED or self._defers(first):
            return False
        key = first.prompt.batch_key()
        group = [o for o in self._opening.values() if o.stage is Stage.ENCODED and not self._defers(o)
                 and o.prompt.batch_key() == key][: self.config.max_batch]
        if len(group) < 2:
            return False

        def prefill() -> None:
            sessions = self.target.prefill_many([o.prompt for o in group], [o.msg.sampling for o in group])
            for o, session in zip(group, sessions, strict=True):
                o.session = session

        self._forward(group, prefill)
        return True

    def _resume_together(self, first: Opening) -> bool:
        """Resume ``first`` and the other PREFILLED openings, up to ``max_batch``, in ONE forward (``resume_many``)
        and answer them OPENED; False (nothing done) when fewer than two wait or when verification is unbatched."""
        if self.config.max_batch < 2 or first.stage is not Stage.PREFILLED:
            return False
        group = [o for o in self._opening.values() if o.stage is Stage.PREFILLED][: self.config.max_batch]
        if len(group) < 2:
            return False
        self._forward(group, lambda: self.target.resume_many([o.session for o in group],
                                                              [list(o.msg.committed) for o in group]))
        return True

    def _forward(self, group: list[Opening], run: Callable[[], None]) -> bool:
        """Run ONE forward (``run``: a prefill or a resume) for the openings in ``group``, room made first for the sessions a
        prefill makes, then move each on: a prefill with committed tokens to PREFILLED, the rest to OPENED; each robot
        waited for the whole forward. On a failure each opening fails with the error (False): a bug or a model failure
        must not take the server down."""
        try:
            for o in group:
                if o.stage is Stage.ENCODED:
                    self._make_room(o)
            t0 = time.perf_counter()
            run()
        except Exception as e:
            for o in group:
                self._move(o, Stage.FAILED, e)
            return False
        elapsed = time.perf_counter() - t0
        self.stats.busy_s += elapsed  # prefill is cloud work too; ``forwards`` counts verifications
        for o in group:
            o.busy_s += elapsed
            self._move(o, Stage.PREFILLED if o.stage is Stage.ENCODED and o.msg.committed else Stage.OPENED)
        return True

    def _defers(self, o: Opening) -> bool:
        """Whether an opening's prefill is deferred into its first verification (``fuse_first_round``): a fresh
        session on a target whose fused forward is exact; resumes keep the plain path."""
        return self.config.fuse_first_round and not o.msg.committed and bool(self.target.fuses_exactly)

    def _make_room(self, o: Opening) -> None:
        """Just before an opening's session is made: drop the sessions its admission claimed (same id, its client's
        oldest over the limit) and evict the least recently used ones over the KV memory cap."""
        for gone in self.table.displaced(o.admission):
            self._drop(gone, "replaced")
        for victim in self.table.over_memory():
            self._evict(victim, "KV memory cap reached")

    def _hand_over(self, o: Opening) -> None:
        """An opening's session joins the table; OPENED answers it (an autoregressive one queues its first step)."""
        msg = o.msg
        if msg.grammar:  # checked at the OPEN (name, hash, committed tokens): cannot fail here
            self.target.constrain(o.session, self._grammar())
        entry = SessionEntry(sid=msg.session, route=o.route, owner=o.owner, target=o.session, request=msg)
        self.table.add(entry)
        self.events.opened(msg.session, self._peer(o.route), resumed=len(msg.committed), prefill_s=o.busy_s,
                           autoregressive=msg.autoregressive, early_exit=msg.early_exit)
        self._send(o.route, p.Opened(session=msg.session, target=self.target.model.name,
                                     exit_layers=tuple(self.target.exit_layers) if msg.early_exit else (),
                                     resumed=len(msg.committed), prefill_s=o.busy_s,
                                     eos_token_ids=tuple(sorted(self.target.model.eos_token_ids))))
        if msg.autoregressive and not entry.done:
            entry.in_flight = True
            self.queue.push(Request(entry, entry.sid, None, urgent=True))

    # ------------------------------------------------------------------------------------------ batches
    def _run_batch(self, batch: list[Request[SessionEntry]]) -> None:
        """One batched forward over the queued rows; a session whose prefill was deferred then gets a forward of
        its own (prompt + its first block: it has no cache to batch with the others')."""
        batch = [r for r in batch if r.sid in self.table and self.table.get(r.sid, r.entry.owner) is r.entry]
        first = [r for r in batch if getattr(r.entry.target, "deferred", None) is not None]
        rest = [r for r in batch if getattr(r.entry.target, "deferred", None) is None]
        for rows in ([rest] if rest else []) + [[r] for r in first]:
            self._verify(rows)

    def _verify(self, batch: list[Request[SessionEntry]]) -> None:
        """ONE ``EarlyExitTarget.verify`` over ``batch``: EARLY from inside the forward, then the FINALs."""
        drafts = [r.draft.to_block() if r.draft is not None else DraftBlock(tokens=()) for r in batch]
        wants_early = [r.draft is not None and r.entry.request.early_exit for r in batch]
        use_early = any(wants_early) and bool(self.target.exit_layers)
        started = time.monotonic()
        early: list[tuple[int, int] | None] = [None] * len(batch)

        def on_early(verdicts: list[Verdict]) -> None:
            for i, (r, v, want) in enumerate(zip(batch, verdicts, wants_early, strict=True)):
                if want:
                    early[i] = (v.n_accepted, v.next_token)
                    self._send(r.entry.route, p.Early(session=r.sid, round=r.draft.round, **p.verdict_fields(v),
                                                      confidence=float(v.confidence), exit_layer=int(v.exit_layer)))

        t0 = time.perf_counter()
        try:
            verdicts = self.target.verify([r.entry.target for r in batch], drafts,
                                          on_early=on_early if use_early else None, early_exit=use_early)
        except Exception as e:
            self.stats.busy_s += time.perf_counter() - t0
            for r in batch:  # their target state is unknown now: drop them; robots resume from what they hold
                self._evict(r.entry, f"verification failed: {type(e).__name__}: {e}"[:300])
            return
        busy = time.perf_counter() - t0
        self.stats.busy_s += busy
        self.stats.forwards += 1
        self.stats.rows += len(batch)
        self.events.verified(len(batch), busy)
        now = time.monotonic()
        for i, (r, v) in enumerate(zip(batch, verdicts, strict=True)):
            entry = r.entry
            entry.in_flight = False
            entry.last_active = now
            self.stats.tokens += v.n_accepted + 1
            if r.draft is None:  # autoregressive step: the round is the token index
                round_number = entry.next_round
                entry.next_round += 1
            else:
                round_number = r.draft.round
            self._send(entry.route, p.Final(session=entry.sid, round=round_number, **p.verdict_fields(v),
                                            finished=entry.done, busy_s=busy, batch=len(batch),
                                            queued_s=max(0.0, started - r.arrived)))
            self.events.row(entry.sid, drafted=len(drafts[i].tokens), accepted=v.n_accepted if r.draft else 0,
                            early=early[i], final=(v.n_accepted, v.next_token),
                            queue_wait_s=max(0.0, started - r.arrived), round_s=time.monotonic() - r.arrived)
            if r.draft is None and not entry.done:
                entry.in_flight = True
                self.queue.push(Request(entry, entry.sid, None, arrived=now, urgent=True))
        for victim in self.table.over_memory(keep={r.sid for r in batch}):
            self._evict(victim, "KV memory cap reached")

    # ------------------------------------------------------------------------------------------ upkeep
    def _drop(self, entry: SessionEntry, reason: str = "closed") -> None:
        self.queue.drop(entry.sid)
        self.table.remove(entry.sid)
        self.target.close(entry.target)
        self.events.closed(entry.sid, reason)

    def _evict(self, entry: SessionEntry, reason: str) -> None:
        self._drop(entry, "evicted: " + reason)
        self._send(entry.route, p.Error(session=entry.sid, round=-1, code=p.ErrorCode.EVICTED.value,
                                        reason=f"{reason}; re-open with the committed tokens to resume"))

    def _housekeeping(self) -> None:
        now = time.monotonic()
        self._next_housekeeping = now + self.config.housekeeping_s
        if self.flood_guard is not None:
            self.flood_guard.expire(now)
        for entry in self.table.expired(now):
            self._evict(entry, f"idle for more than {self.config.limits.idle_timeout_s} s")
        if self._allow is not None:
            reload = self._reload_keys.is_set()
            self._reload_keys.clear()
            if self._allow.reload() if reload else self._allow.refresh():
                self.events.keys_reloaded(len(self._allow.keys))
                self._cut_revoked()

    def _cut_revoked(self) -> None:
        """Drop the sessions of keys no longer allowed and cut their connections (no answer: they get nothing)."""
        gone: dict[str, int] = {}
        for entry in self.table:
            if self._revoked(entry.owner):
                self._drop(entry, "key revoked")
                gone[entry.owner or ""] = gone.get(entry.owner or "", 0) + 1
        for owner in self._connections.cut(self._revoked):
            gone.setdefault(owner or "", 0)
        for owner, n in gone.items():
            self.events.revoked(self.events.peer(owner, None), n)


def _internal_error(e: BaseException) -> p.ProtocolError:
    """A bug or a model failure, as the ERROR the robot gets (the server goes on)."""
    return p.ProtocolError(p.ErrorCode.INTERNAL, f"{type(e).__name__}: {e}"[:500])
