"""Initialise the Go2 SDK's Cyclone DDS channel factory on a named network interface, once per process.

``ChannelFactoryInitialize(domain, interface)`` builds a Cyclone config whose trace goes to a fixed
``/tmp/cdds.LOG`` shared by every process on the machine; here it goes to a path of our choosing (by
default a per-process file under ``$ROS_LOG_DIR``). Always name the interface (``lo`` for the fake Go2,
the robot's ethernet interface on a Go2): without one Cyclone picks one itself and multicasts off the
machine. The factory is a per-process singleton: the first call wins, later calls must agree with it.
"""

from __future__ import annotations

import os
import re
import tempfile
import threading
from pathlib import Path

_lock = threading.Lock()
_initialised: tuple[int, str] | None = None


def default_trace_path() -> Path:
    base = Path(os.environ.get("ROS_LOG_DIR") or tempfile.gettempdir())
    return base / f"cdds-{os.getpid()}.log"


def init_channel(interface: str, domain_id: int = 0, trace_path: str | os.PathLike | None = None) -> bool:
    """``ChannelFactoryInitialize(domain_id, interface)`` with Cyclone's trace at ``trace_path``.

    Returns True when this call initialised the factory, False when an earlier call with the same
    interface and domain already had. Raises ValueError for a bad domain, no interface, or a second
    call that disagrees with the first (DDS allows one factory per process).
    """
    global _initialised
    if not interface:
        raise ValueError("a network interface is required (e.g. 'lo' for the fake Go2, 'eth0' on the robot)")
    if not 0 <= domain_id <= 232:
        raise ValueError(f"DDS domain id must be 0..232, got {domain_id}")
    with _lock:
        if _initialised is not None:
            if _initialised != (domain_id, interface):
                raise ValueError(f"Go2 DDS channel already initialised on {_initialised}, not {(domain_id, interface)}")
            return False
        import unitree_sdk2py.core.channel as channel

        trace = Path(trace_path) if trace_path is not None else default_trace_path()
        trace.parent.mkdir(parents=True, exist_ok=True)
        channel.ChannelConfigHasInterface = re.sub(r"<OutputFile>.*?</OutputFile>", f"<OutputFile>{trace}</OutputFile>",
                                                   channel.ChannelConfigHasInterface)
        channel.ChannelFactoryInitialize(domain_id, interface)
        _initialised = (domain_id, interface)
        return True
