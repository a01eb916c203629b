"""The online training loop: an algorithm learning from its own interaction with vector environments.

train(config) checks the config and the algorithm before making any environment, then runs
`train.num_env_steps` steps in `train.num_envs` environments of `experiment.env`:

    off-policy (SAC, TD3): each vector step -> replay buffer; after `algo.learning_starts` steps of random
        actions, `algo.utd_ratio` gradient steps per env step on uniform replay batches.
    on-policy (PPO, A2C):  `algo.n_steps` vector steps -> rollout storage -> `algo.train_on_rollout`.

Observations reach the networks normalised by running statistics when `train.normalize_obs`; the replay
buffer keeps raw observations and normalises each batch with the current statistics. Policies act in
[-1, 1]; actions are scaled to the action space's bounds. Every `train.epoch_env_steps` steps (an epoch) the
loop logs, evaluates the deterministic policy every `experiment.rollout.rate` epochs (and at the end) and
saves checkpoints. The run folder is the offline loop's:

    config.json, logs/log.txt, logs/tb/ (TensorBoard), models/{last,model_best_return,model_epoch_<N>}.pth

A checkpoint stores the observation statistics as `obs_normalization_stats` and the action scaling as
`action_normalization_stats`, so `policy_from_checkpoint` acts on raw observations with env-unit actions;
`online_state` holds the normaliser states, the env-step count and (optionally) the replay buffer.
"""

from __future__ import annotations

import math
import time
import warnings
from collections import defaultdict
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from robokit.algo import RolloutPolicy, algo_factory
from robokit.algo.online_base import OnlineAlgo
from robokit.algo.registry import algo_class_for_config
from robokit.config.online import OnlineConfig
from robokit.data.replay_buffer import GB, ReplayBuffer
from robokit.data.rollout_storage import RolloutStorage
from robokit.data.running_stats import ObsNormalizer, RewardScaler
from robokit.envs import create_envs
from robokit.envs.base import GYM_TYPE
from robokit.envs.vector_env import VectorEnv, action_scaling_stats
from robokit.errors import ConfigError, MemoryLimitError, TrainingDivergedError, UserError
from robokit.train.checkpoint import build_checkpoint, load_checkpoint, prune_epoch_checkpoints, save_checkpoint
from robokit.train.divergence import diverged_error
from robokit.train.memory import MEMORY_FIX, MemoryMonitor
from robokit.train.experience import ExperienceWriter
from robokit.train.logger import RunLogger
from robokit.train.offline import apply_debug_settings, check_output_dir, create_run_dir, env_args_for_run
from robokit.train.resume import capture_rng_state, finish_resume, load_resume_checkpoint, restore_algo
from robokit.train.precision import gradient_step_precision, set_flush_denormals
from robokit.train.rollouts import rollout_with_stats
from robokit.utils import batch_keys as K
from robokit.utils.device import resolve_device
from robokit.utils.tensors import map_structure


def check_online_config(config) -> type:
    """Validate the config and resolve the algorithm class, before any environment exists."""
    if not isinstance(config, OnlineConfig):
        raise ConfigError(f"{config.algo_name} is not an online algorithm; train it on a dataset (--dataset)")
    config.validate()
    algo_cls, _ = algo_class_for_config(config)
    if not issubclass(algo_cls, OnlineAlgo):
        raise ConfigError(f"{config.algo_name} resolves to {algo_cls.__name__}, which cannot learn online")
    if not config.experiment.env:
        raise ConfigError(
            f"{config.algo_name} learns online and needs an environment: set experiment.env to a gymnasium id, "
            "e.g. --set experiment.env=Pendulum-v1"
        )
    if config.observation.language.enabled:
        raise ConfigError("observation.language.enabled conditions on the demos' instructions, which online RL "
                          "does not have; set observation.language.enabled=false")
    if config.experiment.additional_envs:
        raise ConfigError("experiment.additional_envs is for training on a dataset; online RL evaluates in "
                          "experiment.env: set experiment.additional_envs=null")
    return algo_cls


