"""The fleet front over real sockets and real verifier servers (in threads, no Ray): placement, stickiness,
ownership, STATS fan-out, CURVE at the front, and eviction + resume when a replica goes away."""

from __future__ import annotations

import contextlib
import threading
import time

import pytest
import zmq
from bridge.tiny_pair import PROMPTS

from fleet.conftest import MAX_NEW, fleet_of_threads, wait_for
from spec_decode_ros.bench.cost import ForwardCost
from spec_decode_ros.bridge import protocol as p
from spec_decode_ros.bridge.client import CloudClient, CloudError
from spec_decode_ros.bridge.edge import EdgeConfig, EdgeSession, TokenEvent
from spec_decode_ros.bridge.keys import create_keypair
from spec_decode_ros.bridge.security import ClientSecurity, ServerSecurity, make_curve_client
from spec_decode_ros.decoding.types import Prompt


def _open(client: CloudClient, sid: str, text: str = PROMPTS[0]) -> p.Message:
    return client.request(p.Open(session=sid, text=text, max_new_tokens=MAX_NEW), p.Opened, 30)


@pytest.mark.timeout(30)  # a session that loses its replica resumes forever: fail in seconds, not at pytest's 600 s
def test_outputs_through_the_front_are_the_targets_and_sessions_spread_over_replicas(target_dir, draft, references):
    with fleet_of_threads(target_dir, 2) as (front, servers):
        client = CloudClient(front.endpoint)
        for text in PROMPTS:
            result = EdgeSession(client, draft, Prompt(text), EdgeConfig(max_new_tokens=MAX_NEW)).run()
            assert result.tokens == references[text]
        # four open sessions: least-loaded placement puts two on each replica
        for i in range(4):
            _open(client, f"s{i}")
        assert sorted(front.placement().values()) == [0, 0, 1, 1]
        assert [len(s.server.table) for s in servers] == [2, 2]
        stats = client.request(p.StatsRequest(), p.Stats, 10)
        assert isinstance(stats, p.Stats)
        assert stats.forwards == sum(s.server.stats.forwards for s in servers) > 0
        assert stats.sessions == 4
        client.close()


@pytest.mark.timeout(60)
def test_a_session_answers_only_the_robot_that_opened_it(target_dir):
    """The front itself refuses another robot's DRAFT, CLOSE and OPEN of a session: none of them reaches a replica
    (whose own owner check would refuse them too, so only its error count shows who refused)."""
    with fleet_of_threads(target_dir, 2) as (front, servers):
        owner, thief = CloudClient(front.endpoint), CloudClient(front.endpoint)
        _open(owner, "mine")
        replica = front.placement()["mine"]
        with pytest.raises(CloudError, match="not_owner"):
            thief.request(p.Draft(session="mine", round=0, committed=0, tokens=(1, 2)), p.Final, 10)
        with pytest.raises(CloudError, match="not_owner"):
            thief.request(p.Close(session="mine"), p.Closed, 10)
        with pytest.raises(CloudError, match="not_owner"):  # re-opening another robot's id does not move it
            _open(thief, "mine")
        assert front.placement() == {"mine": replica}
        with pytest.raises(CloudError, match="unknown_session"):
            thief.request(p.Draft(session="nobody", round=0, committed=0, tokens=(1,)), p.Final, 10)
        assert [s.server.stats.errors for s in servers] == [0, 0], "a thief's frame reached a replica"
        assert isinstance(owner.request(p.Close(session="mine"), p.Closed, 10), p.Closed)
        assert front.placement() == {}
        owner.close()
        thief.close()


@pytest.mark.timeout(60)
def test_each_session_stays_on_the_replica_that_holds_its_cache(target_dir):
    """Stickiness: with one session on each replica, every DRAFT goes to its own session's replica (anywhere else
    it would meet ``unknown_session``), again and again, and no replica learns of the other's session."""
    with fleet_of_threads(target_dir, 2) as (front, servers):
        client = CloudClient(front.endpoint)
        for sid in ("a", "b"):
            _open(client, sid)
        placement = front.placement()
        assert sorted(placement.values()) == [0, 1]
        for rnd in range(3):
            for sid in ("a", "b"):
                final = client.request(p.Draft(session=sid, round=rnd, committed=rnd, tokens=()), p.Final, 10)
                assert isinstance(final, p.Final) and final.session == sid
        assert front.placement() == placement
        assert [sorted(e.sid for e in s.server.table) for s in servers] == \
            [[sid for sid, k in sorted(placement.items()) if k == i] for i in range(2)]
        assert [s.server.stats.errors for s in servers] == [0, 0]
        client.close()


