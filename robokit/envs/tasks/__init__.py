"""Tasks that ship with robokit, registered with gymnasium when `robokit.envs` is imported.

    robokit/ObstacleReach-v0   reach a goal behind an obstacle, passing it left or right (multimodal demos);
                               MuJoCo, `robokit.envs.tasks.obstacle_reach`

Registration names an entry point as a string, so nothing here imports MuJoCo: `gymnasium.make` does, and
without the `sim` extra it raises gymnasium's DependencyNotInstalled, which `create_env` turns into one line.
"""

from __future__ import annotations

import gymnasium

OBSTACLE_REACH_ID = "robokit/ObstacleReach-v0"
OBSTACLE_REACH_MAX_STEPS = 60  # 3x the expert's ~20 steps


def register_tasks() -> None:
    """Register robokit's tasks with gymnasium (idempotent)."""
    if OBSTACLE_REACH_ID not in gymnasium.registry:
        gymnasium.register(id=OBSTACLE_REACH_ID, entry_point="robokit.envs.tasks.obstacle_reach:ObstacleReachEnv",
                           max_episode_steps=OBSTACLE_REACH_MAX_STEPS)


register_tasks()

__all__ = ["OBSTACLE_REACH_ID", "OBSTACLE_REACH_MAX_STEPS", "register_tasks"]
