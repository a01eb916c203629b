"""Config of behavioural cloning (`bc`) and its variants: Gaussian, GMM, VAE, RNN and transformer policies.

Which variant runs is decided by the algorithm factory from the `enabled` flags (see robokit.algo.bc).
"""

import json
from typing import ClassVar

from robokit.config.base_config import AlgoConfig, BaseConfig
from robokit.config.networks import GaussianConfig, GMMConfig, RNNConfig, TransformerConfig, VAEConfig
from robokit.config.optim import OptimizerConfig
from robokit.config.section import Section, param
from robokit.config.train import TrainConfig
from robokit.config.unsupported import UnsupportedKey
from robokit.errors import ConfigError


class BCOptimParams(Section):
    """Optimisers of BC (one: the policy's)."""

    policy: OptimizerConfig = param(OptimizerConfig(), "policy optimiser")


class BCLossConfig(Section):
    """Weights of the action regression losses (deterministic policies)."""

    l2_weight: float = param(1.0, "weight of the L2 (MSE) action loss", minimum=0.0)
    l1_weight: float = param(0.0, "weight of the L1 action loss", minimum=0.0)
    cos_weight: float = param(0.0, "weight of the cosine action loss", minimum=0.0)

    def check(self) -> None:
        if not (self.l2_weight or self.l1_weight or self.cos_weight):
            raise ConfigError(f"{self.key_path('l2_weight')}, l1_weight and cos_weight are all 0: nothing to train; "
                              f"set {self.key_path('l2_weight')}=1.0")


class BCAlgoConfig(AlgoConfig):
    """`config.algo` of BC."""

    optim_params: BCOptimParams = param(BCOptimParams(), "optimisers")
    loss: BCLossConfig = param(BCLossConfig(), "loss weights")
    actor_layer_dims: list[int] = param([1024, 1024], "MLP hidden sizes after the encoder / RNN / transformer")
    gaussian: GaussianConfig = param(GaussianConfig(), "Gaussian policy head")
    gmm: GMMConfig = param(GMMConfig(), "Gaussian-mixture policy head")
    vae: VAEConfig = param(VAEConfig(), "VAE policy")
    rnn: RNNConfig = param(RNNConfig(), "recurrent policy (BC-RNN)")
    transformer: TransformerConfig = param(TransformerConfig(), "transformer policy (BC-Transformer)")


# observation keys of a Fetch image dataset (generate_dataset.py --camera-size N --obs-slice ...)
_FETCH_IMAGE_OBS = [
    'observation.modalities.obs.rgb=["external_camera_0_image"]',
    'observation.modalities.obs.low_dim=["robot0_eef_pos", "robot0_gripper_qpos", "desired_goal"]',
]



def _planar_arm_specs() -> list[str]:
    """Robot data specs of robokit/PlanarArm3-v0 and PlanarArm4-v0 (robokit/envs/embodiments.py's names): the
    joints padded to the 4-link arm's slots, the fingertip, the target and the way to it; velocity commands out."""
    joints = {n: [f"joint_{i + 1}" for i in range(n)] for n in (3, 4)}
    inputs = {f"planar_arm_{n}": {"joint_positions": j, "joint_velocities": j,
                                  "end_effector_poses": ["fingertip_x", "fingertip_y"],
                                  "custom": ["to_target_x", "to_target_y", "target_x", "target_y"]}
              for n, j in joints.items()}
    outputs = {f"planar_arm_{n}": {"joint_velocities": j} for n, j in joints.items()}
    return [f"train.input_robot_data_spec={json.dumps(inputs)}", f"train.output_robot_data_spec={json.dumps(outputs)}",
            'observation.modalities.obs.low_dim=["joint_positions", "joint_velocities", "end_effector_poses", '
            '"custom", "joint_positions_mask"]']


