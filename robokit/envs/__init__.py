"""Environments (gymnasium behind `EnvBase`) and scripted experts that generate demonstrations."""

from robokit.envs import tasks  # noqa: F401  (registers robokit/ObstacleReach-v0 with gymnasium)
from robokit.envs.base import GYM_TYPE, EnvBase
from robokit.envs.experts import Expert, make_expert
from robokit.envs.factory import create_env, create_env_from_name, create_envs
from robokit.envs.gym_env import GymEnv

__all__ = ["GYM_TYPE", "EnvBase", "Expert", "GymEnv", "create_env", "create_env_from_name", "create_envs", "make_expert"]
