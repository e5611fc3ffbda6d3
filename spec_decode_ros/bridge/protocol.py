"""Wire protocol between robot (DEALER) and cloud (ROUTER): versioned msgpack frames, one dataclass per message.

Every frame is one msgpack map ``{"v": PROTOCOL_VERSION, "t": <type tag>, <fields>}``. ``decode`` checks
the version, the type tag, the exact set of fields, each field's type and bounds, and raises
``ProtocolError(code, reason)`` for anything else; it never returns a half-valid message. Checks that need
server state (known session, round order, committed length, vocabulary range) live in ``sessions.py``.

Positions count *generated* tokens only (see ``decoding/types.py``). EARLY and FINAL carry a ``Verdict`` under
short names, n = n_accepted and y = next_token (``verdict_fields`` and ``.verdict`` map the two). Message flow of
one session::

    robot                                   cloud
    OPEN(session, prompt, image JPEG, …) ─▶
                                         ◀─ OPENED(session, exit layers, the target's EOS ids, …)
    DRAFT(session, round, committed, d) ─▶
                                         ◀─ EARLY(session, round, n_ee, y_ee, confidence)   (if asked)
                                         ◀─ FINAL(session, round, n, y, server timings)
    …
    CLOSE(session)                      ─▶
                                         ◀─ CLOSED(session)

A session opened with ``autoregressive=True`` is the cloud-autoregressive baseline: the cloud generates
by itself and streams one FINAL (n=0, y) per token. PING/PONG is the heartbeat, STATS reads (and
never resets) the server's counters, ERROR answers any bad frame.
"""

from __future__ import annotations

import math
import re
from dataclasses import MISSING, dataclass, field, fields
from typing import Any, ClassVar

import msgpack
import numpy as np

from spec_decode_ros.decoding.types import DraftBlock, SamplingConfig, Verdict
from spec_decode_ros.str_enum import StrEnum

PROTOCOL_VERSION = 1

MAX_IMAGE_BYTES = 2 * 1024 * 1024  # a 1280×720 camera JPEG is 0.1–0.4 MB
MAX_TEXT_CHARS = 16 * 1024  # the instruction, and the system prompt
MAX_GRAMMAR_CHARS = 64  # a grammar's name, and its hash
MAX_GAMMA = 64
MAX_TOP_K = 1024
MAX_NEW_TOKENS = 4096
MAX_TOKEN_ID = 2**31 - 1
MAX_ROUND = 2**31 - 1
MAX_EOS_IDS = 64  # a model's end-of-sequence ids (generation config), far more than any has
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
    GRAMMAR_MISMATCH = "grammar_mismatch"  # the robot constrains with a grammar the cloud does not serve
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


# --------------------------------------------------------------------------------------------- field kinds
# Each message field is declared once, on its dataclass, as ``name: type = wire(Kind(bounds))``. Encoding,
# decoding with validation, the exact set of keys of each message, and the bounds of the shape check and of
# msgpack (``MAX_OBJECTS``, ``MAX_DEPTH``, ``MAX_FRAME_BYTES``, the per-object limits) all read these kinds.

_NUMBER_BYTES = 9  # the largest msgpack int/float: one type byte + 8
_HEADER_BYTES = 5  # the largest str/bin/array/map header: one type byte + a 4-byte length


def _bad(name: str, what: str) -> ProtocolError:
    return ProtocolError(ErrorCode.BAD_FIELD, f"field {name!r} {what}")


class Kind:
    """How one field travels: ``read`` validates a decoded wire value (``ProtocolError`` naming the field) and
    returns the Python value, ``write`` is its inverse; the class attributes bound one value on the wire."""

    objects: int = 1  # msgpack objects one value takes, at most
    depth: int = 0  # containers nested inside it
    max_bytes: int = _NUMBER_BYTES  # encoded size, at most
    max_str: int = 0  # longest str / bin / array inside it (msgpack's per-object limits)
    max_bin: int = 0
    max_array: int = 0
    max_map: int = 0

    def read(self, name: str, v: Any) -> Any:  # pragma: no cover - every kind overrides
        raise NotImplementedError

    def write(self, v: Any) -> Any:
        return v


