"""The fake Go2 answers the real unitree_sdk2py clients over loopback DDS: Move moves the MuJoCo robot,
StopMove stops it, a Move is held about 1 s, GetImageSample returns a JPEG of the configured size,
and ``python -m spec_decode_ros.sim.fake_go2`` runs it as a process until SIGTERM."""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import threading
import time

import pytest
from unitree_sdk2py.go2.sport.sport_client import SportClient
from unitree_sdk2py.go2.video.video_client import VideoClient

from spec_decode_ros.go2.channel import init_channel
from spec_decode_ros.sim.fake_go2 import API_MOVE, API_STOPMOVE, FakeGo2
from spec_decode_ros.sim.fake_go2_client import FakeGo2Client, FakeGo2Error
from spec_decode_ros.sim.jpeg import decode_jpeg

pytestmark = pytest.mark.slow  # starts processes, DDS, MuJoCo or training

DOMAIN = 101 + os.getpid() % 100  # a DDS domain of this test run's own (the channel factory is per process)


def wait_for(predicate, timeout_s: float = 10.0, what: str = "condition"):
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


@pytest.fixture(scope="module")
def clients(tmp_path_factory):
    trace = tmp_path_factory.mktemp("dds") / "cdds.log"
    first = init_channel("lo", DOMAIN, str(trace))  # False when an earlier test in this process already did
    sport = SportClient()
    sport.SetTimeout(3.0)
    sport.Init()
    video = VideoClient()
    video.SetTimeout(3.0)
    video.Init()
    return sport, video, FakeGo2Client(timeout_s=3.0), trace if first else None


def state_after(ground: FakeGo2Client, t: float) -> dict:
    """The first world snapshot taken after wall time ``t`` (the world loop stamps each one)."""
    return wait_for(lambda: (st := ground.get_state())["time"] > t and st, what=f"a world step after {t:.2f}")


def forward_progress(start: list[float], pose: list[float]) -> float:
    return (pose[0] - start[0]) * math.cos(start[2]) + (pose[1] - start[1]) * math.sin(start[2])


@pytest.fixture(scope="class")
def fake(clients):
    fake = FakeGo2(3, width=80, height=60, domain_id=DOMAIN, camera_hz=25.0).start()
    clients[2].wait_ready()
    yield fake
    fake.stop()


