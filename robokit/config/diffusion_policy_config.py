"""Config of Diffusion Policy (`diffusion_policy`, Chi et al. 2023), with robomimic v0.5's algorithm name and keys.

robomimic's own `robomimic/exps/templates/diffusion_policy.json` loads unchanged. Every key takes effect
(robomimic's code ignores `algo.unet.*`; robokit builds the UNet from them). Variants:
`algo.unet.enabled` (DP-C, the 1-D temporal UNet with FiLM conditioning) or `algo.transformer.enabled`
(DP-T, the paper's transformer denoiser, which robomimic lacks; its keys follow the diffusion_policy code).
Exactly one of `algo.ddpm.enabled` / `algo.ddim.enabled` picks the sampler.

The data window follows from `algo.horizon` (robomimic's template sets the same values by hand):
train.frame_stack = observation_horizon To, train.seq_length = prediction_horizon Tp. A sample's actions start
at the first observation step (t - To + 1), so the policy executes the chunk from index To - 1:
action_horizon Ta must satisfy Ta <= Tp - To + 1.

Actions are normalised to [-1, 1] by their min and max over the dataset (statistics in the checkpoint):
`train.action_config.actions.normalization` null (robomimic's template) means min_max here; "gaussian" is
allowed only without clip_sample, which clamps predictions to [-1, 1].
"""

from typing import ClassVar, Literal

from robokit.config.base_config import AlgoConfig, BaseConfig
from robokit.config.ema_config import EMAConfig
from robokit.config.optim import LearningRateConfig, OptimizerConfig, RegularizationConfig
from robokit.config.section import Section, param
from robokit.config.train import TrainConfig
from robokit.config.unsupported import UnsupportedKey
from robokit.errors import ConfigError

BETA_SCHEDULES = Literal["linear", "scaled_linear", "squaredcos_cap_v2"]
PREDICTION_TYPES = Literal["epsilon", "sample", "v_prediction"]


class DiffusionPolicyOptimParams(Section):
    """Optimisers of Diffusion Policy (one: the policy's, observation encoder included)."""

    policy: OptimizerConfig = param(
        OptimizerConfig(
            optimizer_type="adamw",
            learning_rate=LearningRateConfig(initial=1e-4, decay_factor=0.1, scheduler_type="cosine",
                                             step_every_batch=True, warmup_steps=500, num_cycles=0.5),
            regularization=RegularizationConfig(L2=1e-6),
        ),
        "policy optimiser (robomimic v0.5: AdamW 1e-4, cosine schedule per step with 500 warm-up steps, L2 1e-6)",
    )


class HorizonConfig(Section):
    """Observation, execution and prediction horizons (To, Ta, Tp)."""

    observation_horizon: int = param(2, "To: observation steps the policy is conditioned on (= train.frame_stack)",
                                     minimum=1)
    action_horizon: int = param(8, "Ta: actions executed from each predicted chunk before re-planning", minimum=1)
    prediction_horizon: int = param(16, "Tp: actions predicted per denoising, from step t - To + 1 "
                                        "(= train.seq_length)", minimum=1)


class UNetConfig(Section):
    """DP-C: the 1-D temporal UNet with FiLM conditioning."""

    enabled: bool = param(True, "use the UNet denoiser (DP-C)")
    diffusion_step_embed_dim: int = param(256, "size of the diffusion-timestep embedding", minimum=4)
    down_dims: list[int] = param([256, 512, 1024], "channels per UNet level; the sequence halves between levels")
    kernel_size: int = param(5, "temporal convolution kernel size (odd)", minimum=1)
    n_groups: int = param(8, "GroupNorm groups (divides every entry of down_dims)", minimum=1)


class DiffusionTransformerConfig(Section):
    """DP-T: the transformer denoiser of the Diffusion Policy paper (robokit addition; diffusion_policy's keys)."""

    enabled: bool = param(False, "use the transformer denoiser (DP-T) instead of the UNet")
    n_layer: int = param(8, "transformer decoder layers", minimum=1)
    n_head: int = param(4, "attention heads (divides n_emb)", minimum=1)
    n_emb: int = param(256, "token width", minimum=4)
    p_drop_emb: float = param(0.0, "dropout of the token embeddings", minimum=0.0, maximum=1.0)
    p_drop_attn: float = param(0.3, "dropout inside the transformer layers", minimum=0.0, maximum=1.0)
    causal_attn: bool = param(True, "action token i attends to action tokens <= i and observation steps <= i")
    n_cond_layers: int = param(0, "transformer encoder layers over the condition tokens (0: an MLP)", minimum=0)


