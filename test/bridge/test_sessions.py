"""Session table: stateful checks of DRAFT frames and the server's limits (count, idle expiry, memory)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pytest

from spec_decode_ros.bridge.protocol import Draft, ErrorCode, Open, ProtocolError
from spec_decode_ros.bridge.sessions import Limits, SessionEntry, SessionTable


@dataclass
class Held:
    """The table's view of a target session (the engine's TargetSession has these members)."""

    generated: list[int] = field(default_factory=list)
    finished: bool = False
    nbytes: int = 100

    def memory_bytes(self) -> int:
        return self.nbytes


def _entry(sid: str, owner: str | None = None, *, last: float = 0.0, max_new: int = 8, ar: bool = False,
           nbytes: int = 100) -> SessionEntry:
    return SessionEntry(sid=sid, route=[b"r"], owner=owner, target=Held(nbytes=nbytes),
                        request=Open(session=sid, text="x", max_new_tokens=max_new, autoregressive=ar), last_active=last)


def _code(fn) -> ErrorCode:
    with pytest.raises(ProtocolError) as info:
        fn()
    return info.value.code


def test_draft_checks_follow_the_round_protocol():
    table = SessionTable()
    e = _entry("a", owner="k")
    table.add(e)
    d = Draft(session="a", round=0, committed=0, tokens=(1, 2))
    assert table.check_draft(d, "k", 10) is e
    assert _code(lambda: table.check_draft(d, "other", 10)) == ErrorCode.NOT_OWNER
    assert _code(lambda: table.check_draft(Draft(session="zz", round=0, committed=0, tokens=()), "k", 10)) \
        == ErrorCode.UNKNOWN_SESSION
    assert _code(lambda: table.check_draft(Draft(session="a", round=1, committed=0, tokens=()), "k", 10)) \
        == ErrorCode.BAD_ROUND
    assert _code(lambda: table.check_draft(Draft(session="a", round=0, committed=3, tokens=()), "k", 10)) \
        == ErrorCode.BAD_LENGTH
    assert _code(lambda: table.check_draft(Draft(session="a", round=0, committed=0, tokens=(1, 10)), "k", 10)) \
        == ErrorCode.BAD_TOKEN
    probs = Draft(session="a", round=0, committed=0, tokens=(1,), prob_ids=np.array([[1, 12]]),
                  prob_values=np.array([[0.5, 0.5]], dtype=np.float32))
    assert _code(lambda: table.check_draft(probs, "k", 10)) == ErrorCode.BAD_TOKEN
    e.in_flight, e.next_round = True, 1
    assert _code(lambda: table.check_draft(Draft(session="a", round=1, committed=0, tokens=()), "k", 10)) \
        == ErrorCode.BAD_ROUND
    e.in_flight = False
    e.target.generated.extend(range(8))
    assert _code(lambda: table.check_draft(Draft(session="a", round=1, committed=8, tokens=()), "k", 10)) \
        == ErrorCode.FINISHED
    table.add(_entry("ar", owner="k", ar=True))
    assert _code(lambda: table.check_draft(Draft(session="ar", round=0, committed=0, tokens=()), "k", 10)) \
        == ErrorCode.UNSUPPORTED


def test_open_respects_owner_and_session_limit():
    table = SessionTable(Limits(max_sessions=2))
    table.add(_entry("a", owner="k"))
    table.add(_entry("b", owner="k"))
    assert _code(lambda: table.check_open(Open(session="c", text=""), "k")) == ErrorCode.SESSION_LIMIT
    assert _code(lambda: table.check_open(Open(session="a", text=""), "other")) == ErrorCode.NOT_OWNER
    assert table.check_open(Open(session="a", text=""), "k").sid == "a"  # re-open replaces


def test_an_admitted_open_counts_against_the_limits_and_claims_what_it_displaces_once():
    """Admission is checked once, on arrival: OPENs under way count as sessions, and two of one client over its limit
    claim two different victims (not the same one twice), so the client never ends up over its limit."""
    table = SessionTable(Limits(max_sessions=4, max_sessions_per_client=2))
    table.add(_entry("a1", owner="k", last=0.0))
    table.add(_entry("a2", owner="k", last=1.0))
    first = table.admit(Open(session="a3", text=""), "k")
    second = table.admit(Open(session="a4", text=""), "k")
    assert (first.victim.sid, second.victim.sid) == ("a1", "a2")
    assert _code(lambda: table.admit(Open(session="a5", text=""), "k")) == ErrorCode.SESSION_LIMIT  # all claimed
    assert _code(lambda: table.admit(Open(session="a3", text=""), "other")) == ErrorCode.NOT_OWNER
    assert _code(lambda: table.admit(Open(session="a3", text=""), "k")) == ErrorCode.BUSY  # being opened
    assert _code(lambda: table.admit(Open(session="b", text=""), "j")) == ErrorCode.SESSION_LIMIT  # 2 held + 2 admitted
    table.withdraw(second)  # a failed OPEN: its count and its claim are free again
    assert table.admit(Open(session="a4", text=""), "k").victim.sid == "a2"
    assert table.displaced(first) == [table.get("a1", "k")]
    table.remove("a1")
    assert table.displaced(first) == [], "a claimed session that went meanwhile is not dropped again"
    table.add(_entry("a3", owner="k"))  # its session made: the admission ends (a2, a3 held, a4 admitted)
    assert table.admit(Open(session="b", text=""), "j").victim is None


def test_idle_sessions_expire_but_never_one_in_flight():
    table = SessionTable(Limits(idle_timeout_s=10))
    table.add(_entry("old", last=0.0))
    table.add(_entry("busy", last=0.0))
    table.add(_entry("fresh", last=95.0))
    next(e for e in table if e.sid == "busy").in_flight = True
    assert [e.sid for e in table.expired(now=100.0)] == ["old"]


def test_memory_cap_evicts_least_recently_used_and_refuses_when_all_busy():
    table = SessionTable(Limits(memory_cap_bytes=250))
    for i, sid in enumerate(["a", "b", "c"]):
        table.add(_entry(sid, last=float(i)))
    assert table.memory_bytes() == 300
    assert [e.sid for e in table.over_memory(keep={"a"})] == ["b"]
    for e in table:
        e.in_flight = True
    assert table.over_memory() == []
    assert _code(lambda: table.check_open(Open(session="d", text=""), None)) == ErrorCode.MEMORY_LIMIT


def test_limits_must_be_positive():
    with pytest.raises(ValueError, match="positive"):
        Limits(max_sessions=0)
