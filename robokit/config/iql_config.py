"""Config of implicit Q-learning (`iql`): expectile value regression and an advantage-weighted actor."""

from typing import Literal

from robokit.config.optim import OptimizerConfig
from robokit.config.section import Section, param
from robokit.config.value_sections import ActorNetConfig, CriticConfig, TDAlgoConfig, ValueAlgoConfigBase

_LR = {"learning_rate": {"initial": 1e-4, "decay_factor": 0.0}}


class IQLOptimParams(Section):
    """Optimisers of IQL."""

    critic: OptimizerConfig = param(OptimizerConfig.from_dict(_LR), "Q ensemble optimiser")
    vf: OptimizerConfig = param(OptimizerConfig.from_dict(_LR), "value function optimiser")
    actor: OptimizerConfig = param(OptimizerConfig.from_dict(_LR), "actor optimiser")


class IQLActorConfig(Section):
    """IQL's actor, trained by advantage-weighted maximum likelihood."""

    net: ActorNetConfig = param(ActorNetConfig(), "action distribution")
    layer_dims: list[int] = param([300, 400], "actor MLP hidden sizes")
    max_gradient_norm: float | None = param(None, "clip the actor gradient norm (null: train.max_grad_norm)",
                                            minimum=0.0)


class AdvantageConfig(Section):
    """How advantages A = Q(s, a) - V(s) become the actor's sample weights."""

    clip_adv_value: float | None = param(None, "clip advantages above this value (null: no clipping)")
    filter_type: Literal["exp", "binary"] = param("exp", "exp: w = exp(A / beta); binary: w = 1[A > 0]")
    beta: float = param(1.0, "temperature of the exp filter (smaller: greedier)", minimum=0.0)
    use_final_clip: bool = param(True, "clip the weights to at most 100")


class IQLAlgoConfig(TDAlgoConfig):
    """`config.algo` of IQL."""

    optim_params: IQLOptimParams = param(IQLOptimParams(), "optimisers")
    target_tau: float = param(0.01, "soft-update rate of the target Q networks", minimum=0.0, maximum=1.0)
    actor: IQLActorConfig = param(IQLActorConfig(), "actor")
    critic: CriticConfig = param(CriticConfig(), "Q networks (their layer sizes are also the value function's)")
    adv: AdvantageConfig = param(AdvantageConfig(), "advantage weighting")
    vf_quantile: float = param(0.9, "expectile tau of the value regression (0.5: mean; -> 1: max)",
                               minimum=0.0, maximum=1.0)


class IQLConfig(ValueAlgoConfigBase):
    """Implicit Q-learning (Kostrikov et al. 2021)."""

    ALGO_NAME = "iql"
    algo: IQLAlgoConfig = param(IQLAlgoConfig(), "IQL settings")
