"""The MuJoCo world: layouts, kinematics, distances, visibility and the rendered front camera."""

from __future__ import annotations

import math

import numpy as np
import pytest

from spec_decode_ros.sim.world import (
    ARENA_HALF,
    COLORS,
    LANDMARK_KINDS,
    NOSE_OFFSET,
    SHAPES,
    Go2World,
    Landmark,
    Layout,
    integrate_twist,
    random_layout,
)

pytestmark = pytest.mark.slow  # starts processes, DDS, MuJoCo or training


def test_random_layouts_are_deterministic_and_follow_the_rules():
    assert random_layout(5) == random_layout(5)
    assert random_layout(5) != random_layout(6)
    shares = 0
    for seed in range(200):
        lay = random_layout(seed)
        n = len(lay.landmarks)
        assert 2 <= n <= 4
        assert len({lm.name for lm in lay.landmarks}) == n
        target = lay.target_landmark
        others = [lm for i, lm in enumerate(lay.landmarks) if i != lay.target]
        shares += any(lm.color == target.color or lm.shape == target.shape for lm in others)
        for i, a in enumerate(lay.landmarks):
            assert abs(a.x) <= ARENA_HALF and abs(a.y) <= ARENA_HALF
            assert math.hypot(a.x - lay.robot_x, a.y - lay.robot_y) >= 1.0
            for b in lay.landmarks[i + 1:]:
                assert math.hypot(a.x - b.x, a.y - b.y) >= 1.2
    assert shares == 200  # a distractor always shares the target's colour or shape


def test_bad_layouts_and_landmarks_are_rejected():
    red_box = Landmark("red", "box", 1.0, 0.0)
    with pytest.raises(ValueError, match="unique"):
        Layout((red_box, red_box))
    with pytest.raises(ValueError, match="target index 3"):
        Layout((red_box,), target=3)
    with pytest.raises(ValueError, match="colour 'pink'"):
        Landmark("pink", "box", 0.0, 0.0)
    with pytest.raises(ValueError, match="shape 'cone'"):
        Landmark("red", "cone", 0.0, 0.0)
    with pytest.raises(ValueError, match="n_landmarks"):
        random_layout(0, n_landmarks=(3, 2))
    assert set(COLORS) >= {"red", "green", "blue"} and set(SHAPES) == {"box", "ball", "cylinder"}


def test_integrate_twist_matches_small_steps():
    assert integrate_twist(0, 0, 0, 1.0, 0, 0, 2.0) == (2.0, 0.0, 0.0)
    x, y, yaw = integrate_twist(1, 1, 0, 0, 0, math.pi / 2, 1.0)
    assert (x, y) == (1, 1) and math.isclose(yaw, math.pi / 2)
    pose = (0.3, -0.2, 0.4)
    for _ in range(10_000):
        pose = integrate_twist(*pose, 0.5, 0.2, 0.8, 2.0 / 10_000)
    exact = integrate_twist(0.3, -0.2, 0.4, 0.5, 0.2, 0.8, 2.0)
    assert np.allclose(pose, exact, atol=1e-4)


def test_motion_moves_the_robot_and_its_camera(world):
    world.reset(Layout((Landmark("red", "box", 3.0, 0.0),), 0.0, 0.0, 0.0))
    before = world.render()
    world.set_velocity(0.5, 0.0, 0.0)
    world.step(2.0)
    assert np.allclose(world.pose, (1.0, 0.0, 0.0))
    after = world.render()
    assert np.abs(after.astype(int) - before.astype(int)).mean() > 1.0
    world.set_velocity(0.0, 0.0, 1.0)
    world.step(math.pi / 2)
    assert math.isclose(world.pose[2], math.pi / 2, abs_tol=1e-9)
    with pytest.raises(ValueError, match="vx must be finite"):
        world.set_velocity(math.inf, 0, 0)
    with pytest.raises(ValueError, match="dt"):
        world.step(-1.0)


