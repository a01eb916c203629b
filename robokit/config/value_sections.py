"""Config pieces shared by the value-based algorithms (BCQ, CQL, IQL, TD3-BC): critics, actors, TD settings.

`ValueAlgoConfigBase` is the base of their configs: it checks that the data a TD update needs is loaded.
"""

from typing import Literal

from robokit.config.base_config import AlgoConfig, BaseConfig
from robokit.config.networks import StdActivation
from robokit.config.optim import OptimizerConfig
from robokit.config.section import Section, param
from robokit.errors import ConfigError


class StagedOptimizerConfig(OptimizerConfig):
    """An optimiser whose network trains only in epochs [start_epoch, end_epoch)."""

    start_epoch: int = param(-1, "first epoch in which this network trains (-1: from the start)", minimum=-1)
    end_epoch: int = param(-1, "epoch from which this network stops training (-1: never stops)", minimum=-1)

    def trains_in(self, epoch: int) -> bool:
        """Whether the network gets gradient steps in `epoch`."""
        started = self.start_epoch == -1 or epoch >= self.start_epoch
        return started and (self.end_epoch == -1 or epoch < self.end_epoch)


class CriticEnsembleConfig(Section):
    """An ensemble of Q networks."""

    n: int = param(2, "number of Q networks in the ensemble (targets use their minimum: the TD3 trick)", minimum=1)


class WeightedCriticEnsembleConfig(CriticEnsembleConfig):
    """An ensemble of Q networks whose target mixes the minimum and maximum over members."""

    weight: float = param(0.75, "target Q = weight * min + (1 - weight) * max over the ensemble",
                          minimum=0.0, maximum=1.0)


class CriticConfig(Section):
    """Q networks trained by TD learning."""

    layer_dims: list[int] = param([300, 400], "critic MLP hidden sizes")
    use_huber: bool = param(False, "Huber loss instead of L2 for the TD error")
    max_gradient_norm: float | None = param(None, "clip the critic gradient norm (null: train.max_grad_norm)",
                                            minimum=0.0)
    ensemble: CriticEnsembleConfig = param(CriticEnsembleConfig(), "critic ensemble")


class BoundedCriticConfig(CriticConfig):
    """Q networks whose outputs can be squashed into known bounds."""

    value_bounds: list[float] | None = param(
        None, "[low, high]: squash Q values into this range with a scaled tanh (null: unbounded)"
    )

    def check(self) -> None:
        bounds = self.value_bounds
        if bounds is not None and (len(bounds) != 2 or not bounds[0] < bounds[1]):
            raise ConfigError(f"{self.key_path('value_bounds')} must be [low, high] with low < high, got {bounds}")


class ActorNetCommonConfig(Section):
    """Settings shared by the stochastic actor heads."""

    std_activation: StdActivation = param("softplus", "activation that makes the std positive")
    use_tanh: bool = param(False, "squash samples with tanh (true) instead of only the mean (false)")
    low_noise_eval: bool = param(True, "use a tiny std (near-deterministic actions) at evaluation")


class ActorNetGaussianConfig(Section):
    """Gaussian actor head."""

    init_last_fc_weight: float | None = param(
        0.001, "initialise the mean layer's weights uniformly in [-w, w] (null: default init)", minimum=0.0
    )
    init_std: float = param(0.3, "initial (or fixed) standard deviation", minimum=0.0)
    fixed_std: bool = param(False, "keep the std at init_std instead of learning it")


class ActorNetGMMConfig(Section):
    """Gaussian-mixture actor head."""

    num_modes: int = param(5, "number of mixture components", minimum=1)
    min_std: float = param(0.0001, "lower bound on the predicted std", minimum=0.0)


class ActorNetConfig(Section):
    """A stochastic actor's output distribution."""

    type: Literal["gaussian", "gmm"] = param("gaussian", "action distribution: gaussian or gmm")
    common: ActorNetCommonConfig = param(ActorNetCommonConfig(), "settings of every head")
    gaussian: ActorNetGaussianConfig = param(ActorNetGaussianConfig(), "Gaussian head (type=gaussian)")
    gmm: ActorNetGMMConfig = param(ActorNetGMMConfig(), "Gaussian-mixture head (type=gmm)")

    def check(self) -> None:
        if self.type == "gmm" and self.common.use_tanh:
            raise ConfigError(f"{self.key_path('common.use_tanh')}=true is not supported with "
                              f"{self.key_path('type')}=\"gmm\"; set use_tanh=false or type=\"gaussian\"")


class TDAlgoConfig(AlgoConfig):
    """Temporal-difference settings of an `algo` section."""

    discount: float = param(0.99, "discount factor gamma", minimum=0.0, maximum=1.0)
    target_tau: float = param(0.005, "soft-update rate of the target networks", minimum=0.0, maximum=1.0)


class NStepTDAlgoConfig(TDAlgoConfig):
    """TD settings with n-step returns (the dataset window must hold n steps: train.seq_length >= n_step)."""

    n_step: int = param(1, "n-step returns in the TD targets (needs train.seq_length >= n_step)", minimum=1)
    infinite_horizon: bool = param(False, "scale terminal rewards by 1 / (1 - discount) (infinite-horizon MDPs)")


class ValueAlgoConfigBase(BaseConfig):
    """Base of the value-based configs: the dataset must provide rewards, dones and next_obs, one frame per step."""

    def check(self) -> None:
        super().check()
        train = self.train
        if not train.hdf5_load_next_obs:
            raise ConfigError(f"{self.algo_name} learns from next observations; set train.hdf5_load_next_obs=true")
        missing = [k for k in ("actions", "rewards", "dones") if k not in train.dataset_keys]
        if missing:
            raise ConfigError(f"{self.algo_name} needs train.dataset_keys to include {missing}; "
                              f'e.g. train.dataset_keys=["actions", "rewards", "dones"]')
        if train.frame_stack != 1:
            raise ConfigError(f"{self.algo_name} uses one observation per step; set train.frame_stack=1")
        n_step = getattr(self.algo, "n_step", 1)
        if train.seq_length < n_step:
            raise ConfigError(f"algo.n_step={n_step} needs train.seq_length >= {n_step}, got {train.seq_length}; "
                              f"set train.seq_length={n_step}")
