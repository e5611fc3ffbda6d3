"""Socket helpers shared by the cloud server, the link emulator, the robot's client and the fleet front."""

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


def dealer(ctx: zmq.Context, options: dict[int, int]) -> zmq.Socket:
    """A DEALER that drops unsent frames on close (linger 0), with ``options`` (zmq option → value) set;
    the caller adds what must come before ``connect`` (CURVE keys, a monitor) and connects it."""
    sock = ctx.socket(zmq.DEALER)
    sock.linger = 0
    for option, value in options.items():
        sock.setsockopt(option, value)
    return sock
