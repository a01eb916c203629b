"""Config of batch-constrained Q-learning (`bcq`) and its variants BCQ_GMM and BCQ_Distributional.

The factory (robokit.algo.bcq) picks the variant: `algo.critic.distributional.enabled` -> BCQ_Distributional,
else `algo.action_sampler.gmm.enabled` -> BCQ_GMM, else the VAE action sampler (BCQ); impossible combinations
are rejected there.
"""

from robokit.config.networks import GMMConfig, VAEConfig
from robokit.config.section import Section, param
from robokit.config.value_sections import (
    BoundedCriticConfig,
    NStepTDAlgoConfig,
    StagedOptimizerConfig,
    ValueAlgoConfigBase,
    WeightedCriticEnsembleConfig,
)

_LR_1E3 = {"learning_rate": {"initial": 1e-3}}


class BCQOptimParams(Section):
    """Optimisers of BCQ."""

    critic: StagedOptimizerConfig = param(StagedOptimizerConfig.from_dict(_LR_1E3), "critic ensemble optimiser")
    action_sampler: StagedOptimizerConfig = param(StagedOptimizerConfig.from_dict(_LR_1E3), "action sampler optimiser")
    actor: StagedOptimizerConfig = param(StagedOptimizerConfig.from_dict(_LR_1E3), "perturbation actor optimiser")


class DistributionalConfig(Section):
    """C51 distributional critic."""

    enabled: bool = param(False, "categorical critic over num_atoms values in critic.value_bounds (BCQ_Distributional)")
    num_atoms: int = param(51, "number of atoms of the categorical value distribution", minimum=2)


class BCQCriticConfig(BoundedCriticConfig):
    """BCQ's critics."""

    num_action_samples: int = param(10, "actions sampled per next state to form the TD target", minimum=1)
    num_action_samples_rollout: int = param(100, "actions sampled per state when acting", minimum=1)
    ensemble: WeightedCriticEnsembleConfig = param(WeightedCriticEnsembleConfig(), "critic ensemble")
    distributional: DistributionalConfig = param(DistributionalConfig(), "distributional critic")


class ActionSamplerConfig(Section):
    """Generative model of the dataset's actions (a conditional VAE, or a GMM policy)."""

    actor_layer_dims: list[int] = param([1024, 1024], "MLP hidden sizes of the GMM action sampler")
    gmm: GMMConfig = param(GMMConfig(), "GMM action sampler (BCQ_GMM)")
    vae: VAEConfig = param(VAEConfig(enabled=True), "VAE action sampler (BCQ, the paper's choice)")
    freeze_encoder_epoch: int = param(-1, "epoch from which the VAE encoder stops training (-1: never)", minimum=-1)


class BCQActorConfig(Section):
    """Optional perturbation actor that nudges sampled actions toward higher Q."""

    enabled: bool = param(False, "train a perturbation actor")
    perturbation_scale: float = param(0.05, "largest perturbation per action dimension", minimum=0.0)
    layer_dims: list[int] = param([300, 400], "actor MLP hidden sizes")


class BCQAlgoConfig(NStepTDAlgoConfig):
    """`config.algo` of BCQ."""

    optim_params: BCQOptimParams = param(BCQOptimParams(), "optimisers")
    critic: BCQCriticConfig = param(BCQCriticConfig(), "critics")
    action_sampler: ActionSamplerConfig = param(ActionSamplerConfig(), "action sampler")
    actor: BCQActorConfig = param(BCQActorConfig(), "perturbation actor")


class BCQConfig(ValueAlgoConfigBase):
    """Batch-constrained Q-learning (Fujimoto et al. 2019), with VAE or GMM action samplers."""

    ALGO_NAME = "bcq"
    algo: BCQAlgoConfig = param(BCQAlgoConfig(), "BCQ settings")
