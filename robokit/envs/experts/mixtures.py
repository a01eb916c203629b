"""Behaviour policies for mixed-quality datasets (offline RL): the expert, worse versions of it, and random actions.

A mixture spec names behaviours and their shares of the episodes, e.g. "expert:0.2,noisy:0.3,other_goal:0.5":

    expert      the scripted expert
    noisy       the expert with Gaussian action noise of std `noise_std` (clipped to [-1, 1])
    random      uniform random actions in [-1, 1]
    other_goal  the expert pursuing a different goal than the one in the observation (drawn from another
                reset of the task): consistent, plausible-looking behaviour that mostly fails

Every episode is kept, successful or not, with the task's rewards: behaviour cloning imitates all of it, while
offline RL can tell the good actions from the bad by the rewards they lead to.
"""

from __future__ import annotations

import numpy as np

from robokit.envs.base import EnvBase
from robokit.envs.experts.base import Expert
from robokit.envs.experts.episodes import Episode, run_expert_episode
from robokit.errors import UserError

BEHAVIORS = ("expert", "noisy", "random", "other_goal")


def parse_mixture(spec: str) -> dict[str, float]:
    """"expert:0.3,random:0.7" -> {"expert": 0.3, "random": 0.7}; shares must be >= 0 and sum to 1."""
    mixture: dict[str, float] = {}
    for part in spec.split(","):
        name, sep, share = part.strip().partition(":")
        if not sep or name not in BEHAVIORS:
            raise UserError(f"bad mixture entry {part.strip()!r} in {spec!r}: expected BEHAVIOR:SHARE with BEHAVIOR "
                            f"one of {', '.join(BEHAVIORS)}, e.g. expert:0.3,noisy:0.4,random:0.3")
        if name in mixture:
            raise UserError(f"behaviour {name!r} appears twice in the mixture {spec!r}")
        try:
            mixture[name] = float(share)
        except ValueError:
            raise UserError(f"share of {name!r} in {spec!r} is not a number: {share!r}") from None
        if mixture[name] < 0:
            raise UserError(f"share of {name!r} in {spec!r} is negative")
    if abs(sum(mixture.values()) - 1.0) > 1e-6:
        raise UserError(f"the shares of the mixture {spec!r} sum to {sum(mixture.values()):g}; they must sum to 1")
    return mixture


def assign_behaviors(n_episodes: int, mixture: dict[str, float], rng: np.random.Generator) -> list[str]:
    """A shuffled list of n behaviour names with counts as close to the shares as possible (largest remainder)."""
    names = list(mixture)
    exact = np.array([mixture[k] * n_episodes for k in names])
    counts = np.floor(exact).astype(int)
    for i in np.argsort(-(exact - counts))[: n_episodes - counts.sum()]:
        counts[i] += 1
    episodes = [name for name, count in zip(names, counts) for _ in range(count)]
    rng.shuffle(episodes)
    return episodes


class RandomPolicy(Expert):
    """Uniform random actions in [-1, 1]^action_dim."""

    def __init__(self, action_dim: int, rng: np.random.Generator | None = None):
        super().__init__(rng=rng)
        self.action_dim = action_dim

    def clean_action(self, obs):
        return self.rng.uniform(-1.0, 1.0, size=self.action_dim)


class OtherGoalExpert(Expert):
    """The wrapped expert, acting as if `obs["desired_goal"]` were `self.goal` (set before each episode)."""

    def __init__(self, expert: Expert):
        super().__init__(noise_std=expert.noise_std, rng=expert.rng)
        self.expert = expert
        self.action_dim = expert.action_dim
        self.goal: np.ndarray | None = None

    def reset(self) -> None:
        self.expert.reset()

    def clean_action(self, obs):
        if self.goal is None:
            raise RuntimeError("OtherGoalExpert needs .goal set before the episode")
        return self.expert.clean_action({**obs, "desired_goal": self.goal})


def run_behavior_episode(env: EnvBase, behavior: Expert, seed: int, other_seed: int) -> Episode:
    """One episode of `behavior` from `env.reset(seed)`; an OtherGoalExpert first takes its goal from
    `env.reset(other_seed)`. Ends at the first success, termination or the time limit, like the expert's."""
    if isinstance(behavior, OtherGoalExpert):
        behavior.goal = env.reset(seed=other_seed)["desired_goal"].copy()
    return run_expert_episode(env, behavior, seed=seed)
