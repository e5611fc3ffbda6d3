"""Revocation without a restart on one verifier: a robot's key removed from ``allowed/`` loses its session and
connection within a housekeeping tick and is refused at its next handshake, while another robot goes on. The test
prints the seconds from the removal to the robot's last answer (its last committed token)."""

from __future__ import annotations

import threading
import time

import pytest
import zmq
from bridge.conftest import serving
from bridge.tiny_pair import PROMPTS
from fleet.conftest import MAX_NEW, wait_for
from zmq.utils.monitor import recv_monitor_message

from cloud.conftest import robot_security
from spec_decode_ros.bridge import protocol as p
from spec_decode_ros.bridge.client import CloudClient
from spec_decode_ros.bridge.edge import EdgeConfig, EdgeSession
from spec_decode_ros.bridge.security import ClientSecurity, ServerSecurity, make_curve_client
from spec_decode_ros.cloud.health import REFUSED
from spec_decode_ros.cloud.health import main as health
from spec_decode_ros.decoding.types import Prompt

REVOKED_WITHIN_S = 2.0  # housekeeping every 0.5 s; the rest is slack for a shared machine


class LoopingRobot:
    """A robot answering the same prompt again and again until stopped; ``answers``: when each token came."""

    def __init__(self, endpoint: str, draft, security: ClientSecurity) -> None:
        self.answers: list[float] = []
        self._stop = threading.Event()
        self._client = CloudClient(endpoint, security=security)
        self._draft = draft
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        cfg = EdgeConfig(max_new_tokens=MAX_NEW, reply_timeout_s=0.5, reconnect_timeout_s=0.5)
        while not self._stop.is_set():
            try:
                EdgeSession(self._client, self._draft, Prompt(PROMPTS[0]), cfg,
                            on_token=lambda ev: self.answers.append(time.monotonic())).run()
            except Exception:
                time.sleep(0.05)  # refused or cut: try again, as a robot would

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(30)
        self._client.close()


def revoke_and_measure(allowed_key, robot: LoopingRobot, settle_s: float = 4.0) -> float:
    """Remove the key file while the robot is mid-stream; seconds from the removal to its last answer."""
    wait_for(lambda: len(robot.answers) >= 3 * MAX_NEW, 60, "the robot answered a few times")
    t0 = time.monotonic()
    allowed_key.unlink()
    time.sleep(settle_s)
    return max(robot.answers) - t0


@pytest.mark.slow  # seconds of waiting on the housekeeping tick
@pytest.mark.timeout(90)
def test_a_removed_key_loses_its_session_and_next_handshake_within_seconds(target, draft, keys, references,
                                                                             captured_logs):
    with serving(target, security=ServerSecurity.from_dir(keys)) as server:
        robot = LoopingRobot(server.endpoint, draft, robot_security(keys, "robot1"))
        try:
            seconds = revoke_and_measure(keys / "allowed" / "robot1.key", robot)
            print(f"revocation, one verifier: {seconds:.2f} s from the key's removal to the robot's last answer")
            assert seconds < REVOKED_WITHIN_S
            assert _z85(keys, "robot1") not in {e.owner for e in server.table}, "the revoked robot holds a session"
        finally:
            robot.stop()
        revoked, = captured_logs.events("key_revoked")
        assert revoked["peer"] == "robot1" and revoked["sessions_cut"] in (0, 1)
        # its next handshake is refused; the other robot goes on
        assert health([server.endpoint, "--keys", str(keys), "--name", "robot1", "--timeout-s", "5"]) == REFUSED
        client = CloudClient(server.endpoint, security=robot_security(keys, "robot2"))
        result = EdgeSession(client, draft, Prompt(PROMPTS[1]), EdgeConfig(max_new_tokens=MAX_NEW)).run()
        client.close()
        assert result.tokens == references[PROMPTS[1]]


def _z85(keys, name: str) -> str:
    from spec_decode_ros.bridge.keys import load_keypair

    return load_keypair(keys / f"{name}.key").public.decode()


@pytest.mark.slow  # seconds of waiting on the housekeeping tick
@pytest.mark.timeout(60)
def test_a_revoked_keys_idle_connection_is_cut_without_a_frame_from_it(target, keys):
    """The connection itself goes, not only the sessions: a revoked key that sends nothing more is cut all the
    same (its heartbeats alone would keep it open)."""
    with serving(target, security=ServerSecurity.from_dir(keys)) as server:
        sock = zmq.Context.instance().socket(zmq.DEALER)
        sock.linger = 0
        make_curve_client(sock, robot_security(keys, "robot1"))
        monitor = sock.get_monitor_socket(zmq.EVENT_DISCONNECTED)
        sock.connect(server.endpoint)
        try:
            sock.send(p.encode(p.Ping(sent=1.0)))
            assert sock.poll(10_000) and isinstance(p.decode(sock.recv()), p.Pong), "the allowed key got no PONG"
            (keys / "allowed" / "robot1.key").unlink()
            assert monitor.poll(int(REVOKED_WITHIN_S * 2000)), "the revoked key's connection was not cut"
            assert recv_monitor_message(monitor)["event"] == zmq.EVENT_DISCONNECTED
        finally:
            sock.disable_monitor()
            monitor.close(0)
            sock.close(0)
