"""Simulation (no ROS): MuJoCo Go2 world, expert, data generation, fake Go2 sport/video servers.

Importing this package picks MuJoCo's offscreen GL backend when ``MUJOCO_GL`` is unset (EGL when
libEGL is present, else OSMesa); it must happen before ``mujoco`` itself is first imported.
"""

import ctypes.util
import os

if "MUJOCO_GL" not in os.environ:
    os.environ["MUJOCO_GL"] = "egl" if ctypes.util.find_library("EGL") else "osmesa"
