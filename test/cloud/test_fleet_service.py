"""The fleet on Ray keeps what one verifier guarantees: each real replica received the command's configuration
object whole; a key removed from ``allowed/`` loses its sessions (at the front and on their replica) and its next
handshake within seconds; the front's scrape carries every replica's series, labelled, and the replicas alive."""

from __future__ import annotations

import pytest
from bridge.tiny_pair import PROMPTS
from fleet.conftest import MAX_NEW, wait_for
from prometheus_client import CollectorRegistry

from cloud.conftest import robot_security, scrape, total
from cloud.test_revocation import REVOKED_WITHIN_S, LoopingRobot, revoke_and_measure
from spec_decode_ros.bridge.client import CloudClient
from spec_decode_ros.bridge.edge import EdgeConfig, EdgeSession
from spec_decode_ros.cloud.config import CloudConfig
from spec_decode_ros.cloud.fleet import make_fleet
from spec_decode_ros.cloud.health import REFUSED
from spec_decode_ros.cloud.health import main as health
from spec_decode_ros.decoding.types import Prompt
from spec_decode_ros.service import metrics

pytestmark = pytest.mark.slow


@pytest.mark.timeout(300)
def test_a_fleet_carries_every_option_revokes_without_restart_and_is_scraped_at_its_front(target_dir, draft, keys,
                                                                                         references):
    import ray

    config = CloudConfig(model=str(target_dir), bind="tcp://127.0.0.1:0", keys=keys, replicas=2, device="cpu",
                         dtype="float32", threads=1, max_sessions_per_client=3, flood_refused_mb=5.0,
                         max_wait_ms=1.0, idle_timeout_s=60.0, log_level="warning")
    with make_fleet(config, log_to_driver=False) as fleet:
        assert ray.get([a.received.remote() for a in fleet.actors], timeout=60) == [config, config]
        for server in ray.get([a.server_config.remote() for a in fleet.actors], timeout=60):
            assert server.limits == config.limits() and server.flood == config.flood()
            assert server.security is not None and server.security.relay and not server.insecure_plaintext
        robot = LoopingRobot(fleet.endpoint, draft, robot_security(keys, "robot1"))
        try:
            seconds = revoke_and_measure(keys / "allowed" / "robot1.key", robot)
            print(f"revocation, fleet of 2: {seconds:.2f} s from the key's removal to the robot's last answer")
            assert seconds < REVOKED_WITHIN_S
        finally:
            robot.stop()
        assert fleet.front is not None
        wait_for(lambda: not fleet.front.placement(), 5, "the revoked robot's sessions gone from the front")
        assert health([fleet.endpoint, "--keys", str(keys), "--name", "robot1", "--timeout-s", "5"]) == REFUSED
        client = CloudClient(fleet.endpoint, security=robot_security(keys, "robot2"))
        result = EdgeSession(client, draft, Prompt(PROMPTS[3]), EdgeConfig(max_new_tokens=MAX_NEW)).run()
        client.close()
        assert result.tokens == references[PROMPTS[3]]
        registry = CollectorRegistry()
        registry.register(metrics.ReplicaCollector(fleet.metrics))
        for collector in (fleet.front.metrics.registry,):
            registry.register(collector)
        http, _ = metrics.serve(registry, 0)
        try:
            got = scrape(f"http://127.0.0.1:{http.server_port}/metrics")
        finally:
            http.shutdown()
        assert total(got, "spec_decode_replicas_alive") == 2
        assert total(got, "spec_decode_revoked_sessions_total") >= 1  # at the front
        assert {dict(labels).get("replica") for name, labels in got if name == "spec_decode_rounds_total"} == {"0", "1"}
        assert total(got, "spec_decode_committed_tokens_total") > 0
        wait_for(lambda: sum(s["sessions"] for s in fleet.stats()) == 0, 5, "the replicas closed the revoked session")
