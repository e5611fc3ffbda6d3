"""Socket helpers shared by the cloud server and the link emulator."""

from __future__ import annotations

import errno
import time

import zmq


def bind_with_retry(sock: zmq.Socket, endpoint: str, timeout_s: float = 5.0) -> str:
    """Bind, retrying while the address is still in use (a restarted server whose predecessor's socket is
    still closing in ZeroMQ's I/O thread); returns the bound endpoint (ports chosen by ``:0`` resolved)."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            sock.bind(endpoint)
            return sock.getsockopt_string(zmq.LAST_ENDPOINT)
        except zmq.ZMQError as e:
            if e.errno != errno.EADDRINUSE or time.monotonic() >= deadline:
                raise
            time.sleep(0.05)
