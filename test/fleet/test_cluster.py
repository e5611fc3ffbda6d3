"""The fleet on Ray with real replica processes: robots through the front get the target's output, and a replica
whose process is killed (os.kill of the actor's PID) is restarted by Ray while its robots resume on the other
replica with the tokens they committed, quickly, outputs unchanged."""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest
from bridge.tiny_pair import PROMPTS

from fleet.conftest import MAX_NEW, wait_for
from spec_decode_ros.bench.cost import ForwardCost
from spec_decode_ros.bridge.client import CloudClient
from spec_decode_ros.bridge.edge import EdgeConfig, EdgeSession
from spec_decode_ros.cloud.config import CloudConfig
from spec_decode_ros.cloud.fleet import replica_spec
from spec_decode_ros.decoding.types import Prompt
from spec_decode_ros.fleet.cluster import Fleet

pytestmark = pytest.mark.slow


def test_killed_replica_is_restarted_by_ray_and_its_robots_resume_elsewhere_within_2_s(target_dir, draft,
                                                                                     references, captured_logs):
    # each forward lasts 0.3 s, so that the kill finds rounds in flight on the dying replica
    spec = replica_spec(CloudConfig(model=str(target_dir), device="cpu", dtype="float32", threads=1,
                                    fuse_first_round=False), wrap=ForwardCost(a_s=0.3, b_s=0.0))
    with Fleet(spec, 2, "tcp://127.0.0.1:0") as fleet:
        pids = fleet.pids()
        assert len(set(pids)) == 2 and os.getpid() not in pids
        results: dict[int, list[int]] = {}
        times: dict[int, list[float]] = {i: [] for i in range(4)}

        def robot(i: int) -> None:
            client = CloudClient(fleet.endpoint)
            # a long reply timeout: only the front's ERROR evicted lets a robot whose round died resume quickly
            cfg = EdgeConfig(max_new_tokens=MAX_NEW, gamma=1, reply_timeout_s=60.0)
            results[i] = EdgeSession(client, draft, Prompt(PROMPTS[i]), cfg,
                                     on_token=lambda ev: times[i].append(time.monotonic())).run().tokens
            client.close()

        threads = [threading.Thread(target=robot, args=(i,), daemon=True) for i in range(4)]
        for t in threads:
            t.start()
        assert fleet.front is not None
        wait_for(lambda: len(fleet.front.placement()) == 4 and all(len(v) >= 2 for v in times.values()), 60,
                 "every robot mid-answer")
        assert sorted(fleet.front.placement().values()) == [0, 0, 1, 1]
        os.kill(pids[0], signal.SIGKILL)
        killed_at = time.monotonic()
        for t in threads:
            t.join(90)
        for i in range(4):
            assert results[i] == references[PROMPTS[i]]
            resumed = [t for t in times[i] if t > killed_at]
            assert resumed and resumed[0] - killed_at < 2.0, f"robot {i} took {resumed[0] - killed_at:.2f} s"
        assert fleet.front.evicted == 2
        # Ray restarts the replica (a new process) and the front connects to it again
        wait_for(lambda: all(fleet.front.live()), 120, "restarted replica connected")
        new_pids = fleet.pids()
        assert new_pids[0] != pids[0] and new_pids[1] == pids[1]
        # the operator's record of it: both replicas started, replica 0 went down with its 2 sessions, came back
        assert sorted(e["replica"] for e in captured_logs.events("replica_started")) == [0, 1]
        down, = captured_logs.events("replica_down")
        assert down["replica"] == 0 and down["sessions_evicted"] == 2
        assert [e["replica"] for e in captured_logs.events("replica_restarted")] == [0]
        client = CloudClient(fleet.endpoint)
        sessions = [EdgeSession(client, draft, Prompt(PROMPTS[0]), EdgeConfig(max_new_tokens=MAX_NEW))
                    for _ in range(2)]
        assert all(s.run().tokens == references[PROMPTS[0]] for s in sessions)
        client.close()
