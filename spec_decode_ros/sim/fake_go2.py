"""A fake Unitree Go2 on DDS: the real ``unitree_sdk2py`` clients drive a MuJoCo Go2 through it.

Services (the robot's own names, so ``SportClient`` and ``VideoClient`` work unchanged):

- ``sport`` (API 1.0.0.1): Damp 1001, BalanceStand 1002, StopMove 1003, StandUp 1004, StandDown 1005,
  RecoveryStand 1006, Move 1008 (JSON ``{"x": vx, "y": vy, "z": vyaw}``, clamped to the sport-mode
  ranges, held ``move_hold_s`` = 1 s then dropped, as the robot does). Moves act only in balance
  stand (the start mode, and after BalanceStand / RecoveryStand); Damp, StandUp and StandDown stop the
  robot and ignore Moves until then. ``set_mode(name)`` puts it in a mode directly (tests: a robot
  that is not ready), and ``speed_factor`` (e.g. 0.7) makes it move slower than commanded, as a real
  robot on a slippery floor does (its odometry shows the truth). Extra APIs for tests and the demo (``FakeGo2Client``):
  GetState 9001 (pose, velocity, mode, landmarks with their distances, target, instruction),
  ResetLayout 9002 (``{"seed": n, "split": "heldout"}``: a new layout, robot at its start) and
  GetCalls 9003 (every call received: api id, parameters, time). ``fail_next`` makes the next calls of an
  API fail with an error code (fault injection for the bridge's StopMove retry test).
- ``videohub``: GetImageSample 1001 -> the latest front-camera JPEG.

It also publishes ``SportModeState_`` on ``rt/sportmodestate`` at ``state_hz`` (as the robot does; see
``go2.state``): the world's x, y, yaw and velocity, so odometry's frame is the world's (a ResetLayout
moves the robot, and its odometry, to the new start pose), the mode (``go2.modes``: 1 balanceStand,
3 locomotion while moving, 5 lieDown, 6 jointLock, 7 damping) and the body height (lying: 0.08 m).

The world runs in its own real-time loop thread (integrates the velocity at ``rate_hz`` = 50 Hz,
renders the camera at ``camera_hz``); DDS handlers only read its latest snapshot and JPEG (rendering
inside a handler failed with error 3202 on these machines). ``python -m spec_decode_ros.sim.fake_go2
--interface lo --seed N --width W --height H`` runs it until SIGINT/SIGTERM; it prints ``READY`` once
its servers are up.
"""

from __future__ import annotations

import argparse
import json
import math
import signal
import sys
import threading
import time
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from spec_decode_ros.control.limits import get_limits
from spec_decode_ros.go2.channel import init_channel
from spec_decode_ros.go2.modes import BALANCE_STAND, DAMPING, JOINT_LOCK, LIE_DOWN, LOCOMOTION
from spec_decode_ros.go2.state import SPORT_STATE_TOPIC, sport_state_sample
from spec_decode_ros.sim.episode import SPLITS, layout_seed
from spec_decode_ros.sim.expert import instruction_for
from spec_decode_ros.sim.jpeg import encode_jpeg
from spec_decode_ros.sim.world import BASE_HEIGHT, Go2World, Layout, random_layout

API_DAMP, API_BALANCESTAND, API_STOPMOVE, API_STANDUP, API_STANDDOWN = 1001, 1002, 1003, 1004, 1005
API_RECOVERYSTAND, API_MOVE = 1006, 1008
API_GET_STATE, API_RESET_LAYOUT, API_GET_CALLS = 9001, 9002, 9003
API_GET_IMAGE_SAMPLE = 1001
SPORT_API_VERSION = "1.0.0.1"
VIDEO_API_VERSION = "1.0.0.1"
ERR_BAD_PARAMETER = 4301
ERR_NOT_READY = 4302
# SportModeState_.mode of the robot's modes (go2.modes; moving in balance stand is locomotion)
SPORT_MODES = {"balance": BALANCE_STAND, "locomotion": LOCOMOTION, "lie_down": LIE_DOWN, "stand": JOINT_LOCK,
               "damp": DAMPING}
