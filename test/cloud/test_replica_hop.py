"""The front-to-replica hop is never plaintext off loopback: a replica (the real actor class, run here without
Ray) bound on this machine's own non-loopback address refuses to start without CURVE, and with its CURVE hop a
plain client, or a client with any key but the front's, gets nothing; the front reaches it with the fleet's key
and robots get the target's output through it. The front refuses a plaintext replica endpoint off loopback. No
packet leaves the machine: the address is this host's own interface."""

from __future__ import annotations

import contextlib
import socket
import threading
from dataclasses import replace

import pytest
import zmq
from bridge.tiny_pair import PROMPTS
from fleet.conftest import MAX_NEW, wait_for

from spec_decode_ros.bridge import protocol as p
from spec_decode_ros.bridge.client import CloudClient
from spec_decode_ros.bridge.edge import EdgeConfig, EdgeSession
from spec_decode_ros.bridge.keys import KeyPair
from spec_decode_ros.bridge.security import InsecureBindError
from spec_decode_ros.bridge.server import VerifierServer
from spec_decode_ros.cloud.config import CloudConfig
from spec_decode_ros.cloud.fleet import replica_plan, replica_spec
from spec_decode_ros.decoding.types import Prompt
from spec_decode_ros.fleet.front import FleetFront
from spec_decode_ros.fleet.replica import ReplicaAddress, VerifierReplica


def own_address() -> str:
    """This host's address on its default route (a UDP connect sends nothing); skip where there is none."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("192.0.2.1", 9))  # TEST-NET-1: only the routing table is consulted
        except OSError:
            pytest.skip("no non-loopback interface")
        address = s.getsockname()[0]
    if address.startswith("127."):
        pytest.skip("no non-loopback interface")
    return address


def silent_to(endpoint: str, key: KeyPair | None, server_public: bytes | None) -> bool:
    """True if a PING from a client with ``key`` (None: plaintext) gets nothing within a second."""
    sock = zmq.Context.instance().socket(zmq.DEALER)
    sock.linger = 0
    if key is not None:
        sock.curve_secretkey, sock.curve_publickey, sock.curve_serverkey = key.secret, key.public, server_public
    sock.connect(endpoint)
    with contextlib.suppress(zmq.Again):
        sock.send(p.encode(p.Ping(sent=1.0)), zmq.NOBLOCK)
    silent = not sock.poll(1000)
    sock.close(0)
    return silent


def test_a_replica_refuses_to_start_plaintext_off_loopback(target, target_dir):
    config = CloudConfig(model=str(target_dir), device="cpu", dtype="float32", insecure_plaintext=True)
    hop_plan = replica_plan(config, bind=f"tcp://{own_address()}:0", security=None, label="replica 0")  # type: ignore[arg-type]
    assert hop_plan.server.security is None and not hop_plan.server.insecure_plaintext  # --insecure-plaintext is the front's
    with pytest.raises(InsecureBindError):
        VerifierServer(target, hop_plan.server)


@pytest.mark.slow  # CURVE handshakes and a second's silence per stranger
@pytest.mark.timeout(90)
def test_with_its_curve_hop_a_replica_answers_only_the_front(target_dir, draft, references):
    front_key = KeyPair(*zmq.curve_keypair())
    spec = replace(replica_spec(CloudConfig(model=str(target_dir), device="cpu", dtype="float32", threads=1,
                                            log_level="warning")), host=own_address())
    replica = VerifierReplica(spec, 0, front_key.public)
    try:
        address = replica.endpoint()
        assert not address.endpoint.startswith("tcp://127.") and address.public is not None
        assert silent_to(address.endpoint, None, None), "a plain client was answered"
        assert silent_to(address.endpoint, KeyPair(*zmq.curve_keypair()), address.public), "a stranger was answered"
        with pytest.raises(InsecureBindError):  # the front will not take a plaintext hop off loopback
            FleetFront("tcp://127.0.0.1:0", [ReplicaAddress(address.endpoint)])
        front = FleetFront("tcp://127.0.0.1:0", [address], hop_keys=front_key)
        thread = threading.Thread(target=front.serve_forever, daemon=True)
        thread.start()
        try:
            wait_for(lambda: all(front.live()), 10, "the front's CURVE hop up")
            client = CloudClient(front.endpoint)
            result = EdgeSession(client, draft, Prompt(PROMPTS[2]), EdgeConfig(max_new_tokens=MAX_NEW)).run()
            client.close()
            assert result.tokens == references[PROMPTS[2]]
        finally:
            front.stop()
            thread.join(10)
    finally:
        replica.stop()
