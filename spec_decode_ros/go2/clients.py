"""Thin wrappers over the SDK's ``SportClient`` and ``VideoClient`` with errors that say what failed.

``Move`` is fire-and-forget on the Go2 (sport API 1008, sent without waiting for a reply) and the
robot holds the last Move for about a second: callers re-send it while a motion lasts. A stop is
always an explicit ``StopMove`` (1003); ``Damp`` (1001) is the emergency stop.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from spec_decode_ros.go2.channel import init_channel


class Go2Error(RuntimeError):
    """An SDK call returned a non-zero code or nothing usable."""


def _sdk_client(client_class: type, interface: str, timeout_s: float, domain_id: int) -> Any:
    """An SDK RPC client on the DDS channel of ``interface``/``domain_id``, with its reply timeout, initialised."""
    init_channel(interface, domain_id)
    client = client_class()
    client.SetTimeout(timeout_s)
    client.Init()
    return client


class Go2Sport:
    def __init__(self, interface: str, timeout_s: float = 1.0, domain_id: int = 0) -> None:
        from unitree_sdk2py.go2.sport.sport_client import SportClient

        self._client = _sdk_client(SportClient, interface, timeout_s, domain_id)

    def move(self, vx: float, vy: float, vyaw: float) -> int:
        return self._check("Move", self._client.Move(float(vx), float(vy), float(vyaw)))

    def stop_move(self) -> int:
        return self._check("StopMove", self._client.StopMove())

    def damp(self) -> int:
        return self._check("Damp", self._client.Damp())

    @staticmethod
    def _check(name: str, code: int) -> int:
        if code != 0:
            raise Go2Error(f"SportClient.{name} returned code {code}")
        return code


class Go2Camera:
    def __init__(self, interface: str, timeout_s: float = 1.0, domain_id: int = 0) -> None:
        from unitree_sdk2py.go2.video.video_client import VideoClient

        self._client = _sdk_client(VideoClient, interface, timeout_s, domain_id)

    def jpeg(self) -> bytes:
        code, data = self._client.GetImageSample()
        if code != 0 or not data:
            raise Go2Error(f"VideoClient.GetImageSample returned code {code} with {len(data or [])} bytes")
        return bytes(data)

    def rgb(self) -> np.ndarray:
        """The current front-camera frame as an H×W×3 uint8 RGB array."""
        import cv2

        raw = np.frombuffer(self.jpeg(), np.uint8)
        bgr = cv2.imdecode(raw, cv2.IMREAD_COLOR)
        if bgr is None:
            raise Go2Error(f"GetImageSample returned {raw.size} bytes that are not a decodable image")
        return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
