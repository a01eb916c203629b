"""An action-chunking policy end to end: Diffusion Policy trained on demonstrations, deployed on several envs.

    python examples/chunked_policy.py [--dataset D.hdf5] [--steps 300] [--envs 3] [--rollouts 6]

What it shows:
- the algorithm declares its data window: setting `algo.horizon` is enough, train.frame_stack / seq_length follow;
- EMA of the weights (`algo.ema`) and a learning rate stepped every batch (warm-up + cosine) come from `Algo`;
- `get_action` returns a chunk (B, Tp - To + 1, A); `RolloutPolicy` executes `action_horizon` actions of it per
  env, and in batched evaluation each env starts its next episode as soon as its own ends.

Without --dataset it generates 50 FetchReach demonstrations with the scripted expert.
"""

import argparse
import tempfile
from pathlib import Path

import torch

from robokit import policy_from_checkpoint
from robokit.config import apply_overrides, config_factory
from robokit.data import SequenceDataset, make_dataloader
from robokit.algo import algo_factory
from robokit.envs import create_envs
from robokit.train.checkpoint import build_checkpoint, save_checkpoint
from robokit.train.rollouts import rollout_with_stats


def train(dataset_path: Path, out_dir: Path, steps: int) -> Path:
    config = config_factory("diffusion_policy")
    apply_overrides(config, [
        'observation.modalities.obs.low_dim=["observation", "desired_goal"]',
        "algo.horizon.observation_horizon=2", "algo.horizon.prediction_horizon=8", "algo.horizon.action_horizon=4",
        "algo.unet.down_dims=[64, 128]", "algo.unet.diffusion_step_embed_dim=64",
        "algo.ddpm.enabled=false", "algo.ddim.enabled=true",  # 10 denoising steps per chunk
        "algo.optim_params.policy.learning_rate.initial=0.001",
        "algo.optim_params.policy.learning_rate.warmup_steps=20",
        "train.num_epochs=1", f"experiment.epoch_every_n_steps={steps}",
    ])
    print(f"data window: frame_stack={config.train.frame_stack}, seq_length={config.train.seq_length} "
          f"(from algo.horizon)")
    train_cfg = config.train
    dataset = SequenceDataset(dataset_path, obs_keys=config.all_obs_keys, dataset_keys=["actions"],
                              frame_stack=train_cfg.frame_stack, seq_length=train_cfg.seq_length,
                              action_normalization="min_max", filter_by_attribute="train")
    loader = make_dataloader(dataset, batch_size=min(64, len(dataset)), seed=0)
    algo = algo_factory("diffusion_policy", config, dataset.obs_key_shapes, dataset.action_dim, torch.device("cpu"))
    algo.set_train()
    batches, losses = iter(loader), []
    for step in range(1, steps + 1):
        try:
            batch = next(batches)
        except StopIteration:
            batches = iter(loader)
            batch = next(batches)
        info = algo.train_on_batch(algo.process_batch_for_training(batch), epoch=1)
        losses.append(algo.log_info(info)["Loss"])
        if step % max(steps // 3, 1) == 0:
            lr = algo.optimizers["policy"].param_groups[0]["lr"]
            print(f"step {step}: loss {sum(losses) / len(losses):.4f}, lr {lr:.2e}, EMA updates {algo.emas['policy'].step}")
            losses = []
    shape_metadata = {"all_shapes": {k: list(v) for k, v in dataset.obs_key_shapes.items()},
                      "ac_dim": dataset.action_dim, "all_obs_keys": config.all_obs_keys}
    path = out_dir / "dp.pth"
    save_checkpoint(build_checkpoint(algo, config, shape_metadata, dataset.env_args,
                                     action_normalization_stats=dataset.get_action_normalization_stats()), path)
    return path


def evaluate(ckpt_path: Path, n_envs: int, n_rollouts: int) -> dict:
    policy, ckpt = policy_from_checkpoint(ckpt_path=ckpt_path)  # acts with the EMA weights
    print(f"{policy}: re-plans every {policy.chunk_spec.action_horizon} steps per env")
    calls = []
    get_action = policy.policy.get_action
    policy.policy.get_action = lambda obs, goal=None: calls.append(len(next(iter(obs.values())))) or get_action(obs, goal)
    envs = create_envs(ckpt["env_metadata"], n_envs)
    try:
        stats = rollout_with_stats(policy, envs, n=n_rollouts, horizon=50, progress=False)
    finally:
        for env in envs:
            env.close()
    print(f"{len(calls)} chunk predictions for {n_rollouts} episodes in {n_envs} envs, "
          f"{sum(calls)} env rows planned in all")
    return stats


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", type=Path, help="HDF5 dataset with a train mask (default: generate FetchReach)")
    parser.add_argument("--steps", type=int, default=300, help="gradient steps")
    parser.add_argument("--envs", type=int, default=3)
    parser.add_argument("--rollouts", type=int, default=6)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        if args.dataset is None:
            from _demo_data import make_demo_dataset

            args.dataset = make_demo_dataset(tmp)
        stats = evaluate(train(args.dataset, tmp, args.steps), args.envs, args.rollouts)
    print(f"success rate {stats['Success_Rate']:.2f} over {args.rollouts} episodes, mean return {stats['Return']:.2f}")


if __name__ == "__main__":
    main()
