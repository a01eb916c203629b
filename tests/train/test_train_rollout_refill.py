"""Batched evaluation where episodes end at different times: a free env starts the next episode at once, with
its own frame history and action queue reset, and the results come back in episode order."""

import numpy as np

from robokit.train.rollouts import rollout_with_stats

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1] / "algo"))
from test_algo_chunking import chunk_policy  # noqa: E402


class CountdownEnv:
    """Observation = the seed; the episode ends (success) after 1 + seed % 3 steps; records the actions it got."""

    def __init__(self):
        self.log = []

    def reset(self, seed=None):
        self.seed, self.t = seed, 0
        return {"observation": np.full(3, float(seed), np.float32)}

    def step(self, action):
        self.t += 1
        self.log.append((self.seed, float(action[0])))
        done = self.t >= 1 + self.seed % 3
        return {"observation": np.full(3, float(self.seed), np.float32)}, float(self.seed), done, False, {}

    def get_state(self):
        return None

    def is_success(self):
        return self.t >= 1 + self.seed % 3

    def close(self):
        pass


def test_free_envs_start_the_next_episode_with_a_fresh_queue():
    policy = chunk_policy()  # queue of 2 actions per chunk; chunk of call c is [10c, 10c+1, ...]
    envs = [CountdownEnv(), CountdownEnv()]
    episodes = []
    stats = rollout_with_stats(policy, envs, n=5, horizon=10, seed=0, progress=False, episode_callback=episodes.append)
    assert [r["Horizon"] for r in stats["episodes"]] == [1, 2, 3, 1, 2]  # seeds 0..4: episode order kept
    assert [r["Return"] for r in stats["episodes"]] == [0.0, 2.0, 6.0, 3.0, 8.0]
    assert stats["Success_Rate"] == 1.0
    assert [len(e["actions"]) for e in episodes] == [1, 2, 3, 1, 2]
    # envs A, B: step 1 plans both (call 1); A ends ep 0 and starts ep 2, which re-plans alone at step 2 (call 2);
    # B ends ep 1 at step 2, ep 3 plans alone at step 3 (call 3); at step 4 both queues are empty (call 4)
    assert [e["actions"][:, 0].tolist() for e in episodes] == [[10], [10, 11], [20, 21, 40], [30], [40, 41]]
    assert policy.policy.calls == 4 and policy.policy.batch_sizes == [2, 1, 1, 2]
