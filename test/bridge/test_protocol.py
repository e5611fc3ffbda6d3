"""Wire protocol: every message round-trips, and every kind of bad frame is refused with its code."""

from __future__ import annotations

import random

import msgpack
import numpy as np
import pytest

from spec_decode_ros.bridge import protocol as p
from spec_decode_ros.decoding.types import DraftBlock, SamplingConfig, Verdict


def _all_messages() -> list[p.Message]:
    ids = np.array([[5, 7, 9], [1, 2, 3]], dtype=np.int64)
    values = np.array([[0.5, 0.25, 0.25], [0.1, 0.1, 0.8]], dtype=np.float32)
    return [
        p.Open(session="s1", text="go to the red box", system="be brief", image_jpeg=b"\xff\xd8jpeg",
               sampling=SamplingConfig(do_sample=True, temperature=0.7, top_k=20, top_p=0.9, seed=3),
               early_exit=False, autoregressive=True, max_new_tokens=9, committed=(4, 5), vocab_size=100,
               tokenizer_hash="abc"),
        p.Opened(session="s1", target="t", exit_layers=(2,), resumed=2, prefill_s=0.5, eos_token_ids=(2, 7)),
        p.Draft(session="s1", round=3, committed=7, tokens=(5, 2), prob_ids=ids, prob_values=values),
        p.Draft(session="s1", round=0, committed=0, tokens=()),
        p.Early(session="s1", round=3, n=1, y=8, confidence=0.9, exit_layer=2),
        p.Final(session="s1", round=3, n=2, y=8, finished=True, busy_s=0.1, batch=3, queued_s=0.01),
        p.Error(session="", round=-1, code="bad_frame", reason="x"),
        p.Ping(sent=1.5), p.Pong(sent=1.5, sessions=2), p.Close(session="s1"), p.Closed(session="s1"),
        p.StatsRequest(reset=True),
        p.Stats(busy_s=1.0, forwards=2, rows=3, tokens=4, errors=5, sessions=6, memory_bytes=7),
    ]


@pytest.mark.parametrize("msg", _all_messages(), ids=lambda m: type(m).__name__)
def test_every_message_round_trips(msg: p.Message):
    back = p.decode(p.encode(msg))
    assert back == msg
    if isinstance(msg, p.Draft) and msg.prob_ids is not None:
        assert isinstance(back, p.Draft)
        np.testing.assert_array_equal(back.prob_ids, msg.prob_ids)
        np.testing.assert_array_equal(back.prob_values, msg.prob_values)


def test_draft_block_conversion_keeps_sparse_probabilities():
    block = DraftBlock(tokens=(3, 4), prob_ids=np.array([[3, 9], [4, 1]]),
                       prob_values=np.array([[0.75, 0.25], [1.0, 0.0]], dtype=np.float32))
    msg = p.decode(p.encode(p.Draft.from_block("s", 0, 0, block)))
    assert isinstance(msg, p.Draft)
    out = msg.to_block()
    assert out.tokens == (3, 4) and out.prob_ids.dtype == np.int64
    np.testing.assert_array_equal(out.prob_ids, block.prob_ids)
    np.testing.assert_allclose(out.prob_values, block.prob_values)


def test_a_verdict_crosses_the_wire_under_its_short_names_and_comes_back_whole():
    early = Verdict(n_accepted=3, next_token=41, confidence=0.75, exit_layer=2)
    final = Verdict(n_accepted=2, next_token=8)
    sent_early = p.Early(session="s", round=1, **p.verdict_fields(early), confidence=0.75, exit_layer=2)
    sent_final = p.Final(session="s", round=1, **p.verdict_fields(final))
    assert (sent_final.n, sent_final.y) == (2, 8)
    assert p.decode(p.encode(sent_early)).verdict == early and p.decode(p.encode(sent_final)).verdict == final


def _raw(**body) -> bytes:
    return msgpack.packb(body, use_bin_type=True)


def _draft_body(**over) -> dict:
    body = {"v": 1, "t": "draft", "session": "s", "round": 0, "committed": 0, "tokens": [1, 2], "prob_k": 0,
            "prob_ids": b"", "prob_values": b""}
    body.update(over)
    return body


