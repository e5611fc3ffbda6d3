"""The TCP (or IPC) connection a frame came in on: cut it now (``cut_connection``, while handling the frame), or
keep a handle on it to cut it later (a revoked key's connection, which sends nothing more that could be cut as it
arrives).

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
        fd = source_fd(frame)
        if fd is None:
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


def source_fd(frame: zmq.Frame) -> int | None:
    """The descriptor of the connection ``frame`` was just read from; None where it names none (inproc)."""
    try:
        fd = frame.get(zmq.SRCFD)
    except zmq.ZMQError:
        return None
    return None if fd is None or fd < 0 else fd


def cut_connection(frame: zmq.Frame) -> bool:
    """Shut down the TCP (or IPC) connection ``frame`` was just read from, so libzmq drops it and stops reading
    its bytes; call it while handling that frame. False where the frame names no socket (inproc)."""
    fd = source_fd(frame)
    if fd is None:
        return False
    try:
        with socket.socket(fileno=os.dup(fd)) as sock:
            sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        return False
    return True
