"""systemd readiness (``Type=notify``): ``notify("READY=1")`` sends one datagram to ``$NOTIFY_SOCKET``.

The stdlib's ten lines rather than a dependency (``sdnotify``, ``systemd-python``): the protocol is one
datagram on a unix socket, and the verifier must also run where systemd is absent (then this does nothing).
"""

from __future__ import annotations

import os
import socket


def notify(state: str) -> bool:
    """Send ``state`` (e.g. ``READY=1``, ``STOPPING=1``, ``STATUS=...``) to systemd; False when not under it."""
    address = os.environ.get("NOTIFY_SOCKET", "")
    if not address:
        return False
    if address.startswith("@"):  # abstract namespace
        address = "\0" + address[1:]
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        try:
            sock.sendto(state.encode(), address)
        except OSError:
            return False
    return True
