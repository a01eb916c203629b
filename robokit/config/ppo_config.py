"""Configs of the on-policy actor-critic family: PPO (`ppo`) and A2C (`a2c`).

Both collect `algo.n_steps` steps in each of `train.num_envs` environments, estimate advantages with GAE and
update a Gaussian policy and a value network with one optimiser. PPO runs `update_epochs` epochs of
minibatches (`train.batch_size`) on the clipped objective; A2C one gradient step on the whole rollout with the
plain policy-gradient loss. Defaults are Stable-Baselines3's.
"""

from typing import ClassVar, Literal

from robokit.config.base_config import AlgoConfig
from robokit.config.online import OnlineConfig, OnlineTrainConfig
from robokit.config.optim import LearningRateConfig, OptimizerConfig
from robokit.config.section import Section, param
from robokit.errors import ConfigError


def _adam(lr: float) -> OptimizerConfig:
    return OptimizerConfig(learning_rate=LearningRateConfig(initial=lr))


class OnPolicyOptimParams(Section):
    """One optimiser over the policy and value networks."""

    policy: OptimizerConfig = param(_adam(3e-4), "optimiser of the actor-critic (policy and value networks)")


class OnPolicyAlgoConfig(AlgoConfig):
    """Settings shared by PPO and A2C."""

    optim_params: OnPolicyOptimParams = param(OnPolicyOptimParams(), "optimisers")
    discount: float = param(0.99, "discount factor gamma", minimum=0.0, maximum=1.0)
    gae_lambda: float = param(0.95, "GAE lambda (1: Monte-Carlo advantages, 0: one-step TD)", minimum=0.0,
                              maximum=1.0)
    n_steps: int = param(2048, "steps collected in each env per rollout (rollout size: n_steps * train.num_envs)",
                         minimum=1)
    ent_coef: float = param(0.0, "weight of the entropy bonus", minimum=0.0)
    vf_coef: float = param(0.5, "weight of the value loss", minimum=0.0)
    normalize_advantage: bool = param(True, "normalise advantages to zero mean, unit std per (mini)batch")
    actor_layer_dims: list[int] = param([64, 64], "policy MLP hidden sizes")
    critic_layer_dims: list[int] = param([64, 64], "value MLP hidden sizes")
    activation: Literal["tanh", "relu"] = param("tanh", "hidden-layer activation of both networks")
    log_std_init: float = param(0.0, "initial log standard deviation of the Gaussian policy")
    ortho_init: bool = param(True, "orthogonal initialisation (gain sqrt(2); 0.01 policy head, 1 value head)")


class PPOAlgoConfig(OnPolicyAlgoConfig):
    """`config.algo` of PPO."""

    update_epochs: int = param(10, "passes over each rollout", minimum=1)
    clip_range: float = param(0.2, "clip of the probability ratio in the surrogate objective", minimum=0.0)
    clip_range_vf: float | None = param(
        None, "clip value predictions to old value +- this (null: no value clipping)", minimum=0.0
    )
    target_kl: float | None = param(
        None, "stop the update epochs early when the approximate KL exceeds 1.5 * target_kl (null: never)",
        minimum=0.0,
    )


class A2CAlgoConfig(OnPolicyAlgoConfig):
    """`config.algo` of A2C."""

    optim_params: OnPolicyOptimParams = param(
        OnPolicyOptimParams(policy=_adam(7e-4)), "optimisers"
    )
    n_steps: int = param(5, "steps collected in each env per rollout (one gradient step per rollout)", minimum=1)
    gae_lambda: float = param(1.0, "GAE lambda (1: n-step returns, as in A2C)", minimum=0.0, maximum=1.0)
    normalize_advantage: bool = param(False, "normalise advantages to zero mean, unit std per rollout")


class PPOConfig(OnlineConfig):
    """Proximal Policy Optimisation (clipped objective)."""

    ALGO_NAME = "ppo"
    DEBUG_OVERRIDES: ClassVar[list[str]] = [
        "train.num_env_steps=256",
        "train.epoch_env_steps=128",
        "experiment.rollout.n=2",
        "experiment.rollout.horizon=50",
        "experiment.rollout.rate=1",
        "experiment.save.every_n_epochs=1",
        "algo.n_steps=64",
        "algo.update_epochs=2",
        "train.batch_size=32",
    ]

    train: OnlineTrainConfig = param(
        OnlineTrainConfig(batch_size=64, max_grad_norm=0.5, epoch_env_steps=2048),
        "interaction budget and parallel environments",
    )
    algo: PPOAlgoConfig = param(PPOAlgoConfig(), "PPO settings")

    def check(self) -> None:
        super().check()
        rollout = self.algo.n_steps * self.train.num_envs
        if rollout < 2:
            raise ConfigError("algo.n_steps * train.num_envs must be at least 2 (advantages are normalised)")
        if self.train.batch_size > rollout:
            raise ConfigError(
                f"train.batch_size={self.train.batch_size} (the PPO minibatch) exceeds the rollout of "
                f"algo.n_steps * train.num_envs = {rollout} steps; lower train.batch_size or raise algo.n_steps"
            )


class A2CConfig(OnlineConfig):
    """Advantage Actor-Critic (synchronous)."""

    ALGO_NAME = "a2c"
    DEBUG_OVERRIDES: ClassVar[list[str]] = OnlineConfig.DEBUG_OVERRIDES

    train: OnlineTrainConfig = param(
        OnlineTrainConfig(max_grad_norm=0.5), "interaction budget and parallel environments"
    )
    algo: A2CAlgoConfig = param(A2CAlgoConfig(), "A2C settings")
