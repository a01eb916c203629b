"""Sections shared by the online RL configs (sac, td3, ppo, a2c): the interaction budget and the replay buffer.

An online config trains in `experiment.env` (a gymnasium id) instead of on a dataset. Its `train` section
counts environment steps; an *epoch* is `train.epoch_env_steps` of them and is the unit of logging,
evaluation (`experiment.rollout.rate`), periodic saving (`experiment.save.every_n_epochs`) and learning-rate
schedules.
"""

import math
from typing import ClassVar, Literal

from robokit.config.base_config import BaseConfig
from robokit.config.experiment import ExperimentConfig, RolloutConfig, SaveConfig
from robokit.config.observation import ModalitiesConfig, ModalityKeysConfig, ObservationConfig
from robokit.config.section import Section, param
from robokit.config.train import FLUSH_DENORMALS_HELP, MIXED_PRECISION_HELP
from robokit.config.value_sections import TDAlgoConfig
from robokit.errors import ConfigError


class OnlineTrainConfig(Section):
    """`config.train` of online RL: how long and in how many environments the agent interacts."""

    output_dir: str = param("runs", "folder in which each run gets a <experiment.name>/<timestamp> folder")
    num_env_steps: int = param(1_000_000, "total environment steps (summed over the parallel envs)", minimum=1)
    num_envs: int = param(1, "environments stepped in parallel to collect experience", minimum=1)
    vector_env: Literal["sync", "async"] = param(
        "sync", "sync: step the envs one after another in this process; async: one subprocess per env"
    )
    epoch_env_steps: int = param(
        1000, "env steps per epoch: the unit of logging, evaluation, periodic saving and LR schedules", minimum=1
    )
    batch_size: int = param(
        256, "samples per gradient step (off-policy: from the replay buffer; PPO: minibatch size; A2C: unused)",
        minimum=1,
    )
    normalize_obs: bool = param(
        False, "normalise observations with running mean/std (saved in the checkpoint as obs_normalization_stats)"
    )
    normalize_reward: bool = param(False, "scale rewards by the running std of the discounted return")
    experience_path: str | None = param(
        None, "also write every collected transition to this HDF5 file (robomimic layout) for offline algorithms"
    )
    cuda: bool = param(True, "train on a GPU when one is available")
    num_threads: int | None = param(
        1, "torch CPU threads (small RL networks run fastest on one; null: torch's default, all cores)", minimum=1
    )
    seed: int = param(1, "random seed (networks, exploration and environment resets)")
    max_grad_norm: float | None = param(None, "clip gradient norm to this value (null: no clipping)", minimum=0.0)
    mixed_precision: Literal["off", "bf16"] = param("off", MIXED_PRECISION_HELP)
    flush_denormals: bool = param(True, FLUSH_DENORMALS_HELP)
    @property
    def num_epochs(self) -> int:
        """Number of epochs of the run (read-only: set train.num_env_steps and train.epoch_env_steps)."""
        return max(math.ceil(self.num_env_steps / self.epoch_env_steps), 1)

    #: keys of earlier robokit versions, with what replaced them: still an unknown key, with that hint
    REMOVED_KEYS: ClassVar[dict[str, str]] = {
        "manual_backward": "it was removed (SAC and TD3 now always compute gradients with autograd); delete it",
    }

    def _unknown_key_message(self, name: str) -> str:
        if name in self.REMOVED_KEYS:
            return f"unknown config key '{self.key_path(name)}': {self.REMOVED_KEYS[name]}"
        return super()._unknown_key_message(name)


class ReplayBufferConfig(Section):
    """The replay buffer of off-policy algorithms: a fixed-size ring, oldest transitions overwritten."""

    capacity: int = param(1_000_000, "transitions kept in memory", minimum=1)
    max_memory_gb: float = param(
        8.0, "refuse to allocate a buffer larger than this (lower capacity or raise the limit)", minimum=0.0
    )
    save_with_checkpoint: bool = param(False, "store the buffer in last.pth (every epoch) so a run can be resumed "
                                              "exactly with train.py --resume (large)")


class OffPolicyAlgoConfig(TDAlgoConfig):
    """Settings shared by the off-policy actor-critic algorithms (SAC, TD3): TD targets plus interaction."""

    learning_starts: int = param(100, "env steps of uniformly random actions before the first update", minimum=0)
    utd_ratio: float = param(1.0, "update-to-data ratio: gradient steps per env step", minimum=0.0)
    replay_buffer: ReplayBufferConfig = param(ReplayBufferConfig(), "replay buffer")


class OnlineConfig(BaseConfig):
    """Base of the online RL configs: trains in `experiment.env`, never on a dataset (not registered itself)."""

    #: overrides applied by `--debug`: a tiny version of the whole run
    DEBUG_OVERRIDES: ClassVar[list[str]] = [
        "train.num_env_steps=200",
        "train.epoch_env_steps=100",
        "experiment.rollout.n=2",
        "experiment.rollout.horizon=50",
        "experiment.rollout.rate=1",
        "experiment.save.every_n_epochs=1",
    ]

    experiment: ExperimentConfig = param(
        ExperimentConfig(
            validate=False,
            epoch_every_n_steps=None,
            validation_epoch_every_n_steps=None,
            render_video=False,
            rollout=RolloutConfig(n=10, horizon=1000, rate=10, terminate_on_success=False),
            save=SaveConfig(every_n_epochs=None, on_best_rollout_return=True, on_best_rollout_success_rate=False),
        ),
        "run name, environment (experiment.env), logging, saving and evaluation",
    )
    train: OnlineTrainConfig = param(OnlineTrainConfig(), "interaction budget and parallel environments")
    observation: ObservationConfig = param(
        ObservationConfig(modalities=ModalitiesConfig(obs=ModalityKeysConfig(low_dim=[]))),
        "observation keys the networks see (empty lists: every key of the environment's observation)",
    )

    def check(self) -> None:
        if self.use_goals:
            raise ConfigError(
                "online RL does not support goal observations yet; empty observation.modalities.goal "
                "(list goal keys such as desired_goal under observation.modalities.obs instead)"
            )
        super().check()
        if self.experiment.validate:
            raise ConfigError(
                f"{self.algo_name} trains online and has no validation set; set experiment.validate=false"
            )