@dataclass(frozen=True)
class Int(Kind):
    """An integer in [lo, hi] (never a bool)."""

    lo: int
    hi: int
    TYPES: ClassVar[tuple[type, ...]] = (int,)
    NOUN: ClassVar[str] = "an integer"
    RANGE: ClassVar[str] = "in"

    def read(self, name: str, v: Any) -> Any:
        if isinstance(v, bool) or not isinstance(v, self.TYPES):
            raise _bad(name, f"must be {self.NOUN}, got {type(v).__name__}")
        v = self.convert(v)
        if not math.isfinite(v) or not self.lo <= v <= self.hi:
            raise _bad(name, f"must be {self.RANGE} [{self.lo}, {self.hi}], got {v}")
        return v

    def convert(self, v: Any) -> Any:
        return v


@dataclass(frozen=True)
class Float(Int):
    """A finite number in [lo, hi], a float in Python (an integer on the wire is accepted)."""

    lo: float  # type: ignore[assignment]
    hi: float  # type: ignore[assignment]
    TYPES: ClassVar[tuple[type, ...]] = (int, float)
    NOUN: ClassVar[str] = "a number"
    RANGE: ClassVar[str] = "finite and in"

    def convert(self, v: Any) -> float:
        return float(v)


@dataclass(frozen=True)
class Bool(Kind):
    max_bytes = 1

    def read(self, name: str, v: Any) -> bool:
        if not isinstance(v, bool):
            raise _bad(name, f"must be a boolean, got {type(v).__name__}")
        return v


@dataclass(frozen=True)
class Sized(Kind):
    """A value of ``TYPE`` with a length of at most ``max_len`` (None allowed when ``optional``)."""

    max_len: int
    optional: bool = False
    TYPE: ClassVar[type] = bytes
    NOUN: ClassVar[str] = "binary"
    LONGER: ClassVar[str] = "larger than"
    UNIT: ClassVar[str] = "bytes"

    def read(self, name: str, v: Any) -> Any:
        if v is None and self.optional:
            return None
        if not isinstance(v, self.TYPE):
            raise _bad(name, f"must be {self.NOUN}, got {type(v).__name__}")
        if len(v) > self.max_len:
            raise _bad(name, f"is {self.LONGER} {self.max_len} {self.UNIT} ({len(v)})")
        return v


@dataclass(frozen=True)
class Text(Sized):
    """A string of at most ``max_len`` characters."""

    TYPE: ClassVar[type] = str
    NOUN: ClassVar[str] = "a string"
    LONGER: ClassVar[str] = "longer than"
    UNIT: ClassVar[str] = "characters"

    @property
    def max_bytes(self) -> int:  # type: ignore[override]
        return _HEADER_BYTES + 4 * self.max_len  # UTF-8: at most 4 bytes a character

    @property
    def max_str(self) -> int:  # type: ignore[override]
        return 4 * self.max_len


@dataclass(frozen=True)
class SessionId(Text):
    """A session id: ``SESSION_ID`` ("" too when ``allow_empty``: an ERROR about no known session)."""

    max_len: int = 64
    allow_empty: bool = False

    def read(self, name: str, v: Any) -> str:
        v = super().read(name, v)
        if not (self.allow_empty and v == "") and not SESSION_ID.match(v):
            raise _bad(name, "must be 1-64 characters of [A-Za-z0-9_.:-]")
        return v


@dataclass(frozen=True)
class Binary(Sized):
    """Bytes, at most ``max_len`` of them."""

    @property
    def max_bytes(self) -> int:  # type: ignore[override]
        return _HEADER_BYTES + self.max_len

    @property
    def max_bin(self) -> int:  # type: ignore[override]
        return self.max_len


@dataclass(frozen=True)
class Matrix(Binary):
    """A 2-D array as its raw little-endian bytes (``dtype``), b"" for None; its shape travels in other fields."""

    dtype: str = "<i4"

    def write(self, v: np.ndarray | None) -> bytes:
        return b"" if v is None else np.ascontiguousarray(v, dtype=self.dtype).tobytes()


