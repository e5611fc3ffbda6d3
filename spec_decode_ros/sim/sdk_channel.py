"""Start the unitree_sdk2py DDS channel factory on a named interface, with Cyclone's trace file under control.

``ChannelFactoryInitialize(domain, interface)`` builds a Cyclone config whose trace goes to a fixed
``/tmp/cdds.LOG`` (shared by every process on the machine); ``init_channel`` writes that trace to a
path of our choosing, or nowhere. The factory is a per-process singleton: the first call wins.
"""

from __future__ import annotations

import os
import re


def init_channel(interface: str | None = "lo", domain_id: int = 0, trace_path: str | None = None) -> None:
    """Initialise the SDK's channel factory (once per process).

    ``interface``: network interface (``"lo"`` for a fake robot on this machine, the robot's NIC otherwise;
    None lets Cyclone pick, which multicasts off the machine). ``trace_path``: where Cyclone's config trace
    goes; None discards it.
    """
    if not 0 <= domain_id <= 232:
        raise ValueError(f"DDS domain id must be 0..232, got {domain_id}")
    from unitree_sdk2py.core import channel as sdk_channel

    if trace_path is None:
        trace_path = os.devnull
    sdk_channel.ChannelConfigHasInterface = re.sub(
        r"<OutputFile>.*?</OutputFile>", f"<OutputFile>{trace_path}</OutputFile>", sdk_channel.ChannelConfigHasInterface
    )
    sdk_channel.ChannelFactoryInitialize(domain_id, interface)
