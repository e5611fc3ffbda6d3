"""The cloud verifier over real sockets (server in a thread): validation replies, round order, batching,
early verdicts before final ones, limits, resume."""

from __future__ import annotations

import threading
import time

import msgpack
import pytest

from bridge.conftest import MAX_NEW, serving
from bridge.tiny_pair import PROMPTS
from spec_decode_ros.bridge import protocol as p
from spec_decode_ros.bridge.client import CloudClient
from spec_decode_ros.bridge.edge import EdgeConfig, EdgeSession
from spec_decode_ros.bridge.sessions import Limits
from spec_decode_ros.decoding.types import Prompt


def _expect(client: CloudClient, kind: type[p.Message], timeout: float = 10.0) -> p.Message:
    msg = client.recv(timeout)
    assert isinstance(msg, kind), f"expected {kind.__name__}, got {msg!r}"
    return msg


def _open(client: CloudClient, sid: str, text: str = PROMPTS[0], **kw: object) -> p.Opened:
    client.send(p.Open(session=sid, text=text, max_new_tokens=MAX_NEW, **kw))
    return _expect(client, p.Opened)


def test_bad_frames_get_an_error_and_the_server_keeps_serving(target):
    with serving(target) as server:
        client = CloudClient(server.endpoint)
        for frame, code in [(b"\x00\xff", "bad_frame"), (msgpack.packb({"v": 9, "t": "ping", "sent": 0.0}), "bad_version"),
                            (msgpack.packb({"v": 1, "t": "boom"}), "unknown_type"),
                            (msgpack.packb({"v": 1, "t": "draft", "session": "x", "round": 0}), "bad_field")]:
            client.sock.send(frame)
            err = _expect(client, p.Error)
            assert err.code == code and err.reason
        client.send(p.Final(session="x", round=0, n=0, y=0))
        assert _expect(client, p.Error).code == "unsupported"
        assert client.ping(5.0)
        client.close()


def test_draft_checks_round_order_committed_length_and_vocabulary(target, references):
    ref = references[PROMPTS[0]]
    with serving(target) as server:
        client = CloudClient(server.endpoint)
        opened = _open(client, "s1")
        assert opened.exit_layers == (2,)
        assert opened.eos_token_ids == tuple(sorted(target.model.eos_token_ids))  # the robot stops on the target's
        client.send(p.Draft(session="s1", round=1, committed=0, tokens=(ref[0],)))
        assert (e := _expect(client, p.Error)).code == "bad_round" and e.session == "s1" and e.round == 1
        client.send(p.Draft(session="s1", round=0, committed=3, tokens=(ref[0],)))
        assert _expect(client, p.Error).code == "bad_length"
        client.send(p.Draft(session="s1", round=0, committed=0, tokens=(10_000,)))
        assert _expect(client, p.Error).code == "bad_token"
        client.send(p.Draft(session="nope", round=0, committed=0, tokens=()))
        assert _expect(client, p.Error).code == "unknown_session"
        # the refused frames changed nothing: round 0 still verifies, and EARLY comes before FINAL
        client.send(p.Draft(session="s1", round=0, committed=0, tokens=(ref[0], ref[1])))
        early = _expect(client, p.Early)
        final = _expect(client, p.Final)
        assert (early.round, final.round) == (0, 0) and early.exit_layer == 2
        assert final.n == 2 and final.y == ref[2] and final.busy_s > 0
        client.send(p.Draft(session="s1", round=0, committed=3, tokens=()))
        assert _expect(client, p.Error).code == "bad_round"
        client.send(p.Close(session="s1"))
        assert _expect(client, p.Closed).session == "s1"
        client.close()


def test_open_refuses_a_foreign_tokenizer_and_an_image_for_a_text_model(target):
    with serving(target) as server:
        client = CloudClient(server.endpoint)
        client.send(p.Open(session="a", text="x y", vocab_size=5))
        assert _expect(client, p.Error).code == "tokenizer_mismatch"
        client.send(p.Open(session="a", text="x y", tokenizer_hash="0" * 32))
        assert _expect(client, p.Error).code == "tokenizer_mismatch"
        client.send(p.Open(session="a", text="x y", image_jpeg=b"\xff\xd8junk"))
        assert _expect(client, p.Error).code == "unsupported"
        client.send(p.StatsRequest())
        assert _expect(client, p.Stats).sessions == 0
        client.close()


