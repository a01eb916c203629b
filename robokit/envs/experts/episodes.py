"""Run an expert for one episode and record it in the arrays a dataset stores."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from robokit.envs.base import EnvBase
from robokit.envs.experts.base import Expert


@dataclass
class Episode:
    """One recorded episode of T steps. obs[t] is what action t was chosen from; next_obs[t] follows it."""

    obs: dict[str, np.ndarray]  # {key: (T, ...)}
    next_obs: dict[str, np.ndarray]  # {key: (T, ...)}
    actions: np.ndarray  # (T, A) float32
    rewards: np.ndarray  # (T,) float32
    dones: np.ndarray  # (T,) uint8: 1 on the step that succeeded (or that the env terminated)
    states: np.ndarray  # (T, S) simulator state at obs[t]
    success: bool
    seed: int | None
    lang: str | None = None  # the episode's language instruction (env.get_lang()), for language tasks

    def __len__(self) -> int:
        return int(self.actions.shape[0])


def _stack(frames: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    return {key: np.stack([frame[key] for frame in frames]) for key in frames[0]}


def run_expert_episode(env: EnvBase, expert: Expert, seed: int | None = None,
                       max_steps: int | None = None) -> Episode:
    """Roll out `expert` from `env.reset(seed)` until the first successful step (inclusive),
    termination, truncation or `max_steps` (default: the env's time limit)."""
    limit = max_steps or env.max_episode_steps
    if limit is None:
        raise ValueError(f"{env.name} has no time limit: pass max_steps")
    obs = env.reset(seed=seed)
    expert.reset()
    lang = env.get_lang()
    if lang is not None:  # a language task: the expert follows the episode's instruction
        expert.set_instruction(lang)
    observations, next_observations, actions, rewards, dones, states = [], [], [], [], [], []
    success = False
    for _ in range(limit):
        states.append(env.get_state())
        action = expert.act(obs)
        next_obs, reward, terminated, truncated, _ = env.step(action)
        success = env.is_success()
        observations.append(obs)
        next_observations.append(next_obs)
        actions.append(action)
        rewards.append(reward)
        dones.append(success or terminated)
        obs = next_obs
        if success or terminated or truncated:
            break
    return Episode(
        obs=_stack(observations),
        next_obs=_stack(next_observations),
        actions=np.asarray(actions, dtype=np.float32),
        rewards=np.asarray(rewards, dtype=np.float32),
        dones=np.asarray(dones, dtype=np.uint8),
        states=np.asarray(states, dtype=np.float64),
        success=success,
        seed=seed,
        lang=lang,
    )


def expert_success_rate(env: EnvBase, expert: Expert, seeds) -> float:
    """Fraction of the seeded episodes in which the expert succeeds within the env's time limit."""
    results = [run_expert_episode(env, expert, seed=int(seed)).success for seed in seeds]
    return float(np.mean(results))