class DDPMConfig(Section):
    """DDPM noise schedule and ancestral sampler."""

    enabled: bool = param(True, "sample with DDPM")
    num_train_timesteps: int = param(100, "diffusion steps of training", minimum=1)
    num_inference_timesteps: int = param(100, "denoising steps per chunk at inference (<= num_train_timesteps)",
                                         minimum=1)
    beta_schedule: BETA_SCHEDULES = param("squaredcos_cap_v2", "noise schedule")
    clip_sample: bool = param(True, "clamp the predicted clean actions to [-1, 1] while sampling")
    prediction_type: PREDICTION_TYPES = param("epsilon", "what the network predicts: the noise, the sample or v")


class DDIMConfig(Section):
    """DDIM noise schedule and deterministic sampler (fewer inference steps)."""

    enabled: bool = param(False, "sample with DDIM")
    num_train_timesteps: int = param(100, "diffusion steps of training", minimum=1)
    num_inference_timesteps: int = param(10, "denoising steps per chunk at inference (<= num_train_timesteps)",
                                         minimum=1)
    beta_schedule: BETA_SCHEDULES = param("squaredcos_cap_v2", "noise schedule")
    clip_sample: bool = param(True, "clamp the predicted clean actions to [-1, 1] while sampling")
    set_alpha_to_one: bool = param(True, "the last step ends on a clean sample (alpha_bar = 1)")
    steps_offset: int = param(0, "offset added to every inference timestep", minimum=0)
    prediction_type: PREDICTION_TYPES = param("epsilon", "what the network predicts: the noise, the sample or v")