def test_resume_rebuilds_the_session_from_committed_tokens(target, references):
    ref = references[PROMPTS[2]]
    with serving(target) as server:
        client = CloudClient(server.endpoint)
        client.send(p.Open(session="r", text=PROMPTS[2], max_new_tokens=MAX_NEW, autoregressive=True,
                           committed=tuple(ref[:5])))
        assert _expect(client, p.Opened).resumed == 5
        got = []
        while True:
            final = _expect(client, p.Final)
            got.append(final.y)
            if final.finished:
                break
        assert ref[:5] + got[: MAX_NEW - 5] == ref
        client.close()


def test_drafts_that_arrive_together_are_verified_in_one_batched_forward(target, draft, references):
    with serving(target, max_batch=4, max_wait_s=0.05) as server:
        results: dict[str, list[int]] = {}
        batches: dict[str, list[int]] = {}

        def robot(text: str) -> None:
            client = CloudClient(server.endpoint)
            session = EdgeSession(client, draft, Prompt(text), EdgeConfig(mode="sd_ee_predraft", max_new_tokens=MAX_NEW,
                                                                        reply_timeout_s=20))
            orig = session._account
            batches[text] = []

            def account(final: p.Final) -> None:
                batches[text].append(final.batch)
                orig(final)

            session._account = account  # record the batch size the server reports per round
            results[text] = session.run().tokens
            client.close()

        threads = [threading.Thread(target=robot, args=(t,)) for t in PROMPTS]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
    assert results == {t: references[t] for t in PROMPTS}
    assert max(max(b) for b in batches.values()) >= 2, batches


def test_a_lone_robots_draft_does_not_wait_out_the_batching_window(target, references):
    """max_wait_s is for other robots' drafts to join; with one live session there is nobody to wait for."""
    window = 5.0
    with serving(target, max_batch=8, max_wait_s=window) as server:
        client = CloudClient(server.endpoint)
        _open(client, "s1")
        ref = references[PROMPTS[0]]
        sent = time.monotonic()
        client.send(p.Draft(session="s1", round=0, committed=0, tokens=(ref[0], ref[1])))
        _expect(client, p.Early, timeout=2 * window)
        final = _expect(client, p.Final)
        assert time.monotonic() - sent < window / 2, "the lone DRAFT waited for the batching window"
        assert (final.n, final.y) == (2, ref[2])
        client.close()


def test_session_limit_and_idle_expiry(target):
    with serving(target, limits=Limits(max_sessions=1, idle_timeout_s=0.3), housekeeping_s=0.05) as server:
        client = CloudClient(server.endpoint)
        _open(client, "a")
        client.send(p.Open(session="b", text=PROMPTS[0]))
        assert _expect(client, p.Error).code == "session_limit"
        err = _expect(client, p.Error, timeout=5)  # a goes idle and is evicted, and told so
        assert err.code == "evicted" and err.session == "a" and "idle" in err.reason
        _open(client, "b")
        client.close()


def test_memory_cap_evicts_the_least_recently_used_session(target):
    with serving(target, limits=Limits(memory_cap_bytes=1)) as server:
        a, b = CloudClient(server.endpoint), CloudClient(server.endpoint)
        _open(a, "a")
        _open(b, "b")
        err = _expect(a, p.Error)
        assert err.code == "evicted" and "memory" in err.reason
        b.send(p.Draft(session="b", round=0, committed=0, tokens=()))
        _expect(b, p.Early)
        assert _expect(b, p.Final).round == 0
        a.close()
        b.close()


