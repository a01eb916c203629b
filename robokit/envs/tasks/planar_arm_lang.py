"""`PlanarArmLangEnv`: the 3-link planar arm with three coloured targets; a language instruction names the one to reach.

robokit/PlanarArmLang-v0 is the language benchmark of issue 19. Each episode places a red, a green and a blue
target (at least `MIN_SEPARATION` apart, in PlanarArm's target region) and draws which one is asked for and
how it is said, e.g. "reach the red target" or "move to the blue ball" (`instruction`, also
`EnvBase.get_lang()`). The observation shows all three targets and not which one is meant, so only the
instruction tells the policy where to go: without it the best a policy can do is guess (1/3).

Observations (float64): "joint_pos" (3,), "joint_vel" (3,), "fingertip" (2,) as in PlanarArmEnv, and
"targets" (6,): red x, y, green x, y, blue x, y, and "to_targets" (6,): each target minus the fingertip. Actions, servos and the 100-step time limit are PlanarArm3's.
`info["is_success"]`: the fingertip within 3 cm of the named target (reaching another one is no success).
Reward: "sparse" -1 per step, 0 at the named target; "dense" minus the distance to it.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import numpy as np
from gymnasium import spaces
from gymnasium.envs.mujoco.mujoco_env import MujocoEnv

from robokit.envs.tasks.planar_arm import ASSETS, DEFAULT_CAMERA_CONFIG, PlanarArmEnv
from robokit.envs.tasks.planar_arm_geometry import PLANAR_ARMS

COLOURS = ("red", "green", "blue")  # the order of the targets in qpos and in obs["targets"]
TEMPLATES = ("reach the {} target", "move to the {} ball")  # how an instruction names a colour
MIN_SEPARATION = 0.15  # metres between any two targets


def xml_path() -> Path:
    return ASSETS / "planar_arm_3_lang.xml"


def instruction_colour(text: str) -> str:
    """The colour an instruction names ("reach the red target" -> "red"); ValueError if it names none or several."""
    named = [c for c in COLOURS if c in text.lower().split()]
    if len(named) != 1:
        raise ValueError(f"instruction {text!r} must name exactly one of {', '.join(COLOURS)}")
    return named[0]


class PlanarArmLangEnv(PlanarArmEnv):
    """Reach the target the instruction names; make it with `gymnasium.make("robokit/PlanarArmLang-v0")`."""

    metadata: ClassVar[dict] = PlanarArmEnv.metadata

    def __init__(self, reward_type: str = "sparse", render_mode: str | None = None, width: int = 256,
                 height: int = 256):
        if reward_type not in ("sparse", "dense"):
            raise ValueError(f"reward_type must be 'sparse' or 'dense', got {reward_type!r}")
        self.n_links, self.reward_type = 3, reward_type
        self.geometry = PLANAR_ARMS[3]
        self.goal_index = 0  # which target the instruction names, set by reset
        self.instruction = TEMPLATES[0].format(COLOURS[0])
        reach = self.geometry.reach
        observation_space = spaces.Dict({
            "joint_pos": spaces.Box(-np.inf, np.inf, shape=(3,), dtype=np.float64),
            "joint_vel": spaces.Box(-np.inf, np.inf, shape=(3,), dtype=np.float64),
            "fingertip": spaces.Box(-reach, reach, shape=(2,), dtype=np.float64),
            "targets": spaces.Box(-reach, reach, shape=(2 * len(COLOURS),), dtype=np.float64),
            "to_targets": spaces.Box(-2 * reach, 2 * reach, shape=(2 * len(COLOURS),), dtype=np.float64),
        })
        MujocoEnv.__init__(self, str(xml_path()), self.geometry.frame_skip, observation_space=observation_space,
                           render_mode=render_mode, width=width, height=height,
                           default_camera_config=DEFAULT_CAMERA_CONFIG)
        self.metadata["render_fps"] = int(round(1.0 / self.dt))

    # qpos = [q_1 .. q_3, red x, y, green x, y, blue x, y]

    def _targets(self) -> np.ndarray:
        return self.data.qpos[3:3 + 2 * len(COLOURS)].copy()  # (6,)

    def _target(self) -> np.ndarray:
        return self._targets()[2 * self.goal_index:2 * self.goal_index + 2]  # the named one, (2,)

    def _get_obs(self) -> dict[str, np.ndarray]:
        fingertip, targets = self._fingertip(), self._targets()
        return {"joint_pos": self.data.qpos[:3].copy(), "joint_vel": self.data.qvel[:3].copy(),
                "fingertip": fingertip, "targets": targets, "to_targets": targets - np.tile(fingertip, len(COLOURS))}

    def reset_model(self) -> dict[str, np.ndarray]:
        g, rng = self.geometry, self.np_random
        q = np.concatenate([rng.uniform(*g.first_joint_range, size=1), rng.uniform(*g.other_joint_range, size=2)])
        while True:  # rejection sampling: three targets pairwise MIN_SEPARATION apart
            angle, radius = rng.uniform(*g.target_angle, size=3), rng.uniform(*g.target_radius, size=3)
            targets = radius[:, None] * np.stack([np.cos(angle), np.sin(angle)], axis=1)  # (3, 2)
            gaps = np.linalg.norm(targets[:, None] - targets[None], axis=-1)[np.triu_indices(3, 1)]
            if gaps.min() >= MIN_SEPARATION:
                break
        self.goal_index = int(rng.integers(len(COLOURS)))
        self.instruction = TEMPLATES[int(rng.integers(len(TEMPLATES)))].format(COLOURS[self.goal_index])
        self.set_state(np.concatenate([q, targets.reshape(-1)]), np.zeros(self.model.nv))
        return self._get_obs()
