"""What an operator sees of one verifier, over real sockets with the tiny target: the log lines of a robot's
session from connect to close and of a refused hostile frame (named by the robot's key, no token text), and a
Prometheus scrape whose counts agree with the robots' own (committed tokens, rounds, errors)."""

from __future__ import annotations

import threading

import zmq
from bridge.conftest import serving
from bridge.tiny_pair import PROMPTS
from fleet.conftest import MAX_NEW, wait_for

from cloud.conftest import robot_security, scrape, total
from spec_decode_ros.bridge import protocol as p
from spec_decode_ros.bridge.client import CloudClient
from spec_decode_ros.bridge.edge import EdgeConfig, EdgeResult, EdgeSession
from spec_decode_ros.bridge.security import ServerSecurity, make_curve_client
from spec_decode_ros.decoding.types import Prompt
from spec_decode_ros.service import metrics
from spec_decode_ros.service.metrics import ReplicaCollector


def run_robot(endpoint: str, draft, text: str, security=None) -> EdgeResult:
    client = CloudClient(endpoint, security=security)
    try:
        return EdgeSession(client, draft, Prompt(text), EdgeConfig(max_new_tokens=MAX_NEW)).run()
    finally:
        client.close()


def send_garbage(endpoint: str, security=None) -> p.Error:
    sock = zmq.Context.instance().socket(zmq.DEALER)
    sock.linger = 0
    if security is not None:
        make_curve_client(sock, security)
    sock.connect(endpoint)
    sock.send(b"\xc1 not msgpack")
    assert sock.poll(5000), "no answer to a bad frame"
    err = p.decode(sock.recv())
    sock.close(0)
    assert isinstance(err, p.Error)
    return err


def test_one_sessions_log_lines_from_connect_to_close_and_a_refused_frame(target, draft, keys, captured_logs):
    with serving(target, security=ServerSecurity.from_dir(keys)) as server:
        result = run_robot(server.endpoint, draft, PROMPTS[0], robot_security(keys, "robot1"))
        wait_for(lambda: captured_logs.events("session_closed"), 5, "the session's close logged")
        err = send_garbage(server.endpoint, robot_security(keys, "robot2"))
        wait_for(lambda: captured_logs.events("error_sent"), 5, "the refused frame logged")
    connected = captured_logs.events("robot_connected")
    assert [c["peer"] for c in connected] == ["robot1", "robot2"] and connected[0]["address"] == "127.0.0.1"
    opened, = captured_logs.events("session_opened")
    closed, = captured_logs.events("session_closed")
    assert opened["peer"] == closed["peer"] == "robot1" and opened["session"] == closed["session"]
    m = result.metrics
    assert closed["reason"] == "closed" and closed["rounds"] == m.num_drafts
    assert closed["tokens"] == m.num_accepted_tokens + m.num_drafts >= len(result.tokens)
    assert closed["acceptance"] == round(m.acceptance_rate, 3) and closed["duration_s"] > 0
    assert 0.0 <= closed["early_hit_rate"] <= 1.0
    refused, = captured_logs.events("error_sent")
    assert refused["code"] == err.code == "bad_frame" and refused["peer"] == "robot2" and refused["level"] == "WARNING"
    assert PROMPTS[0] not in captured_logs.text() and result.text not in captured_logs.text()


def test_a_scrape_agrees_with_the_robots_own_counts(target, draft):
    with serving(target) as server:
        http, _ = metrics.serve(server.events.metrics.registry, 0)
        try:
            results: list[EdgeResult] = []
            threads = [threading.Thread(target=lambda t=t: results.append(run_robot(server.endpoint, draft, t)))
                       for t in PROMPTS[:3]]
            for t in threads:
                t.start()
            for t in threads:
                t.join(120)
            errors = [send_garbage(server.endpoint) for _ in range(2)]
            wait_for(lambda: len(server.table) == 0, 5, "every session closed")
            got = scrape(f"http://127.0.0.1:{http.server_port}/metrics")
        finally:
            http.shutdown()
    assert len(results) == 3
    assert total(got, "spec_decode_rounds_total") == sum(r.metrics.num_drafts for r in results)
    assert total(got, "spec_decode_committed_tokens_total") == sum(
        r.metrics.num_accepted_tokens + r.metrics.num_drafts for r in results)
    assert total(got, "spec_decode_drafted_tokens_total") == sum(r.metrics.num_draft_tokens for r in results)
    assert total(got, "spec_decode_errors_total", code="bad_frame") == len(errors) == 2
    assert total(got, "spec_decode_opens_total", kind="fresh") == 3
    assert total(got, "spec_decode_sessions_open") == 0
    assert total(got, "spec_decode_verify_forward_seconds_count") >= 1
    assert total(got, "spec_decode_batch_rows_sum") == total(got, "spec_decode_rounds_total")
    acceptance = sum(r.metrics.num_accepted_tokens for r in results) / sum(r.metrics.num_draft_tokens for r in results)
    assert abs(total(got, "spec_decode_acceptance_rate") - acceptance) < 1e-9


def test_the_front_reexposes_each_replicas_series_with_its_label(target):
    with serving(target) as a, serving(target) as b:
        a.events.metrics.committed.inc(3)
        b.events.metrics.committed.inc(4)
        texts = [a.events.metrics.exposition(), None, b.events.metrics.exposition()]  # replica 1 did not answer
        from prometheus_client import CollectorRegistry

        registry = CollectorRegistry()
        registry.register(ReplicaCollector(lambda: texts))
        http, _ = metrics.serve(registry, 0)
        try:
            got = scrape(f"http://127.0.0.1:{http.server_port}/metrics")
        finally:
            http.shutdown()
    assert total(got, "spec_decode_committed_tokens_total", replica="0") == 3
    assert total(got, "spec_decode_committed_tokens_total", replica="2") == 4
    assert total(got, "spec_decode_committed_tokens_total") == 7
    assert not any(dict(labels).get("replica") == "1" for _, labels in got)


def test_error_lines_are_budgeted_per_peer_but_every_error_is_counted():
    from spec_decode_ros.service.events import LineBudget

    budget = LineBudget(lines=2, window_s=10.0)
    assert [budget.take("a", t) for t in (0.0, 1.0, 2.0, 3.0)] == [(True, 0), (True, 0), (False, 0), (False, 0)]
    assert budget.take("b", 3.0) == (True, 0)  # another peer has its own budget
    assert budget.take("a", 11.0) == (True, 2)  # next window: the two suppressed lines are reported


def test_a_flood_penalty_is_logged_and_counted(target, captured_logs):
    from spec_decode_ros.bridge.flood_guard import FloodLimits

    with serving(target, flood=FloodLimits(refused_bytes=64)) as server:
        sock = zmq.Context.instance().socket(zmq.DEALER)
        sock.linger = 0
        sock.connect(server.endpoint)
        for _ in range(4):
            sock.send(b"\xc1" * 40)  # refused frames of 40 bytes: the third one crosses 64 bytes
        wait_for(lambda: captured_logs.events("flood_penalty"), 5, "the penalty logged")
        sock.close(0)
        penalty, = captured_logs.events("flood_penalty")
        assert penalty["peer"] == "127.0.0.1" and penalty["backoff_s"] == 10.0
        assert server.events.metrics.registry.get_sample_value("spec_decode_flood_penalties_total") == 1