class TestInProcess:
    def test_move_moves_forward_and_stopmove_stops(self, fake, clients):
        sport, _, ground, trace = clients
        assert trace is None or trace.exists()  # Cyclone's trace went where we said, not to /tmp/cdds.LOG
        start = ground.get_state()["pose"]
        assert sport.Move(0.5, 0.0, 0.0) == 0
        wait_for(lambda: forward_progress(start, ground.get_state()["pose"]) > 0.05, what="forward motion")
        assert sport.StopMove() == 0
        state = wait_for(lambda: (st := ground.get_state())["velocity"] == [0.0, 0.0, 0.0] and st, what="stop")
        stopped_at = state["pose"]
        assert state_after(ground, state["time"] + 0.2)["pose"] == stopped_at  # 0.2 s of world steps later
        pose = ground.get_state()["pose"]
        assert abs(pose[2] - start[2]) < 1e-9  # no turning
        names = [c["name"] for c in ground.get_calls()]
        assert "Move" in names and "StopMove" in names
        move = next(c for c in fake.calls if c.api_id == API_MOVE)
        assert move.params == {"x": 0.5, "y": 0.0, "z": 0.0}

    def test_turn_and_sidestep_go_the_commanded_way(self, fake, clients):
        sport, _, ground, _ = clients
        yaw0 = ground.get_state()["pose"][2]
        sport.Move(0.0, 0.0, 1.0)
        wait_for(lambda: math.sin(ground.get_state()["pose"][2] - yaw0) > 0.1, what="left turn")
        sport.StopMove()
        start = ground.get_state()["pose"]
        sport.Move(0.0, 0.3, 0.0)

        def left_progress() -> float:
            p = ground.get_state()["pose"]
            return -(p[0] - start[0]) * math.sin(start[2]) + (p[1] - start[1]) * math.cos(start[2])

        wait_for(lambda: left_progress() > 0.03, what="sidestep left")
        sport.StopMove()

    def test_a_move_is_held_about_a_second_then_dropped(self, fake, clients):
        sport, _, ground, _ = clients
        n_stops = sum(c.api_id == API_STOPMOVE for c in fake.calls)
        sport.Move(0.3, 0.0, 0.0)
        wait_for(lambda: ground.get_state()["velocity"][0] == 0.3, what="velocity applied")
        wait_for(lambda: ground.get_state()["velocity"] == [0.0, 0.0, 0.0], timeout_s=10.0, what="Move expiry")
        assert sum(c.api_id == API_STOPMOVE for c in fake.calls) == n_stops  # it expired by itself

    def test_moves_are_clamped_and_damp_ignores_moves(self, fake, clients):
        sport, _, ground, _ = clients
        sport.Move(9.0, -3.0, 10.0)
        wait_for(lambda: ground.get_state()["velocity"] == [3.8, -1.0, 4.0], what="clamped velocity")
        assert sport.Damp() == 0
        wait_for(lambda: ground.get_state()["velocity"] == [0.0, 0.0, 0.0], what="damp stops")
        assert ground.get_state()["mode"] == "damp"
        n_moves = sum(c.api_id == API_MOVE for c in fake.calls)
        sport.Move(0.5, 0.0, 0.0)  # fire-and-forget: wait until the fake has it, then for a world step after
        move = wait_for(lambda: ([c for c in fake.calls if c.api_id == API_MOVE] + [None])[n_moves], what="the Move")
        assert state_after(ground, move.t + 0.05)["velocity"] == [0.0, 0.0, 0.0]
        assert sport.BalanceStand() == 0 and ground.get_state()["mode"] == "balance"

    def test_image_sample_is_a_jpeg_of_the_configured_size(self, fake, clients):
        _, video, _, _ = clients
        code, data = video.GetImageSample()
        assert code == 0
        image = decode_jpeg(bytes(data))
        assert image.shape == (60, 80, 3)

    def test_state_and_reset_layout(self, fake, clients):
        _, _, ground, _ = clients
        state = ground.get_state()
        assert state["seed"] == 3 and state["instruction"].endswith(
            "{color} {shape}".format(**state["landmarks"][state["target"]]))
        assert all(lm["distance"] >= 0 for lm in state["landmarks"])
        ground.reset_layout(7)
        state = ground.get_state()
        assert state["seed"] == 7 and state["velocity"] == [0.0, 0.0, 0.0]

    def test_stop_joins_the_world_loop(self, clients):
        fake = FakeGo2(0, width=32, height=32, domain_id=DOMAIN)
        # the class fixture's fake is still up here; this one only checks that stop() joins cleanly
        fake._thread = threading.Thread(target=fake._loop, daemon=True)
        fake._thread.start()
        assert fake._ready.wait(20.0)
        fake.stop()
        assert not fake._thread.is_alive()


def test_process_runs_until_sigterm(clients):
    _, video, ground, _ = clients
    with pytest.raises(FakeGo2Error):
        FakeGo2Client(timeout_s=0.5).get_state()  # the in-process fake above really left the bus
    proc = subprocess.Popen(
        [sys.executable, "-m", "spec_decode_ros.sim.fake_go2", "--interface", "lo", "--domain-id", str(DOMAIN),
         "--seed", "4", "--width", "64", "--height", "48"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        lines: list[str] = []
        reader = threading.Thread(target=lambda: lines.extend(proc.stdout), daemon=True)
        reader.start()
        wait_for(lambda: any(line.startswith("READY") for line in lines), 60.0, "READY from the fake process")
        state = ground.wait_ready()
        assert state["seed"] == 4
        code, data = video.GetImageSample()
        assert code == 0 and decode_jpeg(bytes(data)).shape == (48, 64, 3)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_fake_layouts_match_the_closed_loop_episodes(world):
    from spec_decode_ros.sim.episode import run_episode
    from spec_decode_ros.sim.fake_go2 import episode_layout

    for seed in (0, 5, 11):
        layout, instruction = episode_layout(seed)
        result = run_episode(seed, lambda _i, _t: "stop.", world=world, max_steps=1)
        assert (result.layout, result.instruction) == (layout, instruction)
