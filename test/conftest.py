"""Test-wide environment: ROS discovery stays on this machine, each run has its own DDS domain and
log directory, nothing is downloaded, MuJoCo renders offscreen. Set before anything imports rclpy."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
os.environ.pop("ROS_LOCALHOST_ONLY", None)
os.environ.setdefault("ROS_DOMAIN_ID", str(1 + os.getpid() % 100))
# the Go2 SDK (Cyclone DDS) gets a domain of the run's own too, apart from ROS's
os.environ.setdefault("SPEC_DECODE_GO2_DOMAIN", str(100 + int(os.environ["ROS_DOMAIN_ID"])))
os.environ.setdefault("ROS_LOG_DIR", tempfile.mkdtemp(prefix="ros_log_", dir=os.environ.get("TMPDIR", "/tmp")))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("MUJOCO_GL", "egl")
os.environ.setdefault("AMENT_PREFIX_PATH", sys.prefix)
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

sys.path.insert(0, str(ROOT / "test"))

# Every in-process robot and verifier of the run shares pyzmq's global context, whose default cap is 1023 sockets
# (libzmq's ZMQ_MAX_SOCKETS): the sockets that a failing test's traceback keeps alive count against it, and one
# failure would then turn every later socket test into "Too many open files". Raised before the first socket.
import zmq  # noqa: E402

zmq.Context.instance().set(zmq.MAX_SOCKETS, 16384)

# the tiny text pair (target folder, draft, greedy references) for the bridge and fleet tests; the cloud side's logs
pytest_plugins = ("support.tiny_pair_fixtures", "support.log_capture")