@dataclass(frozen=True)
class Ints(Kind):
    """A list of at most ``max_len`` integers in [lo, hi], a tuple in Python."""

    max_len: int
    lo: int
    hi: int
    ITEM: ClassVar[str] = "integer"

    @property
    def objects(self) -> int:  # type: ignore[override]
        return 1 + self.max_len

    @property
    def max_bytes(self) -> int:  # type: ignore[override]
        return _HEADER_BYTES + _NUMBER_BYTES * self.max_len

    @property
    def max_array(self) -> int:  # type: ignore[override]
        return self.max_len

    depth = 1

    def read(self, name: str, v: Any) -> tuple[int, ...]:
        if not isinstance(v, list):
            raise _bad(name, f"must be a list of {self.ITEM}s, got {type(v).__name__}")
        if len(v) > self.max_len:
            raise _bad(name, f"has {len(v)} {self.ITEM}s, more than {self.max_len}")
        for i, t in enumerate(v):
            if isinstance(t, bool) or not isinstance(t, int) or not self.lo <= t <= self.hi:
                raise _bad(name, f"item {i} is no {self.ITEM} in [{self.lo}, {self.hi}]: {t!r}")
        return tuple(v)

    def write(self, v: tuple[int, ...]) -> list[int]:
        return list(v)


@dataclass(frozen=True)
class TokenIds(Ints):
    """Token ids: at most ``max_len`` integers in [0, ``MAX_TOKEN_ID``], each refusal naming the bad item."""

    lo: int = 0
    hi: int = MAX_TOKEN_ID
    ITEM: ClassVar[str] = "token id"

    @property
    def max_bytes(self) -> int:  # type: ignore[override]
        return _HEADER_BYTES + 5 * self.max_len  # a uint32 at most


@dataclass(frozen=True)
class Record(Kind):
    """A flat map with exactly the keys of ``table`` ((name, kind) pairs), built into ``cls(**fields)``."""

    cls: type
    table: tuple[tuple[str, Kind], ...]
    depth = 1

    @property
    def objects(self) -> int:  # type: ignore[override]
        return 1 + sum(1 + kind.objects for _, kind in self.table)

    @property
    def max_bytes(self) -> int:  # type: ignore[override]
        return _HEADER_BYTES + sum(_key_bytes(name) + kind.max_bytes for name, kind in self.table)

    @property
    def max_map(self) -> int:  # type: ignore[override]
        return len(self.table)

    @property
    def max_array(self) -> int:  # type: ignore[override]
        return max(kind.max_array for _, kind in self.table)

    @property
    def max_str(self) -> int:  # type: ignore[override]
        return max(max(kind.max_str, len(name)) for name, kind in self.table)

    @property
    def max_bin(self) -> int:  # type: ignore[override]
        return max(kind.max_bin for _, kind in self.table)

    def read(self, name: str, v: Any) -> Any:
        if not isinstance(v, dict):
            raise _bad(name, "must be a map")
        return self.cls(**_read_table(v, self.table, f"{name}."))

    def write(self, v: Any) -> dict[str, Any]:
        return {key: kind.write(getattr(v, key)) for key, kind in self.table}


def _key_bytes(name: str) -> int:
    return 1 + len(name)  # a fixstr: field names are short ASCII


def _read_table(d: dict[str, Any], table: tuple[tuple[str, Kind], ...], prefix: str = "") -> dict[str, Any]:
    """Check that ``d`` has exactly the table's keys, then read each value with its kind (in table order)."""
    _exact_keys(d, tuple(name for name, _ in table), prefix)
    return {name: kind.read(prefix + name, d[name]) for name, kind in table}


def wire(kind: Kind, default: Any = MISSING, *, compare: bool = True) -> Any:
    """Declare a message field with its wire kind (its type and bounds): ``round: int = wire(Int(0, MAX_ROUND))``."""
    return field(default=default, compare=compare, metadata={"wire": kind})


ROUND = Int(0, MAX_ROUND)
SAMPLING = Record(SamplingConfig, (("do_sample", Bool()), ("temperature", Float(1e-4, 100.0)),
                                   ("top_k", Int(0, 1_000_000)), ("top_p", Float(1e-6, 1.0)), ("seed", Int(0, 2**63 - 1))))
SECONDS = Float(0.0, 1e6)
COUNT = Int(0, 2**62)


# --------------------------------------------------------------------------------------------- messages


