"""Config of TD3+BC (`td3_bc`): TD3 with a behaviour-cloning term in the actor loss."""

from robokit.config.section import Section, param
from robokit.config.train import TrainConfig
from robokit.config.value_sections import (
    BoundedCriticConfig,
    NStepTDAlgoConfig,
    StagedOptimizerConfig,
    ValueAlgoConfigBase,
    WeightedCriticEnsembleConfig,
)

_LR = {"learning_rate": {"initial": 3e-4}}


class TD3BCOptimParams(Section):
    """Optimisers of TD3+BC."""

    critic: StagedOptimizerConfig = param(StagedOptimizerConfig.from_dict(_LR), "critic optimiser")
    actor: StagedOptimizerConfig = param(StagedOptimizerConfig.from_dict(_LR), "actor optimiser")


class TD3BCCriticConfig(BoundedCriticConfig):
    """TD3's twin critics."""

    layer_dims: list[int] = param([256, 256], "critic MLP hidden sizes")
    ensemble: WeightedCriticEnsembleConfig = param(WeightedCriticEnsembleConfig(weight=1.0), "critic ensemble")


class TD3BCActorConfig(Section):
    """The deterministic actor and TD3's target policy smoothing."""

    update_freq: int = param(2, "critic steps per actor (and target network) update", minimum=1)
    noise_std: float = param(0.2, "std of the Gaussian noise on target actions", minimum=0.0)
    noise_clip: float = param(0.5, "clip of that noise per dimension", minimum=0.0)
    layer_dims: list[int] = param([256, 256], "actor MLP hidden sizes")


class TD3BCAlgoConfig(NStepTDAlgoConfig):
    """`config.algo` of TD3+BC."""

    optim_params: TD3BCOptimParams = param(TD3BCOptimParams(), "optimisers")
    alpha: float = param(2.5, "actor loss = -lambda * Q + BC error with lambda = alpha / mean|Q|", minimum=0.0)
    critic: TD3BCCriticConfig = param(TD3BCCriticConfig(), "critics")
    actor: TD3BCActorConfig = param(TD3BCActorConfig(), "actor")


class TD3BCConfig(ValueAlgoConfigBase):
    """TD3+BC (Fujimoto & Gu 2021): observations are normalised, as in the paper."""

    ALGO_NAME = "td3_bc"
    train: TrainConfig = param(TrainConfig(hdf5_normalize_obs=True, batch_size=256),
                               "dataset, data loading and training loop (normalised observations, batch 256)")
    algo: TD3BCAlgoConfig = param(TD3BCAlgoConfig(), "TD3+BC settings")
