"""A bag cut into episodes for the report's pictures: per episode the robot's path (odometry), where
each command started (the pose when ``go2/executed`` was stamped), and each answer with the camera
frame that prompted it.

The layout of the objects and each episode's time window are not in a bag: the demo's supervisor
writes them to ``episodes.json`` beside it (``load_episodes``). Without that file the whole bag is one
episode with no objects.
"""

from __future__ import annotations

import bisect
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from spec_decode_ros import topics
from spec_decode_ros.analysis.bag import BagData, stamp_ns

EPISODES_FILE = "episodes.json"


@dataclass
class Answer:
    """One request: its camera frame (RGB, or None when the bag lacks it), its text, its image stamp."""

    image_ns: int
    text: str
    frame: np.ndarray | None


@dataclass
class CommandStart:
    """A command as executed: when, what, and the odometry pose (x, y, yaw) then."""

    t_ns: int
    text: str
    pose: tuple[float, float, float] | None


@dataclass
class EpisodeView:
    """What the map and the camera strip of one episode show."""

    title: str
    info: dict[str, Any] = field(default_factory=dict)  # the supervisor's result (layout, success, ...)
    path: list[tuple[int, float, float, float]] = field(default_factory=list)  # (t ns, x, y, yaw)
    commands: list[CommandStart] = field(default_factory=list)
    answers: list[Answer] = field(default_factory=list)


def load_episodes(bag: Path) -> list[dict[str, Any]]:
    """The supervisor's episodes beside ``bag`` (``episodes.json``), or [] when there is none.
    A file that is there but not what the supervisor writes is a ValueError naming it."""
    path = Path(bag).parent / EPISODES_FILE
    if not path.exists():
        return []
    try:
        episodes = json.loads(path.read_text())["episodes"]
        for ep in episodes:
            int(ep["t_start_ns"]), int(ep["t_end_ns"])
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as err:
        raise ValueError(f"{path} is not a supervisor's episodes file (with t_start_ns/t_end_ns): {err!r}") from err
    return episodes


def _yaw(q: Any) -> float:
    return math.atan2(2 * (q.w * q.z + q.x * q.y), 1 - 2 * (q.y * q.y + q.z * q.z))


def _decode_frame(msg: Any) -> np.ndarray | None:
    import cv2

    if hasattr(msg, "format"):  # CompressedImage
        bgr = cv2.imdecode(np.asarray(msg.data, np.uint8), cv2.IMREAD_COLOR)
        return None if bgr is None else cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    if msg.data is None or msg.encoding not in ("rgb8", "bgr8"):
        return None
    pixels = np.asarray(msg.data, np.uint8).reshape(msg.height, msg.step)[:, :msg.width * 3]
    pixels = pixels.reshape(msg.height, msg.width, 3)
    return pixels[..., ::-1] if msg.encoding == "bgr8" else pixels


def episode_views(bag: BagData, episodes: list[dict[str, Any]]) -> list[EpisodeView]:
    """Cut ``bag`` (read with odom, tokens, executed and a camera topic, pixels kept) into episodes."""
    path = sorted((stamp_ns(m.header.stamp), m.pose.pose.position.x, m.pose.pose.position.y,
                   _yaw(m.pose.pose.orientation)) for _, m in bag.messages(topics.ODOM))
    times = [p[0] for p in path]

    def pose_at(t: int) -> tuple[float, float, float] | None:
        i = bisect.bisect_right(times, t) - 1
        return path[i][1:] if i >= 0 and t - times[i] < 1_000_000_000 else None

    frames = {stamp_ns(m.header.stamp): m for _, m in [*bag.messages(topics.CAMERA_JPEG),
                                                         *bag.messages(topics.CAMERA_IMAGE)]}
    texts: dict[int, list] = {}  # request -> [first token ns, image ns, text]
    for _, m in bag.messages(topics.TOKENS):
        entry = texts.setdefault(int(m.request_id), [stamp_ns(m.header.stamp), stamp_ns(m.image_stamp), ""])
        entry[2] += m.text
    answers = sorted(tuple(entry) for entry in texts.values())
    commands = sorted((stamp_ns(m.header.stamp), m.text) for _, m in bag.messages(topics.EXECUTED))

    windows = [(int(e["t_start_ns"]), int(e["t_end_ns"])) for e in episodes] or [(0, 2**63 - 1)]
    views = []
    for i, (t0, t1) in enumerate(windows):
        info = episodes[i] if episodes else {}
        title = (f"episode {info.get('episode', i) + 1}, seed {info.get('seed', '?')}: {info.get('instruction', '')!r}"
                 if info else bag.path.name)
        view = EpisodeView(title=title, info=info)
        view.path = [p for p in path if t0 <= p[0] <= t1]
        view.commands = [CommandStart(t, text, pose_at(t)) for t, text in commands if t0 <= t <= t1]
        for first_token, img, text in answers:  # by the answer's time: its frame may predate the window
            if t0 <= first_token <= t1:
                frame = frames.get(img)
                view.answers.append(Answer(img, text.strip(), None if frame is None else _decode_frame(frame)))
        views.append(view)
    return views
