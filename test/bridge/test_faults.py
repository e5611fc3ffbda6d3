"""Two processes over real sockets: the lossless run with early exits and pre-drafting, and the issue's fault
tests (server killed and restarted mid-generation, a robot vanishing mid-round, 10,000 malformed frames, an
unauthorised client). After each, well-behaved robots still get exactly the target's output."""

from __future__ import annotations

import contextlib
import random
import threading
import time

import msgpack
import pytest

from bridge.conftest import MAX_NEW
from bridge.tiny_pair import PROMPTS
from spec_decode_ros.bench.cloud_process import CloudProcess, free_endpoint
from spec_decode_ros.bench.link import LinkEmulator, LinkProfile
from spec_decode_ros.bridge import keys
from spec_decode_ros.bridge import protocol as p
from spec_decode_ros.bridge.client import CloudClient, CloudUnreachableError, read_stats
from spec_decode_ros.bridge.edge import EdgeConfig, EdgeSession, TokenEvent
from spec_decode_ros.bridge.keys import create_keypair
from spec_decode_ros.bridge.security import ClientSecurity
from spec_decode_ros.decoding.types import Prompt

pytestmark = pytest.mark.slow  # starts processes, DDS, MuJoCo or training


def _generate(endpoint: str, draft, text: str, *, security: ClientSecurity | None = None, **config: object):
    client = CloudClient(endpoint, security=security)
    try:
        cfg = EdgeConfig(**{"mode": "sd_ee_predraft", "max_new_tokens": MAX_NEW, "reply_timeout_s": 10.0, **config})
        return EdgeSession(client, draft, Prompt(text), cfg).run()
    finally:
        client.close()


@pytest.fixture(scope="module")
def cloud(target_dir):
    proc = CloudProcess(target_dir, free_endpoint(), "--idle-timeout-s", "1.5").start()
    yield proc
    proc.stop()


def test_two_processes_give_the_target_greedy_output_with_early_exits_and_predrafting(cloud, draft, references):
    hits = 0
    with LinkEmulator("tcp://127.0.0.1:0", cloud.endpoint, LinkProfile(delay_s=0.005)) as link:
        for text in PROMPTS:
            result = _generate(link.front_endpoint, draft, text)
            assert result.tokens == references[text], text
            hits += result.metrics.early_exit_hits
    assert hits > 0, "no pre-draft was ever kept"


def test_robot_vanishing_mid_round_costs_other_robots_nothing(cloud, draft, references):
    ghost = CloudClient(cloud.endpoint)
    ghost.send(p.Open(session="ghost", text=PROMPTS[1], max_new_tokens=MAX_NEW))
    assert isinstance(ghost.recv(10), p.Opened)
    ghost.send(p.Draft(session="ghost", round=0, committed=0, tokens=tuple(references[PROMPTS[1]][:3])))
    ghost.close()  # gone before its verdicts come back
    for text in PROMPTS:
        assert _generate(cloud.endpoint, draft, text).tokens == references[text]
    deadline = time.monotonic() + 10
    while read_stats(cloud.endpoint, 10.0).sessions and time.monotonic() < deadline:  # the ghost's session expires
        time.sleep(0.2)
    assert read_stats(cloud.endpoint, 10.0).sessions == 0


def _malformed_frames(n: int, seed: int = 0) -> list[bytes]:
    rng = random.Random(seed)
    good = [p.encode(m) for m in (p.Open(session="f", text="go"), p.Ping(sent=1.0),
                                  p.Draft(session="f", round=0, committed=0, tokens=(1, 2, 3)))]
    out = []
    for i in range(n):
        kind = i % 5
        if kind == 0:
            out.append(rng.randbytes(rng.randrange(0, 200)))
        elif kind == 1:  # a valid frame with a few bytes flipped
            b = bytearray(rng.choice(good))
            for _ in range(rng.randrange(1, 4)):
                b[rng.randrange(len(b))] = rng.getrandbits(8)
            out.append(bytes(b))
        elif kind == 2:  # well-formed DRAFT for sessions that do not exist
            out.append(p.encode(p.Draft(session=f"nobody{i}", round=rng.randrange(9), committed=0, tokens=(5,))))
        elif kind == 3:  # well-typed maps with wrong fields
            out.append(msgpack.packb({"v": 1, "t": "draft", "session": "x", "round": "zero", "junk": [1] * 50}))
        else:  # huge claimed sizes, wrong versions, wrong types
            out.append(rng.choice([b"\xdb\xff\xff\xff\xff", msgpack.packb({"v": 2, "t": "open"}),
                                   msgpack.packb([1, 2, 3]), msgpack.packb({"v": 1, "t": 7})]))
    return out


