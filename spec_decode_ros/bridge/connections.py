"""A handle on the TCP connection a frame came in on, to cut it later (a revoked key's connection, which sends
nothing more that could be cut as it arrives).

libzmq names the connection by its file descriptor (``SRCFD``); a descriptor number is reused once closed, so
the handle also keeps both socket addresses and cuts only if the descriptor still carries that connection.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass

import zmq


@dataclass(frozen=True)
class ConnectionRef:
    fd: int
    local: object
    remote: object

    @classmethod
    def of(cls, frame: zmq.Frame) -> ConnectionRef | None:
        """The connection ``frame`` was just read from; None where it names none (inproc, ipc peer gone)."""
        try:
            fd = frame.get(zmq.SRCFD)
        except zmq.ZMQError:
            return None
        if fd is None or fd < 0:
            return None
        try:
            with socket.socket(fileno=os.dup(fd)) as sock:
                return cls(fd, sock.getsockname(), sock.getpeername())
        except OSError:
            return None

    def cut(self) -> bool:
        """Shut the connection down if the descriptor still carries it; True if it did."""
        try:
            with socket.socket(fileno=os.dup(self.fd)) as sock:
                if (sock.getsockname(), sock.getpeername()) != (self.local, self.remote):
                    return False
                sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            return False
        return True