@dataclass(frozen=True)
class Message:
    """Base of all messages; ``TAG`` is the wire type tag. ``DERIVED`` names wire fields that are no attribute
    (computed by ``derived`` on encoding, consumed by ``build`` on decoding)."""

    TAG: ClassVar[str] = ""
    DERIVED: ClassVar[tuple[tuple[str, Kind], ...]] = ()

    @classmethod
    def table(cls) -> tuple[tuple[str, Kind], ...]:
        """The message's wire fields, in order: (name, kind)."""
        return tuple((f.name, f.metadata["wire"]) for f in fields(cls)) + cls.DERIVED

    def derived(self) -> dict[str, Any]:
        return {}

    def to_wire(self) -> dict[str, Any]:
        body = {f.name: f.metadata["wire"].write(getattr(self, f.name)) for f in fields(self)}
        body.update(self.derived())
        return body

    @classmethod
    def from_wire(cls, d: dict[str, Any]) -> Message:
        """A validated message from a decoded body (the envelope removed)."""
        return cls.build(_read_table(d, cls.table()))

    @classmethod
    def build(cls, values: dict[str, Any]) -> Message:
        """The message from its checked field values (a message with ``DERIVED`` fields overrides it)."""
        return cls(**values)


@dataclass(frozen=True)
class Open(Message):
    """Open (or resume) a session: prompt, optional JPEG image, sampling, and the tokens already committed.

    ``committed`` non-empty resumes a session the server lost (restart, eviction): the server rebuilds its
    KV cache for prompt + committed. ``vocab_size``/``tokenizer_hash`` describe the robot's tokenizer
    (0 / "" skip the check). ``grammar``/``grammar_hash`` name the grammar the robot's draft is masked with
    (``decoding.constraint``; "" for none): the cloud masks the target with the same one, or refuses with
    ``grammar_mismatch``; a resume rebuilds the cloud's matcher from ``committed``. ``system`` is the system
    prompt, applied through the target's own chat template.
    """

    TAG: ClassVar[str] = "open"
    session: str = wire(SessionId())
    text: str = wire(Text(MAX_TEXT_CHARS))
    system: str | None = wire(Text(MAX_TEXT_CHARS, optional=True), None)
    image_jpeg: bytes = wire(Binary(MAX_IMAGE_BYTES), b"")
    sampling: SamplingConfig = wire(SAMPLING, SamplingConfig())
    early_exit: bool = wire(Bool(), True)
    autoregressive: bool = wire(Bool(), False)
    max_new_tokens: int = wire(Int(1, MAX_NEW_TOKENS), 64)
    committed: tuple[int, ...] = wire(TokenIds(MAX_NEW_TOKENS), ())
    vocab_size: int = wire(Int(0, MAX_TOKEN_ID), 0)
    tokenizer_hash: str = wire(Text(128), "")
    grammar: str = wire(Text(MAX_GRAMMAR_CHARS), "")
    grammar_hash: str = wire(Text(MAX_GRAMMAR_CHARS), "")


@dataclass(frozen=True)
class Opened(Message):
    """The server holds the session: its exit layers (empty: no early exits), how many tokens it resumed, and the
    target's end-of-sequence ids (the robot stops on the target's EOS, not its draft's; empty: not said)."""

    TAG: ClassVar[str] = "opened"
    session: str = wire(SessionId())
    target: str = wire(Text(256), "")
    exit_layers: tuple[int, ...] = wire(Ints(256, 0, 10_000), ())
    resumed: int = wire(Int(0, MAX_NEW_TOKENS), 0)
    prefill_s: float = wire(SECONDS, 0.0)
    eos_token_ids: tuple[int, ...] = wire(TokenIds(MAX_EOS_IDS), ())