def test_stats_count_forwards_and_a_robot_cannot_reset_them(target, references):
    with serving(target) as server:
        client = CloudClient(server.endpoint)
        _open(client, "s")
        client.send(p.Draft(session="s", round=0, committed=0, tokens=tuple(references[PROMPTS[0]][:3])))
        _expect(client, p.Early)
        _expect(client, p.Final)
        client.send(p.StatsRequest(reset=True))
        stats = _expect(client, p.Stats)
        assert stats.forwards == 1 and stats.rows == 1 and stats.tokens == 4 and stats.busy_s > 0
        assert stats.sessions == 1 and stats.memory_bytes > 0
        client.send(p.StatsRequest())
        assert _expect(client, p.Stats).forwards == 1  # ``reset`` is ignored: the counters are the operator's
        client.close()
        time.sleep(0)


@pytest.mark.parametrize("bad", ["prob_sum", "token_not_in_support"])
def test_sampled_drafts_with_bad_probabilities_are_refused(target, bad):
    import numpy as np

    ids = np.array([[5, 6]])
    values = np.array([[0.7, 0.7]] if bad == "prob_sum" else [[1.0, 0.0]], dtype=np.float32)
    tokens = (5,) if bad == "prob_sum" else (6,)
    with serving(target) as server:
        client = CloudClient(server.endpoint)
        _open(client, "s")
        client.send(p.Draft(session="s", round=0, committed=0, tokens=tokens, prob_ids=ids, prob_values=values))
        err = _expect(client, p.Error)
        assert err.code == "bad_field" and err.session == "s"
        client.close()


def test_cloud_command_refuses_half_a_curve_configuration(tmp_path, capsys):
    from spec_decode_ros.cloud import command

    assert command.main(["--model", str(tmp_path), "--secret-key", str(tmp_path / "k")]) == 2
    assert "--allow-dir" in capsys.readouterr().err


@pytest.mark.timeout(60)
def test_frames_behind_an_unanswered_open_wait_for_it_in_order_and_too_many_are_refused_busy(target, references):
    """While the OPENs wait for their encoding, a robot's frames behind its OPEN are parked: handled after it is
    answered, in order (a parked OPEN parks the frames behind it again), and one more than ``MAX_PARKED`` gets ERROR
    ``busy`` at once; nothing else is refused or lost."""
    from spec_decode_ros.bridge.server import MAX_PARKED

    ref = references[PROMPTS[0]]
    gate = threading.Event()
    with serving(target) as server:
        server._encoder.submit(gate.wait, 30)  # every OPEN's encoding waits behind this until the test lets it go
        robot, greedy = CloudClient(server.endpoint), CloudClient(server.endpoint)
        for msg in (p.Open(session="a", text=PROMPTS[0], max_new_tokens=MAX_NEW),
                    p.Draft(session="a", round=0, committed=0, tokens=(ref[0],)),
                    p.Open(session="b", text=PROMPTS[0], max_new_tokens=MAX_NEW),
                    p.Draft(session="b", round=0, committed=0, tokens=(ref[0],)), p.Ping(sent=1.0)):
            robot.send(msg)
        greedy.send(p.Open(session="c", text=PROMPTS[0], max_new_tokens=MAX_NEW))
        for i in range(MAX_PARKED + 1):
            greedy.send(p.Ping(sent=float(i)))
        busy = _expect(greedy, p.Error)
        assert busy.code == "busy", busy
        gate.set()
        got = []
        while len(got) < 5:
            msg = robot.recv(10)
            assert msg is not None and not isinstance(msg, p.Error), f"after {got}: {msg!r}"
            if not isinstance(msg, p.Early):
                got.append((type(msg).__name__, getattr(msg, "session", "")))
        order = {m: got.index(m) for m in got}
        assert order[("Opened", "a")] < order[("Final", "a")] and order[("Opened", "a")] < order[("Opened", "b")]
        assert order[("Opened", "b")] < order[("Final", "b")] and order[("Opened", "b")] < order[("Pong", "")]
        _expect(greedy, p.Opened)
        assert [type(_expect(greedy, p.Pong)) for _ in range(MAX_PARKED)] == [p.Pong] * MAX_PARKED
        robot.close()
        greedy.close()
