"""Client for the fake Go2's extra ``sport`` APIs (ground truth for tests and the demo): GetState,
ResetLayout, GetCalls. Uses the SDK's own RPC client, over the same DDS channel as SportClient."""

from __future__ import annotations

import json
import time
from typing import Any

from unitree_sdk2py.rpc.client import Client

from spec_decode_ros.sim.fake_go2 import API_GET_CALLS, API_GET_STATE, API_RESET_LAYOUT, SPORT_API_VERSION


class FakeGo2Error(RuntimeError):
    """A fake-Go2 API call failed; the message names the API and the SDK's error code."""


class FakeGo2Client(Client):
    """Ground-truth access to a FakeGo2 (call ``init_channel`` first, as for any SDK client)."""

    def __init__(self, timeout_s: float = 2.0) -> None:
        super().__init__("sport", False)
        self.SetTimeout(timeout_s)
        self._SetApiVerson(SPORT_API_VERSION)
        for api_id in (API_GET_STATE, API_RESET_LAYOUT, API_GET_CALLS):
            self._RegistApi(api_id, 0)

    def _json_call(self, api_id: int, name: str, params: dict | None = None) -> Any:
        code, data = self._Call(api_id, json.dumps(params or {}))
        if code != 0:
            raise FakeGo2Error(f"{name} failed with SDK code {code}")
        return json.loads(data) if data else None

    def get_state(self) -> dict[str, Any]:
        """Pose [x, y, yaw], velocity, mode, instruction, target index, landmarks with distance/bearing."""
        return self._json_call(API_GET_STATE, "GetState")

    def reset_layout(self, seed: int, split: str = "heldout") -> None:
        """Load the layout of episode ``seed`` and put the robot at its start."""
        self._json_call(API_RESET_LAYOUT, "ResetLayout", {"seed": seed, "split": split})

    def get_calls(self) -> list[dict[str, Any]]:
        """Every call the fake received: service, api_id, name, params, t."""
        return self._json_call(API_GET_CALLS, "GetCalls")

    def wait_ready(self, timeout_s: float = 20.0) -> dict[str, Any]:
        """Poll GetState until the fake answers (DDS discovery takes a moment); return the state."""
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                return self.get_state()
            except FakeGo2Error:
                if time.monotonic() > deadline:
                    raise FakeGo2Error(f"no fake Go2 answered within {timeout_s} s") from None
