"""The verifier's fused first round over real sockets (server in a thread, the tiny pair): a fresh OPEN is answered
with no forward, its KV bytes charged at once; its first verification (a DRAFT, or cloud_ar's first step) prefills it
in the same forward, so the answer's first round costs one model forward less, and every mode still gives the
target's greedy output token for token; ``--no-fuse-first-round`` turns it off."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from bridge.conftest import MAX_NEW, serving
from bridge.tiny_pair import PROMPTS
from spec_decode_ros.bridge import protocol as p
from spec_decode_ros.bridge.client import CloudClient
from spec_decode_ros.bridge.edge import EdgeConfig, EdgeSession
from spec_decode_ros.bridge.sessions import Limits
from spec_decode_ros.cloud.config import build_parser
from spec_decode_ros.decoding import kv
from spec_decode_ros.decoding.types import Prompt


def _expect(client: CloudClient, kind: type[p.Message], timeout: float = 10.0) -> p.Message:
    msg = client.recv(timeout)
    assert isinstance(msg, kind), f"expected {kind.__name__}, got {msg!r}"
    return msg


@contextmanager
def _counting(target) -> Iterator[list[int]]:
    """The target model's forwards (prefills and verifications alike), one entry each."""
    calls: list[int] = []
    hook = target.model.model.register_forward_pre_hook(lambda *a: calls.append(1))
    try:
        yield calls
    finally:
        hook.remove()


def _first_round(target, references, fuse: bool) -> tuple[int, tuple[int, int], tuple[int, int]]:
    """Model forwards from a fresh OPEN to its first FINAL, and the first round's early and final verdicts."""
    ref = references[PROMPTS[0]]
    with serving(target, fuse_first_round=fuse) as server, _counting(target) as calls:
        client = CloudClient(server.endpoint)
        client.send(p.Open(session="s", text=PROMPTS[0], max_new_tokens=MAX_NEW))
        opened = _expect(client, p.Opened)
        assert (len(calls) == 0) == fuse and opened.resumed == 0  # fused: OPENED with no forward
        client.send(p.Draft(session="s", round=0, committed=0, tokens=tuple(ref[:3])))
        early, final = _expect(client, p.Early), _expect(client, p.Final)
        assert early.round == final.round == 0 and (final.n, final.y) == (3, ref[3])
        assert server.stats.forwards == 1  # one verification either way
        client.close()
        return len(calls), (early.n, early.y), (final.n, final.y)


def test_a_fresh_sessions_first_draft_is_answered_with_one_forward_less(target, references):
    assert target.fuses_exactly
    plain = _first_round(target, references, fuse=False)
    fused = _first_round(target, references, fuse=True)
    assert (plain[0], fused[0]) == (2, 1) and plain[1:] == fused[1:]


@pytest.mark.parametrize("mode", ["cloud_ar", "sd", "sd_ee_predraft"])
def test_fused_sessions_give_the_targets_output_with_no_forward_but_their_verifications(target, draft, references,
                                                                                         mode):
    hits = 0
    with serving(target) as server:
        for text in PROMPTS:
            client = CloudClient(server.endpoint)
            before = server.stats.forwards
            with _counting(target) as calls:
                result = EdgeSession(client, draft, Prompt(text), EdgeConfig(mode=mode, max_new_tokens=MAX_NEW)).run()
            client.close()
            assert result.tokens == references[text], text
            assert len(calls) == server.stats.forwards - before > 0  # no prefill forward of its own
            hits += result.metrics.early_exit_hits
    assert hits > 0 or mode != "sd_ee_predraft"  # early exits work in the fused forward too


def test_a_deferred_session_is_charged_its_kv_bytes_before_any_forward(target):
    """The memory cap holds before allocation: deferred sessions count the bytes their prefill will hold, so a
    third OPEN evicts the least recently used one although no forward ran yet."""
    n = target.model.encode(Prompt(PROMPTS[0])).length
    per_session = n * kv.bytes_per_token(target.model.model.config, 4)
    with serving(target, limits=Limits(memory_cap_bytes=per_session * 3 // 2)) as server, _counting(target) as calls:
        a, b, c = (CloudClient(server.endpoint) for _ in range(3))
        for client, sid in ((a, "a"), (b, "b")):
            client.send(p.Open(session=sid, text=PROMPTS[0], max_new_tokens=MAX_NEW))
            _expect(client, p.Opened)
        assert server.table.memory_bytes() == 2 * per_session
        c.send(p.Open(session="c", text=PROMPTS[0], max_new_tokens=MAX_NEW))
        _expect(c, p.Opened)
        err = _expect(a, p.Error)
        assert err.code == "evicted" and "memory" in err.reason and calls == []
        assert sorted(e.sid for e in server.table) == ["b", "c"]
        for client in (a, b, c):
            client.close()


def test_the_cloud_command_turns_fusion_off():
    assert build_parser().parse_args(["--model", "m"]).fuse_first_round is True
    assert build_parser().parse_args(["--model", "m", "--no-fuse-first-round"]).fuse_first_round is False


class _FailingOnce:
    """The real target whose next ``verify`` raises (a fused forward that fails, e.g. out of memory); all else is
    the target's."""

    def __init__(self, target) -> None:
        self.inner, self.armed = target, True

    def __getattr__(self, name: str):
        return getattr(self.inner, name)

    def verify(self, sessions, drafts, **kw):
        if self.armed:
            self.armed = False
            assert all(s.deferred is not None for s in sessions)  # it is the fused first round that fails
            raise RuntimeError("CUDA out of memory")
        return self.inner.verify(sessions, drafts, **kw)


def test_a_failed_fused_forward_evicts_with_an_error_and_the_reopened_session_verifies(target, references):
    """The robot is told (ERROR ``evicted``), re-opens, and its next first round succeeds: the target's tokens."""
    ref = references[PROMPTS[1]]
    with serving(_FailingOnce(target)) as server:
        client = CloudClient(server.endpoint)
        client.send(p.Open(session="s", text=PROMPTS[1], max_new_tokens=MAX_NEW))
        _expect(client, p.Opened)
        client.send(p.Draft(session="s", round=0, committed=0, tokens=tuple(ref[:2])))
        err = _expect(client, p.Error)
        assert err.code == "evicted" and "out of memory" in err.reason and "s" not in server.table
        client.send(p.Open(session="s", text=PROMPTS[1], max_new_tokens=MAX_NEW))
        _expect(client, p.Opened)
        client.send(p.Draft(session="s", round=0, committed=0, tokens=tuple(ref[:2])))
        _expect(client, p.Early)
        final = _expect(client, p.Final)
        assert (final.n, final.y) == (2, ref[2])
        client.close()
