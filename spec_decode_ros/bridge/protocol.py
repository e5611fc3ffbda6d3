"""Wire protocol between robot (DEALER) and cloud (ROUTER): versioned msgpack frames, one dataclass per message.

Every frame is one msgpack map ``{"v": PROTOCOL_VERSION, "t": <type tag>, <fields>}``. ``decode`` checks
the version, the type tag, the exact set of fields, each field's type and bounds, and raises
``ProtocolError(code, reason)`` for anything else; it never returns a half-valid message. Checks that need
server state (known session, round order, committed length, vocabulary range) live in ``sessions.py``.

Positions count *generated* tokens only (see ``decoding/types.py``). Message flow of one session::

    robot                                   cloud
    OPEN(session, prompt, image JPEG, …) ─▶
                                         ◀─ OPENED(session, exit layers, …)
    DRAFT(session, round, committed, d) ─▶
                                         ◀─ EARLY(session, round, n_ee, y_ee, confidence)   (if asked)
                                         ◀─ FINAL(session, round, n, y, server timings)
    …
    CLOSE(session)                      ─▶
                                         ◀─ CLOSED(session)

A session opened with ``autoregressive=True`` is the cloud-autoregressive baseline: the cloud generates
by itself and streams one FINAL (n=0, y) per token. PING/PONG is the heartbeat, STATS reads (and
optionally resets) the server's counters, ERROR answers any bad frame.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field, fields
from enum import StrEnum
from typing import Any, ClassVar

import msgpack
import numpy as np

from spec_decode_ros.decoding.types import DraftBlock, SamplingConfig

PROTOCOL_VERSION = 1

MAX_IMAGE_BYTES = 2 * 1024 * 1024  # a 1280×720 camera JPEG is 0.1–0.4 MB
MAX_TEXT_CHARS = 16 * 1024
MAX_GAMMA = 64
MAX_TOP_K = 1024
MAX_NEW_TOKENS = 4096
# the largest legitimate frame, an OPEN: image + text and system prompt (UTF-8: at most 4 bytes a character) +
# committed token ids (at most 5 bytes each) + room for the other fields. Also the server socket's MAXMSGSIZE:
# libzmq drops a larger frame (and its connection) before any of it reaches Python.
MAX_FRAME_BYTES = MAX_IMAGE_BYTES + 2 * 4 * MAX_TEXT_CHARS + 5 * MAX_NEW_TOKENS + 64 * 1024
# bounded work per frame: at most this many msgpack objects, containers at most this deep (the envelope map,
# and inside it flat lists/maps: ``committed``, ``tokens``, ``sampling``); checked from the headers alone
MAX_OBJECTS = MAX_NEW_TOKENS + 256
MAX_DEPTH = 2
MAX_TOKEN_ID = 2**31 - 1
MAX_ROUND = 2**31 - 1
SESSION_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")


class ErrorCode(StrEnum):
    """Why a frame was refused. Robots react to the code; the reason is for humans."""

    BAD_FRAME = "bad_frame"  # not msgpack, not a map, too many objects or too deep, too large
    BAD_VERSION = "bad_version"
    UNKNOWN_TYPE = "unknown_type"
    BAD_FIELD = "bad_field"  # missing, unexpected, wrong type or out of bounds
    BAD_IMAGE = "bad_image"
    UNKNOWN_SESSION = "unknown_session"
    NOT_OWNER = "not_owner"  # session belongs to another client (CURVE key, or connection without CURVE)
    BAD_ROUND = "bad_round"  # out of order, or a round already in flight
    BAD_LENGTH = "bad_length"  # committed length disagrees with the server's
    BAD_TOKEN = "bad_token"  # token id outside the target's vocabulary
    TOKENIZER_MISMATCH = "tokenizer_mismatch"
    SESSION_LIMIT = "session_limit"  # the server's, or this client's, session limit
    TOO_LONG = "too_long"  # prompt tokens + max_new_tokens exceed the target's context length
    BUSY = "busy"  # too many frames waiting behind this connection's OPEN, or too many OPENs waiting
    MEMORY_LIMIT = "memory_limit"
    EVICTED = "evicted"  # dropped by the server (idle expiry, memory cap): re-open to resume
    FINISHED = "finished"  # the session already ended (EOS or max_new_tokens)
    UNSUPPORTED = "unsupported"
    INTERNAL = "internal"


class ProtocolError(ValueError):
    """A frame or request the server refuses; ``code`` is an ``ErrorCode``, ``reason`` says what was wrong."""

    def __init__(self, code: ErrorCode, reason: str, *, session: str = "", round: int = -1) -> None:
        super().__init__(f"{code.value}: {reason}")
        self.code = code
        self.reason = reason
        self.session = session
        self.round = round


# --------------------------------------------------------------------------------------------- field checks


def _bad(name: str, what: str) -> ProtocolError:
    return ProtocolError(ErrorCode.BAD_FIELD, f"field {name!r} {what}")


def _int(d: dict[str, Any], name: str, lo: int, hi: int) -> int:
    v = d[name]
    if isinstance(v, bool) or not isinstance(v, int):
        raise _bad(name, f"must be an integer, got {type(v).__name__}")
    if not lo <= v <= hi:
        raise _bad(name, f"must be in [{lo}, {hi}], got {v}")
    return v


def _float(d: dict[str, Any], name: str, lo: float, hi: float) -> float:
    v = d[name]
    if isinstance(v, bool) or not isinstance(v, int | float):
        raise _bad(name, f"must be a number, got {type(v).__name__}")
    v = float(v)
    if not math.isfinite(v) or not lo <= v <= hi:
        raise _bad(name, f"must be finite and in [{lo}, {hi}], got {v}")
    return v


def _bool(d: dict[str, Any], name: str) -> bool:
    v = d[name]
    if not isinstance(v, bool):
        raise _bad(name, f"must be a boolean, got {type(v).__name__}")
    return v


def _str(d: dict[str, Any], name: str, max_len: int, *, optional: bool = False) -> str | None:
    v = d[name]
    if v is None and optional:
        return None
    if not isinstance(v, str):
        raise _bad(name, f"must be a string, got {type(v).__name__}")
    if len(v) > max_len:
        raise _bad(name, f"is longer than {max_len} characters ({len(v)})")
    return v


def _bytes(d: dict[str, Any], name: str, max_len: int) -> bytes:
    v = d[name]
    if not isinstance(v, bytes):
        raise _bad(name, f"must be binary, got {type(v).__name__}")
    if len(v) > max_len:
        raise _bad(name, f"is larger than {max_len} bytes ({len(v)})")
    return v


def _session(d: dict[str, Any], name: str = "session", *, allow_empty: bool = False) -> str:
    v = _str(d, name, 64)
    assert v is not None
    if allow_empty and v == "":
        return v
    if not SESSION_ID.match(v):
        raise _bad(name, "must be 1-64 characters of [A-Za-z0-9_.:-]")
    return v


def _tokens(d: dict[str, Any], name: str, max_len: int) -> tuple[int, ...]:
    v = d[name]
    if not isinstance(v, list):
        raise _bad(name, f"must be a list of token ids, got {type(v).__name__}")
    if len(v) > max_len:
        raise _bad(name, f"has {len(v)} tokens, more than {max_len}")
    for i, t in enumerate(v):
        if isinstance(t, bool) or not isinstance(t, int) or not 0 <= t <= MAX_TOKEN_ID:
            raise _bad(name, f"item {i} is not a token id in [0, {MAX_TOKEN_ID}]: {t!r}")
    return tuple(v)


def _ints(d: dict[str, Any], name: str, max_len: int, lo: int, hi: int) -> tuple[int, ...]:
    v = d[name]
    if not isinstance(v, list) or len(v) > max_len:
        raise _bad(name, f"must be a list of at most {max_len} integers")
    for t in v:
        if isinstance(t, bool) or not isinstance(t, int) or not lo <= t <= hi:
            raise _bad(name, f"must hold integers in [{lo}, {hi}], got {t!r}")
    return tuple(v)


# --------------------------------------------------------------------------------------------- messages


@dataclass(frozen=True)
class Message:
    """Base of all messages; ``TAG`` is the wire type tag."""

    TAG: ClassVar[str] = ""

    def to_wire(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_wire(cls, d: dict[str, Any]) -> Message:  # pragma: no cover - every subclass overrides
        raise NotImplementedError


def _sampling_to_wire(s: SamplingConfig) -> dict[str, Any]:
    return {"do_sample": s.do_sample, "temperature": s.temperature, "top_k": s.top_k, "top_p": s.top_p,
            "seed": s.seed}


def _sampling_from_wire(v: Any) -> SamplingConfig:
    if not isinstance(v, dict):
        raise _bad("sampling", "must be a map")
    _exact_keys(v, ("do_sample", "temperature", "top_k", "top_p", "seed"), "sampling.")
    return SamplingConfig(do_sample=_bool(v, "do_sample"), temperature=_float(v, "temperature", 1e-4, 100.0),
                          top_k=_int(v, "top_k", 0, 1_000_000), top_p=_float(v, "top_p", 1e-6, 1.0),
                          seed=_int(v, "seed", 0, 2**63 - 1))


@dataclass(frozen=True)
class Open(Message):
    """Open (or resume) a session: prompt, optional JPEG image, sampling, and the tokens already committed.

    ``committed`` non-empty resumes a session the server lost (restart, eviction): the server rebuilds its
    KV cache for prompt + committed. ``vocab_size``/``tokenizer_hash`` describe the robot's tokenizer
    (0 / "" skip the check).
    """

    TAG: ClassVar[str] = "open"
    session: str
    text: str
    system: str | None = None
    image_jpeg: bytes = b""
    sampling: SamplingConfig = SamplingConfig()
    early_exit: bool = True
    autoregressive: bool = False
    max_new_tokens: int = 64
    committed: tuple[int, ...] = ()
    vocab_size: int = 0
    tokenizer_hash: str = ""

    def to_wire(self) -> dict[str, Any]:
        d = super().to_wire()
        d["sampling"] = _sampling_to_wire(self.sampling)
        d["committed"] = list(self.committed)
        return d

    @classmethod
    def from_wire(cls, d: dict[str, Any]) -> Open:
        return cls(session=_session(d), text=_str(d, "text", MAX_TEXT_CHARS) or "",
                   system=_str(d, "system", MAX_TEXT_CHARS, optional=True),
                   image_jpeg=_bytes(d, "image_jpeg", MAX_IMAGE_BYTES), sampling=_sampling_from_wire(d["sampling"]),
                   early_exit=_bool(d, "early_exit"), autoregressive=_bool(d, "autoregressive"),
                   max_new_tokens=_int(d, "max_new_tokens", 1, MAX_NEW_TOKENS),
                   committed=_tokens(d, "committed", MAX_NEW_TOKENS), vocab_size=_int(d, "vocab_size", 0, MAX_TOKEN_ID),
                   tokenizer_hash=_str(d, "tokenizer_hash", 128) or "")


@dataclass(frozen=True)
class Opened(Message):
    """The server holds the session: its exit layers (empty: no early exits) and how many tokens it resumed."""

    TAG: ClassVar[str] = "opened"
    session: str
    target: str = ""
    exit_layers: tuple[int, ...] = ()
    resumed: int = 0
    prefill_s: float = 0.0

    def to_wire(self) -> dict[str, Any]:
        d = super().to_wire()
        d["exit_layers"] = list(self.exit_layers)
        return d

    @classmethod
    def from_wire(cls, d: dict[str, Any]) -> Opened:
        return cls(session=_session(d), target=_str(d, "target", 256) or "",
                   exit_layers=_ints(d, "exit_layers", 256, 0, 10_000), resumed=_int(d, "resumed", 0, MAX_NEW_TOKENS),
                   prefill_s=_float(d, "prefill_s", 0.0, 1e6))


@dataclass(frozen=True)
class Draft(Message):
    """γ draft tokens continuing the ``committed`` generated tokens, and (when sampling) their sparse draft
    distributions: ``prob_ids``/``prob_values`` [γ, k] (int32 / float32 on the wire, little-endian)."""

    TAG: ClassVar[str] = "draft"
    session: str
    round: int
    committed: int
    tokens: tuple[int, ...]
    prob_ids: np.ndarray | None = field(default=None, compare=False)
    prob_values: np.ndarray | None = field(default=None, compare=False)

    @classmethod
    def from_block(cls, session: str, round: int, committed: int, block: DraftBlock) -> Draft:
        return cls(session=session, round=round, committed=committed, tokens=tuple(block.tokens),
                   prob_ids=block.prob_ids, prob_values=block.prob_values)

    def to_block(self) -> DraftBlock:
        ids = None if self.prob_ids is None else self.prob_ids.astype(np.int64)  # copies: wire buffers are read-only
        values = None if self.prob_values is None else self.prob_values.astype(np.float32, copy=True)
        return DraftBlock(tokens=self.tokens, prob_ids=ids, prob_values=values)

    def to_wire(self) -> dict[str, Any]:
        if self.prob_ids is None:
            k, ids, values = 0, b"", b""
        else:
            assert self.prob_values is not None
            k = int(self.prob_ids.shape[1])
            ids = np.ascontiguousarray(self.prob_ids, dtype="<i4").tobytes()
            values = np.ascontiguousarray(self.prob_values, dtype="<f4").tobytes()
        return {"session": self.session, "round": self.round, "committed": self.committed, "tokens": list(self.tokens),
                "prob_k": k, "prob_ids": ids, "prob_values": values}

    @classmethod
    def from_wire(cls, d: dict[str, Any]) -> Draft:
        tokens = _tokens(d, "tokens", MAX_GAMMA)
        k = _int(d, "prob_k", 0, MAX_TOP_K)
        raw_ids = _bytes(d, "prob_ids", MAX_GAMMA * MAX_TOP_K * 4)
        raw_values = _bytes(d, "prob_values", MAX_GAMMA * MAX_TOP_K * 4)
        ids = values = None
        if k == 0:
            if raw_ids or raw_values:
                raise _bad("prob_ids", "must be empty when prob_k is 0")
        else:
            size = len(tokens) * k * 4
            if len(raw_ids) != size or len(raw_values) != size:
                raise _bad("prob_ids", f"and prob_values must be {size} bytes each for γ={len(tokens)}, k={k}")
            ids = np.frombuffer(raw_ids, dtype="<i4").reshape(len(tokens), k)
            values = np.frombuffer(raw_values, dtype="<f4").reshape(len(tokens), k)
            _check_probs(tokens, ids, values)
        return cls(session=_session(d), round=_int(d, "round", 0, MAX_ROUND),
                   committed=_int(d, "committed", 0, MAX_NEW_TOKENS), tokens=tokens, prob_ids=ids, prob_values=values)


def _check_probs(tokens: tuple[int, ...], ids: np.ndarray, values: np.ndarray) -> None:
    """Sparse draft distributions must be real distributions that give each drafted token a non-zero mass."""
    if (ids < 0).any():
        raise _bad("prob_ids", "holds a negative token id")
    if not np.isfinite(values).all() or (values < 0).any() or (values > 1).any():
        raise _bad("prob_values", "must be finite probabilities in [0, 1]")
    sums = values.sum(axis=1, dtype=np.float64)
    if (np.abs(sums - 1.0) > 1e-3).any():
        raise _bad("prob_values", f"rows must sum to 1, got {sums.round(4).tolist()}")
    for i, t in enumerate(tokens):
        hit = values[i][ids[i] == t]
        if hit.size == 0 or float(hit.max()) <= 0.0:
            raise _bad("prob_ids", f"row {i} gives the drafted token {t} no probability")


@dataclass(frozen=True)
class Early(Message):
    """The early exit's verdict for a round, sent before the target's remaining layers run."""

    TAG: ClassVar[str] = "early"
    session: str
    round: int
    n: int
    y: int
    confidence: float
    exit_layer: int

    @classmethod
    def from_wire(cls, d: dict[str, Any]) -> Early:
        return cls(session=_session(d), round=_int(d, "round", 0, MAX_ROUND), n=_int(d, "n", 0, MAX_GAMMA),
                   y=_int(d, "y", 0, MAX_TOKEN_ID), confidence=_float(d, "confidence", 0.0, 1.0),
                   exit_layer=_int(d, "exit_layer", 0, 10_000))


@dataclass(frozen=True)
class Final(Message):
    """The target's verdict: commit drafts[:n] + [y]. Server timings: ``busy_s`` of the whole batched forward
    this round was part of, ``batch`` rows in it, ``queued_s`` waited in the batching queue."""

    TAG: ClassVar[str] = "final"
    session: str
    round: int
    n: int
    y: int
    finished: bool = False
    busy_s: float = 0.0
    batch: int = 1
    queued_s: float = 0.0

    @classmethod
    def from_wire(cls, d: dict[str, Any]) -> Final:
        return cls(session=_session(d), round=_int(d, "round", 0, MAX_ROUND), n=_int(d, "n", 0, MAX_GAMMA),
                   y=_int(d, "y", 0, MAX_TOKEN_ID), finished=_bool(d, "finished"), busy_s=_float(d, "busy_s", 0.0, 1e6),
                   batch=_int(d, "batch", 1, 1_000_000), queued_s=_float(d, "queued_s", 0.0, 1e6))


@dataclass(frozen=True)
class Error(Message):
    """A refused frame or request; ``session`` is "" and ``round`` -1 when they are unknown."""

    TAG: ClassVar[str] = "error"
    session: str
    round: int
    code: str
    reason: str

    @classmethod
    def from_error(cls, err: ProtocolError) -> Error:
        return cls(session=err.session, round=err.round, code=err.code.value, reason=err.reason)

    @classmethod
    def from_wire(cls, d: dict[str, Any]) -> Error:
        return cls(session=_session(d, allow_empty=True), round=_int(d, "round", -1, MAX_ROUND),
                   code=_str(d, "code", 64) or "", reason=_str(d, "reason", 4096) or "")


@dataclass(frozen=True)
class Ping(Message):
    """Heartbeat; ``sent`` (the robot's clock) is echoed back in PONG."""

    TAG: ClassVar[str] = "ping"
    sent: float

    @classmethod
    def from_wire(cls, d: dict[str, Any]) -> Ping:
        return cls(sent=_float(d, "sent", -1e18, 1e18))


@dataclass(frozen=True)
class Pong(Message):
    TAG: ClassVar[str] = "pong"
    sent: float
    sessions: int = 0

    @classmethod
    def from_wire(cls, d: dict[str, Any]) -> Pong:
        return cls(sent=_float(d, "sent", -1e18, 1e18), sessions=_int(d, "sessions", 0, 1_000_000))


@dataclass(frozen=True)
class Close(Message):
    TAG: ClassVar[str] = "close"
    session: str

    @classmethod
    def from_wire(cls, d: dict[str, Any]) -> Close:
        return cls(session=_session(d))


@dataclass(frozen=True)
class Closed(Message):
    TAG: ClassVar[str] = "closed"
    session: str

    @classmethod
    def from_wire(cls, d: dict[str, Any]) -> Closed:
        return cls(session=_session(d))


@dataclass(frozen=True)
class StatsRequest(Message):
    """Ask for the server's counters; ``reset`` zeroes them after reading (benchmarks, between modes)."""

    TAG: ClassVar[str] = "stats"
    reset: bool = False

    @classmethod
    def from_wire(cls, d: dict[str, Any]) -> StatsRequest:
        return cls(reset=_bool(d, "reset"))


@dataclass(frozen=True)
class Stats(Message):
    """Server counters since the last reset: busy seconds in target forwards (prefills included), batched
    verification forwards, rows they verified, tokens committed, frames refused, sessions and KV bytes held."""

    TAG: ClassVar[str] = "stats_reply"
    busy_s: float
    forwards: int
    rows: int
    tokens: int
    errors: int
    sessions: int
    memory_bytes: int

    @classmethod
    def from_wire(cls, d: dict[str, Any]) -> Stats:
        big = 2**62
        return cls(busy_s=_float(d, "busy_s", 0.0, 1e12), forwards=_int(d, "forwards", 0, big), rows=_int(d, "rows", 0, big),
                   tokens=_int(d, "tokens", 0, big), errors=_int(d, "errors", 0, big),
                   sessions=_int(d, "sessions", 0, big), memory_bytes=_int(d, "memory_bytes", 0, big))


# "v" and "t" are the envelope: no message may have a field of that name
MESSAGE_TYPES: dict[str, type[Message]] = {
    cls.TAG: cls for cls in (Open, Opened, Draft, Early, Final, Error, Ping, Pong, Close, Closed, StatsRequest, Stats)
}
_WIRE_KEYS: dict[str, tuple[str, ...]] = {
    tag: tuple(f.name for f in fields(cls)) + (("prob_k",) if cls is Draft else ()) for tag, cls in MESSAGE_TYPES.items()
}


def _exact_keys(d: dict[str, Any], expected: tuple[str, ...], prefix: str = "") -> None:
    missing = [k for k in expected if k not in d]
    if missing:
        raise _bad(prefix + missing[0], "is missing")
    extra = [k for k in d if k not in expected]
    if extra:
        raise ProtocolError(ErrorCode.BAD_FIELD, f"unexpected field {prefix}{extra[0]!r}")


def encode(msg: Message) -> bytes:
    """One message → one frame."""
    body = msg.to_wire()
    body["v"] = PROTOCOL_VERSION
    body["t"] = msg.TAG
    return msgpack.packb(body, use_bin_type=True)


def _no_ext(code: int, data: bytes) -> Any:
    raise ValueError(f"msgpack extension type {code} is not allowed")


def check_shape(frame: bytes | memoryview) -> None:
    """Refuse a frame that is not one msgpack map of at most ``MAX_OBJECTS`` objects nested at most ``MAX_DEPTH``
    containers deep, from its headers alone: no object is built, and the walk stops at the first header that
    breaks a bound (a frame that is no map: at its first byte), so its cost is bounded whatever the frame holds."""
    n = len(frame)
    if n == 0 or not (0x80 <= frame[0] <= 0x8F or frame[0] in (0xDE, 0xDF)):
        first = f"0x{frame[0]:02x}" if n else "nothing"
        raise ProtocolError(ErrorCode.BAD_FRAME, f"frame must be a msgpack map, its first byte is {first}")
    pos = objects = 0
    left = [1]  # objects still to read in each open container (the bottom slot: the frame's one object)
    while left:
        if left[-1] == 0:
            left.pop()
            continue
        left[-1] -= 1
        if pos >= n:
            raise ProtocolError(ErrorCode.BAD_FRAME, "frame ends inside a msgpack object")
        b = frame[pos]
        pos += 1
        objects += 1
        if objects > MAX_OBJECTS:
            raise ProtocolError(ErrorCode.BAD_FRAME, f"frame holds more than {MAX_OBJECTS} msgpack objects")
        count = -1  # items of a container header, -1: not a container
        if b <= 0x7F or b >= 0xE0 or b in (0xC0, 0xC2, 0xC3):
            continue  # fixint, nil, bool
        if b <= 0x8F:
            count = 2 * (b & 0x0F)
        elif b <= 0x9F:
            count = b & 0x0F
        elif b <= 0xBF:
            pos += b & 0x1F
        elif b in _SIZED:
            width, doubled = _SIZED[b]
            if pos + width > n:
                raise ProtocolError(ErrorCode.BAD_FRAME, "frame ends inside a msgpack header")
            count = int.from_bytes(frame[pos: pos + width], "big") * (2 if doubled else 1)
            pos += width
        elif b in _LENGTH_PREFIXED:
            width = _LENGTH_PREFIXED[b]
            if pos + width > n:
                raise ProtocolError(ErrorCode.BAD_FRAME, "frame ends inside a msgpack header")
            pos += width + int.from_bytes(frame[pos: pos + width], "big")
        elif b in _FIXED:
            pos += _FIXED[b]
        else:
            raise ProtocolError(ErrorCode.BAD_FRAME, f"msgpack type 0x{b:02x} (an extension or reserved) is not allowed")
        if count >= 0:
            if len(left) > MAX_DEPTH:
                raise ProtocolError(ErrorCode.BAD_FRAME, f"msgpack containers nested deeper than {MAX_DEPTH}")
            if objects + count > MAX_OBJECTS or count > n - pos:
                raise ProtocolError(ErrorCode.BAD_FRAME, f"a msgpack container claims {count} items: over "
                                    f"{MAX_OBJECTS} objects in all, or more than the frame's remaining bytes")
            left.append(count)
    if pos != n:
        raise ProtocolError(ErrorCode.BAD_FRAME, f"frame has {n - pos} bytes beyond its msgpack map"
                            if pos < n else "frame ends inside a msgpack object")


# msgpack headers: array/map with a big-endian count of this width (map: pairs); str/bin with a length of this
# width; numbers of a fixed size
_SIZED = {0xDC: (2, False), 0xDD: (4, False), 0xDE: (2, True), 0xDF: (4, True)}
_LENGTH_PREFIXED = {0xC4: 1, 0xC5: 2, 0xC6: 4, 0xD9: 1, 0xDA: 2, 0xDB: 4}
_FIXED = {0xCA: 4, 0xCB: 8, 0xCC: 1, 0xCD: 2, 0xCE: 4, 0xCF: 8, 0xD0: 1, 0xD1: 2, 0xD2: 4, 0xD3: 8}


def _unpack(frame: bytes | memoryview) -> Any:
    """Bounded msgpack decoding: ``check_shape`` first, then msgpack with per-object limits."""
    if len(frame) > MAX_FRAME_BYTES:
        raise ProtocolError(ErrorCode.BAD_FRAME, f"frame of {len(frame)} bytes is over {MAX_FRAME_BYTES}")
    check_shape(frame)
    try:
        return msgpack.unpackb(frame, raw=False, strict_map_key=True, ext_hook=_no_ext, timestamp=0,
                               max_bin_len=MAX_IMAGE_BYTES, max_str_len=MAX_TEXT_CHARS * 4,
                               max_array_len=MAX_NEW_TOKENS, max_map_len=32, max_ext_len=0)
    except Exception as e:  # msgpack raises many types (ExtraData, FormatError, StackError, ValueError, ...)
        raise ProtocolError(ErrorCode.BAD_FRAME, f"not a msgpack frame: {type(e).__name__}: {e}"[:300]) from None


def decode(frame: bytes | memoryview) -> Message:
    """One frame → one validated message, or ``ProtocolError``."""
    body = _unpack(frame)
    if not isinstance(body, dict):
        raise ProtocolError(ErrorCode.BAD_FRAME, f"frame must be a msgpack map, got {type(body).__name__}")
    version = body.pop("v", None)
    if version != PROTOCOL_VERSION:
        raise ProtocolError(ErrorCode.BAD_VERSION, f"protocol version {version!r} is not {PROTOCOL_VERSION}")
    tag = body.pop("t", None)
    cls = MESSAGE_TYPES.get(tag) if isinstance(tag, str) else None
    if cls is None:
        raise ProtocolError(ErrorCode.UNKNOWN_TYPE, f"unknown message type {tag!r}")
    _exact_keys(body, _WIRE_KEYS[tag])
    msg = cls.from_wire(body)
    return msg


def session_of(frame: bytes | memoryview) -> tuple[str, int]:
    """Best effort (session, round) of a frame that failed to decode, so the ERROR reaches the right session;
    as bounded as ``decode`` (a frame it refuses for its shape names no session)."""
    try:
        body = _unpack(frame)
    except ProtocolError:
        return "", -1
    if not isinstance(body, dict):
        return "", -1
    s, r = body.get("session"), body.get("round")
    session = s if isinstance(s, str) and SESSION_ID.match(s) else ""
    rnd = r if isinstance(r, int) and not isinstance(r, bool) and 0 <= r <= MAX_ROUND else -1
    return session, rnd
