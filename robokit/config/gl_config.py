"""Config of goal learning (`gl`): predict the observation `subgoal_horizon` steps ahead (HBC's / IRIS's planner).

Subgoal keys are listed in `observation.modalities.subgoal`; the target is read from the dataset window
(`next_obs` at step subgoal_horizon - 1), so train.seq_length is at least subgoal_horizon (a shorter value, as in
robomimic's template, is raised to it).
"""

from robokit.config.base_config import AlgoConfig, BaseConfig
from robokit.config.networks import VAEConfig
from robokit.config.observation import MODALITIES, ModalitiesConfig, ModalityKeysConfig, ObservationConfig
from robokit.config.optim import OptimizerConfig
from robokit.config.section import Section, param
from robokit.config.train import TrainConfig
from robokit.errors import ConfigError


class GLOptimParams(Section):
    """Optimisers of GL."""

    goal_network: OptimizerConfig = param(OptimizerConfig(), "subgoal network optimiser")


class AEConfig(Section):
    """The deterministic subgoal network (used when the VAE is disabled)."""

    planner_layer_dims: list[int] = param([300, 400], "MLP hidden sizes of the deterministic subgoal network")


class GLAlgoConfig(AlgoConfig):
    """`config.algo` of GL (also `algo.planner` of HBC and `algo.value_planner.planner` of IRIS)."""

    optim_params: GLOptimParams = param(GLOptimParams(), "optimisers")
    subgoal_horizon: int = param(10, "subgoal = the observation this many steps ahead", minimum=1)
    ae: AEConfig = param(AEConfig(), "deterministic subgoal network (GL)")
    vae: VAEConfig = param(VAEConfig(enabled=True, latent_dim=16), "conditional VAE over subgoals (GL_VAE)")


class GLModalitiesConfig(ModalitiesConfig):
    """Observation keys of the planner, with the keys of the subgoals it predicts."""

    subgoal: ModalityKeysConfig = param(
        ModalityKeysConfig(low_dim=["observation"]), "observation keys that make up a subgoal (low_dim only)"
    )


class GLObservationConfig(ObservationConfig):
    """`config.observation` of GL: obs, goal and subgoal keys."""

    modalities: GLModalitiesConfig = param(GLModalitiesConfig(), "observation keys by group and modality")

    def check(self) -> None:
        super().check()
        subgoal = self.modalities.subgoal
        if not any(getattr(subgoal, m) for m in MODALITIES):
            raise ConfigError(f"{subgoal.key_path()} lists no keys; name the observations to predict, "
                              f'e.g. {subgoal.key_path("low_dim")}=["observation"]')
        images = [k for m in MODALITIES if m != "low_dim" for k in getattr(subgoal, m)]
        if images:
            raise ConfigError(f"subgoals must be low_dim observations for now; move {images} out of "
                              f"{subgoal.key_path()}")

    def subgoal_keys(self) -> list[str]:
        return sorted(k for m in MODALITIES for k in getattr(self.modalities.subgoal, m))


def check_subgoal_window(config, subgoal_horizon: int, where: str) -> None:
    """The window must reach the subgoal: next_obs loaded, one frame, and seq_length >= subgoal_horizon.

    A shorter train.seq_length is derived, not refused: it is raised to subgoal_horizon (robomimic's gl.json
    template keeps seq_length 1 beside subgoal_horizon 10; its GL reads next_obs[:, subgoal_horizon - 1], which
    such a window does not hold). A longer one is kept (HBC's actor may unroll further)."""
    train = config.train
    if not train.hdf5_load_next_obs:
        raise ConfigError("subgoals are read from next_obs; set train.hdf5_load_next_obs=true")
    if train.frame_stack != 1:
        raise ConfigError(f"{config.algo_name} uses one observation per step; set train.frame_stack=1")
    if train.seq_length < subgoal_horizon:
        train.fill_default("seq_length", subgoal_horizon)  # derived from the subgoal horizon


class GLConfig(BaseConfig):
    """Goal learning: a subgoal predictor (deterministic MLP, or a conditional VAE when algo.vae.enabled)."""

    ALGO_NAME = "gl"
    train: TrainConfig = param(TrainConfig(seq_length=10), "dataset, data loading and training loop")
    algo: GLAlgoConfig = param(GLAlgoConfig(), "GL settings")
    observation: GLObservationConfig = param(GLObservationConfig(), "observation, goal and subgoal keys")

    def check(self) -> None:
        super().check()
        check_subgoal_window(self, self.algo.subgoal_horizon, "algo.subgoal_horizon")

    @property
    def all_obs_keys(self) -> list[str]:
        return sorted(set(super().all_obs_keys) | set(self.observation.subgoal_keys()))