@dataclass(frozen=True)
class Draft(Message):
    """γ draft tokens continuing the ``committed`` generated tokens, and (when sampling) their sparse draft
    distributions: ``prob_ids``/``prob_values`` [γ, k] (int32 / float32 on the wire, little-endian, raw bytes;
    k travels as ``prob_k``, 0 without distributions)."""

    TAG: ClassVar[str] = "draft"
    DERIVED: ClassVar[tuple[tuple[str, Kind], ...]] = (("prob_k", Int(0, MAX_TOP_K)),)
    session: str = wire(SessionId())
    round: int = wire(ROUND)
    committed: int = wire(Int(0, MAX_NEW_TOKENS))
    tokens: tuple[int, ...] = wire(TokenIds(MAX_GAMMA))
    prob_ids: np.ndarray | None = wire(Matrix(MAX_GAMMA * MAX_TOP_K * 4, dtype="<i4"), None, compare=False)
    prob_values: np.ndarray | None = wire(Matrix(MAX_GAMMA * MAX_TOP_K * 4, dtype="<f4"), None, compare=False)

    @classmethod
    def from_block(cls, session: str, round: int, committed: int, block: DraftBlock) -> Draft:
        return cls(session=session, round=round, committed=committed, tokens=tuple(block.tokens),
                   prob_ids=block.prob_ids, prob_values=block.prob_values)

    def to_block(self) -> DraftBlock:
        ids = None if self.prob_ids is None else self.prob_ids.astype(np.int64)  # copies: wire buffers are read-only
        values = None if self.prob_values is None else self.prob_values.astype(np.float32, copy=True)
        return DraftBlock(tokens=self.tokens, prob_ids=ids, prob_values=values)

    def derived(self) -> dict[str, Any]:
        return {"prob_k": 0 if self.prob_ids is None else int(self.prob_ids.shape[1])}

    @classmethod
    def build(cls, values: dict[str, Any]) -> Draft:
        """Shape the raw distributions as [γ, prob_k] and check that they are distributions over the draft."""
        k, tokens = values.pop("prob_k"), values["tokens"]
        raw_ids, raw_values = values["prob_ids"], values["prob_values"]
        if k == 0:
            if raw_ids or raw_values:
                raise _bad("prob_ids", "must be empty when prob_k is 0")
            values["prob_ids"] = values["prob_values"] = None
        else:
            size = len(tokens) * k * 4
            if len(raw_ids) != size or len(raw_values) != size:
                raise _bad("prob_ids", f"and prob_values must be {size} bytes each for γ={len(tokens)}, k={k}")
            values["prob_ids"] = np.frombuffer(raw_ids, dtype="<i4").reshape(len(tokens), k)
            values["prob_values"] = np.frombuffer(raw_values, dtype="<f4").reshape(len(tokens), k)
            _check_probs(tokens, values["prob_ids"], values["prob_values"])
        return cls(**values)


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
    session: str = wire(SessionId())
    round: int = wire(ROUND)
    n: int = wire(Int(0, MAX_GAMMA))
    y: int = wire(Int(0, MAX_TOKEN_ID))
    confidence: float = wire(Float(0.0, 1.0))
    exit_layer: int = wire(Int(0, 10_000))

    @property
    def verdict(self) -> Verdict:
        return Verdict(self.n, self.y, self.confidence, self.exit_layer)


@dataclass(frozen=True)
class Final(Message):
    """The target's verdict: commit drafts[:n] + [y]. Server timings: ``busy_s`` of the whole batched forward
    this round was part of, ``batch`` rows in it, ``queued_s`` waited in the batching queue."""

    TAG: ClassVar[str] = "final"
    session: str = wire(SessionId())
    round: int = wire(ROUND)
    n: int = wire(Int(0, MAX_GAMMA))
    y: int = wire(Int(0, MAX_TOKEN_ID))
    finished: bool = wire(Bool(), False)
    busy_s: float = wire(SECONDS, 0.0)
    batch: int = wire(Int(1, 1_000_000), 1)
    queued_s: float = wire(SECONDS, 0.0)

    @property
    def verdict(self) -> Verdict:
        return Verdict(self.n, self.y)


def verdict_fields(verdict: Verdict) -> dict[str, int]:
    """A verdict under the wire's short names, for EARLY and FINAL (``.verdict`` reads it back)."""
    return {"n": int(verdict.n_accepted), "y": int(verdict.next_token)}


@dataclass(frozen=True)
class Error(Message):
    """A refused frame or request; ``session`` is "" and ``round`` -1 when they are unknown."""

    TAG: ClassVar[str] = "error"
    session: str = wire(SessionId(allow_empty=True))
    round: int = wire(Int(-1, MAX_ROUND))
    code: str = wire(Text(64))
    reason: str = wire(Text(4096))

    @classmethod
    def from_error(cls, err: ProtocolError) -> Error:
        return cls(session=err.session, round=err.round, code=err.code.value, reason=err.reason)


@dataclass(frozen=True)
class Ping(Message):
    """Heartbeat; ``sent`` (the robot's clock) is echoed back in PONG."""

    TAG: ClassVar[str] = "ping"
    sent: float = wire(Float(-1e18, 1e18))