class BCConfig(BaseConfig):
    """Behavioural cloning."""

    ALGO_NAME = "bc"
    TEMPLATE_VARIANTS: ClassVar[dict[str, list[str]]] = {
        "bc_rnn": [
            "experiment.name=bc_rnn",
            "algo.rnn.enabled=true",
            "algo.rnn.horizon=10",
            "train.seq_length=10",
        ],
        "bc_transformer": [
            "experiment.name=bc_transformer",
            "algo.transformer.enabled=true",
            "algo.transformer.context_length=10",
            "train.frame_stack=10",
            "algo.gmm.enabled=true",
            "algo.actor_layer_dims=[]",
            "algo.optim_params.policy.optimizer_type=adamw",
            "algo.optim_params.policy.regularization.L2=0.01",
            "algo.optim_params.policy.learning_rate.scheduler_type=linear",
            "algo.optim_params.policy.learning_rate.epoch_schedule=[100]",
        ],
        # one BC-MLP for planar arms with 3 and 4 links (datasets/README.md, planar_arm): robot data specs pad the
        # joints to 4 slots, the joint mask is an input, losses leave padded action dims out
        "bc_planar_arms": [
            "experiment.name=bc_planar_arms",
            *_planar_arm_specs(),
            "train.hdf5_normalize_obs=true",
            "algo.actor_layer_dims=[256, 256]",
            "algo.optim_params.policy.learning_rate.initial=0.001",
            "experiment.epoch_every_n_steps=250",
            "train.num_epochs=40",
            "experiment.validate=false",
            "experiment.rollout.enabled=false",
        ],
        # BC told by a language instruction which of three coloured targets to reach (robokit/PlanarArmLang-v0,
        # datasets/README.md planar_arm_lang); observation.language.enabled=false is the baseline without it
        "bc_planar_arm_lang": [
            "experiment.name=bc_planar_arm_lang",
            'observation.modalities.obs.low_dim=["joint_pos", "joint_vel", "fingertip", "to_targets"]',
            "observation.language.enabled=true",
            "train.hdf5_normalize_obs=true",
            "algo.actor_layer_dims=[256, 256]",
            "algo.optim_params.policy.learning_rate.initial=0.001",
            "algo.optim_params.policy.learning_rate.epoch_schedule=[70, 90]",
            "experiment.epoch_every_n_steps=250",
            "train.num_epochs=100",
            "experiment.validate=false",
            "experiment.rollout.enabled=false",
        ],
        # BC from one Fetch camera (64x64, generate_dataset.py --camera-size 64) + proprioception + goal, with a
        # small ResNet that trains on a CPU (see datasets/README.md, fetch_push_image)
        "bc_image": [
            "experiment.name=bc_image",
            *_FETCH_IMAGE_OBS,
            "observation.encoder.rgb.core_kwargs.backbone_class=ResNetConv",
            'observation.encoder.rgb.core_kwargs.backbone_kwargs={"channels": [32, 64], "blocks": 1}',
            "observation.encoder.rgb.obs_randomizer_class=CropRandomizer",
            'observation.encoder.rgb.obs_randomizer_kwargs={"crop_height": 58, "crop_width": 58}',
            "train.batch_size=32",
            "train.hdf5_normalize_obs=true",
            "algo.actor_layer_dims=[512, 512]",
            "algo.optim_params.policy.learning_rate.initial=0.001",
        ],
        # robomimic's image BC-RNN (ResNet-18 + spatial softmax, 76x76 crops of 84x84 images, GMM head)
        "bc_rnn_image": [
            "experiment.name=bc_rnn_image",
            *_FETCH_IMAGE_OBS,
            "observation.encoder.rgb.obs_randomizer_class=CropRandomizer",
            'observation.encoder.rgb.obs_randomizer_kwargs={"crop_height": 76, "crop_width": 76}',
            "algo.rnn.enabled=true",
            "algo.rnn.horizon=10",
            "algo.rnn.hidden_dim=1000",
            "train.seq_length=10",
            "train.batch_size=16",
            "algo.gmm.enabled=true",
            "algo.actor_layer_dims=[]",
        ],
    }
    UNSUPPORTED_KEYS = BaseConfig.UNSUPPORTED_KEYS + (
        UnsupportedKey("algo.language_conditioned", "robokit's language conditioning is observation.language.enabled="
                       "true, for every algorithm (README: Language instructions)", noop=False),
    )

    train: TrainConfig = param(
        TrainConfig(hdf5_load_next_obs=False), "dataset, data loading and training loop (BC needs no next_obs)"
    )
    algo: BCAlgoConfig = param(BCAlgoConfig(), "BC settings")

    def check(self) -> None:
        super().check()
        rnn, transformer, train = self.algo.rnn, self.algo.transformer, self.train
        if rnn.enabled and train.seq_length != rnn.horizon:
            raise ConfigError(
                f"algo.rnn.enabled needs train.seq_length == algo.rnn.horizon, got {train.seq_length} and "
                f"{rnn.horizon}; set both, e.g. train.seq_length={rnn.horizon} algo.rnn.horizon={rnn.horizon}"
            )
        if transformer.enabled and train.frame_stack != transformer.context_length:
            n = transformer.context_length
            raise ConfigError(
                f"algo.transformer.enabled needs train.frame_stack == algo.transformer.context_length, got "
                f"{train.frame_stack} and {n}; set both, e.g. train.frame_stack={n} "
                f"algo.transformer.context_length={n}"
            )
        if transformer.enabled and transformer.pred_future_acs and train.seq_length < transformer.context_length:
            n = transformer.context_length
            raise ConfigError(
                f"algo.transformer.pred_future_acs needs train.seq_length >= algo.transformer.context_length, got "
                f"{train.seq_length} and {n}: each context step predicts an action up to {n - 1} steps ahead; "
                f"set train.seq_length={n}"
            )
