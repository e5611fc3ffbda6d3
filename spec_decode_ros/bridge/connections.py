"""The TCP (or IPC) connection a frame came in on: cut it now (``cut_connection``, while handling the frame), or
keep a handle on it to cut it later (a revoked key's connection, which sends nothing more that could be cut as it
arrives); and ``ConnectionBook``, the connections a ROUTER has read from (to name each in the logs and cut a
revoked key's), bounded.

libzmq names the connection by its file descriptor (``SRCFD``); a descriptor number is reused once closed, so
the handle also keeps both socket addresses and cuts only if the descriptor still carries that connection.
"""

from __future__ import annotations

import os
import socket
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

import zmq

MAX_CONNECTIONS = 4096  # connections remembered (to log each once and cut a revoked key's); the oldest go first
Owner = TypeVar("Owner")  # who a connection belongs to: a CURVE key, a routing envelope


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


def cut_connection(frame: zmq.Frame) -> bool:
    """Shut down the TCP (or IPC) connection ``frame`` was just read from, so libzmq drops it and stops reading
    its bytes; call it while handling that frame. False where the frame names no connection (inproc)."""
    ref = ConnectionRef.of(frame)
    return ref is not None and ref.cut()

def peer_address(frame: zmq.Frame) -> str | None:
    """The address ``frame`` came from, as libzmq gives it; None where it gives none."""
    try:
        return frame.get("Peer-Address")
    except zmq.ZMQError:
        return None


@dataclass(frozen=True)
class Connection(Generic[Owner]):
    """A connection read from: who it is (its owner, its name in the logs) and how to cut it."""

    owner: Owner
    peer: str
    ref: ConnectionRef | None


class ConnectionBook(Generic[Owner]):
    """The connections a ROUTER has read from, by routing envelope; past ``limit`` the oldest is forgotten."""

    def __init__(self, limit: int = MAX_CONNECTIONS) -> None:
        self.limit = limit
        self._by_route: OrderedDict[tuple[bytes, ...], Connection[Owner]] = OrderedDict()

    def __contains__(self, route: Sequence[bytes]) -> bool:
        return tuple(route) in self._by_route

    def peer(self, route: Sequence[bytes]) -> str:
        """The name in the logs of the connection ``route`` came from ("?": not read from, or forgotten)."""
        conn = self._by_route.get(tuple(route))
        return conn.peer if conn is not None else "?"

    def add(self, route: Sequence[bytes], owner: Owner, peer: str, frame: zmq.Frame) -> Connection[Owner]:
        """Remember the connection ``frame`` (its first) came in on."""
        conn = Connection(owner, peer, ConnectionRef.of(frame))
        self._by_route[tuple(route)] = conn
        while len(self._by_route) > self.limit:
            self._by_route.popitem(last=False)
        return conn

    def cut(self, revoked: Callable[[Owner], bool]) -> list[Owner]:
        """Cut and forget every connection whose owner is ``revoked``; their owners, one per connection."""
        owners = []
        for route, conn in list(self._by_route.items()):
            if revoked(conn.owner):
                owners.append(conn.owner)
                if conn.ref is not None:
                    conn.ref.cut()
                del self._by_route[route]
        return owners
