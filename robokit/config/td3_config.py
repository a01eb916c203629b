"""Config of TD3 (`td3`): twin critics, target policy smoothing and a delayed deterministic actor.

Defaults follow the TD3 paper / Stable-Baselines3 (lr 1e-3, batch 256, [400, 300] networks, policy delay 2).
DDPG is a variant of the same family, set by config (`configs/ddpg.json`): one critic, no delay, no smoothing.
Key names match TD3+BC's (`algo.actor.update_freq`, `noise_std`, `noise_clip`, `algo.critic.ensemble.n`).
"""

from typing import ClassVar

from robokit.config.online import OffPolicyAlgoConfig, OnlineConfig
from robokit.config.optim import LearningRateConfig, OptimizerConfig
from robokit.config.section import Section, param
from robokit.config.value_sections import CriticConfig


def _adam(lr: float) -> OptimizerConfig:
    return OptimizerConfig(learning_rate=LearningRateConfig(initial=lr))


class TD3OptimParams(Section):
    """Optimisers of TD3: actor and critic ensemble."""

    actor: OptimizerConfig = param(_adam(1e-3), "actor optimiser")
    critic: OptimizerConfig = param(_adam(1e-3), "critic optimiser (all Q networks)")


class TD3ActorConfig(Section):
    """The deterministic actor, its delayed updates, target policy smoothing and exploration noise."""

    layer_dims: list[int] = param([400, 300], "actor MLP hidden sizes")
    update_freq: int = param(2, "critic steps per actor (and target network) update: the policy delay", minimum=1)
    noise_std: float = param(0.2, "std of the Gaussian noise on target actions (smoothing; 0: off)", minimum=0.0)
    noise_clip: float = param(0.5, "clip of that noise per dimension", minimum=0.0)
    exploration_noise: float = param(0.1, "std of the Gaussian noise added to actions while collecting",
                                     minimum=0.0)
    max_gradient_norm: float | None = param(None, "clip the actor gradient norm (null: train.max_grad_norm)",
                                            minimum=0.0)


class TD3AlgoConfig(OffPolicyAlgoConfig):
    """`config.algo` of TD3."""

    optim_params: TD3OptimParams = param(TD3OptimParams(), "optimisers")
    critic: CriticConfig = param(CriticConfig(layer_dims=[400, 300]), "Q networks")
    actor: TD3ActorConfig = param(TD3ActorConfig(), "actor")


class TD3Config(OnlineConfig):
    """Twin Delayed Deep Deterministic policy gradient."""

    ALGO_NAME = "td3"
    TEMPLATE_VARIANTS: ClassVar[dict[str, list[str]]] = {
        "ddpg": [
            "experiment.name=ddpg",
            "algo.critic.ensemble.n=1",
            "algo.actor.update_freq=1",
            "algo.actor.noise_std=0.0",
        ],
    }
    DEBUG_OVERRIDES: ClassVar[list[str]] = OnlineConfig.DEBUG_OVERRIDES + [
        "algo.learning_starts=50",
        "train.batch_size=32",
        "algo.replay_buffer.capacity=1000",
    ]

    algo: TD3AlgoConfig = param(TD3AlgoConfig(), "TD3 settings")
