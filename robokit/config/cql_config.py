"""Config of conservative Q-learning (`cql`): a SAC actor-critic whose critics are pushed down on unseen actions.

`algo.actor.target_entropy` not null tunes the entropy weight automatically; `algo.critic.target_q_gap` >= 0
turns on the Lagrange variant (the CQL weight is tuned so the penalty stays near the gap).
"""

from typing import Any

from robokit.config.optim import OptimizerConfig
from robokit.config.section import Section, param
from robokit.config.train import TrainConfig
from robokit.config.typecheck import show
from robokit.config.value_sections import (
    ActorNetConfig,
    BoundedCriticConfig,
    NStepTDAlgoConfig,
    ValueAlgoConfigBase,
)
from robokit.errors import ConfigError


class CQLOptimParams(Section):
    """Optimisers of CQL (the entropy and CQL weights use the actor's and critic's learning rates)."""

    critic: OptimizerConfig = param(
        OptimizerConfig.from_dict({"learning_rate": {"initial": 1e-3, "decay_factor": 0.0}}), "critic optimiser"
    )
    actor: OptimizerConfig = param(
        OptimizerConfig.from_dict({"learning_rate": {"initial": 3e-4, "decay_factor": 0.0}}), "actor optimiser"
    )


class CQLActorConfig(Section):
    """The SAC actor: a tanh-squashed Gaussian."""

    bc_start_steps: int = param(0, "gradient steps at the start that train the actor by behaviour cloning",
                                minimum=0)
    target_entropy: Any = param(
        "default", 'entropy the entropy weight is tuned toward: a number, "default" (-action_dim) or null '
        "(fixed entropy weight 1)"
    )
    max_gradient_norm: float | None = param(None, "clip the actor gradient norm (null: train.max_grad_norm)",
                                            minimum=0.0)
    net: ActorNetConfig = param(
        ActorNetConfig.from_dict({"common": {"std_activation": "exp", "use_tanh": True}}), "action distribution"
    )
    layer_dims: list[int] = param([300, 400], "actor MLP hidden sizes")

    def check(self) -> None:
        value = self.target_entropy
        is_number = isinstance(value, (int, float)) and not isinstance(value, bool)
        if not (value is None or value == "default" or is_number):
            raise ConfigError(f'{self.key_path("target_entropy")} must be a number, "default" or null, '
                              f"got {show(value)}")


class CQLCriticConfig(BoundedCriticConfig):
    """CQL's critics and conservative penalty."""

    num_action_samples: int = param(
        1, "next actions sampled for the TD target; > 1 backs up the max over samples", minimum=1
    )
    cql_weight: float = param(1.0, "weight of the CQL penalty (when target_q_gap is null or negative)", minimum=0.0)
    deterministic_backup: bool = param(True, "leave the entropy bonus out of the TD target")
    min_q_weight: float = param(1.0, "scale of the logsumexp(Q) - Q(data) term", minimum=0.0)
    target_q_gap: float | None = param(
        5.0, "Lagrange variant: tune the CQL weight so the penalty stays at this gap (null or < 0: fixed cql_weight)"
    )
    num_random_actions: int = param(10, "uniform, current-policy and next-policy actions sampled for the penalty",
                                    minimum=1)


class CQLAlgoConfig(NStepTDAlgoConfig):
    """`config.algo` of CQL."""

    optim_params: CQLOptimParams = param(CQLOptimParams(), "optimisers")
    actor: CQLActorConfig = param(CQLActorConfig(), "actor")
    critic: CQLCriticConfig = param(CQLCriticConfig(), "critics")


class CQLConfig(ValueAlgoConfigBase):
    """Conservative Q-learning (Kumar et al. 2020), CQL(H) on a SAC backbone."""

    ALGO_NAME = "cql"
    train: TrainConfig = param(TrainConfig(batch_size=1024), "dataset, data loading and training loop")
    algo: CQLAlgoConfig = param(CQLAlgoConfig(), "CQL settings")
