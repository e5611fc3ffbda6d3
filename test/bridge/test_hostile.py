"""Issue #14's hostile frames against a real ``spec-decode cloud --model embedded`` process: each gets its
ERROR (or, over the frame cap, is dropped by libzmq), and while a client floods them, honest robots on the same
verifier keep getting exactly the target's greedy output, with bounded delay, and PINGs are answered."""

from __future__ import annotations

import threading
import time

import pytest
import zmq

from spec_decode_ros.bench import hostile_frames as hostile
from spec_decode_ros.bench.cloud_process import CloudProcess, free_endpoint
from spec_decode_ros.bench.robustness_probes import PingProber, references
from spec_decode_ros.bench.workload import sim_prompts
from spec_decode_ros.bridge import protocol as p
from spec_decode_ros.bridge.client import CloudClient
from spec_decode_ros.bridge.edge import EdgeConfig, EdgeSession, RoundEvent
from spec_decode_ros.decoding.models import load_model
from spec_decode_ros.embedded import default_draft_path, default_target_path

pytestmark = pytest.mark.slow  # starts the cloud process

EXPECTED = {"jpeg_16000x16000": "bad_image", "tree_250x3_in_map": "bad_frame", "tree_250x3_bare": "bad_frame",
            "flat_list_2M": "bad_frame", "prompt_over_context": "too_long"}
MAX_NEW = 16


@pytest.fixture(scope="module")
def cloud():
    proc = CloudProcess("embedded", free_endpoint()).start()
    yield proc
    proc.stop()


def test_every_hostile_kind_is_covered():
    assert set(EXPECTED) == set(hostile.KINDS)


def test_each_hostile_frame_gets_its_error_and_the_oversized_one_is_dropped(cloud):
    sock = zmq.Context.instance().socket(zmq.DEALER)
    sock.linger = 0
    sock.connect(cloud.endpoint)
    try:
        for name, build in hostile.KINDS.items():
            sock.send(build())
            assert sock.poll(10_000), f"{name}: no reply"
            reply = p.decode(sock.recv())
            assert isinstance(reply, p.Error) and reply.code == EXPECTED[name], f"{name}: {reply}"
        sock.send(hostile.oversized())
        assert not sock.poll(1000), "a frame over MAXMSGSIZE was answered"
    finally:
        sock.close(0)
    client = CloudClient(cloud.endpoint)
    assert client.ping(5.0)
    client.close()


def test_honest_robots_get_the_target_output_while_a_client_floods_hostile_frames(cloud):
    prompts = sim_prompts(2, 128)
    refs = references(default_target_path(), prompts, MAX_NEW)
    draft = load_model(default_draft_path())
    stop = threading.Event()
    sent = [0]

    def flood() -> None:
        sock = zmq.Context.instance().socket(zmq.DEALER)
        sock.linger = 0
        sock.setsockopt(zmq.SNDTIMEO, 100)
        sock.connect(cloud.endpoint)
        frames = [build() for build in hostile.KINDS.values()]
        while not stop.is_set():
            try:
                sock.send(frames[sent[0] % len(frames)], copy=False)
                sent[0] += 1
            except zmq.Again:
                pass
            while sock.poll(0):
                sock.recv()
        sock.close(0)

    rounds: list[float] = []
    outputs = []
    flooder = threading.Thread(target=flood, daemon=True)
    with PingProber(cloud.endpoint, interval_s=0.05, timeout_s=5.0) as prober:
        flooder.start()
        client = CloudClient(cloud.endpoint)
        try:
            for prompt in (*prompts, *prompts):
                cfg = EdgeConfig(mode="sd_ee_predraft", max_new_tokens=MAX_NEW, reply_timeout_s=10.0)
                result = EdgeSession(client, draft, prompt, cfg,
                                     on_round=lambda e: rounds.append(e.final_s) if isinstance(e, RoundEvent) else None
                                     ).run()
                outputs.append(result.tokens)
        finally:
            client.close()
            stop.set()
            flooder.join(10)
    assert outputs == [*refs, *refs], "an honest robot's output differs from the target's under the flood"
    assert sent[0] > 50, "the flood did not run"
    assert rounds and max(rounds) < 2.0, f"a round took {max(rounds):.2f} s under the flood"
    assert prober.delays and max(prober.delays) < 2.0, f"a PING waited {max(prober.delays):.2f} s"
    time.sleep(0.1)
