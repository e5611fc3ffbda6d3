"""Initialise the Go2 SDK's Cyclone DDS channel on a named network interface, once per process.

The SDK's interface config makes Cyclone write a trace to a fixed ``/tmp/cdds.LOG`` shared by every
process on the machine; we point it at a per-process file instead and keep it to warnings.
Always name the interface (``lo`` for the fake Go2, the robot's ethernet interface on a Go2):
without one Cyclone picks an interface itself and multicasts off the machine.
"""

from __future__ import annotations

import os
import re
import tempfile
import threading
from pathlib import Path

_lock = threading.Lock()
_initialised: tuple[int, str] | None = None


def trace_path() -> Path:
    base = Path(os.environ.get("ROS_LOG_DIR") or tempfile.gettempdir())
    return base / f"cdds-{os.getpid()}.log"


def init_channel(interface: str, domain_id: int = 0) -> None:
    """``ChannelFactoryInitialize(domain_id, interface)`` with a private trace file; idempotent.

    Raises ValueError when called again with a different interface or domain (DDS allows one per process).
    """
    global _initialised
    if not interface:
        raise ValueError("a network interface is required (e.g. 'lo' for the fake Go2, 'eth0' on the robot)")
    with _lock:
        if _initialised is not None:
            if _initialised != (domain_id, interface):
                raise ValueError(f"Go2 DDS channel already initialised on {_initialised}, not {(domain_id, interface)}")
            return
        import unitree_sdk2py.core.channel as channel

        trace = trace_path()
        trace.parent.mkdir(parents=True, exist_ok=True)
        config = re.sub(r"<OutputFile>.*?</OutputFile>", f"<OutputFile>{trace}</OutputFile>",
                        channel.ChannelConfigHasInterface)
        channel.ChannelConfigHasInterface = config.replace("<Verbosity>config</Verbosity>",
                                                           "<Verbosity>warning</Verbosity>")
        channel.ChannelFactoryInitialize(domain_id, interface)
        _initialised = (domain_id, interface)
