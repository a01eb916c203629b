"""Tasks that ship with robokit, registered with gymnasium when `robokit.envs` is imported.

    robokit/ObstacleReach-v0   reach a goal behind an obstacle, passing it left or right (multimodal demos);
                               MuJoCo, `robokit.envs.tasks.obstacle_reach`
    robokit/PlanarArm3-v0      a 3-, 4- or 5-link planar arm brings its fingertip to a target: one task for
    robokit/PlanarArm4-v0      robots with different numbers of named joints (multi-robot training);
    robokit/PlanarArm5-v0      MuJoCo, `robokit.envs.tasks.planar_arm`
    robokit/PlanarArmLang-v0   the 3-link arm with red, green and blue targets; the episode's language
                               instruction names the one to reach; `robokit.envs.tasks.planar_arm_lang`

Registration names an entry point as a string, so nothing here imports MuJoCo: `gymnasium.make` does, and
without the `sim` extra it raises gymnasium's DependencyNotInstalled, which `create_env` turns into one line.
"""

from __future__ import annotations

import gymnasium

from robokit.envs.tasks.planar_arm_geometry import PLANAR_ARM_LINKS

OBSTACLE_REACH_ID = "robokit/ObstacleReach-v0"
OBSTACLE_REACH_MAX_STEPS = 60  # 3x the expert's ~20 steps
PLANAR_ARM_IDS = {n: f"robokit/PlanarArm{n}-v0" for n in PLANAR_ARM_LINKS}
PLANAR_ARM_MAX_STEPS = 100  # about 3x the expert's longest episodes
PLANAR_ARM_LANG_ID = "robokit/PlanarArmLang-v0"


def register_tasks() -> None:
    """Register robokit's tasks with gymnasium (idempotent)."""
    if OBSTACLE_REACH_ID not in gymnasium.registry:
        gymnasium.register(id=OBSTACLE_REACH_ID, entry_point="robokit.envs.tasks.obstacle_reach:ObstacleReachEnv",
                           max_episode_steps=OBSTACLE_REACH_MAX_STEPS)
    for n, env_id in PLANAR_ARM_IDS.items():
        if env_id not in gymnasium.registry:
            gymnasium.register(id=env_id, entry_point="robokit.envs.tasks.planar_arm:PlanarArmEnv",
                               max_episode_steps=PLANAR_ARM_MAX_STEPS, kwargs={"n_links": n})
    if PLANAR_ARM_LANG_ID not in gymnasium.registry:
        gymnasium.register(id=PLANAR_ARM_LANG_ID, entry_point="robokit.envs.tasks.planar_arm_lang:PlanarArmLangEnv",
                           max_episode_steps=PLANAR_ARM_MAX_STEPS)


register_tasks()

__all__ = ["OBSTACLE_REACH_ID", "OBSTACLE_REACH_MAX_STEPS", "PLANAR_ARM_IDS", "PLANAR_ARM_LANG_ID", "PLANAR_ARM_MAX_STEPS", "register_tasks"]
