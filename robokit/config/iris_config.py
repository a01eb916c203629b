"""Config of IRIS (`iris`): a value planner (GL_VAE proposals ranked by a BCQ value) drives a BC actor.

Observation sections: `observation.value_planner.planner` (GL), `observation.value_planner.value` (BCQ; its
keys must be subgoal keys, since it scores proposed subgoals) and `observation.actor`.
"""

from robokit.config.bcq_config import BCQAlgoConfig
from robokit.config.gl_config import GLAlgoConfig, GLObservationConfig
from robokit.config.hbc_config import HBCConfig, HierarchyConfig, keys_of
from robokit.config.observation import ModalitiesConfig, ModalityKeysConfig, ObservationConfig
from robokit.config.section import Section, param
from robokit.errors import ConfigError


class ValuePlannerConfig(Section):
    """The planner samples candidate subgoals; the value network picks the best one."""

    planner: GLAlgoConfig = param(GLAlgoConfig(), "subgoal proposal model (a GL config; its VAE is needed)")
    value: BCQAlgoConfig = param(BCQAlgoConfig(), "value of a subgoal state (a BCQ config)")
    num_samples: int = param(100, "subgoal proposals per planning step", minimum=1)


class IRISAlgoConfig(HierarchyConfig):
    """`config.algo` of IRIS."""

    value_planner: ValuePlannerConfig = param(ValuePlannerConfig(), "value planner")


class ValuePlannerObservationConfig(Section):
    """Observation sections of the value planner's parts."""

    planner: GLObservationConfig = param(GLObservationConfig(), "planner observation, goal and subgoal keys")
    value: ObservationConfig = param(
        ObservationConfig(modalities=ModalitiesConfig(obs=ModalityKeysConfig(low_dim=["observation"]))),
        "value network observation keys (a subset of the subgoal keys)",
    )


class IRISObservationConfig(Section):
    """Observation sections of the value planner and the actor."""

    value_planner: ValuePlannerObservationConfig = param(ValuePlannerObservationConfig(), "value planner")
    actor: ObservationConfig = param(ObservationConfig(), "actor observation keys (goals: the subgoal keys)")


class IRISConfig(HBCConfig):
    """IRIS (Mandlekar et al. 2020): implicit reinforcement without interaction at scale."""

    ALGO_NAME = "iris"
    algo: IRISAlgoConfig = param(IRISAlgoConfig(), "IRIS settings")
    observation: IRISObservationConfig = param(IRISObservationConfig(), "value planner and actor observations")

    def observation_sections(self) -> list[ObservationConfig]:
        vp = self.observation.value_planner
        return [vp.planner, vp.value, self.observation.actor]

    @property
    def planner_observation(self) -> GLObservationConfig:
        return self.observation.value_planner.planner

    @property
    def planner_algo(self) -> GLAlgoConfig:
        return self.algo.value_planner.planner

    def check(self) -> None:
        super().check()
        if self.algo.latent_subgoal.enabled:
            raise ConfigError("IRIS does not support latent subgoals; set algo.latent_subgoal.enabled=false")
        if not self.planner_algo.vae.enabled:
            raise ConfigError("IRIS samples subgoal proposals from the planner's VAE; "
                              "set algo.value_planner.planner.vae.enabled=true")
        value_keys = keys_of(self.observation.value_planner.value.modalities.obs)
        subgoal_keys = set(self.planner_observation.subgoal_keys())
        outside = [k for k in value_keys if k not in subgoal_keys]
        if outside:
            raise ConfigError(f"the value network scores subgoals, so its keys must be subgoal keys: {outside} are "
                              f"not in observation.value_planner.planner.modalities.subgoal")
        missing = [k for k in ("rewards", "dones") if k not in self.train.dataset_keys]
        if missing:
            raise ConfigError(f"the value network needs train.dataset_keys to include {missing}")
        n_step = self.algo.value_planner.value.n_step
        if self.train.seq_length < n_step:
            raise ConfigError(f"algo.value_planner.value.n_step={n_step} needs train.seq_length >= {n_step}")