@pytest.mark.parametrize(("frame", "code", "words"), [
    (b"", p.ErrorCode.BAD_FRAME, "msgpack"),
    (b"\xc1garbage", p.ErrorCode.BAD_FRAME, "msgpack"),
    (msgpack.packb([1, 2]), p.ErrorCode.BAD_FRAME, "map"),
    (_raw(v=2, t="ping", sent=0), p.ErrorCode.BAD_VERSION, "version"),
    (_raw(v=1, t="nope"), p.ErrorCode.UNKNOWN_TYPE, "nope"),
    (_raw(v=1, t="ping"), p.ErrorCode.BAD_FIELD, "'sent' is missing"),
    (_raw(v=1, t="ping", sent=1.0, extra=1), p.ErrorCode.BAD_FIELD, "unexpected field 'extra'"),
    (_raw(v=1, t="ping", sent="soon"), p.ErrorCode.BAD_FIELD, "number"),
    (_raw(v=1, t="ping", sent=float("nan")), p.ErrorCode.BAD_FIELD, "finite"),
    (_raw(**_draft_body(round=True)), p.ErrorCode.BAD_FIELD, "'round' must be an integer"),
    (_raw(**_draft_body(round=-1)), p.ErrorCode.BAD_FIELD, "'round'"),
    (_raw(**_draft_body(tokens=list(range(p.MAX_GAMMA + 1)))), p.ErrorCode.BAD_FIELD, "more than"),
    (_raw(**_draft_body(tokens=[1, -5])), p.ErrorCode.BAD_FIELD, "item 1"),
    (_raw(**_draft_body(tokens=[1, "a"])), p.ErrorCode.BAD_FIELD, "item 1"),
    (_raw(**_draft_body(session="bad id!")), p.ErrorCode.BAD_FIELD, "'session'"),
    (_raw(**_draft_body(prob_k=2, prob_ids=b"\0" * 8, prob_values=b"\0" * 16)), p.ErrorCode.BAD_FIELD, "bytes each"),
    (_raw(**_draft_body(prob_ids=b"x")), p.ErrorCode.BAD_FIELD, "empty"),
    (msgpack.packb({"v": 1, "t": "ping", "sent": msgpack.ExtType(5, b"x")}), p.ErrorCode.BAD_FRAME, "ext"),
    (msgpack.packb({1: 2}), p.ErrorCode.BAD_FRAME, "msgpack"),
])
def test_bad_frames_are_refused_with_a_code_and_reason(frame: bytes, code: p.ErrorCode, words: str):
    with pytest.raises(p.ProtocolError) as info:
        p.decode(frame)
    assert info.value.code == code
    assert words in info.value.reason


def _probs(ids: list[list[int]], values: list[list[float]]) -> dict:
    a = np.array(ids, dtype="<i4")
    return {"prob_k": a.shape[1], "prob_ids": a.tobytes(), "prob_values": np.array(values, dtype="<f4").tobytes()}


@pytest.mark.parametrize(("probs", "words"), [
    (_probs([[1, 3], [2, 4]], [[0.5, 0.6], [0.5, 0.5]]), "sum to 1"),
    (_probs([[1, 3], [2, 4]], [[1.5, -0.5], [0.5, 0.5]]), "[0, 1]"),
    (_probs([[7, 3], [2, 4]], [[0.5, 0.5], [0.5, 0.5]]), "row 0"),
    (_probs([[1, 3], [2, 4]], [[0.5, 0.5], [0.0, 1.0]]), "row 1"),
    (_probs([[1, -3], [2, 4]], [[0.5, 0.5], [0.5, 0.5]]), "negative"),
])
def test_sparse_draft_probabilities_must_be_distributions_covering_the_draft(probs: dict, words: str):
    with pytest.raises(p.ProtocolError) as info:
        p.decode(_raw(**_draft_body(**probs)))
    assert info.value.code == p.ErrorCode.BAD_FIELD and words in info.value.reason


def test_oversized_binary_is_refused_before_it_is_kept():
    big = _raw(v=1, t="open", session="s", image_jpeg=b"\0" * (p.MAX_IMAGE_BYTES + 1))
    with pytest.raises(p.ProtocolError) as info:
        p.decode(big)
    assert info.value.code == p.ErrorCode.BAD_FRAME


def test_random_bytes_never_escape_as_another_exception():
    rng = random.Random(0)
    good = [p.encode(m) for m in _all_messages()]
    for i in range(3000):
        if i % 2:
            frame = bytes(rng.getrandbits(8) for _ in range(rng.randrange(0, 64)))
        else:  # mutate a valid frame: the nastiest inputs are almost right
            b = bytearray(rng.choice(good))
            for _ in range(rng.randrange(1, 4)):
                b[rng.randrange(len(b))] = rng.getrandbits(8)
            frame = bytes(b)
        try:
            p.decode(frame)
        except p.ProtocolError:
            pass


def test_session_of_recovers_the_session_of_a_refused_frame():
    assert p.session_of(_raw(**_draft_body(session="abc", round=4, tokens="x"))) == ("abc", 4)
    assert p.session_of(b"\xc1") == ("", -1)


# ------------------------------------------------------------------ bounded work per frame (issue #14)


def test_the_largest_legitimate_open_fits_the_frame_cap_and_decodes():
    biggest = p.Open(session="s" * 64, text="é" * p.MAX_TEXT_CHARS, system="€" * p.MAX_TEXT_CHARS,
                     image_jpeg=b"\xff" * p.MAX_IMAGE_BYTES, committed=tuple([2**31 - 1] * p.MAX_NEW_TOKENS),
                     max_new_tokens=p.MAX_NEW_TOKENS, tokenizer_hash="h" * 128)
    frame = p.encode(biggest)
    assert len(frame) <= p.MAX_FRAME_BYTES
    assert p.decode(frame) == biggest