@dataclass(frozen=True)
class Pong(Message):
    TAG: ClassVar[str] = "pong"
    sent: float = wire(Float(-1e18, 1e18))
    sessions: int = wire(Int(0, 1_000_000), 0)


@dataclass(frozen=True)
class Close(Message):
    TAG: ClassVar[str] = "close"
    session: str = wire(SessionId())


@dataclass(frozen=True)
class Closed(Message):
    TAG: ClassVar[str] = "closed"
    session: str = wire(SessionId())


@dataclass(frozen=True)
class StatsRequest(Message):
    """Ask for the server's counters. ``reset`` is kept on the wire for old robots but ignored: a robot may not
    zero the operator's counters (benchmarks take differences; the operator's record is the metrics endpoint)."""

    TAG: ClassVar[str] = "stats"
    reset: bool = wire(Bool(), False)


@dataclass(frozen=True)
class Stats(Message):
    """Server counters since it started (a fleet benchmark may zero them over Ray, never a robot): busy seconds
    in target forwards (prefills included), batched verification forwards, rows they verified, tokens committed,
    frames refused, sessions and KV bytes held."""

    TAG: ClassVar[str] = "stats_reply"
    busy_s: float = wire(Float(0.0, 1e12))
    forwards: int = wire(COUNT)
    rows: int = wire(COUNT)
    tokens: int = wire(COUNT)
    errors: int = wire(COUNT)
    sessions: int = wire(COUNT)
    memory_bytes: int = wire(COUNT)


# "v" and "t" are the envelope: no message may have a field of that name
MESSAGE_TYPES: dict[str, type[Message]] = {
    cls.TAG: cls for cls in (Open, Opened, Draft, Early, Final, Error, Ping, Pong, Close, Closed, StatsRequest, Stats)
}
_ENVELOPE: tuple[tuple[str, Kind], ...] = (("v", Int(0, MAX_TOKEN_ID)), ("t", Text(max(map(len, MESSAGE_TYPES)))))
_FRAMES = [cls.table() + _ENVELOPE for cls in MESSAGE_TYPES.values()]
_KINDS = [kind for table in _FRAMES for _, kind in table]

# Bounds of a legitimate frame, all read from the field kinds above.
# The largest frame (an OPEN: image, text and system prompt, committed ids): also the server socket's
# MAXMSGSIZE, so libzmq drops a larger frame (and its connection) before any of it reaches Python.
MAX_FRAME_BYTES = max(_HEADER_BYTES + sum(_key_bytes(name) + kind.max_bytes for name, kind in t) for t in _FRAMES)
# libzmq's MAXMSGSIZE: CURVE counts its own box (command name, nonce, MAC) against it, so the socket allows a few
# bytes more and ``decode`` holds every frame to MAX_FRAME_BYTES exactly
MAX_WIRE_BYTES = MAX_FRAME_BYTES + 64
# bounded work per frame: at most this many msgpack objects, containers at most this deep (the envelope map,
# and inside it flat lists/maps: ``committed``, ``tokens``, ``sampling``); checked from the headers alone
MAX_OBJECTS = max(1 + sum(1 + kind.objects for _, kind in t) for t in _FRAMES)
MAX_DEPTH = 1 + max(kind.depth for kind in _KINDS)
# msgpack's own per-object limits (a key is a string too)
_MAX_STR = max(max(kind.max_str for kind in _KINDS), max(len(name) for t in _FRAMES for name, _ in t))
_MAX_BIN = max(kind.max_bin for kind in _KINDS)
_MAX_ARRAY = max(kind.max_array for kind in _KINDS)
_MAX_MAP = max(max(map(len, _FRAMES)), max(kind.max_map for kind in _KINDS))


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
                               max_bin_len=_MAX_BIN, max_str_len=_MAX_STR, max_array_len=_MAX_ARRAY,
                               max_map_len=_MAX_MAP, max_ext_len=0)
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
    return cls.from_wire(body)


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
    round_number = r if isinstance(r, int) and not isinstance(r, bool) and 0 <= r <= MAX_ROUND else -1
    return session, round_number


def decode_to_answer(frame: bytes | memoryview) -> Message:
    """``decode`` for a frame that gets an answer: its ``ProtocolError`` names the frame's session and round (as
    far as ``session_of`` reads them), so that the ERROR reaches the right session."""
    try:
        return decode(frame)
    except ProtocolError as e:
        e.session, e.round = session_of(frame)
        raise
