"""A bag cut into episodes with the supervisor's episodes.json, and the report's pictures of them: each
episode's path, command starts and answers with their frames, a map and a camera strip per episode, and
one report.html that links them by relative paths."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from support.loop_bag import write_loop_bag
from support.loop_messages import T0_NS

from spec_decode_ros import topics
from spec_decode_ros.analysis.bag import read_bag
from spec_decode_ros.analysis.episodes import episode_views, load_episodes
from spec_decode_ros.analysis.report import build_report

S = 1_000_000_000
LAYOUT = {"landmarks": [{"color": "red", "shape": "box", "x": 2.0, "y": 0.5, "size": 0.6},
                        {"color": "blue", "shape": "ball", "x": -1.0, "y": 1.5, "size": 0.6}],
          "target": 0, "start_pose": [0.0, 0.0, 0.0]}


def demo_like_run(tmp_path: Path, camera: str = "jpeg") -> Path:
    """A bag of 4 requests (one a second) and an episodes.json of two 2 s episodes beside it."""
    bag = write_loop_bag(tmp_path / "bag", requests=4, camera=camera)
    episodes = [{"episode": i, "seed": i, "instruction": "go to the red box", "success": i == 1,
                 "distance_m": 0.3 if i else 1.2, "steps": 2, "seconds": 2.0, "answers": [], "layout": LAYOUT,
                 "t_start_ns": T0_NS + 2 * i * S, "t_end_ns": T0_NS + 2 * (i + 1) * S - 1} for i in range(2)]
    (tmp_path / "episodes.json").write_text(json.dumps({"episodes": episodes}))
    return bag


@pytest.mark.parametrize("camera", ["jpeg", "raw"])
def test_episodes_hold_their_own_path_commands_and_framed_answers(tmp_path: Path, camera: str):
    bag = demo_like_run(tmp_path, camera)
    wanted = {topics.ODOM, topics.TOKENS, topics.EXECUTED, topics.CAMERA_JPEG, topics.CAMERA_IMAGE}
    views = episode_views(read_bag(bag, wanted, keep_pixels=True), load_episodes(bag))
    assert len(views) == 2
    for i, view in enumerate(views):
        assert view.path and all(T0_NS + 2 * i * S <= t < T0_NS + 2 * (i + 1) * S for t, *_ in view.path)
        assert [a.text for a in view.answers] == ["turn left 30."] * 2
        assert all(a.frame is not None and a.frame.shape == (2, 2, 3) for a in view.answers)
        assert [c.text for c in view.commands] == ["turn left 30"] * 2
        assert all(c.pose is not None for c in view.commands)
    # the second episode's first command started 2.125 s in: x = 0.5 m/s * 2.125 s (the odometry's x(t))
    assert views[1].commands[0].pose[0] == pytest.approx(0.5 * 2.1, abs=0.03)
    assert views[0].path[0][1:3] == (0.0, 0.0) and views[1].path[-1][1] > 1.9


def test_report_html_shows_a_map_and_a_camera_strip_per_episode(tmp_path: Path):
    bag = demo_like_run(tmp_path)
    content = build_report([bag], tmp_path / "report", ["sd_ee_predraft"])
    page = Path(content["html"])
    text = page.read_text()
    links = re.findall(r'<img src="([^"]+)"', text)
    assert all(not Path(link).is_absolute() and (page.parent / link).is_file() for link in links)
    maps = [link for link in links if link.endswith("_map.png")]
    strips = [link for link in links if link.endswith("_camera.png")]
    assert maps == ["sd_ee_predraft_episode01_map.png", "sd_ee_predraft_episode02_map.png"]
    assert strips == ["sd_ee_predraft_episode01_camera.png", "sd_ee_predraft_episode02_camera.png"]
    assert "round_timeline.png" in links and "latency_distribution.png" in links
    assert "reached: 0.30 m from the target" in text and "missed: 1.20 m" in text
    import cv2

    picture = cv2.imread(str(page.parent / maps[0]))
    red = (picture[..., 2] > 180) & (picture[..., 1] < 60) & (picture[..., 0] < 60)
    assert red.sum() > 500  # the red box is drawn
    assert np.std(cv2.imread(str(page.parent / strips[0]))) > 10


def test_without_episodes_file_the_bag_is_one_episode(tmp_path: Path):
    bag = write_loop_bag(tmp_path / "bag", requests=2)
    content = build_report([bag], tmp_path / "report")
    assert len(content["episodes"]["bag"]) == 1 and Path(content["episodes"]["bag"][0]["map"]).is_file()


def test_a_broken_episodes_file_is_a_clear_error(tmp_path: Path):
    bag = write_loop_bag(tmp_path / "bag", requests=1)
    (tmp_path / "episodes.json").write_text(json.dumps({"episodes": [{"seed": 1}]}))
    with pytest.raises(ValueError, match="episodes.json is not a supervisor's episodes file"):
        load_episodes(bag)
