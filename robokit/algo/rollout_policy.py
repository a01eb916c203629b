"""RolloutPolicy: deploys any PolicyAlgo in an environment loop.

It takes the environment's raw observation (a dict of arrays, or a plain array for a Box observation space),
single or batched (vector envs), normalises it with the training statistics, stacks the last
`train.frame_stack` frames, calls `algo.get_action` and returns unnormalised numpy actions.
"""

from collections import deque
from typing import Mapping

import numpy as np
import torch

from robokit.utils.normalization import normalize, unnormalize


class RolloutPolicy:
    """Wraps an Algo for deployment; `.policy` is the wrapped Algo.

    Args:
        policy: a trained Algo with `get_action`.
        obs_normalization_stats: {obs key: {"offset", "scale"}} or None.
        action_normalization_stats: {"actions": {"offset", "scale"}} or None.
    """

    def __init__(self, policy, obs_normalization_stats=None, action_normalization_stats=None):
        self.policy = policy
        self.obs_normalization_stats = obs_normalization_stats
        self.action_normalization_stats = action_normalization_stats
        self.frame_stack = int(getattr(policy.global_config.train, "frame_stack", 1))
        self._frames: deque | None = None

    @property
    def device(self) -> torch.device:
        return self.policy.device

    def start_episode(self) -> None:
        """Prepare for a new episode: evaluation mode, cleared policy state and frame history."""
        self.policy.set_eval()
        self.policy.reset()
        self._frames = None

    def __call__(self, ob, goal=None) -> np.ndarray:
        """Action (A,) for one observation, or (N, A) for a batch of N observations."""
        obs = self._as_dict(ob, self.policy.obs_shapes, "observation")
        batched = self._is_batched(obs, self.policy.obs_shapes)
        obs = self._prepare(obs, self.policy.obs_shapes, batched)  # {k: (B, *shape)}
        if self.frame_stack > 1:
            obs = self._stack_frames(obs)  # {k: (B, F, *shape)}
        goal_dict = None
        if self.policy.goal_shapes:
            if goal is None:
                raise ValueError("this policy is goal-conditioned: pass goal=... (e.g. the episode's goal observation)")
            goal = self._as_dict(goal, self.policy.goal_shapes, "goal")
            goal_dict = self._prepare(goal, self.policy.goal_shapes, batched)
        action = self.policy.get_action(obs, goal_dict).detach().cpu().numpy()  # (B, A)
        if self.action_normalization_stats is not None:
            action = unnormalize(action, self.action_normalization_stats["actions"])
        return action if batched else action[0]

    # ----- helpers -----
    @staticmethod
    def _as_dict(ob, shapes: Mapping, what: str) -> dict:
        if isinstance(ob, Mapping):
            missing = [k for k in shapes if k not in ob]
            if missing:
                raise KeyError(f"{what} lacks keys {missing} the policy was trained on; it has {sorted(ob)}")
            return {k: ob[k] for k in shapes}
        if len(shapes) != 1:
            raise ValueError(f"a plain-array {what} is ambiguous: the policy expects keys {list(shapes)}")
        return {next(iter(shapes)): ob}

    @staticmethod
    def _is_batched(obs: dict, shapes: Mapping) -> bool:
        key = next(iter(shapes))
        ndim, expected = np.ndim(obs[key]), len(shapes[key])
        if ndim not in (expected, expected + 1):
            raise ValueError(f"observation {key!r} has shape {np.shape(obs[key])}; expected {shapes[key]} or (N, *{shapes[key]})")
        return ndim == expected + 1

    def _prepare(self, obs: dict, shapes: Mapping, batched: bool) -> dict:
        prepared = {}
        for key in shapes:
            x = obs[key]
            x = x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)
            if x.dtype != np.uint8:
                x = x.astype(np.float32, copy=False)
                if self.obs_normalization_stats is not None and key in self.obs_normalization_stats:
                    x = normalize(x, self.obs_normalization_stats[key]).astype(np.float32, copy=False)
            tensor = torch.from_numpy(np.ascontiguousarray(x)).to(self.device)
            prepared[key] = tensor if batched else tensor.unsqueeze(0)
        return prepared

    def _stack_frames(self, obs: dict) -> dict:
        """Append to the frame history (the first frame is repeated at episode start) and stack it."""
        if self._frames is None or next(iter(self._frames[0].values())).shape[0] != next(iter(obs.values())).shape[0]:
            self._frames = deque([obs] * self.frame_stack, maxlen=self.frame_stack)
        else:
            self._frames.append(obs)
        return {k: torch.stack([frame[k] for frame in self._frames], dim=1) for k in obs}

    def __repr__(self) -> str:
        return f"RolloutPolicy({type(self.policy).__name__}, frame_stack={self.frame_stack})"