@pytest.mark.slow  # seconds of sampling statistics, handshakes or waits: out of the one-minute loop
@pytest.mark.timeout(90)
def test_curve_is_enforced_at_the_front(tmp_path, target_dir, draft, references):
    create_keypair(tmp_path, "cloud")
    create_keypair(tmp_path / "allowed", "robot")
    create_keypair(tmp_path, "stranger")
    security = ServerSecurity(tmp_path / "cloud.key_secret", tmp_path / "allowed")
    with fleet_of_threads(target_dir, 2, security=security) as (front, _):
        robot = CloudClient(front.endpoint, security=ClientSecurity(tmp_path / "allowed" / "robot.key_secret",
                                                                    tmp_path / "cloud.key"))
        result = EdgeSession(robot, draft, Prompt(PROMPTS[1]), EdgeConfig(max_new_tokens=MAX_NEW)).run()
        assert result.tokens == references[PROMPTS[1]]
        for security in (ClientSecurity(tmp_path / "stranger.key_secret", tmp_path / "cloud.key"), None):
            stranger = zmq.Context.instance().socket(zmq.DEALER)
            stranger.linger = 0
            if security is not None:
                make_curve_client(stranger, security)
            stranger.connect(front.endpoint)
            with contextlib.suppress(zmq.Again):  # a refused handshake may leave nothing to send on
                stranger.send(p.encode(p.Ping(sent=1.0)), zmq.NOBLOCK)
            assert not stranger.poll(1000), "a client without an allowed key was answered"
            stranger.close(0)
        robot.close()


def test_robots_on_a_replica_that_goes_away_resume_on_the_other_with_the_targets_output(target_dir, draft,
                                                                                      references):
    with fleet_of_threads(target_dir, 2) as (front, servers):
        gate = threading.Event()
        results: dict[int, list[int]] = {}
        last_token: dict[int, float] = {}

        def robot(i: int) -> None:
            client = CloudClient(front.endpoint)

            def on_token(ev: TokenEvent) -> None:
                last_token[i] = time.monotonic()
                if ev.index == 1:
                    gate.wait(30)  # hold every robot mid-answer until the replica is gone

            # a long reply timeout (20 s): only the front's ERROR evicted makes them resume quickly
            cfg = EdgeConfig(max_new_tokens=MAX_NEW, gamma=1, reply_timeout_s=20.0)
            results[i] = EdgeSession(client, draft, Prompt(PROMPTS[i % len(PROMPTS)]), cfg,
                                     on_token=on_token).run().tokens
            client.close()

        threads = [threading.Thread(target=robot, args=(i,), daemon=True) for i in range(4)]
        for t in threads:
            t.start()
        wait_for(lambda: len(front.placement()) == 4, 30, "four sessions open")
        on_first = [sid for sid, k in front.placement().items() if k == 0]
        assert on_first
        servers[0].kill()
        killed_at = time.monotonic()
        wait_for(lambda: not front.live()[0], 10, "front saw the replica go")
        gate.set()
        for t in threads:
            t.join(60)
        assert all(results[i] == references[PROMPTS[i % len(PROMPTS)]] for i in range(4))
        assert front.evicted == len(on_first)
        assert set(front.placement().values()) <= {1}
        assert all(last_token[i] - killed_at < 10 for i in range(4))  # nobody waited for its 20 s timeout
        assert len(servers[1].server.table) <= 4


def test_no_live_replica_means_no_answer_not_an_error(target_dir):
    with fleet_of_threads(target_dir, 1) as (front, servers):
        client = CloudClient(front.endpoint)
        assert client.ping(2.0)
        servers[0].kill()
        wait_for(lambda: not front.live()[0], 10, "front saw the replica go")
        assert not client.ping(0.5)
        client.send(p.Open(session="late", text=PROMPTS[0], max_new_tokens=MAX_NEW))
        assert client.recv(0.5) is None
        client.close()


def test_a_bad_frame_is_refused_at_the_front(target_dir):
    with fleet_of_threads(target_dir, 1) as (front, servers):
        sock = zmq.Context.instance().socket(zmq.DEALER)
        sock.linger = 0
        sock.connect(front.endpoint)
        sock.send(b"\x93not msgpack map")
        assert sock.poll(5000)
        err = p.decode(sock.recv())
        assert isinstance(err, p.Error) and err.code == p.ErrorCode.BAD_FRAME.value
        assert servers[0].server.stats.errors == 0  # never reached the replica
        sock.close(0)


def test_early_verdicts_pass_the_front_while_the_replica_still_computes(target_dir):
    # each forward lasts 0.6 s; the exit (layer 2 of 4) answers at half of it: EARLY must reach the robot about
    # 0.3 s before FINAL, i.e. the front forwards it as it comes and does not wait for the forward to end
    with fleet_of_threads(target_dir, 1, wrap=ForwardCost(a_s=0.6, b_s=0.0)) as (front, _):
        client = CloudClient(front.endpoint)
        client.request(p.Open(session="e", text=PROMPTS[0], max_new_tokens=MAX_NEW, early_exit=True), p.Opened, 30)
        client.send(p.Draft(session="e", round=0, committed=0, tokens=(5, 6, 7)))
        got = []
        while len(got) < 2:
            msg = client.recv(10)
            assert msg is not None
            got.append((type(msg), time.monotonic()))
        assert [kind for kind, _ in got] == [p.Early, p.Final]
        assert got[1][1] - got[0][1] > 0.15
        client.close()
