"""RolloutPolicy: deploys any PolicyAlgo in an environment loop.

It takes the environment's raw observation (a dict of arrays, or a plain array for a Box observation space),
single or batched (vector envs), normalises it with the training statistics, stacks the last
`train.frame_stack` frames, calls `algo.get_action` and returns unnormalised numpy actions.

An algorithm with a `chunk_spec` (see robokit.algo.chunking) returns chunks of actions (B, H, A); this class
executes them: a queue per environment (re-plan every `action_horizon` steps) or temporal ensembling. Every
environment of a batch has its own frame history and queue, and `start_episode(env_mask)` resets some of them
only (an env of a vector env that starts its next episode while the others are still running).

A language-conditioned policy (observation.language.enabled) takes the instruction as `policy(obs, lang="...")`,
or one instruction per env of a batch (`lang=[...]`), encoded with the training vocabulary (`language`).
"""

from typing import Mapping

import numpy as np
import torch

from robokit.algo.base import Algo, PolicyAlgo
from robokit.algo.chunking import ActionQueue, ChunkSpec, TemporalEnsembler, env_mask_array, make_executor
from robokit.errors import ConfigError
from robokit.utils import batch_keys as K
from robokit.utils.normalization import normalize, unnormalize


class RolloutPolicy:
    """Wraps an Algo for deployment; `.policy` is the wrapped Algo.

    Args:
        policy: a trained Algo with `get_action`.
        obs_normalization_stats: {obs key: {"offset", "scale"}} or None.
        action_normalization_stats: {"actions": {"offset", "scale"}} or None.
        robot: a `robokit.data.embodiment.RobotAdapter` (a model trained on robot data specs): observations are
            the robot's own obs dicts, reordered by name into the model's padded slots (padded slots stay exactly
            0 after normalisation), and actions come back as the robot's own (mapped from the named joints).
        language: the training vocabulary (robokit.data.language.Vocabulary) of a language-conditioned policy.
    """

    def __init__(self, policy, obs_normalization_stats=None, action_normalization_stats=None, robot=None,
                 language=None):
        self.policy = policy
        self.language = language
        self.robot = robot
        #: the observation keys the caller gives (the instruction, key LANG, comes from `lang=`)
        self._obs_shapes = {k: v for k, v in policy.obs_shapes.items() if k != K.LANG}
        if K.LANG in policy.obs_shapes and language is None:
            raise ConfigError("this policy is language-conditioned but has no vocabulary; fix: load it with "
                              "policy_from_checkpoint (the checkpoint holds the vocabulary) or pass language=")
        self.obs_normalization_stats = obs_normalization_stats
        self.action_normalization_stats = action_normalization_stats
        if robot is not None and robot.action_mask is not None:  # which output dims are real (diffusion samples them)
            policy.inference_action_mask = torch.as_tensor(robot.action_mask, device=policy.device)
        self.frame_stack = int(getattr(policy.global_config.train, "frame_stack", 1))
        self.chunk_spec: ChunkSpec | None = getattr(policy, "chunk_spec", None)
        self._executor: ActionQueue | TemporalEnsembler | None = (
            make_executor(self.chunk_spec) if self.chunk_spec is not None else None
        )
        self._frames: dict | None = None  # {k: (N, F, *shape)} frame history of each env
        self._fresh: np.ndarray | None = None  # (N,) bool: the env's next observation starts its history
        self._active: np.ndarray | None = None  # (N,) bool: envs whose actions are used (None: all)

    @property
    def needs_lang(self) -> bool:
        """Whether every call needs `lang=` (the policy was trained with observation.language.enabled), unless the
        robot's language slot is masked (`RobotAdapter.reads_language`: it was trained without instructions)."""
        return K.LANG in self.policy.obs_shapes and (self.robot is None or self.robot.reads_language)

    def _lang_input(self, lang, n: int, batched: bool) -> torch.Tensor:
        """The instruction(s) as the bag of words the policy was trained on, (n, V) on the device."""
        if lang is None:
            known = "; ".join(repr(t) for t in self.language.instructions[:5])
            raise ConfigError("this policy is language-conditioned: call it as policy(obs, lang=\"...\") (one "
                              f"instruction, or a list of one per env); its training instructions: {known}")
        texts = [lang] * n if isinstance(lang, str) else list(lang)
        if len(texts) != n or not all(isinstance(t, str) for t in texts):
            raise ConfigError(f"lang must be one instruction (a string) or a list of {n} strings (one per env), "
                              f"got {lang!r}")
        if not batched and not isinstance(lang, str) and n != 1:
            raise ConfigError("a single observation takes a single instruction: lang=\"...\"")
        return torch.from_numpy(self.language.bag_of_words(texts)).to(self.device)  # (n, V)

    @property
    def device(self) -> torch.device:
        return self.policy.device

    @property
    def supports_env_reset(self) -> bool:
        """Whether `start_episode(env_mask)` can reset some envs only: the algorithm keeps no per-episode state
        of its own, or resets it per env (`PolicyAlgo.reset_envs`)."""
        algo_cls = type(self.policy)
        keeps_state = getattr(algo_cls, "reset", Algo.reset) is not Algo.reset
        resets_per_env = getattr(algo_cls, "reset_envs", PolicyAlgo.reset_envs) is not PolicyAlgo.reset_envs
        return not keeps_state or resets_per_env

    def set_active_envs(self, env_mask=None) -> None:
        """Declare which envs of the batch still use their actions (None: all). An idle env (its episodes are
        over, it only fills its row of the batch) is never re-planned for in queue mode and gets zero actions."""
        self._active = None if env_mask is None else np.asarray(env_mask, dtype=bool).copy()

    def start_episode(self, env_mask=None) -> None:
        """Prepare for a new episode: evaluation mode, cleared policy state, frame history and action queue.

        env_mask: None resets every env; a (N,) bool mask or a list of env indices resets those envs of the
        current batch only (the others keep their history and queued actions).
        """
        self.policy.set_eval()
        if env_mask is None or self._fresh is None:
            self.policy.reset()
            self._frames = None
            self._fresh = None
            self._active = None
            if self._executor is not None:
                self._executor.reset()
            return
        mask = env_mask_array(env_mask, len(self._fresh))
        if not mask.any():
            return
        if not self.supports_env_reset:
            raise NotImplementedError(
                f"{type(self.policy).__name__} keeps per-episode state but has no reset_envs(env_mask); "
                "reset all envs together with start_episode()"
            )
        reset_envs = getattr(self.policy, "reset_envs", None)
        if reset_envs is not None:
            reset_envs(mask)
        self._fresh |= mask
        if self._executor is not None:
            self._executor.reset(mask)

    def __call__(self, ob, goal=None, lang=None) -> np.ndarray:
        """Action (A,) for one observation, or (N, A) for a batch of N observations.

        lang: the instruction of a language-conditioned policy: a string, or a list of N strings (one per env)."""
        if lang is not None and not self.needs_lang and K.LANG in self.policy.obs_shapes:
            raise ConfigError(f"robot '{self.robot.robot}' reads no instruction (its input robot data spec lists no "
                              "language: its language input is masked, as in training); call it without lang")
        if lang is not None and not self.needs_lang:
            raise ConfigError("this policy was trained without language instructions (observation.language.enabled "
                              "was false); call it without lang")
        if self.robot is not None:
            if not isinstance(ob, Mapping):
                raise ValueError(f"robot '{self.robot.robot}': pass its observation dict (keys "
                                 f"{', '.join(self.robot.obs_keys)}), read by name")
            ob = self.robot.obs(ob)
        obs = self._as_dict(ob, self._obs_shapes, "observation")
        batched = self._is_batched(obs, self._obs_shapes)
        obs = self._prepare(obs, self._obs_shapes, batched)  # {k: (B, *shape)}
        n = next(iter(obs.values())).shape[0]
        if self.needs_lang:
            obs[K.LANG] = self._lang_input(lang, n, batched)  # (B, V), stacked over frames like any key
        elif K.LANG in self.policy.obs_shapes:  # a robot trained without instructions: the zero input it had
            obs[K.LANG] = torch.zeros((n, self.language.size), device=self.device)
        if self._fresh is None or len(self._fresh) != n:  # first call, or another batch size: all envs start
            self._fresh = np.ones(n, dtype=bool)
            self._frames = None
            if self._executor is not None:
                self._executor.reset()
        if self.frame_stack > 1:
            obs = self._stack_frames(obs)  # {k: (B, F, *shape)}
        self._fresh[:] = False
        goal_dict = None
        if self.policy.goal_shapes:
            if goal is None:
                raise ValueError("this policy is goal-conditioned: pass goal=... (e.g. the episode's goal observation)")
            goal = self._as_dict(goal, self.policy.goal_shapes, "goal")
            goal_dict = self._prepare(goal, self.policy.goal_shapes, batched)
        if self._executor is None:
            action = self._predict(obs, goal_dict)  # (B, A)
            if action.ndim != 2:
                raise ValueError(f"{type(self.policy).__name__}.get_action returned shape {action.shape} but the "
                                 "algorithm declares no chunk_spec; return (B, A), or (B, H, A) with a chunk_spec")
        elif isinstance(self._executor, TemporalEnsembler):
            action = self._executor.step(self._predict_chunk(obs, goal_dict))  # (B, H, A) -> (B, A)
        else:
            active = self._active if self._active is not None and len(self._active) == n else np.ones(n, bool)
            plan = self._executor.needs_plan(n) & active  # (B,) envs in use whose queue is empty
            if plan.any():
                rows = torch.from_numpy(np.flatnonzero(plan)).to(self.device)
                sub = lambda d: None if d is None else {k: v.index_select(0, rows) for k, v in d.items()}  # noqa: E731
                self._executor.push(self._predict_chunk(sub(obs), sub(goal_dict)), plan)
            action = self._executor.pop(active)  # (B, A)
        if self.robot is not None and self.robot.action_dim is not None:
            action = self.robot.action(action)  # (B, W) padded slots -> (B, A) the robot's own action
        return action if batched else action[0]

    def _predict(self, obs: dict, goal_dict: dict | None) -> np.ndarray:
        """`get_action` as unnormalised numpy: (B, A), or (B, H, A) for a chunk."""
        action = self.policy.get_action(obs, goal_dict).detach().cpu().numpy()
        if self.action_normalization_stats is not None:
            action = unnormalize(action, self.action_normalization_stats["actions"])
        return action

    def _predict_chunk(self, obs: dict, goal_dict: dict | None) -> np.ndarray:
        chunk = self._predict(obs, goal_dict)
        if chunk.ndim != 3:
            raise ValueError(f"{type(self.policy).__name__} declares a chunk_spec but get_action returned shape "
                             f"{chunk.shape}; expected a chunk (B, H, A)")
        return chunk

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
                if self.robot is not None and key in self.robot.obs_masks:  # padded slots exactly 0, as in training
                    x = np.where(self.robot.obs_masks[key], x, np.float32(0.0))
            tensor = torch.from_numpy(np.ascontiguousarray(x)).to(self.device)
            prepared[key] = tensor if batched else tensor.unsqueeze(0)
        return prepared

    def _stack_frames(self, obs: dict) -> dict:
        """Append to each env's frame history and stack it, {k: (B, F, *shape)}; an env's first frame after its
        reset fills its whole history (the first frame is repeated at episode start)."""
        if self._frames is None:
            self._frames = {k: v.unsqueeze(1).repeat_interleave(self.frame_stack, dim=1) for k, v in obs.items()}
            return dict(self._frames)
        fresh = torch.from_numpy(self._fresh).to(self.device)  # (B,)
        frames = {}
        for k, v in obs.items():
            shifted = torch.cat([self._frames[k][:, 1:], v.unsqueeze(1)], dim=1)  # (B, F, *shape)
            restart = v.unsqueeze(1).expand_as(shifted)
            frames[k] = torch.where(fresh.view(-1, *([1] * (shifted.dim() - 1))), restart, shifted)
        self._frames = frames
        return dict(frames)

    @property
    def frame_history(self) -> dict | None:
        """{k: (N, F, *shape)}: the normalised frames the policy saw at its last call (None before the first)."""
        return None if self._frames is None else dict(self._frames)

    def __repr__(self) -> str:
        robot = f", robot={self.robot.robot!r}" if self.robot is not None else ""
        return (f"RolloutPolicy({type(self.policy).__name__}, frame_stack={self.frame_stack}, "
                f"chunk_spec={self.chunk_spec}{robot})")