class DiffusionPolicyAlgoConfig(AlgoConfig):
    """`config.algo` of Diffusion Policy."""

    optim_params: DiffusionPolicyOptimParams = param(DiffusionPolicyOptimParams(), "optimisers")
    horizon: HorizonConfig = param(HorizonConfig(), "observation / action / prediction horizons")
    unet: UNetConfig = param(UNetConfig(), "UNet denoiser (DP-C)")
    transformer: DiffusionTransformerConfig = param(DiffusionTransformerConfig(), "transformer denoiser (DP-T)")
    ema: EMAConfig = param(EMAConfig(enabled=True, power=0.75), "EMA of the weights (robomimic: on, power 0.75)")
    ddpm: DDPMConfig = param(DDPMConfig(), "DDPM sampler")
    ddim: DDIMConfig = param(DDIMConfig(), "DDIM sampler")

    @property
    def scheduler(self) -> DDPMConfig | DDIMConfig:
        """The enabled sampler's section (check() guarantees there is exactly one)."""
        return self.ddpm if self.ddpm.enabled else self.ddim

    def data_window(self) -> dict:
        """Samples need To observations and Tp actions from step t - To + 1."""
        return {"frame_stack": self.horizon.observation_horizon, "seq_length": self.horizon.prediction_horizon}

    def data_window_sources(self) -> dict:
        h = self.horizon
        return {"frame_stack": f"{h.key_path('observation_horizon')}={h.observation_horizon}",
                "seq_length": f"{h.key_path('prediction_horizon')}={h.prediction_horizon}"}

    def check(self) -> None:
        h = self.horizon
        to, ta, tp = h.observation_horizon, h.action_horizon, h.prediction_horizon
        if ta > tp - to + 1:
            raise ConfigError(
                f"{h.key_path('action_horizon')}={ta} is more than the {tp - to + 1} actions a chunk predicts from the "
                f"current step on ({h.key_path('prediction_horizon')}={tp} - {h.key_path('observation_horizon')}={to}"
                f" + 1); lower action_horizon to {max(tp - to + 1, 1)} or raise prediction_horizon to {ta + to - 1}"
            )
        if self.unet.enabled == self.transformer.enabled:
            raise ConfigError(
                f"{self.unet.key_path('enabled')} and {self.transformer.key_path('enabled')} are both "
                f"{str(self.unet.enabled).lower()}; enable exactly one denoiser"
            )
        if self.ddpm.enabled == self.ddim.enabled:
            raise ConfigError(
                f"{self.ddpm.key_path('enabled')} and {self.ddim.key_path('enabled')} are both "
                f"{str(self.ddpm.enabled).lower()}; enable exactly one sampler"
            )
        s = self.scheduler
        if s.num_inference_timesteps > s.num_train_timesteps:
            raise ConfigError(f"{s.key_path('num_inference_timesteps')}={s.num_inference_timesteps} exceeds "
                              f"{s.key_path('num_train_timesteps')}={s.num_train_timesteps}")
        if self.ddim.enabled:
            last = (s.num_inference_timesteps - 1) * (s.num_train_timesteps // s.num_inference_timesteps)
            if last + s.steps_offset >= s.num_train_timesteps:
                raise ConfigError(f"{s.key_path('steps_offset')}={s.steps_offset} puts the first inference timestep "
                                  f"at {last + s.steps_offset}, past {s.key_path('num_train_timesteps')}="
                                  f"{s.num_train_timesteps}")
        if self.unet.enabled:
            u = self.unet
            levels = len(u.down_dims)
            if levels < 1 or any(d < 1 for d in u.down_dims):
                raise ConfigError(f"{u.key_path('down_dims')}={u.down_dims}: give at least one positive width")
            if tp % 2 ** (levels - 1):
                raise ConfigError(
                    f"{h.key_path('prediction_horizon')}={tp} must be divisible by 2^(len({u.key_path('down_dims')})-1)"
                    f" = {2 ** (levels - 1)}: the UNet halves the sequence {levels - 1} time(s)"
                )
            bad = [d for d in u.down_dims if d % u.n_groups]
            if bad:
                raise ConfigError(f"{u.key_path('n_groups')}={u.n_groups} does not divide {u.key_path('down_dims')} "
                                  f"entries {bad}")
            if u.kernel_size % 2 == 0:
                raise ConfigError(f"{u.key_path('kernel_size')}={u.kernel_size} must be odd (same-length convolutions)")
            if u.diffusion_step_embed_dim % 2:
                raise ConfigError(f"{u.key_path('diffusion_step_embed_dim')} must be even (sin and cos halves)")
        else:
            t = self.transformer
            if t.n_emb % t.n_head or t.n_emb % 2:
                raise ConfigError(f"{t.key_path('n_emb')}={t.n_emb} must be even and divisible by "
                                  f"{t.key_path('n_head')}={t.n_head}")


class DiffusionPolicyConfig(BaseConfig):
    """Diffusion Policy."""

    ALGO_NAME = "diffusion_policy"
    TEMPLATE_VARIANTS: ClassVar[dict[str, list[str]]] = {
        # DP-C sized for a CPU: a 2-level UNet, DDIM with 10 steps at inference, 6,000 gradient steps, low-dim
        # observations normalised (README: 0.96 on robokit/ObstacleReach-v0)
        "diffusion_policy_cpu": [
            "experiment.name=diffusion_policy_cpu",
            "algo.unet.diffusion_step_embed_dim=64",
            "algo.unet.down_dims=[64, 128]",
            "algo.ddpm.enabled=false",
            "algo.ddim.enabled=true",
            "algo.optim_params.policy.learning_rate.warmup_steps=200",
            "train.batch_size=64",
            "train.hdf5_normalize_obs=true",
            "train.num_epochs=60",
            "experiment.epoch_every_n_steps=100",
            "experiment.rollout.rate=20",
        ],
        # DP-C from one Fetch camera (64x64, generate_dataset.py --camera-size 64) + proprioception + goal, with the
        # small ResNet of bc_image.json (BatchNorm becomes GroupNorm) and random crops
        "diffusion_policy_image": [
            "experiment.name=diffusion_policy_image",
            'observation.modalities.obs.rgb=["external_camera_0_image"]',
            'observation.modalities.obs.low_dim=["robot0_eef_pos", "robot0_gripper_qpos", "desired_goal"]',
            "observation.encoder.rgb.core_kwargs.backbone_class=ResNetConv",
            'observation.encoder.rgb.core_kwargs.backbone_kwargs={"channels": [32, 64], "blocks": 1}',
            "observation.encoder.rgb.obs_randomizer_class=CropRandomizer",
            'observation.encoder.rgb.obs_randomizer_kwargs={"crop_height": 58, "crop_width": 58}',
            "algo.unet.diffusion_step_embed_dim=64",
            "algo.unet.down_dims=[64, 128]",
            "algo.ddpm.enabled=false",
            "algo.ddim.enabled=true",
            "algo.optim_params.policy.learning_rate.warmup_steps=200",
            "train.batch_size=32",
            "train.hdf5_normalize_obs=true",
            "train.num_epochs=60",
            "experiment.epoch_every_n_steps=100",
            "experiment.rollout.rate=20",
        ],
        # DP-T with the paper's sizes (8 layers, width 256, To=2, Tp=10, Ta=8, warm-up 1000, weight decay 1e-3)
        "diffusion_policy_transformer": [
            "experiment.name=diffusion_policy_transformer",
            "algo.unet.enabled=false",
            "algo.transformer.enabled=true",
            "algo.horizon.prediction_horizon=10",
            "algo.optim_params.policy.learning_rate.warmup_steps=1000",
            "algo.optim_params.policy.regularization.L2=0.001",
        ],
        # DP-T sized for a CPU; a higher learning rate and no attention dropout: on ObstacleReach, 6,000 steps
        # reached 0.84 (DDIM-10) against 0.48 with lr 1e-4 and p_drop_attn 0.1 (README)
        "diffusion_policy_transformer_cpu": [
            "experiment.name=diffusion_policy_transformer_cpu",
            "algo.unet.enabled=false",
            "algo.transformer.enabled=true",
            "algo.transformer.n_layer=4",
            "algo.transformer.n_emb=128",
            "algo.transformer.p_drop_attn=0.0",
            "algo.optim_params.policy.learning_rate.initial=0.0005",
            "algo.horizon.prediction_horizon=10",
            "algo.ddpm.enabled=false",
            "algo.ddim.enabled=true",
            "algo.optim_params.policy.learning_rate.warmup_steps=200",
            "algo.optim_params.policy.regularization.L2=0.001",
            "train.batch_size=64",
            "train.hdf5_normalize_obs=true",
            "train.num_epochs=60",
            "experiment.epoch_every_n_steps=100",
            "experiment.rollout.rate=20",
        ],
    }

    UNSUPPORTED_KEYS = BaseConfig.UNSUPPORTED_KEYS + (
        # robomimic v0.5 weights several datasets by their sizes; false (its template's value) is a no-op here
        UnsupportedKey("train.normalize_weights_by_ds_size", "robokit trains on one dataset", noop=False),
    )

    train: TrainConfig = param(
        TrainConfig(hdf5_load_next_obs=False, action_config={"actions": {"normalization": "min_max"}}),
        "dataset, data loading and training loop (windows follow algo.horizon; actions min-max to [-1, 1])",
    )
    algo: DiffusionPolicyAlgoConfig = param(DiffusionPolicyAlgoConfig(), "Diffusion Policy settings")

    def check(self) -> None:
        super().check()
        actions = dict((self.train.action_config or {}).get("actions") or {})
        normalization = actions.get("normalization")
        if normalization is None:  # robomimic's template says null: its DP needs actions in [-1, 1] already
            actions["normalization"] = "min_max"
            self.train.action_config = {**self.train.action_config, "actions": actions}
        elif normalization == "gaussian" and self.algo.scheduler.clip_sample:
            s = self.algo.scheduler
            raise ConfigError(
                f"{s.key_path('clip_sample')}=true clamps predicted actions to [-1, 1], but "
                f'train.action_config.actions.normalization="gaussian" is unbounded; use "min_max" or set '
                f"{s.key_path('clip_sample')}=false"
            )
