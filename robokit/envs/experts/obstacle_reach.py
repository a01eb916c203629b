"""The scripted expert of robokit/ObstacleReach-v0: pick a side of the chevron per episode and commit to it.

At `reset()` the expert draws its mode, "left" or "right", with equal probability from its generator (or keeps
the mode it was built with). It then drives at full speed toward a waypoint beside the chevron on that side and,
once level with it, toward the goal with a proportional controller that slows it near the goal. Both ways are
equally long (mirror images) and take ~20 steps. The mode cannot be told from the first observation, so a
dataset of this expert holds two equally good answers to the same starting state, and the mean of the two
answers (straight ahead) drives into the chevron's mouth.

Actions are velocity commands (vx, vy) in [-1, 1] (1 = 0.5 m/s), scaled as a whole so the direction is kept.
"""

from __future__ import annotations

import numpy as np

from robokit.envs.experts.base import Expert
from robokit.envs.tasks.geometry import OBSTACLE_REACH

MODES = ("left", "right")


def _velocity_action(command: np.ndarray) -> np.ndarray:
    """A velocity command in action units, scaled down as a whole so that its norm is at most 1."""
    return command / max(1.0, float(np.linalg.norm(command)))


class ObstacleReachExpert(Expert):
    """Pass the chevron on the side drawn at `reset()` ("left": x < 0, "right": x > 0), then go to the goal.

    Args:
        mode: "left" or "right" to always take that side; None (default) draws one per episode, 50/50.
        noise_std, rng: as for every expert; `rng` also draws the modes.
    """

    action_dim = 2
    waypoint_x = 0.28  # |x| of the waypoint beside the chevron: its half-width 0.11 + agent radius 0.03 + 0.14
    waypoint_y = -0.12  # a little below the chevron's apex (0, 0)
    switch_y = -0.14  # once this high (2 cm short of the waypoint, beside the chevron), head for the goal
    goal_gain = 10.0  # action units per metre from the goal (1 step at full speed covers 5 cm)

    def __init__(self, mode: str | None = None, noise_std: float = 0.0, rng: np.random.Generator | None = None):
        super().__init__(noise_std=noise_std, rng=rng)
        if mode is not None and mode not in MODES:
            raise ValueError(f"mode must be one of {MODES} or None, got {mode!r}")
        self.fixed_mode = mode
        self.mode = mode or MODES[0]  # the side of the current episode, set by reset()
        if self.waypoint_x <= OBSTACLE_REACH.obstacle_half_width + OBSTACLE_REACH.agent_radius:
            raise ValueError("the waypoint must lie beside the chevron")

    def reset(self) -> None:
        """Start an episode: draw the side to pass on (unless it was fixed)."""
        self.mode = self.fixed_mode or MODES[int(self.rng.integers(2))]

    def waypoint(self) -> np.ndarray:
        """The point beside the chevron that the current mode passes through, (2,)."""
        side = -1.0 if self.mode == "left" else 1.0
        return np.array([side * self.waypoint_x, self.waypoint_y])

    def clean_action(self, obs):
        position = np.asarray(obs["observation"][:2], dtype=np.float64)
        goal = np.asarray(obs["desired_goal"][:2], dtype=np.float64)
        if position[1] < self.switch_y:  # still below the waypoint: full speed toward it
            to_waypoint = self.waypoint() - position
            return to_waypoint / max(float(np.linalg.norm(to_waypoint)), 1e-9)
        return _velocity_action(self.goal_gain * (goal - position))