@pytest.mark.parametrize(("frame", "words"), [
    (msgpack.packb([[[]] * 250] * 250), "first byte is 0xdc"),  # the tree, not under a map: byte 0
    (b"\xc1", "first byte is 0xc1"),
    (b"", "first byte is nothing"),
    (msgpack.packb({"v": 1, "t": "open", "x": [[[]] * 250] * 250}), "deeper than 2"),
    (msgpack.packb({"v": 1, "t": "open", "x": [None] * (p.MAX_OBJECTS + 1)}), "claims"),
    (b"\x81\xa1x\xdd\x7f\xff\xff\xff", "claims"),  # a list header claiming 2 G items in 8 bytes
    (msgpack.packb({"v": 1}) + b"\x00", "beyond its msgpack map"),
    (msgpack.packb({"v": 1, "t": "ping", "sent": 1.0})[:-3], "ends inside"),
    (b"\x81\xa1x\xc7\x01\x05\x00", "extension"),
])
def test_frames_that_break_a_bound_are_refused_from_their_headers(frame: bytes, words: str):
    with pytest.raises(p.ProtocolError) as info:
        p.check_shape(frame)
    assert info.value.code == p.ErrorCode.BAD_FRAME and words in info.value.reason
    with pytest.raises(p.ProtocolError):
        p.decode(frame)
    assert p.session_of(frame) == ("", -1)


def test_header_walk_stops_at_the_first_broken_bound_without_building_objects(monkeypatch):
    """The issue's 16 MB tree under a well-formed map: refused at its first nested header; msgpack never runs."""
    calls = []
    monkeypatch.setattr(p.msgpack, "unpackb", lambda *a, **k: calls.append(1))
    tree = b"\xdc\x00\xfa" + (b"\xdc\x00\xfa" + b"\xdc\x00\xfa" + b"\x90" * 250) * 250
    frame = b"\x83" + msgpack.packb("v") + b"\x01" + msgpack.packb("t") + msgpack.packb("open") + b"\xa1x" + tree
    with pytest.raises(p.ProtocolError, match="deeper"):
        p.decode(frame[: p.MAX_FRAME_BYTES])
    assert not calls
    assert p.session_of(frame[: p.MAX_FRAME_BYTES]) == ("", -1) and not calls


def test_every_message_passes_the_header_walk():
    for msg in _all_messages():
        p.check_shape(p.encode(msg))


def test_each_field_is_declared_once_with_its_kind():
    """The wire keys of every message are its dataclass fields (plus DERIVED ones), each with one kind."""
    for tag, cls in p.MESSAGE_TYPES.items():
        names = [name for name, _ in cls.table()]
        assert len(names) == len(set(names)) and not {"v", "t"} & set(names), tag
        assert all(isinstance(kind, p.Kind) for _, kind in cls.table()), tag


@pytest.mark.parametrize("cls", list(p.MESSAGE_TYPES.values()), ids=list(p.MESSAGE_TYPES))
def test_every_integer_bound_in_the_table_is_enforced(cls: type[p.Message]):
    good = {m.TAG: m for m in _all_messages()}[cls.TAG].to_wire()
    for name, kind in cls.table():
        if type(kind) is not p.Int:
            continue
        for bad in (kind.lo - 1, kind.hi + 1):
            with pytest.raises(p.ProtocolError) as info:
                p.decode(_raw(v=1, t=cls.TAG, **{**good, name: bad}))
            assert info.value.code == p.ErrorCode.BAD_FIELD and repr(name) in info.value.reason


def test_frame_bounds_are_read_from_the_table():
    assert p.MAX_DEPTH == 2 and p.MAX_NEW_TOKENS < p.MAX_OBJECTS
    assert p.MAX_IMAGE_BYTES + 2 * 4 * p.MAX_TEXT_CHARS + 5 * p.MAX_NEW_TOKENS < p.MAX_FRAME_BYTES < 4 * 2**20


def test_a_tokenizers_fingerprint_is_hashed_once_and_again_when_it_grows():
    """The vocabulary table is hashed once per tokenizer (each answer's OPEN carries it), and again after add_tokens."""
    from spec_decode_ros.bridge.fingerprint import tokenizer_fingerprint

    class Vocab:
        reads = 0

        def __init__(self) -> None:
            self.table = {"a": 0, "b": 1}

        def get_vocab(self) -> dict[str, int]:
            Vocab.reads += 1
            return dict(self.table)

        def __len__(self) -> int:
            return len(self.table)

    vocab = Vocab()
    first = tokenizer_fingerprint(vocab)
    assert tokenizer_fingerprint(vocab) == first and Vocab.reads == 1
    vocab.table["c"] = 2
    assert tokenizer_fingerprint(vocab) != first and Vocab.reads == 2
    assert tokenizer_fingerprint(Vocab()) == first  # equal tables, equal fingerprints, whatever the object
