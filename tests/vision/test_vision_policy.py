"""An image policy end to end: trained by the offline loop, reloaded by policy_from_checkpoint, rolled out in the
real environment with camera observations."""

import numpy as np
import torch

from robokit.algo import algo_factory
from robokit.algo.rollout_policy import RolloutPolicy
from robokit.config import BCConfig, apply_overrides
from robokit.train.checkpoint import env_from_checkpoint, policy_from_checkpoint
from robokit.train.offline import train
from robokit.train.rollouts import run_rollout

IMAGE_KEY = "external_camera_0_image"
SMALL_IMAGE_POLICY = [
    f'observation.modalities.obs.rgb=["{IMAGE_KEY}"]',
    'observation.modalities.obs.low_dim=["robot0_eef_pos","robot0_gripper_qpos","desired_goal"]',
    "observation.encoder.rgb.core_kwargs.backbone_class=ResNetConv",
    'observation.encoder.rgb.core_kwargs.backbone_kwargs={"channels": [8, 16]}',
    "observation.encoder.rgb.core_kwargs.pool_kwargs.num_kp=8",
    "observation.encoder.rgb.core_kwargs.feature_dimension=16",
    "observation.encoder.rgb.obs_randomizer_class=CropRandomizer",
    'observation.encoder.rgb.obs_randomizer_kwargs={"crop_height": 28, "crop_width": 28}',
    "algo.actor_layer_dims=[32]",
    "train.batch_size=8",
]


def test_image_bc_rnn_trains_reloads_and_acts_in_the_real_env(push_image_dataset, tmp_path):
    config = BCConfig()
    apply_overrides(config, [*SMALL_IMAGE_POLICY, "algo.rnn.enabled=true", "algo.rnn.horizon=3", "train.seq_length=3",
                             "algo.rnn.hidden_dim=16", "algo.rnn.num_layers=1", "experiment.render_video=false"])
    run_dir = train(config, dataset_path=push_image_dataset, output_dir=tmp_path, device="cpu", debug=True,
                    progress=False)
    log = (run_dir / "logs" / "log.txt").read_text()
    assert "epoch 2/2" in log and "success" in log  # the debug run's rollouts saw camera observations

    policy, ckpt = policy_from_checkpoint(run_dir / "models" / "last.pth", device="cpu")
    assert ckpt["shape_metadata"]["all_shapes"][IMAGE_KEY] == [32, 32, 3]
    assert type(policy.policy).__name__ == "BC_RNN"
    initial = algo_factory("bc", config, {k: tuple(v) for k, v in ckpt["shape_metadata"]["all_shapes"].items()}, 4,
                           "cpu")
    conv = "policy.encoder.obs.encoders.external_camera_0_image.core.backbone.conv1.weight"
    assert not torch.equal(ckpt["model"][conv], initial.nets.state_dict()[conv])  # the image encoder was trained
    env, _ = env_from_checkpoint(ckpt_dict=ckpt)
    with env:
        obs = env.reset(seed=123)
        assert obs[IMAGE_KEY].dtype == np.uint8 and obs[IMAGE_KEY].shape == (32, 32, 3)
        policy.start_episode()
        action = policy(obs)
        assert action.shape == (4,) and np.isfinite(action).all()
        stats = run_rollout(policy, env, horizon=5, seed=7)
    assert stats["Horizon"] == 5 or stats["Success_Rate"] == 1.0


def test_image_policy_with_frame_stack_is_deterministic_at_evaluation(push_image_dataset):
    config = BCConfig()
    apply_overrides(config, [*SMALL_IMAGE_POLICY, "train.frame_stack=2", "experiment.validate=false"])
    shapes = {IMAGE_KEY: (32, 32, 3), "robot0_eef_pos": (3,), "robot0_gripper_qpos": (2,), "desired_goal": (3,)}
    torch.manual_seed(0)
    algo = algo_factory("bc", config, shapes, ac_dim=4, device="cpu")
    policy = RolloutPolicy(algo)
    rng = np.random.default_rng(0)
    obs = {k: rng.integers(0, 256, s, dtype=np.uint8) if k == IMAGE_KEY else rng.standard_normal(s).astype(np.float32)
           for k, s in shapes.items()}
    policy.start_episode()
    first = policy(obs)
    policy.start_episode()
    assert np.array_equal(first, policy(obs))  # eval: centre crop, no noise
    batch = {k: np.stack([v, v]) for k, v in obs.items()}  # a batch of 2 environments
    policy.start_episode()
    assert policy(batch).shape == (2, 4)
