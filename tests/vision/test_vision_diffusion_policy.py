"""Diffusion Policy with a camera end to end: scripts/train.py with configs/diffusion_policy_image.json on the
FetchPush image dataset, a checkpoint whose image encoder was trained (GroupNorm, no BatchNorm), policy_from_checkpoint,
and chunks executed with camera observations in the real environment, alone and in a 2-env vector env."""

from pathlib import Path

import numpy as np
import torch

from robokit.algo.chunking import ChunkSpec
from robokit.envs import create_envs
from robokit.train.checkpoint import env_from_checkpoint, policy_from_checkpoint
from robokit.train.rollouts import rollout_with_stats

IMAGE_KEY = "external_camera_0_image"
REPO = Path(__file__).resolve().parents[2]
TINY_IMAGE_DP = [
    'observation.encoder.rgb.core_kwargs.backbone_kwargs={"channels": [8, 16]}',
    'observation.encoder.rgb.obs_randomizer_kwargs={"crop_height": 28, "crop_width": 28}',
    "algo.horizon.prediction_horizon=8", "algo.horizon.action_horizon=3", "algo.unet.down_dims=[16, 32]",
    "algo.unet.diffusion_step_embed_dim=16", "algo.unet.n_groups=4", "train.batch_size=8",
    "experiment.rollout.num_envs=2", "experiment.render_video=false", "experiment.logging.log_tb=false",
]


def test_image_diffusion_policy_trains_through_train_py_reloads_and_acts(push_image_dataset, vision_script, tmp_path):
    result = vision_script("train.py", "--config", REPO / "configs" / "diffusion_policy_image.json", "--dataset",
                           push_image_dataset, "--output", tmp_path, "--name", "dp_img", "--debug", "--no-progress",
                           "--device", "cpu", "--set", *TINY_IMAGE_DP)
    run_dir = Path(result.stdout.strip().splitlines()[-1].split("finished: ")[1])
    log = (run_dir / "logs" / "log.txt").read_text()
    assert "epoch 2/2" in log and "success" in log  # the debug run's rollouts saw camera observations

    policy, ckpt = policy_from_checkpoint(run_dir / "models" / "last.pth", device="cpu")
    assert type(policy.policy).__name__ == "DiffusionPolicyUNet" and policy.chunk_spec == ChunkSpec(3)
    assert ckpt["shape_metadata"]["all_shapes"][IMAGE_KEY] == [32, 32, 3]
    encoder = policy.policy.nets["policy"]["encoder"]
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in encoder.modules())
    first = torch.load(run_dir / "models" / "model_epoch_1.pth", weights_only=True)["model"]
    convs = [k for k in ckpt["model"] if k.startswith("policy.encoder.") and k.endswith("conv1.weight")]
    assert convs and not torch.equal(first[convs[0]], ckpt["model"][convs[0]])  # the image encoder is trained

    env, _ = env_from_checkpoint(ckpt_dict=ckpt)
    with env:
        obs = env.reset(seed=3)
        assert obs[IMAGE_KEY].dtype == np.uint8 and obs[IMAGE_KEY].shape == (32, 32, 3)
        policy.start_episode()
        action = policy(obs)
        assert action.shape == (4,) and np.isfinite(action).all()
        stats = rollout_with_stats(policy, env, n=1, horizon=5, progress=False, terminate_on_success=False)
        assert stats["Horizon"] == 5
    envs = create_envs(ckpt["env_metadata"], 2)
    try:
        stats = rollout_with_stats(policy, envs, n=2, horizon=5, progress=False, terminate_on_success=False)
        assert stats["Num_Episodes"] == 2 and stats["Horizon"] == 5
    finally:
        for e in envs:
            e.close()
