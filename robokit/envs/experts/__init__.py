"""Scripted experts that generate demonstrations for the reference tasks."""

from __future__ import annotations

from functools import partial

import numpy as np

from robokit.envs.experts.base import Expert
from robokit.envs.experts.episodes import Episode, expert_success_rate, run_expert_episode
from robokit.envs.experts.fetch import FetchPickAndPlaceExpert, FetchPushExpert, FetchReachExpert
from robokit.envs.experts.obstacle_reach import ObstacleReachExpert
from robokit.envs.experts.planar_arm import PlanarArmExpert, PlanarArmLangExpert
from robokit.envs.experts.robosuite_tasks import (ROBOSUITE_EXPERTS, LiftExpert, NutAssemblySquareExpert,
                                                  PickPlaceCanExpert)
from robokit.envs.tasks.planar_arm_geometry import PLANAR_ARM_LINKS
from robokit.errors import UserError

EXPERTS: dict[str, type[Expert] | partial] = {
    "FetchReach": FetchReachExpert,
    "FetchPush": FetchPushExpert,
    "FetchPickAndPlace": FetchPickAndPlaceExpert,
    "robokit/ObstacleReach": ObstacleReachExpert,
    **{f"robokit/PlanarArm{n}": partial(PlanarArmExpert, n) for n in PLANAR_ARM_LINKS},
    "robokit/PlanarArmLang": PlanarArmLangExpert,  # reaches the target the episode's instruction names
    **ROBOSUITE_EXPERTS,  # robosuite's Lift, PickPlaceCan, NutAssemblySquare (Panda, OSC_POSE)
}
EXPERT_TASKS = ("FetchReach-v4", "FetchPush-v4", "FetchPickAndPlace-v4", "robokit/ObstacleReach-v0",
                "robokit/PlanarArm{3,4,5}-v0", "robokit/PlanarArmLang-v0", *ROBOSUITE_EXPERTS)


def _task_family(env_name: str) -> str:
    """"FetchPushDense-v4" -> "FetchPush": the id without version and reward-type suffix."""
    family = env_name.split("-v")[0]
    return family.removesuffix("Dense")


def has_expert(env_name: str) -> bool:
    """Whether `make_expert(env_name)` has a scripted expert for this task."""
    return _task_family(env_name) in EXPERTS


def make_expert(env_name: str, noise_std: float = 0.0, rng: np.random.Generator | None = None) -> Expert:
    """The scripted expert for `env_name` (any version / reward type of a supported task family)."""
    family = _task_family(env_name)
    if family not in EXPERTS:
        raise UserError(f"no scripted expert for '{env_name}'; experts exist for: {', '.join(EXPERT_TASKS)}")
    return EXPERTS[family](noise_std=noise_std, rng=rng)


__all__ = [
    "EXPERTS",
    "EXPERT_TASKS",
    "Episode",
    "Expert",
    "LiftExpert",
    "NutAssemblySquareExpert",
    "ObstacleReachExpert",
    "PickPlaceCanExpert",
    "PlanarArmExpert",
    "PlanarArmLangExpert",
    "expert_success_rate",
    "has_expert",
    "make_expert",
    "run_expert_episode",
]
