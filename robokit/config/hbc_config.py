"""Config of hierarchical behaviour cloning (`hbc`): a GL planner proposes subgoals, a BC actor reaches them.

The planner and the actor each have an observation section (`observation.planner`, `observation.actor`);
the actor's goal keys are the planner's subgoal keys (set automatically).
"""

from typing import Literal

from robokit.config.base_config import AlgoConfig, BaseConfig
from robokit.config.bc_config import BCLossConfig, BCOptimParams
from robokit.config.gl_config import GLAlgoConfig, GLObservationConfig, check_subgoal_window
from robokit.config.networks import RNNConfig, TransformerConfig
from robokit.config.observation import MODALITIES, ObservationConfig
from robokit.config.section import Section, param
from robokit.config.train import TrainConfig
from robokit.errors import ConfigError


class PriorCorrectionConfig(Section):
    """Latent subgoals for training the actor: the prior sample closest to the encoder's latent."""

    enabled: bool = param(False, "replace posterior latents by the nearest of num_samples prior samples")
    num_samples: int = param(100, "prior samples to choose from", minimum=1)


class LatentSubgoalConfig(Section):
    """Condition the actor on the planner VAE's latent instead of a reconstructed observation."""

    enabled: bool = param(False, "use latent subgoals (needs the planner's VAE)")
    prior_correction: PriorCorrectionConfig = param(PriorCorrectionConfig(), "prior correction trick")


class HBCActorConfig(AlgoConfig):
    """The goal-conditioned BC actor (a BC `algo` section without the stochastic and transformer policies)."""

    optim_params: BCOptimParams = param(BCOptimParams(), "optimisers")
    loss: BCLossConfig = param(BCLossConfig(), "loss weights")
    actor_layer_dims: list[int] = param([1024, 1024], "MLP hidden sizes after the encoder / RNN / transformer")
    rnn: RNNConfig = param(RNNConfig(enabled=True, horizon=10), "recurrent actor (BC-RNN, the default)")
    transformer: TransformerConfig = param(
        TransformerConfig(), "robomimic's templates carry a BC transformer section here; the actor has no transformer "
        "policy (robomimic's HBC neither), so it must stay disabled")

    def check(self) -> None:
        if self.transformer.enabled:
            raise ConfigError(f"{self.transformer.key_path('enabled')}=true: the HBC / IRIS actor is an MLP or RNN "
                              f"policy, it has no transformer (robomimic's neither); set it to false")


class HierarchyConfig(AlgoConfig):
    """Settings shared by HBC and IRIS."""

    mode: Literal["separate", "cascade"] = param(
        "separate", "separate: the actor trains on dataset subgoals; cascade: on the planner's predictions"
    )
    actor_use_random_subgoals: bool = param(False, "train the actor on the observation a random 1..seq_length "
                                                   "steps ahead instead of the planner's target")
    subgoal_update_interval: int = param(10, "steps between new subgoals at rollout time", minimum=1)
    latent_subgoal: LatentSubgoalConfig = param(LatentSubgoalConfig(), "latent subgoals")
    actor: HBCActorConfig = param(HBCActorConfig(), "low-level actor")


class HBCAlgoConfig(HierarchyConfig):
    """`config.algo` of HBC."""

    planner: GLAlgoConfig = param(GLAlgoConfig(), "subgoal planner (a GL config)")


class HBCObservationConfig(Section):
    """Observation sections of the planner and the actor."""

    planner: GLObservationConfig = param(GLObservationConfig(), "planner observation, goal and subgoal keys")
    actor: ObservationConfig = param(
        ObservationConfig(), "actor observation keys (its goal keys are the planner's subgoal keys)"
    )


def keys_of(modality_keys) -> list[str]:
    """All keys of a `ModalityKeysConfig`."""
    return [k for m in MODALITIES for k in getattr(modality_keys, m)]


class HBCConfig(BaseConfig):
    """Hierarchical behaviour cloning (GTI, Mandlekar et al. 2020)."""

    ALGO_NAME = "hbc"
    train: TrainConfig = param(TrainConfig(seq_length=10), "dataset, data loading and training loop")
    algo: HBCAlgoConfig = param(HBCAlgoConfig(), "HBC settings")
    observation: HBCObservationConfig = param(HBCObservationConfig(), "planner and actor observations")

    # ----- the observation sections of the parts -----
    def observation_sections(self) -> list[ObservationConfig]:
        """Every observation section of the parts (planner first)."""
        return [self.observation.planner, self.observation.actor]

    @property
    def planner_observation(self) -> GLObservationConfig:
        return self.observation.planner

    @property
    def planner_algo(self) -> GLAlgoConfig:
        return self.algo.planner

    def obs_keys_by_modality(self, group: str = "obs") -> dict[str, list[str]]:
        """obs: every part's observation keys and the subgoal keys; goal: the planner's goal keys."""
        if group == "goal":
            goal = self.planner_observation.modalities.goal
            return {m: list(getattr(goal, m)) for m in MODALITIES}
        if group != "obs":
            return super().obs_keys_by_modality(group)
        groups = [s.modalities.obs for s in self.observation_sections()] + [self.planner_observation.modalities.subgoal]
        return {m: sorted({k for g in groups for k in getattr(g, m)}) for m in MODALITIES}

    # ----- checks -----
    def check(self) -> None:
        super().check()
        check_subgoal_window(self, self.planner_algo.subgoal_horizon, "the planner's subgoal_horizon")
        actor, train = self.algo.actor, self.train
        if actor.rnn.enabled and train.seq_length != actor.rnn.horizon:
            raise ConfigError(f"algo.actor.rnn.enabled needs train.seq_length == algo.actor.rnn.horizon, got "
                              f"{train.seq_length} and {actor.rnn.horizon}")
        if self.algo.latent_subgoal.enabled and not self.planner_algo.vae.enabled:
            raise ConfigError("algo.latent_subgoal.enabled needs the planner's VAE; enable its vae.enabled")
        actor_goal = self.observation.actor.modalities.goal
        if keys_of(actor_goal):
            raise ConfigError(f"{actor_goal.key_path()} must be empty: the actor's goals are the planner's subgoals "
                              f"(got {keys_of(actor_goal)})")
