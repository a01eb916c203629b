"""Config of Action Chunking with Transformers (`act`, Zhao et al. 2023, "Learning Fine-Grained Bimanual
Manipulation with Low-Cost Hardware").

robomimic v0.5 has no ACT, so the algorithm's keys follow the names of the original ACT code and LeRobot's
`ACTConfig` (`chunk_size`, `n_action_steps`, `kl_weight`, `dim_model`, `n_heads`, `dim_feedforward`,
`n_encoder_layers`, `n_decoder_layers`, `n_vae_encoder_layers`, `latent_dim`, `use_vae`,
`temporal_ensemble_coeff`, `dropout`, `pre_norm`), inside robomimic's `algo` section layout
(`algo.optim_params.policy`). Defaults are the paper's (GPU-sized); `configs/act_cpu.json` and
`configs/act_image.json` are small variants that train on a CPU.

Cameras are encoded by `observation.encoder.rgb` / `.depth` (a `VisualCore`): by default its backbone's feature
map is used as is (`pool_class` null, `flatten` false), one token per feature-map position and camera, as in the
paper. A pooled core gives one token per keypoint (SpatialSoftmax) and a flattened one a single token per camera.
"""

from typing import ClassVar, Literal

from robokit.config.base_config import AlgoConfig, BaseConfig
from robokit.config.observation import EncoderConfig, EncodersConfig, ObservationConfig
from robokit.config.optim import (
    LearningRateConfig,
    OptimizerConfig,
    RegularizationConfig,
)
from robokit.config.section import Section, param
from robokit.config.train import TrainConfig
from robokit.errors import ConfigError

#: the paper's defaults (its Table 6 and the original code's command line)
PAPER_CHUNK_SIZE = 100


class ACTOptimParams(Section):
    """Optimisers of ACT (one: the policy's, backbone included)."""

    policy: OptimizerConfig = param(
        OptimizerConfig(optimizer_type="adamw", learning_rate=LearningRateConfig(initial=1e-5, scheduler_type="constant"),
                        regularization=RegularizationConfig(L2=1e-4)),
        "policy optimiser (the paper: AdamW, lr 1e-5, weight decay 1e-4, constant rate)",
    )


class ACTAlgoConfig(AlgoConfig):
    """`config.algo` of ACT: the chunk, the CVAE and the transformer."""

    optim_params: ACTOptimParams = param(ACTOptimParams(), "optimisers")
    chunk_size: int = param(
        PAPER_CHUNK_SIZE, "actions predicted per forward pass (k in the paper); the dataset window "
        "train.seq_length follows from it", minimum=1)
    n_action_steps: int | None = param(
        None, "actions of each chunk executed before the policy re-plans (queue mode), at most chunk_size; null: "
        "the whole chunk (chunk_size), or 1 with temporal_ensemble_coeff (the only value it allows)", minimum=1)
    temporal_ensemble_coeff: float | None = param(
        None, "temporal ensembling: re-plan every step and execute the weighted mean of every covering chunk's "
        "action for the step, weight exp(-m * i) for the i-th chunk counted from the oldest (the paper: m = 0.01; "
        "m > 0 favours older chunks, m < 0 newer ones); null: queue mode")
    kl_weight: float = param(10.0, "beta: weight of the KL term against the L1 action loss", minimum=0.0)
    use_vae: bool = param(
        True, "train the CVAE style encoder (latent z from the action chunk); false: z = 0 always, L1 loss only")
    latent_dim: int = param(32, "size of the style variable z", minimum=1)
    dim_model: int = param(512, "token width of every transformer (a multiple of n_heads)", minimum=1)
    n_heads: int = param(8, "attention heads", minimum=1)
    dim_feedforward: int = param(3200, "hidden width of the transformers' feed-forward blocks", minimum=1)
    feedforward_activation: Literal["relu", "gelu"] = param("relu", "activation of the feed-forward blocks")
    n_encoder_layers: int = param(4, "layers of the transformer encoder over the observation tokens", minimum=1)
    n_decoder_layers: int = param(
        7, "layers of the transformer decoder; all are used (the original code ran only the first of its 7)",
        minimum=1)
    n_vae_encoder_layers: int = param(4, "layers of the CVAE style encoder (used in training only)", minimum=1)
    pre_norm: bool = param(False, "LayerNorm before attention / feed-forward (false: after, as the paper)")
    dropout: float = param(0.1, "dropout in every transformer layer", minimum=0.0, maximum=1.0)

    def check(self) -> None:
        if self.n_action_steps is not None and self.n_action_steps > self.chunk_size:
            raise ConfigError(
                f"{self.key_path('n_action_steps')}={self.n_action_steps} is more than "
                f"{self.key_path('chunk_size')}={self.chunk_size}: a chunk cannot cover more steps than it holds; "
                f"lower n_action_steps or raise chunk_size"
            )
        if self.temporal_ensemble_coeff is not None and self.n_action_steps not in (None, 1):
            raise ConfigError(
                f"{self.key_path('temporal_ensemble_coeff')}={self.temporal_ensemble_coeff} re-plans every step, "
                f"but {self.key_path('n_action_steps')}={self.n_action_steps}; set n_action_steps=1 "
                f"or null (or temporal_ensemble_coeff=null for queue mode)"
            )
        if self.dim_model % self.n_heads:
            raise ConfigError(
                f"{self.key_path('dim_model')}={self.dim_model} must be divisible by "
                f"{self.key_path('n_heads')}={self.n_heads}; change one of them"
            )

    @property
    def action_horizon(self) -> int:
        """Actions executed from each chunk: n_action_steps, or by default chunk_size (1 when ensembling)."""
        if self.n_action_steps is not None:
            return self.n_action_steps
        return 1 if self.temporal_ensemble_coeff is not None else self.chunk_size

    def data_window(self) -> dict:
        """The dataset window ACT trains on: the current observation and the next chunk_size actions."""
        return {"frame_stack": 1, "seq_length": self.chunk_size}

    def data_window_sources(self) -> dict:
        """What each entry of `data_window` follows from, for the message when train.* contradicts it."""
        return {"frame_stack": "act (one observation per chunk)",
                "seq_length": f"{self.key_path('chunk_size')}={self.chunk_size}"}


