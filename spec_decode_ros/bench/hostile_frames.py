"""Hostile frames: what an attacker on the robots' network sends the cloud (issue #14), for the fault tests and
``bench/hostile.py``.

Each builder returns one frame as bytes. The issue's originals are larger than the cloud's ``MAXMSGSIZE``
now (libzmq drops such a frame and its connection before Python sees it: ``oversized``); the other kinds are
the same attacks cut to fit under the frame cap, so each reaches the verifier's checks and gets an ERROR.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import msgpack
import numpy as np

from spec_decode_ros.bridge import protocol as p
from spec_decode_ros.bridge.images import encode_jpeg
from spec_decode_ros.bridge.security import ClientSecurity, make_curve_client


def jpeg_declaring(width: int, height: int, size_bytes: int = 0) -> bytes:
    """A real (tiny) JPEG whose frame header claims ``width``×``height``, padded with comment segments before
    the header to about ``size_bytes`` (the issue's 3–4 MB file, made to fit the frame cap)."""
    real = bytearray(encode_jpeg(np.zeros((8, 8, 3), np.uint8)))
    pos = 2
    while real[pos + 1] not in (0xC0, 0xC2):
        pos += 2 + int.from_bytes(real[pos + 2: pos + 4], "big")
    real[pos + 5: pos + 7] = height.to_bytes(2, "big")
    real[pos + 7: pos + 9] = width.to_bytes(2, "big")
    padding = bytearray()
    while len(padding) + len(real) < size_bytes:
        chunk = min(65533, size_bytes - len(real) - len(padding))
        padding += b"\xff\xfe" + (chunk + 2).to_bytes(2, "big") + b"\0" * chunk
    return bytes(real[:2] + padding + real[2:])


def huge_image_open(session: str = "hostile-image", size_bytes: int = p.MAX_IMAGE_BYTES - 1024) -> bytes:
    """An OPEN whose JPEG declares 16000×16000 pixels (it would decode to 768 MB)."""
    return p.encode(p.Open(session=session, text="go to the red box",
                           image_jpeg=jpeg_declaring(16000, 16000, size_bytes)))


def nested_tree(width: int = 250, depth: int = 3, *, in_map: bool = True, max_bytes: int = p.MAX_FRAME_BYTES) -> bytes:
    """Nested empty msgpack arrays, ``width`` wide and ``depth`` deep (the issue's: 250 × 3, 16 M objects),
    cut to ``max_bytes``; ``in_map`` puts the tree under a key of a well-formed envelope map."""
    body = b"\x90"  # the leaves: empty arrays
    for _ in range(depth):
        body = b"\xdc" + width.to_bytes(2, "big") + body * width
        if len(body) > max_bytes:
            body = body[:max_bytes]
    if not in_map:
        return body[:max_bytes]
    head = msgpack.packb({"v": p.PROTOCOL_VERSION, "t": "open", "session": "hostile-tree"})
    frame = bytes([head[0] + 1]) + head[1:] + msgpack.packb("tree") + body  # one more pair in the fixmap
    return frame[:max_bytes]


def wide_list(max_bytes: int = p.MAX_FRAME_BYTES) -> bytes:
    """A map holding one flat list of nils as long as the frame cap allows (about 2 M objects)."""
    head = msgpack.packb({"v": p.PROTOCOL_VERSION, "t": "draft", "session": "hostile-wide"})
    n = max_bytes - len(head) - 16
    return bytes([head[0] + 1]) + head[1:] + msgpack.packb("tokens") + b"\xdd" + n.to_bytes(4, "big") + b"\xc0" * n


def long_prompt_open(session: str = "hostile-prompt", max_new_tokens: int = 64) -> bytes:
    """A well-formed OPEN whose prompt (the most text the protocol allows, in words) is far over any small
    target's context: it must be refused after tokenizing, before any forward."""
    words = ("go to the red box and then turn left " * (p.MAX_TEXT_CHARS // 37 + 1))[: p.MAX_TEXT_CHARS]
    return p.encode(p.Open(session=session, text=words, max_new_tokens=max_new_tokens))


def oversized(size: int = 16 * 1024 * 1024) -> bytes:
    """The issue's 16 MB frame: over ``MAXMSGSIZE``, so libzmq drops it and its connection (no ERROR)."""
    return b"\xdc\x00\xfa" + b"\x90" * (size - 3)


# the kinds that fit under the frame cap, each answered with an ERROR
KINDS: dict[str, Callable[[], bytes]] = {
    "jpeg_16000x16000": huge_image_open,
    "tree_250x3_in_map": nested_tree,
    "tree_250x3_bare": lambda: nested_tree(in_map=False),
    "flat_list_2M": wide_list,
    "prompt_over_context": long_prompt_open,
}


def flood_main(endpoint: str, duration_s: float, results: object, *, oversized_every: int = 10,
               active: object = None, done: object = None, ready: object = None,
               security: ClientSecurity | None = None) -> None:
    """Process entry point: send hostile frames (every kind in turn) as fast as the link takes them for
    ``duration_s``, and every ``oversized_every``-th round also the oversized frame on a second connection
    (libzmq drops that connection each time; it reconnects); put (frames sent, ERRORs received) on ``results``.
    With ``active`` (a ``multiprocessing.Event``) it floods only while that is set, ``duration_s`` of flooding
    in all (or until ``done`` is set), each burst on fresh connections (what a burst left queued is dropped when it
    ends). ``ready`` (an Event) is set once the frames are built. ``security``: the flooder's own CURVE keys (an
    allowed key: a compromised robot), for a cloud run with ``--keys``."""
    import zmq

    frames = [build() for build in KINDS.values()]
    big = oversized()
    ctx = zmq.Context()
    if ready is not None:
        ready.set()  # type: ignore[attr-defined]
    sent = errors = 0
    left = duration_s
    while left > 0 and not (done is not None and done.is_set()):  # type: ignore[attr-defined]
        if active is not None and not active.wait(0.1):  # type: ignore[attr-defined]
            continue
        t0 = time.monotonic()
        socks = []
        for _ in range(2):
            sock = ctx.socket(zmq.DEALER)
            sock.linger = 0
            sock.setsockopt(zmq.SNDTIMEO, 100)
            if security is not None:
                make_curve_client(sock, security)
            sock.connect(endpoint)
            socks.append(sock)
        main, second = socks
        while time.monotonic() - t0 < left and (active is None or active.is_set()):  # type: ignore[attr-defined]
            try:
                main.send(frames[sent % len(frames)], copy=False)
                sent += 1
                if oversized_every and sent % (oversized_every * len(frames)) == 0:
                    second.send(big, copy=False, flags=zmq.NOBLOCK)
                    sent += 1
            except zmq.Again:
                pass
            while main.poll(0):
                try:
                    errors += isinstance(p.decode(main.recv(zmq.NOBLOCK)), p.Error)
                except (zmq.Again, p.ProtocolError):
                    break
        for sock in socks:
            sock.close(0)
        left -= time.monotonic() - t0
    ctx.term()
    results.put((sent, errors))  # type: ignore[attr-defined]
