"""The ROUTER socket robots connect to, as the verifier server and the fleet front both open it: frames capped at
the protocol's largest, few queued per robot (``RCVHWM``: TCP pushes back), heartbeats, and with CURVE the
robots' allow-list and the ZAP authenticator that applies it at each handshake; bound with retry."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import zmq

from spec_decode_ros.bridge import protocol as p
from spec_decode_ros.bridge.security import AllowList, ServerSecurity, make_curve_server, start_authenticator
from spec_decode_ros.bridge.sockets import bind_with_retry

RCVHWM = 8  # frames queued per peer before libzmq stops reading from it (TCP pushes back)
HEARTBEAT_IVL_MS = 1000
HEARTBEAT_TIMEOUT_MS = 5000


class RobotRouter:
    """``sock`` bound to ``bind`` (``endpoint``: the port resolved); ``allow`` is None without CURVE.
    ``refuse(key)`` turns a key away at its handshake even while the allow-list admits it (a penalised flooder)."""

    def __init__(self, context: zmq.Context, bind: str, security: ServerSecurity | None, *, sndhwm: int,
                 refuse: Callable[[str], bool] | None = None) -> None:
        self.sock = context.socket(zmq.ROUTER)
        self.sock.linger = 0
        self.sock.setsockopt(zmq.MAXMSGSIZE, p.MAX_WIRE_BYTES)
        self.sock.setsockopt(zmq.SNDHWM, sndhwm)
        self.sock.setsockopt(zmq.RCVHWM, RCVHWM)
        self.sock.setsockopt(zmq.HEARTBEAT_IVL, HEARTBEAT_IVL_MS)
        self.sock.setsockopt(zmq.HEARTBEAT_TIMEOUT, HEARTBEAT_TIMEOUT_MS)
        self.allow: AllowList | None = None
        self._auth = None
        if security is not None:
            self.allow = AllowList.of(security, refuse)
            self._auth = start_authenticator(context, self.allow)
            make_curve_server(self.sock, security)
        self.endpoint: str = bind_with_retry(self.sock, bind)

    def send(self, route: Sequence[bytes], msg: p.Message) -> None:
        """``msg`` to the robot at ``route``, never blocking: dropped if the robot is gone or its queue is full (it
        will time out and resume)."""
        try:
            self.sock.send_multipart([*route, p.encode(msg)], zmq.NOBLOCK)
        except zmq.ZMQError:
            pass

    def close(self) -> None:
        """Close the socket and stop the authenticator (the caller terminates a context it owns)."""
        self.sock.close(0)
        if self._auth is not None:
            self._auth.stop()