LYING_HEIGHT = 0.08  # body height in lie_down and damp
API_NAMES = {API_DAMP: "Damp", API_BALANCESTAND: "BalanceStand", API_STOPMOVE: "StopMove", API_STANDUP: "StandUp",
             API_STANDDOWN: "StandDown", API_RECOVERYSTAND: "RecoveryStand", API_MOVE: "Move", API_GET_STATE: "GetState",
             API_RESET_LAYOUT: "ResetLayout", API_GET_CALLS: "GetCalls"}


@dataclass(frozen=True)
class CallRecord:
    """One request received: service, API id and name, parsed parameters, ``time.time()`` of receipt."""

    service: str
    api_id: int
    name: str
    params: dict | None
    t: float


def episode_layout(seed: int, split: str = "heldout") -> tuple[Layout, str]:
    """The layout and instruction of episode ``seed`` (the same as ``run_episode`` uses)."""
    layout = random_layout(layout_seed(split, seed))
    instruction = instruction_for(layout.target_landmark, np.random.default_rng([seed, SPLITS[split], 1]))
    return layout, instruction


class FakeGo2:
    """Sport + videohub servers over a Go2World running in its own loop thread. ``start()`` / ``stop()``."""

    def __init__(
        self,
        seed: int = 0,
        *,
        split: str = "heldout",
        width: int = 224,
        height: int = 224,
        jpeg_quality: int = 80,
        rate_hz: float = 50.0,
        camera_hz: float = 15.0,
        state_hz: float = 20.0,
        move_hold_s: float = 1.0,
        speed_factor: float = 1.0,
        interface: str = "lo",
        domain_id: int = 0,
        trace_path: str | None = None,
    ) -> None:
        if rate_hz <= 0 or camera_hz <= 0 or state_hz <= 0 or move_hold_s <= 0 or speed_factor < 0:
            raise ValueError("rate_hz, camera_hz, state_hz and move_hold_s must be positive, speed_factor >= 0")
        self.speed_factor = speed_factor  # the robot moves at this fraction of the commanded velocity
        self.width, self.height, self.jpeg_quality = width, height, jpeg_quality
        self.rate_hz, self.camera_hz, self.state_hz, self.move_hold_s = rate_hz, camera_hz, state_hz, move_hold_s
        self._state_pub: Any = None
        self.interface, self.domain_id, self.trace_path = interface, domain_id, trace_path
        self.limits = get_limits("go2_sport")
        self._lock = threading.Lock()
        self._calls: list[CallRecord] = []
        self._failures: dict[int, tuple[int, int]] = {}  # api id -> (calls left to fail, code): fault injection
        self._velocity = (0.0, 0.0, 0.0)
        self._move_until = 0.0
        self._mode = "balance"
        self._jpeg: bytes | None = None
        self._state: dict[str, Any] | None = None
        self._pending_reset: tuple[int, str, threading.Event] | None = None
        self._episode = episode_layout(seed, split)
        self._seed, self._split = seed, split
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread: threading.Thread | None = None
        self._servers: list[Any] = []

    # ---- lifecycle ---------------------------------------------------------------------------
    def start(self, timeout_s: float = 30.0) -> FakeGo2:
        """Start the world loop, wait for its first frame, then bring up the DDS servers."""
        self._thread = threading.Thread(target=self._loop, name="fake_go2_world", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout_s):
            raise TimeoutError(f"fake Go2 world produced no frame within {timeout_s} s")
        if self._error is not None:
            raise RuntimeError(f"fake Go2 world failed to start: {self._error!r}") from self._error
        init_channel(self.interface, self.domain_id, self.trace_path)
        from unitree_sdk2py.core.channel import ChannelPublisher
        from unitree_sdk2py.idl.unitree_go.msg.dds_ import SportModeState_

        publisher = ChannelPublisher(SPORT_STATE_TOPIC, SportModeState_)
        publisher.Init()
        self._servers = [self._make_sport_server(), self._make_video_server()]
        for server in self._servers:
            server.Start(False)
        with self._lock:
            self._state_pub = publisher
        return self

    def stop(self) -> None:
        """Stop the loop and take both servers off the bus (their DDS readers and writers are closed)."""
        self._stop.set()
        if self._thread is not None:  # the loop writes the sport state: end it before closing that writer
            self._thread.join(timeout=5.0)
        with self._lock:
            publisher, self._state_pub = self._state_pub, None
        if publisher is not None:
            publisher.Close()
        for server in self._servers:
            stub = server._ServerBase__serverStub  # the SDK has no way to stop a server; close its channels
            stub._ServerStub__recvChannel.CloseReader()
            stub._ServerStub__sendChannel.CloseWriter()
        self._servers = []

    def __enter__(self) -> FakeGo2:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---- observation (thread-safe) -----------------------------------------------------------
    @property
    def calls(self) -> list[CallRecord]:
        with self._lock:
            return list(self._calls)

    def fail_next(self, api_id: int, count: int = 1, code: int = ERR_NOT_READY) -> None:
        """Fault injection (tests): the next ``count`` sport calls of ``api_id`` answer ``code`` and do nothing."""
        with self._lock:
            self._failures[api_id] = (count, code)

    def failures_left(self, api_id: int) -> int:
        with self._lock:
            return self._failures.get(api_id, (0, 0))[0]

    def set_mode(self, name: str) -> None:
        """Put the robot in mode ``name`` (a key of ``SPORT_MODES``) as if its remote had; it stops moving."""
        if name not in SPORT_MODES:
            raise ValueError(f"unknown mode {name!r} (known: {', '.join(SPORT_MODES)})")
        with self._lock:
            self._mode = name
            self._velocity, self._move_until = (0.0, 0.0, 0.0), 0.0

    def state(self) -> dict[str, Any]:
        """Latest ground-truth snapshot of the loop (pose and the velocity it integrated), current mode."""
        with self._lock:
            if self._state is None:
                raise RuntimeError("fake Go2 not started")
            return {**self._state, "mode": self._mode}

    def latest_jpeg(self) -> bytes:
        with self._lock:
            if self._jpeg is None:
                raise RuntimeError("fake Go2 not started")
            return self._jpeg

    # ---- world loop --------------------------------------------------------------------------
    def _loop(self) -> None:
        try:
            world = Go2World(self._episode[0], width=self.width, height=self.height)
        except BaseException as exc:  # reported to start()
            self._error = exc
            self._ready.set()
            return
        try:
            dt = 1.0 / self.rate_hz
            frame_every = max(1, round(self.rate_hz / self.camera_hz))
            state_every = max(1, round(self.rate_hz / self.state_hz))
            tick, next_t = 0, time.monotonic()
            last = next_t
            while not self._stop.is_set():
                self._apply_reset(world)
                now = time.monotonic()
                with self._lock:
                    if now > self._move_until:
                        self._velocity = (0.0, 0.0, 0.0)
                    velocity = tuple(v * self.speed_factor for v in self._velocity)
                world.set_velocity(*velocity)
                world.step(now - last)
                last = now
                jpeg = encode_jpeg(world.render(), self.jpeg_quality) if tick % frame_every == 0 else None
                snapshot = self._snapshot(world, velocity)
                with self._lock:
                    self._state = snapshot
                    if jpeg is not None:
                        self._jpeg = jpeg
                    publisher = self._state_pub if tick % state_every == 0 else None
                if publisher is not None:
                    publisher.Write(self._sport_state(snapshot))
                self._ready.set()
                tick += 1
                next_t += dt
                self._stop.wait(max(0.0, next_t - time.monotonic()))
                if time.monotonic() - next_t > 1.0:  # fell far behind (machine busy): do not try to catch up
                    next_t = time.monotonic()
        finally:
            world.close()

    def _apply_reset(self, world: Go2World) -> None:
        with self._lock:
            pending, self._pending_reset = self._pending_reset, None
        if pending is None:
            return
        seed, split, done = pending
        self._episode = episode_layout(seed, split)
        self._seed, self._split = seed, split
        world.reset(self._episode[0])
        jpeg = encode_jpeg(world.render(), self.jpeg_quality)
        snapshot = self._snapshot(world, (0.0, 0.0, 0.0))
        with self._lock:  # a GetState / GetImageSample after ResetLayout returns sees the new layout
            self._velocity, self._move_until = (0.0, 0.0, 0.0), 0.0
            self._state, self._jpeg = snapshot, jpeg
        done.set()

    def _snapshot(self, world: Go2World, velocity: tuple[float, float, float]) -> dict[str, Any]:
        layout, instruction = self._episode
        x, y, yaw = world.pose
        return {
            "time": time.time(),
            "pose": [x, y, yaw],
            "velocity": list(velocity),
            "mode": self._mode,
            "seed": self._seed,
            "split": self._split,
            "instruction": instruction,
            "target": layout.target,
            "landmarks": [
                {**asdict(lm), "distance": world.distance_to(lm), "bearing": world.bearing_to(lm)}
                for lm in layout.landmarks
            ],
        }

    @staticmethod
    def _sport_state(snapshot: dict[str, Any]) -> Any:
        """The ``SportModeState_`` the robot would publish in this snapshot's state."""
        x, y, yaw = snapshot["pose"]
        vx, vy, vyaw = snapshot["velocity"]
        mode = snapshot["mode"]
        if mode == "balance" and any(snapshot["velocity"]):
            mode = "locomotion"
        height = LYING_HEIGHT if mode in ("lie_down", "damp") else BASE_HEIGHT
        return sport_state_sample(x, y, yaw, vx, vy, vyaw, z=height, mode=SPORT_MODES[mode],
                                  stamp_s=snapshot["time"])

    # ---- handlers (DDS server threads) -------------------------------------------------------
    def _record(self, service: str, api_id: int, params: dict | None) -> None:
        with self._lock:
            self._calls.append(CallRecord(service, api_id, API_NAMES.get(api_id, str(api_id)), params, time.time()))

    def _sport_handler(self, api_id: int) -> Any:
        def handle(parameter: str) -> tuple[int, str]:
            try:
                params = json.loads(parameter) if parameter else {}
            except json.JSONDecodeError:
                params = None
            self._record("sport", api_id, params)
            if params is None:
                return ERR_BAD_PARAMETER, ""
            return self._handle_sport(api_id, params)

        return handle

    def _handle_sport(self, api_id: int, params: dict) -> tuple[int, str]:
        with self._lock:
            left, code = self._failures.get(api_id, (0, 0))
            if left > 0:
                self._failures[api_id] = (left - 1, code)
                return code, ""
        if api_id == API_MOVE:
            try:
                v = tuple(float(params[k]) for k in ("x", "y", "z"))
            except (KeyError, TypeError, ValueError):
                return ERR_BAD_PARAMETER, ""
            if not all(math.isfinite(c) for c in v):
                return ERR_BAD_PARAMETER, ""
            with self._lock:
                if self._mode == "balance":
                    self._velocity = self.limits.clamp(*v)
                    self._move_until = time.monotonic() + self.move_hold_s
            return 0, ""
        if api_id in (API_STOPMOVE, API_DAMP, API_STANDUP, API_STANDDOWN, API_BALANCESTAND, API_RECOVERYSTAND):
            with self._lock:
                self._velocity, self._move_until = (0.0, 0.0, 0.0), 0.0
                if api_id == API_DAMP:
                    self._mode = "damp"
                elif api_id == API_STANDUP:
                    self._mode = "stand"
                elif api_id == API_STANDDOWN:
                    self._mode = "lie_down"
                elif api_id in (API_BALANCESTAND, API_RECOVERYSTAND):
                    self._mode = "balance"
            return 0, ""
        if api_id == API_GET_STATE:
            with self._lock:
                state = None if self._state is None else {**self._state, "mode": self._mode}
            return (0, json.dumps(state)) if state is not None else (ERR_NOT_READY, "")
        if api_id == API_GET_CALLS:
            return 0, json.dumps([asdict(c) for c in self.calls])
        if api_id == API_RESET_LAYOUT:
            try:
                seed, split = int(params["seed"]), str(params.get("split", "heldout"))
                layout_seed(split, seed)
            except (KeyError, TypeError, ValueError):
                return ERR_BAD_PARAMETER, ""
            done = threading.Event()
            with self._lock:
                self._pending_reset = (seed, split, done)
            return (0, "") if done.wait(5.0) else (ERR_NOT_READY, "")
        return ERR_BAD_PARAMETER, ""

    def _image_handler(self, _binary: Any) -> tuple[int, list[int]]:
        self._record("videohub", API_GET_IMAGE_SAMPLE, None)
        with self._lock:
            jpeg = self._jpeg
        return (0, list(jpeg)) if jpeg is not None else (ERR_NOT_READY, [])

    def _make_sport_server(self) -> Any:
        from unitree_sdk2py.rpc.server import Server

        server = Server("sport")
        server._SetApiVersion(SPORT_API_VERSION)
        for api_id in API_NAMES:
            server._RegistHandler(api_id, self._sport_handler(api_id), False)
        return server

    def _make_video_server(self) -> Any:
        from unitree_sdk2py.rpc.server import Server

        server = Server("videohub")
        server._Server__apiBinarySet = set()  # SDK bug: created as {} (a dict), so registering a binary handler fails
        server._SetApiVersion(VIDEO_API_VERSION)
        server._RegistBinaryHandler(API_GET_IMAGE_SAMPLE, self._image_handler, False)
        return server