# the paper's image encoder: a ResNet-18 trunk whose last feature map (C=512, H/32 x W/32) is the token set
_FEATURE_MAP_CORE_KWARGS = {
    "backbone_class": "ResNet18Conv",
    "backbone_kwargs": {"pretrained": False, "input_coord_conv": False},
    "pool_class": None,
    "pool_kwargs": {},
    "flatten": False,
    "feature_dimension": None,
}


class ACTEncodersConfig(EncodersConfig):
    """Encoders by modality; cameras default to feature-map tokens (no pooling, no flattening)."""

    rgb: EncoderConfig = param(EncoderConfig(core_class="VisualCore", core_kwargs=_FEATURE_MAP_CORE_KWARGS),
                               "encoder of rgb observations (its output before flattening gives the tokens)")
    depth: EncoderConfig = param(EncoderConfig(core_class="VisualCore", core_kwargs=_FEATURE_MAP_CORE_KWARGS),
                                 "encoder of depth observations (its output before flattening gives the tokens)")


class ACTObservationConfig(ObservationConfig):
    """Observation keys and encoders (cameras give feature-map tokens by default)."""

    encoder: ACTEncodersConfig = param(ACTEncodersConfig(), "encoders by modality")


# observation keys of a Fetch image dataset (generate_dataset.py --camera-size N --obs-slice ...)
_FETCH_IMAGE_OBS = [
    'observation.modalities.obs.rgb=["external_camera_0_image"]',
    'observation.modalities.obs.low_dim=["robot0_eef_pos", "robot0_gripper_qpos", "desired_goal"]',
]
# a transformer that trains on a CPU: 2 encoder + 2 decoder layers of width 128, chunks of 20 steps executed with
# the paper's temporal ensembling (FetchPush, 50 episodes: 0.96 against 0.88 executing 10 actions per chunk)
_CPU_SIZED = [
    "algo.chunk_size=20",
    "algo.temporal_ensemble_coeff=0.01",
    "train.seq_length=20",
    "algo.dim_model=128",
    "algo.n_heads=4",
    "algo.dim_feedforward=512",
    "algo.n_encoder_layers=2",
    "algo.n_decoder_layers=2",
    "algo.n_vae_encoder_layers=2",
    "algo.latent_dim=16",
    "algo.optim_params.policy.learning_rate.initial=0.0003",
    "train.batch_size=64",
]


class ACTConfig(BaseConfig):
    """Action Chunking with Transformers."""

    ALGO_NAME = "act"
    TEMPLATE_VARIANTS: ClassVar[dict[str, list[str]]] = {
        "act_cpu": ["experiment.name=act_cpu", *_CPU_SIZED],
        # one 64x64 Fetch camera (generate_dataset.py --camera-size 64) + proprioception + goal; a small ResNet whose
        # 4x4 feature map gives 16 tokens
        "act_image": [
            "experiment.name=act_image",
            *_FETCH_IMAGE_OBS,
            *_CPU_SIZED,
            "observation.encoder.rgb.core_kwargs.backbone_class=ResNetConv",
            'observation.encoder.rgb.core_kwargs.backbone_kwargs={"channels": [32, 64], "blocks": 1}',
            "observation.encoder.rgb.obs_randomizer_class=CropRandomizer",
            'observation.encoder.rgb.obs_randomizer_kwargs={"crop_height": 58, "crop_width": 58}',
            "train.batch_size=32",
        ],
    }

    train: TrainConfig = param(
        TrainConfig(hdf5_load_next_obs=False, seq_length=PAPER_CHUNK_SIZE, hdf5_normalize_obs=True, batch_size=8,
                    action_config={"actions": {"normalization": "gaussian"}}),
        "dataset, data loading and training loop (ACT: normalised observations and actions, windows of "
        "algo.chunk_size actions, the paper's batch of 8)",
    )
    algo: ACTAlgoConfig = param(ACTAlgoConfig(), "ACT settings")
    observation: ACTObservationConfig = param(ACTObservationConfig(), "observation keys and encoders")

    def check(self) -> None:
        super().check()
        for group in ("obs", "goal"):
            keys = self.obs_keys_by_modality(group)
            if keys["scan"]:
                raise ConfigError(
                    f"observation.modalities.{group}.scan={keys['scan']}: act encodes low_dim, rgb and depth "
                    f"observations only; move the keys to low_dim or remove them"
                )
            if group == "goal" and (keys["rgb"] or keys["depth"]):
                raise ConfigError(
                    "observation.modalities.goal lists image keys: act conditions on low_dim goals only; "
                    "list goal images under observation.modalities.obs or remove them"
                )
        for modality in ("rgb", "depth"):
            if not self.obs_keys_by_modality("obs")[modality]:
                continue
            encoder = getattr(self.observation.encoder, modality)
            if encoder.core_class != "VisualCore":
                raise ConfigError(
                    f"{encoder.key_path('core_class')}={encoder.core_class!r}: act makes image tokens from a "
                    f"VisualCore's output; set it to \"VisualCore\""
                )