def resolve_obs_keys(config, obs_shapes: dict, obs_dtypes: dict) -> dict:
    """{key: shape} of the observation keys the networks see; empty config lists take every env key.

    Empty lists are filled in the config (so the saved config.json names the keys): uint8 images of
    shape (H, W, C) go to `rgb`, everything else to `low_dim`.
    """
    keys = config.all_obs_keys
    if not keys:
        obs_cfg = config.observation.modalities.obs
        for key in sorted(obs_shapes):
            is_image = np.dtype(obs_dtypes[key]) == np.uint8 and len(obs_shapes[key]) == 3
            getattr(obs_cfg, "rgb" if is_image else "low_dim").append(key)
        keys = config.all_obs_keys
    missing = [k for k in keys if k not in obs_shapes]
    if missing:
        raise ConfigError(f"observation keys {missing} are not in {config.experiment.env}'s observations "
                          f"{sorted(obs_shapes)}; fix observation.modalities.obs (empty lists: all keys)")
    return {k: tuple(obs_shapes[k]) for k in keys}


def _to_tensors(tree):
    """numpy arrays in a nested structure -> torch tensors (checkpoints load with weights_only=True)."""
    return map_structure(lambda x: torch.from_numpy(np.array(x)) if isinstance(x, (np.ndarray, np.generic)) else x, tree)


def _to_numpy(tree):
    return map_structure(lambda x: x.numpy() if isinstance(x, torch.Tensor) else x, tree)