def test_distance_is_nose_to_footprint_gap(world):
    lm = Landmark("blue", "ball", 2.0, 0.0, size=0.5)
    world.reset(Layout((lm,), 0.0, 0.0, 0.0))
    assert math.isclose(world.distance_to(lm), 2.0 - NOSE_OFFSET - 0.25)
    world.set_pose(0.0, 0.0, math.pi)  # facing away: the nose is on the far side
    assert math.isclose(world.distance_to(lm), 2.0 + NOSE_OFFSET - 0.25)
    world.set_pose(1.8, 0.0, 0.0)  # nose inside
    assert world.distance_to(lm) == 0.0
    assert math.isclose(world.bearing_to(lm), 0.0)


def red_fraction(image: np.ndarray) -> float:
    r, g, b = (image[..., i].astype(int) for i in range(3))
    return float(((r > 150) & (g < 80) & (b < 80)).mean())


def test_camera_sees_what_is_in_front_and_not_the_robot(world):
    lm = Landmark("red", "box", 1.5, 0.0)
    world.reset(Layout((lm,), 0.0, 0.0, 0.0))
    image = world.render()
    assert image.shape == (64, 64, 3) and image.dtype == np.uint8
    h, w = image.shape[:2]
    assert red_fraction(image[:, w // 3: 2 * w // 3]) > 0.05  # the box is in the middle third
    assert red_fraction(image[:, : w // 4]) == 0.0
    assert world.is_visible(lm)
    world.set_pose(0.0, 0.0, math.radians(-30))  # turned right: the box moves to the left of the image
    image = world.render()
    assert red_fraction(image[:, : w // 2]) > red_fraction(image[:, w // 2:])
    world.set_pose(0.0, 0.0, math.pi)  # facing away
    image = world.render()
    assert red_fraction(image) == 0.0 and not world.is_visible(lm)
    # the robot's own body is hidden: with nothing in view, the bottom rows are plain floor
    bottom = image[-8:].reshape(-1, 3).astype(int)
    assert bottom.std(axis=0).max() < 12


def test_object_map_labels_exactly_the_pixels_of_each_landmark(world):
    box, ball = Landmark("red", "box", 1.5, 0.4), Landmark("blue", "ball", 2.0, -0.6)
    world.reset(Layout((box, ball), 0.0, 0.0, 0.0))
    image, labels = world.render(), world.render_object_map()
    assert labels.shape == image.shape[:2] and labels.dtype == np.uint8
    red_k, blue_k = 1 + LANDMARK_KINDS.index(("red", "box")), 1 + LANDMARK_KINDS.index(("blue", "ball"))
    assert set(np.unique(labels)) == {0, red_k, blue_k}
    w = image.shape[1]
    assert (labels[:, : w // 2] == red_k).sum() > (labels[:, w // 2:] == red_k).sum()  # the box is to the left
    assert image[labels == red_k].mean(axis=0).argmax() == 0  # red pixels where the map says red box
    assert image[labels == blue_k].mean(axis=0).argmax() == 2
    assert red_fraction(image[labels == 0][None]) == 0.0  # nothing red outside the box's pixels
    world.set_pose(0.0, 0.0, math.pi)  # facing away: only floor and sky
    assert not world.render_object_map().any()
    assert world.render().shape == image.shape  # normal rendering is back after the segmentation pass


def test_visibility_accounts_for_occlusion(world):
    target = Landmark("red", "ball", 3.0, 0.0)
    blocker = Landmark("blue", "cylinder", 1.5, 0.0)
    world.reset(Layout((target, blocker), 0.0, 0.0, 0.0))
    assert not world.is_visible(target) and world.is_visible(blocker)
    world.reset(Layout((target, Landmark("blue", "cylinder", 1.5, 1.2)), 0.0, 0.0, 0.0))
    assert world.is_visible(target)


def test_large_and_non_square_images_render():
    with Go2World(random_layout(1), width=800, height=600) as big:
        assert big.render().shape == (600, 800, 3)
        assert math.isclose(math.degrees(big.hfov), 2 * math.degrees(math.atan(800 / 600)), rel_tol=1e-9)
    with pytest.raises(ValueError, match="camera size"):
        Go2World(random_layout(1), width=8, height=8)