def test_ten_thousand_malformed_frames_leave_the_server_correct_and_its_memory_flat(cloud, draft, references):
    frames = _malformed_frames(10_000)
    rss_before = cloud.rss_bytes()
    errors_before = read_stats(cloud.endpoint, 10.0).errors
    flooder = CloudClient(cloud.endpoint)
    replies = {"error": 0, "other": 0}

    def flood() -> None:
        for f in frames:
            flooder.sock.send(f)

    thread = threading.Thread(target=flood)
    thread.start()
    during = _generate(cloud.endpoint, draft, PROMPTS[0])  # a robot served while the flood goes on
    thread.join()
    deadline = time.monotonic() + 30
    while sum(replies.values()) < len(frames) and time.monotonic() < deadline:
        msg = flooder.recv(1.0)
        if msg is not None:
            replies["error" if isinstance(msg, p.Error) else "other"] += 1
    flooder.close()
    assert during.tokens == references[PROMPTS[0]]
    for text in PROMPTS:
        assert _generate(cloud.endpoint, draft, text).tokens == references[text]
    # every frame got an answer: an ERROR, or (for the few that a flipped byte left valid) a real reply
    assert replies["error"] + replies["other"] >= len(frames) and flooder.dropped == 0
    assert replies["error"] >= 9_500 and read_stats(cloud.endpoint, 10.0).errors - errors_before >= replies["error"]
    deadline = time.monotonic() + 10  # sessions that mutated OPEN frames happened to create expire
    while read_stats(cloud.endpoint, 10.0).sessions and time.monotonic() < deadline:
        time.sleep(0.2)
    assert read_stats(cloud.endpoint, 10.0).sessions == 0
    assert cloud.rss_bytes() - rss_before < 64 * 2**20


def test_server_killed_and_restarted_mid_generation_loses_nothing(target_dir, draft, references):
    endpoint = free_endpoint()
    first = CloudProcess(target_dir, endpoint).start()
    second = CloudProcess(target_dir, endpoint)
    statuses: list[str] = []
    starters: list[threading.Thread] = []

    def on_token(event: TokenEvent) -> None:
        if event.index == 4 and second.proc is None:
            first.kill()  # SIGKILL: every session it held is gone
            starters.append(threading.Thread(target=second.start, daemon=True))
            starters[0].start()

    client = CloudClient(endpoint)
    try:
        result = EdgeSession(client, draft, Prompt(PROMPTS[0]),
                             EdgeConfig(mode="sd_ee_predraft", max_new_tokens=MAX_NEW, reply_timeout_s=1.0,
                                        reconnect_timeout_s=120, ping_interval_s=0.3),
                             on_token=on_token, on_status=statuses.append).run()
        starters[0].join(90)  # start() has seen the second cloud answer: stopping it below cannot race its wait
        assert result.tokens == references[PROMPTS[0]]
        assert first.proc.returncode is not None and second.proc.poll() is None
        assert _generate(endpoint, draft, PROMPTS[1]).tokens == references[PROMPTS[1]]
    finally:
        client.close()
        first.kill()
        second.stop()


def test_unauthorised_clients_get_nothing_and_allowed_robots_get_the_output(tmp_path, target_dir, draft, references):
    """CURVE forced on over loopback with the key folder ``spec-decode keys`` makes (``cloud --keys DIR``)."""
    keys.main([str(tmp_path / "keys"), "cloud", "robot"])
    create_keypair(tmp_path, "stranger")
    robot = ClientSecurity(tmp_path / "keys" / "robot.key_secret", tmp_path / "keys" / "cloud.key")
    endpoint = free_endpoint()
    cloud = CloudProcess(target_dir, endpoint, "--keys", str(tmp_path / "keys"), client_security=robot).start()
    try:
        for security in (ClientSecurity(tmp_path / "stranger.key_secret", tmp_path / "keys" / "cloud.key"), None):
            intruder = CloudClient(endpoint, security=security)
            with contextlib.suppress(CloudUnreachableError):  # a refused handshake may leave nothing to queue on
                intruder.send(p.Ping(sent=1.0))
                intruder.send(p.Open(session="intruder", text=PROMPTS[0]))
            assert intruder.recv(1.5) is None, "an unauthorised client got a reply"
            intruder.close()
        assert _generate(endpoint, draft, PROMPTS[0], security=robot).tokens == references[PROMPTS[0]]
    finally:
        cloud.stop()
