"""Config of Soft Actor-Critic (`sac`): twin critics, a tanh-squashed Gaussian actor, automatic entropy tuning.

Defaults are those of the SAC paper / Stable-Baselines3 (lr 3e-4, batch 256, tau 0.005, [256, 256] networks).
A fixed entropy coefficient is a variant of the same algorithm: `algo.alpha.auto=false algo.alpha.init=0.2`.
The critic section is the one the offline value-based algorithms use (`algo.critic.ensemble.n`, ...).
"""

from typing import ClassVar

from robokit.config.online import OffPolicyAlgoConfig, OnlineConfig
from robokit.config.optim import LearningRateConfig, OptimizerConfig
from robokit.config.section import Section, param
from robokit.config.value_sections import CriticConfig
from robokit.errors import ConfigError


def _adam(lr: float) -> OptimizerConfig:
    return OptimizerConfig(learning_rate=LearningRateConfig(initial=lr))


class SACOptimParams(Section):
    """Optimisers of SAC: actor, critic ensemble and the entropy coefficient."""

    actor: OptimizerConfig = param(_adam(3e-4), "actor optimiser")
    critic: OptimizerConfig = param(_adam(3e-4), "critic optimiser (all Q networks)")
    alpha: OptimizerConfig = param(_adam(3e-4), "optimiser of log(alpha) (used when algo.alpha.auto)")


class SACActorConfig(Section):
    """The tanh-squashed Gaussian actor: a = tanh(u), u ~ N(mean(s), exp(log_std(s)))."""

    layer_dims: list[int] = param([256, 256], "actor MLP hidden sizes")
    log_std_min: float = param(-20.0, "lower clamp of the log standard deviation")
    log_std_max: float = param(2.0, "upper clamp of the log standard deviation")
    log_prob_epsilon: float = param(
        1e-6, "the tanh correction of log pi: sum log(1 - tanh(u)^2 + epsilon), as the SAC authors' code and "
        "Stable-Baselines3 compute it (1e-6), which caps the entropy cost of a saturated action at -log(epsilon) "
        "per dimension; 0: the exact correction, whose cost keeps growing as tanh(u) saturates (robokit "
        "addition)", minimum=0.0)
    max_gradient_norm: float | None = param(None, "clip the actor gradient norm (null: train.max_grad_norm)",
                                            minimum=0.0)

    def check(self) -> None:
        if self.log_std_min >= self.log_std_max:
            raise ConfigError(f"{self.key_path('log_std_min')}={self.log_std_min} must be below "
                              f"{self.key_path('log_std_max')}={self.log_std_max}")


class EntropyConfig(Section):
    """The entropy coefficient alpha of the maximum-entropy objective."""

    auto: bool = param(True, "tune alpha so the policy's entropy tracks target_entropy")
    init: float = param(1.0, "initial (or, when auto is false, fixed) alpha", minimum=0.0)
    target_entropy: float | None = param(None, "target policy entropy (null: -action_dim)")


class SACAlgoConfig(OffPolicyAlgoConfig):
    """`config.algo` of SAC."""

    optim_params: SACOptimParams = param(SACOptimParams(), "optimisers")
    critic: CriticConfig = param(CriticConfig(layer_dims=[256, 256]), "Q networks")
    actor: SACActorConfig = param(SACActorConfig(), "actor")
    alpha: EntropyConfig = param(EntropyConfig(), "entropy coefficient")
    target_update_interval: int = param(1, "gradient steps between soft target updates", minimum=1)


class SACConfig(OnlineConfig):
    """Soft Actor-Critic."""

    ALGO_NAME = "sac"
    DEBUG_OVERRIDES: ClassVar[list[str]] = OnlineConfig.DEBUG_OVERRIDES + [
        "algo.learning_starts=50",
        "train.batch_size=32",
        "algo.replay_buffer.capacity=1000",
    ]

    algo: SACAlgoConfig = param(SACAlgoConfig(), "SAC settings")
