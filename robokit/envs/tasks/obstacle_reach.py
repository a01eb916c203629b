"""`ObstacleReachEnv`: a disc must reach a goal behind a chevron-shaped wall, passing it on the left or the right.

A real MuJoCo model (`assets/obstacle_reach.xml`) run by gymnasium's `MujocoEnv`. The agent is a disc that
slides on the floor of a walled arena, driven by two velocity servos; the action `(vx, vy)` in [-1, 1]^2 asks
for velocity `action * 0.5` m/s, which the servos reach within about 0.03 s of a 0.1 s control step, so the
agent's position is (up to that lag) the whole state. The chevron stands between the start and the goal, open
toward the start (see `geometry.py`): driving straight ahead leads into its apex, where the disc stays. A
policy must commit to one side; going left and going right are equally good, which makes demonstrations of
the task multimodal.

Observations (gymnasium-robotics' goal-env keys, so the Fetch configs' keys work unchanged):
    "observation"    (2,) float64  agent position (x, y)
    "agent_vel"      (2,) float64  agent velocity (m/s)
    "achieved_goal"  (2,) float64  agent position
    "desired_goal"   (2,) float64  goal position (fixed at (0, 0.4); kept for the goal-env layout)
Reward: "sparse" (default) -1 per step, 0 at the goal (the Fetch convention); "dense" minus the distance.
`info["is_success"]` is True when the agent's centre is within 5 cm of the goal's; episodes do not terminate
on success (rollouts and the expert stop there) and are truncated after `max_episode_steps` (60 by default).
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import numpy as np
from gymnasium import spaces
from gymnasium.envs.mujoco.mujoco_env import MujocoEnv

from robokit.envs.tasks.geometry import OBSTACLE_REACH

XML_PATH = Path(__file__).resolve().parent / "assets" / "obstacle_reach.xml"
FRAME_SKIP = 10  # 10 physics steps of 0.01 s per env step

# The viewer camera (GymEnv.render and the "default" camera observation): straight down on the arena,
# +x to the right and +y up in the image.
DEFAULT_CAMERA_CONFIG = {"trackbodyid": -1, "distance": 1.45, "elevation": -90.0, "azimuth": 90.0,
                         "lookat": np.array([0.0, 0.0, 0.0])}


class ObstacleReachEnv(MujocoEnv):
    """The obstacle-reach task; make it with `gymnasium.make("robokit/ObstacleReach-v0")`.

    Args:
        reward_type: "sparse" (-1 per step, 0 at the goal) or "dense" (minus the agent-to-goal distance).
        render_mode, width, height: as for any gymnasium MuJoCo env.
    """

    metadata: ClassVar[dict] = {"render_modes": ["human", "rgb_array", "depth_array", "rgbd_tuple"], "render_fps": 10}

    def __init__(self, reward_type: str = "sparse", render_mode: str | None = None, width: int = 256,
                 height: int = 256):
        if reward_type not in ("sparse", "dense"):
            raise ValueError(f"reward_type must be 'sparse' or 'dense', got {reward_type!r}")
        self.reward_type = reward_type
        self.geometry = OBSTACLE_REACH
        bound = self.geometry.arena_half_size
        position = spaces.Box(-bound, bound, shape=(2,), dtype=np.float64)
        observation_space = spaces.Dict({
            "observation": position,
            "agent_vel": spaces.Box(-np.inf, np.inf, shape=(2,), dtype=np.float64),
            "achieved_goal": position,
            "desired_goal": position,
        })
        super().__init__(str(XML_PATH), FRAME_SKIP, observation_space=observation_space, render_mode=render_mode,
                         width=width, height=height, default_camera_config=DEFAULT_CAMERA_CONFIG)

    # qpos = [agent_x, agent_y, goal_x, goal_y]; qvel likewise (the goal never moves)

    def _agent_pos(self) -> np.ndarray:
        return self.data.qpos[0:2].copy()

    def _goal_pos(self) -> np.ndarray:
        return self.data.qpos[2:4].copy()

    def _get_obs(self) -> dict[str, np.ndarray]:
        agent = self._agent_pos()
        return {"observation": agent, "agent_vel": self.data.qvel[0:2].copy(), "achieved_goal": agent.copy(),
                "desired_goal": self._goal_pos()}

    def _distance(self) -> float:
        return float(np.linalg.norm(self._agent_pos() - self._goal_pos()))

    def step(self, action):
        action = np.clip(np.asarray(action, dtype=np.float64).reshape(2), -1.0, 1.0)
        self.do_simulation(action, self.frame_skip)
        distance = self._distance()
        success = distance < self.geometry.goal_radius
        if self.reward_type == "sparse":
            reward = 0.0 if success else -1.0
        else:
            reward = -distance
        info = {"is_success": bool(success), "distance": distance}
        if self.render_mode == "human":
            self.render()
        return self._get_obs(), reward, False, False, info

    def reset_model(self) -> dict[str, np.ndarray]:
        g = self.geometry
        rng = self.np_random
        qpos = np.array([rng.uniform(*g.start_x), rng.uniform(*g.start_y),
                         rng.uniform(*g.goal_x), rng.uniform(*g.goal_y)])
        self.set_state(qpos, np.zeros(self.model.nv))
        return self._get_obs()
