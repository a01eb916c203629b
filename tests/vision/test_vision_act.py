"""ACT with a camera end to end: scripts/train.py on the FetchPush image dataset, a checkpoint whose image encoder
was trained, policy_from_checkpoint, and chunks executed in the real environment with camera observations, alone
and in a 2-env vector env."""

from pathlib import Path

import numpy as np
import torch

from robokit.algo.chunking import ChunkSpec
from robokit.envs import create_envs
from robokit.train.checkpoint import env_from_checkpoint, policy_from_checkpoint
from robokit.train.rollouts import rollout_with_stats

IMAGE_KEY = "external_camera_0_image"
REPO = Path(__file__).resolve().parents[2]
TINY_IMAGE_ACT = [
    'observation.encoder.rgb.core_kwargs.backbone_kwargs={"channels": [8, 16]}',
    'observation.encoder.rgb.obs_randomizer_kwargs={"crop_height": 28, "crop_width": 28}',
    "algo.chunk_size=4", "algo.n_action_steps=2", "algo.temporal_ensemble_coeff=null", "train.seq_length=4", "algo.dim_model=16", "algo.n_heads=2",
    "algo.dim_feedforward=32", "algo.n_encoder_layers=1", "algo.n_decoder_layers=2", "algo.n_vae_encoder_layers=1",
    "algo.latent_dim=4", "train.batch_size=8", "experiment.rollout.num_envs=2", "experiment.render_video=false",
    "experiment.logging.log_tb=false",
]


def test_image_act_trains_through_train_py_reloads_and_acts(push_image_dataset, vision_script, tmp_path):
    result = vision_script("train.py", "--config", REPO / "configs" / "act_image.json", "--dataset", push_image_dataset,
                           "--output", tmp_path, "--name", "act_img", "--debug", "--no-progress", "--device", "cpu",
                           "--set", *TINY_IMAGE_ACT)
    run_dir = Path(result.stdout.strip().splitlines()[-1].split("finished: ")[1])
    log = (run_dir / "logs" / "log.txt").read_text()
    assert "epoch 2/2" in log and "success" in log  # the debug run's rollouts saw camera observations

    policy, ckpt = policy_from_checkpoint(run_dir / "models" / "last.pth", device="cpu")
    assert type(policy.policy).__name__ == "ACT" and policy.chunk_spec == ChunkSpec(2, None)
    assert ckpt["shape_metadata"]["all_shapes"][IMAGE_KEY] == [32, 32, 3]
    camera = policy.policy.nets["policy"].cameras[IMAGE_KEY]
    assert camera.n_tokens == 16  # 28x28 crops through a 2-layer ResNetConv: a 4x4 feature map
    first = torch.load(run_dir / "models" / "model_epoch_1.pth", weights_only=True)["model"]
    conv = f"policy.cameras.{IMAGE_KEY}.encoder.core.backbone.conv1.weight"
    assert not torch.equal(first[conv], ckpt["model"][conv])  # the image encoder is trained

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