class OnlineRun:
    """The state of one online run: environments, algorithm, normalisers, experience, counters, outputs."""

    def __init__(self, config, output_dir=None, device=None, progress: bool = True, memory_reader=None,
                 resume_dir=None):
        self.config = config
        self.progress = progress
        train_cfg = config.train
        self.env_args = env_args_for_run(config, {"env_name": config.experiment.env, "type": GYM_TYPE,
                                                  "env_kwargs": {}})
        self.venv = VectorEnv(self.env_args["env_name"], train_cfg.num_envs, train_cfg.vector_env,
                              self.env_args.get("env_kwargs"))
        try:
            self._setup(output_dir, device, memory_reader, resume_dir)
        except BaseException:
            self.close()
            raise

    def _setup(self, output_dir, device, memory_reader, resume_dir) -> None:
        config, train_cfg, venv = self.config, self.config.train, self.venv
        self.obs_shapes = resolve_obs_keys(config, venv.obs_shapes, venv.obs_dtypes)
        self.obs_dtypes = {k: venv.obs_dtypes[k] for k in self.obs_shapes}
        rollout_cfg = config.experiment.rollout
        self.eval_envs = (create_envs(self.env_args, rollout_cfg.num_envs, rollout_cfg.vector_env,
                                      render_offscreen=config.experiment.render_video) if rollout_cfg.enabled else [])

        if train_cfg.num_threads is not None:
            torch.set_num_threads(train_cfg.num_threads)
        set_flush_denormals(train_cfg.flush_denormals)
        torch.manual_seed(train_cfg.seed)
        np.random.seed(train_cfg.seed)
        self.rng = np.random.default_rng(train_cfg.seed)
        self.device = resolve_device(device, train_cfg.cuda)
        self.algo = algo_factory(config.algo_name, config, obs_key_shapes=self.obs_shapes, ac_dim=venv.action_dim,
                                 device=self.device)
        self.action_stats = action_scaling_stats(venv.action_space)
        self.obs_normalizer = ObsNormalizer(self.obs_shapes, self.obs_dtypes) if train_cfg.normalize_obs else None
        self.reward_scaler = RewardScaler(venv.num_envs, self.algo.discount) if train_cfg.normalize_reward else None
        self.buffer = self.storage = None
        if self.algo.ON_POLICY:
            self.storage = RolloutStorage(self.algo.n_steps, venv.num_envs, self.obs_shapes, venv.action_dim)
        else:
            rb = config.algo.replay_buffer
            self.buffer = ReplayBuffer(rb.capacity, self.obs_shapes, venv.action_dim, self.obs_dtypes,
                                       max_bytes=rb.max_memory_gb * GB)
        self.algo.set_steps_per_epoch(*self._gradient_steps())
        self.global_step = 0
        if config.experiment.ckpt_path:
            self._load(config.experiment.ckpt_path)
        resumed = load_resume_checkpoint(resume_dir, config) if resume_dir is not None else None
        if resumed is not None and train_cfg.experience_path:
            raise ConfigError("--resume cannot append to train.experience_path (a finished HDF5 file); fix: set it to "
                              "null for the resumed part, or record a new file in a new run")

        self.run_dir = Path(resume_dir) if resumed is not None else create_run_dir(config, output_dir)
        config.dump(self.run_dir / "config.json")
        self.log = RunLogger(self.run_dir / "logs", log_tb=config.experiment.logging.log_tb,
                             log_txt=config.experiment.logging.terminal_output_to_txt)
        self.experience = None
        if train_cfg.experience_path:
            self.experience = ExperienceWriter(train_cfg.experience_path, self.env_args, venv.num_envs)
        self.log.print(f"run folder: {self.run_dir}")
        self.log.print(f"env: {venv.name} x {venv.num_envs} ({train_cfg.vector_env}), obs {self.obs_shapes}, "
                       f"actions {venv.action_dim} in [{venv.action_space.low.min():g}, "
                       f"{venv.action_space.high.max():g}]")
        if self.buffer is not None:
            self.log.print(repr(self.buffer))
        self.log.print(repr(self.algo))

        memory_cfg = config.experiment.memory
        self.monitor = MemoryMonitor(memory_cfg.max_fraction, memory_cfg.every_n_steps, memory_reader, self.device)
        self.epoch = 0
        self.last_saved: Path | None = None  # the last checkpoint written, for the message of a diverged run
        self.best_return = -math.inf
        self.num_updates = 0
        self._pending_updates = 0.0  # fractional gradient steps owed (utd_ratio * env steps)
        self.train_logs: dict[str, list[float]] = defaultdict(list)
        self._last_time_save = time.time()
        self.obs = venv.reset(seed=train_cfg.seed)  # raw {k: (N, *shape)}
        if resumed is not None:
            self._resume(resumed)
        elif self.obs_normalizer is not None:
            self.obs_normalizer.update(self.obs)

    def _gradient_steps(self) -> tuple[int, int]:
        """(`train_on_batch` calls per epoch, of the whole run): the length of the learning-rate schedules that
        step every batch. Off-policy: `utd_ratio` per env step after `learning_starts`; on-policy: each rollout's
        minibatches (PPO's upper bound: `target_kl` may stop a rollout's passes early)."""
        train_cfg, algo = self.config.train, self.algo
        if algo.ON_POLICY:
            rollout = algo.n_steps * self.venv.num_envs
            total = math.ceil(train_cfg.num_env_steps / rollout) * algo.batches_per_rollout(rollout)
        else:
            after_warmup = max(train_cfg.num_env_steps - self.config.algo.learning_starts, 0)
            total = math.ceil(after_warmup * self.config.algo.utd_ratio)
        return max(round(total / train_cfg.num_epochs), 1), max(total, 1)

    # ----- observations and actions -----
    def _normalized_obs(self, raw: dict, stats=None) -> dict:
        """Raw observations -> what the policy sees, as numpy arrays {k: (N, *shape)} (normalised if configured)."""
        obs = {k: raw[k] for k in self.obs_shapes}
        if self.obs_normalizer is not None:
            obs = self.obs_normalizer.normalize(obs, stats)
        return {k: np.ascontiguousarray(v) for k, v in obs.items()}

    def _policy_obs(self, raw: dict, stats=None) -> dict:
        """Raw observations -> normalised tensors on the device, {k: (N, *shape)}."""
        return self._on_device(self._normalized_obs(raw, stats))

    def _on_device(self, obs: dict) -> dict:
        return {k: torch.from_numpy(v).to(self.device) for k, v in obs.items()}

    def _env_actions(self, actions: np.ndarray) -> np.ndarray:
        """Policy actions in [-1, 1] (N, A) -> the action space's units (clipped to [-1, 1] first)."""
        return np.clip(actions, -1.0, 1.0) * self.action_stats["scale"] + self.action_stats["offset"]

    def _step_envs(self, actions: np.ndarray):
        """Step with policy actions; records experience, updates the running statistics."""
        env_actions = self._env_actions(actions)
        next_obs, rewards, terminated, truncated, final_obs, _ = self.venv.step(env_actions)
        if self.experience is not None:
            self.experience.add(self.obs, env_actions, rewards, terminated, truncated, final_obs)
        if self.reward_scaler is not None:
            self.reward_scaler.update(rewards, terminated | truncated)
        if self.obs_normalizer is not None:
            self.obs_normalizer.update(next_obs)
        self.global_step += self.venv.num_envs
        return next_obs, rewards, terminated, truncated, final_obs

    # ----- collection and learning -----
    def off_policy_step(self) -> None:
        """One vector step into the replay buffer, then the due gradient steps."""
        algo_cfg, n = self.config.algo, self.venv.num_envs
        if self.global_step < algo_cfg.learning_starts:
            actions = self.rng.uniform(-1.0, 1.0, (n, self.venv.action_dim)).astype(np.float32)
        else:
            actions = self.algo.explore(self._policy_obs(self.obs)).actions.cpu().numpy()
        raw_obs = self.obs
        next_obs, rewards, terminated, _, final_obs = self._step_envs(actions)
        self.buffer.add(raw_obs, actions, rewards, terminated, final_obs)
        self.obs = next_obs
        if self.global_step <= algo_cfg.learning_starts:  # the first update follows the first policy action
            return
        self._pending_updates += algo_cfg.utd_ratio * n
        while self._pending_updates >= 1.0:
            self._pending_updates -= 1.0
            self._gradient_step()

    def _gradient_step(self) -> None:
        batch = self.buffer.sample(self.config.train.batch_size, self.rng)
        if self.obs_normalizer is not None:
            stats = self.obs_normalizer.stats()
            batch[K.OBS] = self.obs_normalizer.normalize(batch[K.OBS], stats)
            batch[K.NEXT_OBS] = self.obs_normalizer.normalize(batch[K.NEXT_OBS], stats)
        if self.reward_scaler is not None:
            batch[K.REWARDS] = self.reward_scaler(batch[K.REWARDS])
        logged = self.num_updates % self.config.experiment.logging.stats_every_n_steps == 0
        self.algo.set_log_diagnostics(logged)
        with self.precision():
            info = self.algo.train_on_batch(self.algo.process_batch_for_training(batch), self.epoch + 1)
        self.num_updates += 1
        if logged:
            self._record(self.algo.log_info(info))

    def on_policy_iteration(self) -> None:
        """Collect `n_steps` vector steps into the rollout storage and update on them."""
        storage, algo = self.storage, self.algo
        storage.reset()
        while not storage.full:
            stats = self.obs_normalizer.stats() if self.obs_normalizer is not None else None
            obs = self._normalized_obs(self.obs, stats)
            actions = algo.explore(self._on_device(obs)).actions.cpu().numpy()
            next_obs, rewards, terminated, truncated, final_obs = self._step_envs(actions)
            ended = (terminated | truncated).any()  # bootstrap truncated episodes from their final observation
            learn_rewards = self.reward_scaler(rewards) if self.reward_scaler is not None else rewards
            storage.add(obs, actions, learn_rewards, terminated, truncated,
                        self._normalized_obs(final_obs, stats) if ended else None)
            self.obs = next_obs
        rollout = {
            K.OBS: storage.obs, K.ACTIONS: storage.actions, K.REWARDS: storage.rewards,
            "terminated": storage.terminated, K.DONES: storage.dones, "last_obs": self._normalized_obs(self.obs),
            "final_obs": storage.final_obs, "final_index": storage.final_index,
        }
        with self.precision():
            info = algo.train_on_rollout(rollout, self.epoch + 1)
        self._record(algo.log_info(info))
        self.num_updates += 1

    def precision(self):
        """The context of one gradient step (`train.mixed_precision`)."""
        return gradient_step_precision(self.config.train.mixed_precision, self.device)

    def _record(self, log: dict) -> None:
        for key, value in log.items():
            self.train_logs[key].append(value)

    # ----- epochs: logging, evaluation, saving -----
    def end_epoch(self, steps: int, seconds: float, final: bool = False) -> None:
        self.epoch += 1
        rollout_cfg, save_cfg = self.config.experiment.rollout, self.config.experiment.save
        episodes, self.venv.episodes = self.venv.episodes, []
        scalars = {k: float(np.mean(v)) for k, v in self.train_logs.items()}
        self.train_logs.clear()
        scalars["Env_Steps_per_second"] = steps / max(seconds, 1e-9)
        scalars["Gradient_Updates"] = float(self.num_updates)
        line = f"epoch {self.epoch} | step {self.global_step:,} | {scalars['Env_Steps_per_second']:.0f} steps/s"
        if episodes:
            scalars["Episode_Return"] = float(np.mean([r for r, _ in episodes]))
            scalars["Episode_Length"] = float(np.mean([n for _, n in episodes]))
            line += f" | train return {scalars['Episode_Return']:.1f} ({len(episodes)} ep)"
        for name in ("Critic_Loss", "Actor_Loss", "Loss", "Alpha", "Entropy"):
            if name in scalars:
                line += f" | {name.lower()} {scalars[name]:.3g}"
        self.log.scalars("Train", scalars, self.global_step)
        self.log.scalars("Memory", self.monitor.epoch_peaks(), self.global_step)

        saves: list[str] = []
        due = self.epoch > rollout_cfg.warmstart and self.epoch % rollout_cfg.rate == 0
        if self.eval_envs and (due or final):
            stats = self.evaluate()
            summary = {k: v for k, v in stats.items() if k != "episodes"}
            self.log.scalars(f"Rollout/{self.venv.name}", summary, self.global_step)
            line += f" | eval return {stats['Return']:.1f}"
            if stats["Return"] > self.best_return:
                self.best_return = stats["Return"]
                if save_cfg.on_best_rollout_return:
                    saves.append("model_best_return")
        if save_cfg.enabled:
            periodic = save_cfg.every_n_epochs is not None and self.epoch % save_cfg.every_n_epochs == 0
            timed = (save_cfg.every_n_seconds is not None
                     and time.time() - self._last_time_save > save_cfg.every_n_seconds)
            if periodic or timed or self.epoch in save_cfg.epochs:
                saves.append(f"model_epoch_{self.epoch}")
                self._last_time_save = time.time()
            self.log.flush()  # the epoch's logs reach the disk before its checkpoints (see the offline loop)
            for name in saves:
                self.save(name)
            self.save("last", with_buffer=self._save_buffer, resumable=True)
            prune_epoch_checkpoints(self.run_dir / "models", save_cfg.keep_last_n)
        if saves:
            line += f" | saved {', '.join(saves)}"
        self.log.print(line)
        with warnings.catch_warnings():  # epochs of random warm-up actions have no optimiser step yet
            warnings.filterwarnings("ignore", message="Detected call of `lr_scheduler.step")
            self.algo.on_epoch_end(self.epoch)

    @property
    def _save_buffer(self) -> bool:
        return self.buffer is not None and self.config.algo.replay_buffer.save_with_checkpoint

    def rollout_policy(self) -> RolloutPolicy:
        """The deterministic policy as deployed: raw observations in, env-unit actions out."""
        obs_stats = self.obs_normalizer.stats() if self.obs_normalizer is not None else None
        return RolloutPolicy(self.algo, obs_stats, {"actions": self.action_stats})

    def evaluate(self) -> dict:
        """`experiment.rollout.n` deterministic episodes (the same seeds every time)."""
        rollout_cfg = self.config.experiment.rollout
        horizon = rollout_cfg.horizon
        if self.eval_envs[0].max_episode_steps is not None:
            horizon = min(horizon, self.eval_envs[0].max_episode_steps)
        video = self.run_dir / "videos" / f"step_{self.global_step}.mp4" if self.config.experiment.render_video else None
        with self.algo.ema_weights():  # with algo.ema on, evaluation judges the EMA weights
            stats = rollout_with_stats(
                self.rollout_policy(), self.eval_envs, rollout_cfg.n, horizon, rollout_cfg.terminate_on_success,
                seed=10_000 + 1000 * self.config.train.seed, video_path=video,
                video_skip=self.config.experiment.video_skip, progress=False,
            )
        self.algo.set_train()
        return stats

    # ----- checkpoints -----
    def checkpoint(self, with_buffer: bool = False, resumable: bool = False) -> dict:
        """The checkpoint of the run now; `resumable` adds what `--resume` needs to continue exactly (the envs'
        states, observations, counters, RNG states), or says why it cannot (`not_resumable`)."""
        shape_metadata = {"all_shapes": {k: list(v) for k, v in self.obs_shapes.items()},
                          "ac_dim": self.venv.action_dim, "all_obs_keys": list(self.obs_shapes)}
        obs_stats = self.obs_normalizer.stats() if self.obs_normalizer is not None else None
        train_state = {"epoch": self.epoch, "step": self.num_updates, "env_steps": self.global_step,
                       "best_return": self.best_return}
        ckpt = build_checkpoint(self.algo, self.config, shape_metadata, self.env_args, obs_stats,
                                {"actions": self.action_stats}, train_state)
        online_state = {"env_steps": self.global_step}
        if self.obs_normalizer is not None:
            online_state["obs_normalizer"] = self.obs_normalizer.state_dict()
        if self.reward_scaler is not None:
            online_state["reward_scaler"] = self.reward_scaler.state_dict()
        if with_buffer:
            online_state["replay_buffer"] = self.buffer.state_dict()
        ckpt["online_state"] = _to_tensors(online_state)
        if resumable:
            self._add_resume_state(ckpt, with_buffer)
        return ckpt

    def _add_resume_state(self, ckpt: dict, with_buffer: bool) -> None:
        if self.buffer is not None and not with_buffer:
            ckpt["not_resumable"] = ("the replay buffer is not saved with checkpoints (set "
                                     "algo.replay_buffer.save_with_checkpoint=true to make runs resumable)")
            return
        try:
            envs = self.venv.snapshot()
        except UserError as exc:
            ckpt["not_resumable"] = str(exc)
            return
        counters = {"env_steps": self.global_step, "num_updates": self.num_updates, "epoch": self.epoch,
                    "pending_updates": self._pending_updates, "best_return": self.best_return}
        ckpt["resume_state"] = {"rng_per_rank": [capture_rng_state()],
                                "online": {"envs": envs, "obs": _to_tensors(self.obs), "counters": counters,
                                           "rng": self.rng.bit_generator.state}}

    def save(self, name: str, with_buffer: bool = False, resumable: bool = False) -> Path:
        path = self.run_dir / "models" / f"{name}.pth"
        save_checkpoint(self.checkpoint(with_buffer, resumable), path)
        self.last_saved = path
        return path

    def _load(self, path) -> None:
        """Start from a checkpoint: weights, optimiser state, normalisers and (when saved) the replay buffer."""
        ckpt = load_checkpoint(path)
        if ckpt["algo_name"] != self.config.algo_name:
            raise ConfigError(f"experiment.ckpt_path holds a {ckpt['algo_name']} checkpoint, not {self.config.algo_name}")
        self.algo.deserialize(ckpt["model"])
        self.algo.load_optimizer_state(ckpt.get("optimizer_state", {}))
        self._load_online_state(ckpt)

    def _load_online_state(self, ckpt: dict) -> None:
        """The normalisers and (when saved) the replay buffer of a checkpoint."""
        state = _to_numpy(ckpt.get("online_state", {}))
        if self.obs_normalizer is not None and "obs_normalizer" in state:
            self.obs_normalizer.load_state_dict(state["obs_normalizer"])
        if self.reward_scaler is not None and "reward_scaler" in state:
            self.reward_scaler.load_state_dict(state["reward_scaler"])
        if self.buffer is not None and "replay_buffer" in state:
            self.buffer.load_state_dict(state["replay_buffer"])

    def _resume(self, ckpt: dict) -> None:
        """Continue a run folder's last.pth exactly: everything `checkpoint(resumable=True)` saved."""
        source = self.run_dir / "models" / "last.pth"
        restore_algo(self.algo, ckpt, source)
        self._load_online_state(ckpt)
        online = ckpt["resume_state"]["online"]
        self.venv.restore(online["envs"])
        self.obs = {k: v.numpy() for k, v in online["obs"].items()}
        self.rng.bit_generator.state = online["rng"]
        c = online["counters"]
        self.global_step, self.num_updates, self.epoch = c["env_steps"], c["num_updates"], c["epoch"]
        self._pending_updates, self.best_return = c["pending_updates"], c["best_return"]
        finish_resume(self.algo, ckpt, self.epoch, source)
        self.log.print(f"resumed after epoch {self.epoch} (env step {self.global_step:,}) from {source}")

    # ----- the run -----
    def run(self) -> Path:
        cfg = self.config.train
        total, epoch_steps = cfg.num_env_steps, cfg.epoch_env_steps
        step_fn = self.on_policy_iteration if self.algo.ON_POLICY else self.off_policy_step
        self.algo.set_train()
        bar = tqdm(total=total, initial=self.global_step, desc=f"{self.config.algo_name} {self.venv.name}",
                   unit="step", disable=not self.progress, mininterval=0.5, smoothing=0.05)
        epoch_start_step, epoch_start_time = self.global_step, time.perf_counter()  # a resumed run mid-way
        shown = self.global_step
        try:
            while self.global_step < total:
                try:
                    step_fn()
                    self.monitor.step()
                except TrainingDivergedError as exc:
                    exc.where = (f"epoch {self.epoch + 1}, env step {self.global_step:,}, "
                                 f"gradient update {self.num_updates + 1}")
                    raise
                if self.global_step - shown >= 100:
                    bar.update(self.global_step - shown)
                    shown = self.global_step
                if self.global_step - epoch_start_step >= epoch_steps or self.global_step >= total:
                    final = self.global_step >= total
                    self.end_epoch(self.global_step - epoch_start_step, time.perf_counter() - epoch_start_time, final)
                    bar.set_postfix(best_eval=f"{self.best_return:.1f}", refresh=False)
                    epoch_start_step, epoch_start_time = self.global_step, time.perf_counter()
            bar.update(self.global_step - shown)
            if self.experience is not None:
                names = self.experience.close()
                self.log.print(f"wrote {len(names)} episodes ({self.experience.num_transitions:,} transitions) "
                               f"to {self.experience.path}")
                self.experience = None
        except MemoryLimitError as exc:
            path = self.save("emergency")
            error = MemoryLimitError(f"{exc} at env step {self.global_step:,}; wrote {path}; fix: {MEMORY_FIX}")
            self.log.print(f"error: {error}", terminal=False)  # the script prints it once
            raise error from None
        except TrainingDivergedError as exc:
            error = diverged_error(exc, self.config, self.algo, exc.where or f"the end of epoch {self.epoch}", self.last_saved)
            self.log.print(f"error: {error}", terminal=False)  # the script prints it once
            raise error from None
        finally:
            bar.close()
            self.algo.set_log_diagnostics(True)  # as run_epoch leaves it: later direct calls measure everything
        return self.run_dir

    def close(self) -> None:
        if getattr(self, "experience", None) is not None:
            self.experience.abort()
        if getattr(self, "log", None) is not None:
            self.log.close()
        for env in getattr(self, "eval_envs", []):
            env.close()
        self.venv.close()


def train(config, output_dir=None, device=None, debug: bool = False, progress: bool = True,
          memory_reader=None, resume_dir=None) -> Path:
    """Train `config`'s online algorithm in `experiment.env`; returns the run folder."""
    if debug:
        apply_debug_settings(config)
    check_online_config(config)  # everything about the config fails here, before any environment exists
    device = resolve_device(device, config.train.cuda)
    check_output_dir(config, output_dir)
    run = OnlineRun(config, output_dir=output_dir, device=device, progress=progress, memory_reader=memory_reader,
                    resume_dir=resume_dir)
    try:
        run_dir = run.run()
    finally:
        run.close()
    from robokit.train.plots import write_run_plots

    write_run_plots(run_dir)  # <run>/plots/curves.png, when matplotlib is installed
    return run_dir
