"""`PlanarArmEnv`: an n-link planar arm (n = 3, 4 or 5) must bring its fingertip to a target.

A real MuJoCo model (`assets/planar_arm_<n>.xml`) run by gymnasium's `MujocoEnv`; sizes in
`planar_arm_geometry.py`. The same task is posed to robots with different numbers of joints, so one policy
can be trained on several of them (robokit.data.embodiment pads their joints to one layout) and asked to drive
another. Each joint has a velocity servo: the action (n,) in [-1, 1] asks for joint velocities `action * 2`
rad/s, reached within a few milliseconds of a 0.05 s control step.

Observations (float64):
    "joint_pos"   (n,)  joint angles q_1 .. q_n (radians; q_i is relative to link i-1)
    "joint_vel"   (n,)  joint velocities (rad/s)
    "fingertip"   (2,)  fingertip position (x, y), metres
    "target"      (2,)  target position (x, y)
    "to_target"   (2,)  target - fingertip
Reward: "sparse" (default) -1 per step, 0 at the target; "dense" minus the fingertip-to-target distance.
`info["is_success"]` is True when the fingertip is within 3 cm of the target; episodes do not terminate on
success (rollouts and the expert stop there) and are truncated after `max_episode_steps` (100 by default).
Reset: q_1 uniform in [-pi/2, pi/2], the other joints in [-1, 1], at rest; the target in front of the base
(angle in [-pi/2, pi/2] from +x) at a distance of 0.2-0.55 m (every arm reaches 0.6 m).
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import numpy as np
from gymnasium import spaces
from gymnasium.envs.mujoco.mujoco_env import MujocoEnv

from robokit.envs.tasks.planar_arm_geometry import PLANAR_ARMS

ASSETS = Path(__file__).resolve().parent / "assets"

# The viewer camera (GymEnv.render and the "default" camera observation): straight down on the arm's disc of reach.
DEFAULT_CAMERA_CONFIG = {"trackbodyid": -1, "distance": 1.8, "elevation": -90.0, "azimuth": 90.0,
                         "lookat": np.array([0.0, 0.0, 0.0])}


def xml_path(n_links: int) -> Path:
    return ASSETS / f"planar_arm_{n_links}.xml"


class PlanarArmEnv(MujocoEnv):
    """The reaching task for an arm of `n_links` links; make it with `gymnasium.make("robokit/PlanarArm4-v0")`.

    Args:
        n_links: 3, 4 or 5 (the arms whose MJCF files ship with robokit).
        reward_type: "sparse" (-1 per step, 0 at the target) or "dense" (minus the distance).
        render_mode, width, height: as for any gymnasium MuJoCo env.
    """

    metadata: ClassVar[dict] = {"render_modes": ["human", "rgb_array", "depth_array", "rgbd_tuple"], "render_fps": 20}

    def __init__(self, n_links: int = 3, reward_type: str = "sparse", render_mode: str | None = None,
                 width: int = 256, height: int = 256):
        if n_links not in PLANAR_ARMS:
            raise ValueError(f"n_links must be one of {sorted(PLANAR_ARMS)}, got {n_links!r}")
        if reward_type not in ("sparse", "dense"):
            raise ValueError(f"reward_type must be 'sparse' or 'dense', got {reward_type!r}")
        self.n_links, self.reward_type = n_links, reward_type
        self.geometry = PLANAR_ARMS[n_links]
        n, reach = n_links, self.geometry.reach
        observation_space = spaces.Dict({
            "joint_pos": spaces.Box(-np.inf, np.inf, shape=(n,), dtype=np.float64),
            "joint_vel": spaces.Box(-np.inf, np.inf, shape=(n,), dtype=np.float64),
            "fingertip": spaces.Box(-reach, reach, shape=(2,), dtype=np.float64),
            "target": spaces.Box(-reach, reach, shape=(2,), dtype=np.float64),
            "to_target": spaces.Box(-2 * reach, 2 * reach, shape=(2,), dtype=np.float64),
        })
        super().__init__(str(xml_path(n_links)), self.geometry.frame_skip, observation_space=observation_space,
                         render_mode=render_mode, width=width, height=height,
                         default_camera_config=DEFAULT_CAMERA_CONFIG)
        self.metadata["render_fps"] = int(round(1.0 / self.dt))

    # qpos = [q_1 .. q_n, target_x, target_y]; qvel likewise (the target never moves)

    def _fingertip(self) -> np.ndarray:
        return self.data.site("fingertip").xpos[:2].copy()

    def _target(self) -> np.ndarray:
        return self.data.qpos[self.n_links:self.n_links + 2].copy()

    def _get_obs(self) -> dict[str, np.ndarray]:
        n = self.n_links
        fingertip, target = self._fingertip(), self._target()
        return {"joint_pos": self.data.qpos[:n].copy(), "joint_vel": self.data.qvel[:n].copy(),
                "fingertip": fingertip, "target": target, "to_target": target - fingertip}

    def _distance(self) -> float:
        return float(np.linalg.norm(self._fingertip() - self._target()))

    def step(self, action):
        action = np.clip(np.asarray(action, dtype=np.float64).reshape(self.n_links), -1.0, 1.0)
        self.do_simulation(action, self.frame_skip)
        distance = self._distance()
        success = distance < self.geometry.success_radius
        reward = (0.0 if success else -1.0) if self.reward_type == "sparse" else -distance
        if self.render_mode == "human":
            self.render()
        return self._get_obs(), reward, False, False, {"is_success": bool(success), "distance": distance}

    def reset_model(self) -> dict[str, np.ndarray]:
        g, rng = self.geometry, self.np_random
        q = np.concatenate([rng.uniform(*g.first_joint_range, size=1),
                            rng.uniform(*g.other_joint_range, size=self.n_links - 1)])
        angle, radius = rng.uniform(*g.target_angle), rng.uniform(*g.target_radius)
        target = radius * np.array([np.cos(angle), np.sin(angle)])
        self.set_state(np.concatenate([q, target]), np.zeros(self.model.nv))
        return self._get_obs()