def main(argv: list[str] | None = None) -> int:
    """Run a fake Go2 until SIGINT/SIGTERM."""
    parser = argparse.ArgumentParser(prog="python -m spec_decode_ros.sim.fake_go2", description=__doc__.split("\n")[0])
    parser.add_argument("--interface", default="lo", help="network interface for DDS (default lo)")
    parser.add_argument("--domain-id", type=int, default=0, help="DDS domain id (the Go2 uses 0)")
    parser.add_argument("--seed", type=int, default=0, help="episode seed of the layout")
    parser.add_argument("--split", default="heldout", choices=sorted(SPLITS))
    parser.add_argument("--width", type=int, default=224)
    parser.add_argument("--height", type=int, default=224)
    parser.add_argument("--jpeg-quality", type=int, default=80)
    parser.add_argument("--camera-hz", type=float, default=15.0)
    parser.add_argument("--state-hz", type=float, default=20.0, help="rt/sportmodestate rate")
    parser.add_argument("--speed-factor", type=float, default=1.0,
                        help="the robot moves at this fraction of the commanded velocity (default 1)")
    parser.add_argument("--trace-file", default=None, help="Cyclone DDS trace file (default: discarded)")
    args = parser.parse_args(argv)
    done = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: done.set())
    fake = FakeGo2(args.seed, split=args.split, width=args.width, height=args.height, jpeg_quality=args.jpeg_quality,
                   camera_hz=args.camera_hz, state_hz=args.state_hz, speed_factor=args.speed_factor,
                   interface=args.interface, domain_id=args.domain_id,
                   trace_path=args.trace_file)
    fake.start()
    print(f"READY fake Go2 on {args.interface} domain {args.domain_id}: {fake.state()['instruction']!r}", flush=True)
    try:
        while not done.wait(0.5):
            pass
    finally:
        fake.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
