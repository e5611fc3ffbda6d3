"""Bags of camera frames with instructions, written the way the recorder writes one: ``sensor_msgs/Image``
through ``DerivedStreams`` (camera as JPEG) into an MCAP bag, each scene's ``instruction`` said before its
frames. ``write_frames_bag`` renders the frames with the MuJoCo Go2 world (``sim.world``); ``write_bag`` takes
any frames (the fast tests' synthetic ones)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from spec_decode_ros import topics
from spec_decode_ros.analysis.bag import BagWriter
from spec_decode_ros.analysis.derived import DerivedStreams, absolute
from support.loop_messages import T0_NS, _time

SCENES = 4  # layouts; each gets its instruction, then its frames as the robot turns in place


def write_bag(path: Path, scenes: Sequence[tuple[str | None, Sequence[np.ndarray]]], *,
              extra: Sequence[tuple[str, bytes]] = ()) -> Path:
    """A bag of (instruction or None, RGB frames) scenes, 100 ms between frames; ``extra`` raw (topic, CDR)
    messages are written after them as they are (bad bytes included)."""
    from rclpy.serialization import serialize_message
    from sensor_msgs.msg import Image
    from std_msgs.msg import Header, String

    derived = DerivedStreams("jpeg")
    types = {absolute(t): ty for t, ty in derived.types([topics.CAMERA_IMAGE, topics.INSTRUCTION]).items()}
    writer = BagWriter(path, types)
    t = T0_NS
    for text, frames in scenes:
        t += 50_000_000  # said after the last scene's frames, before this one's
        if text is not None:
            for name, cdr in derived.feed(topics.INSTRUCTION, serialize_message(String(data=text))):
                writer.write(absolute(name), t, cdr)
        for rgb in frames:
            t += 100_000_000
            h, w = rgb.shape[:2]
            image = Image(header=Header(stamp=_time(t), frame_id="front_camera"), height=h, width=w,
                          encoding="rgb8", step=w * 3, data=np.ascontiguousarray(rgb).tobytes())
            for name, cdr in derived.feed(topics.CAMERA_IMAGE, serialize_message(image)):
                writer.write(absolute(name), t, cdr)
    for topic, cdr in extra:
        t += 100_000_000
        writer.write(absolute(topic), t, cdr)
    writer.close()
    return path


def write_frames_bag(path: Path, frames: int = 20, side: int = 48) -> tuple[Path, list[str]]:
    """``frames`` MuJoCo camera frames (``side``² px) over ``SCENES`` scenes, the robot turning in place; returns
    the bag and each frame's instruction, in order."""
    import spec_decode_ros.sim  # noqa: F401  (picks MuJoCo's offscreen GL before mujoco loads)
    from spec_decode_ros.sim.expert import instruction_for
    from spec_decode_ros.sim.world import Go2World, random_layout

    scenes: list[tuple[str | None, list[np.ndarray]]] = []
    per_scene = math.ceil(frames / SCENES)
    with Go2World(random_layout(0), width=side, height=side) as world:
        for scene in range(SCENES):
            layout = random_layout(scene)
            world.reset(layout)
            shots = []
            for _ in range(min(per_scene, frames - sum(len(s) for _, s in scenes))):
                x, y, yaw = world.pose
                world.set_pose(x, y, yaw + 0.3)
                shots.append(np.ascontiguousarray(world.render()))
            scenes.append((instruction_for(layout.target_landmark, np.random.default_rng(scene)), shots))
    said = [str(text) for text, shots in scenes for _ in shots]
    return write_bag(path, scenes), said
