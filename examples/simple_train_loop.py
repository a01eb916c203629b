"""robomimic's simple training loop, on robokit's objects: dataset -> DataLoader -> Algo -> checkpoint -> rollout.

    python examples/simple_train_loop.py [--dataset D.hdf5] [--epochs 5] [--steps 100]

Without --dataset it generates 20 FetchReach demonstrations with the scripted expert.
"""

import argparse
import tempfile
from pathlib import Path

import torch

from robokit import policy_from_checkpoint
from robokit.algo import algo_factory
from robokit.config import config_factory
from robokit.data import SequenceDataset, make_dataloader
from robokit.envs import create_env
from robokit.train.checkpoint import build_checkpoint, save_checkpoint
from robokit.train.rollouts import rollout_with_stats


def train(dataset_path: Path, out_dir: Path, num_epochs: int, gradient_steps_per_epoch: int) -> Path:
    config = config_factory("bc")
    config.algo.actor_layer_dims = [256, 256]
    config.algo.optim_params.policy.learning_rate.initial = 1e-3
    config.observation.modalities.obs.low_dim = ["observation", "desired_goal"]
    config.train.num_epochs = num_epochs

    dataset = SequenceDataset(dataset_path, obs_keys=config.all_obs_keys, dataset_keys=["actions"],
                              filter_by_attribute="train")
    batch_size = min(100, len(dataset))
    data_loader = make_dataloader(dataset, batch_size=batch_size, seed=0)  # whole batches gathered at once
    model = algo_factory("bc", config, obs_key_shapes=dataset.obs_key_shapes, ac_dim=dataset.action_dim,
                         device=torch.device("cpu"))

    model.set_train()
    for epoch in range(1, num_epochs + 1):  # epoch numbers start at 1
        data_loader_iter = iter(data_loader)
        losses = []
        for _ in range(gradient_steps_per_epoch):
            try:
                batch = next(data_loader_iter)
            except StopIteration:  # ran out of batches: start a new pass
                data_loader_iter = iter(data_loader)
                batch = next(data_loader_iter)
            input_batch = model.process_batch_for_training(batch)
            info = model.train_on_batch(batch=input_batch, epoch=epoch, validate=False)
            losses.append(model.log_info(info)["Loss"])
        print(f"epoch {epoch}: loss {sum(losses) / len(losses):.4f}")
        model.on_epoch_end(epoch)

    ckpt_path = out_dir / "model.pth"
    shape_metadata = {"all_shapes": {k: list(v) for k, v in dataset.obs_key_shapes.items()},
                      "ac_dim": dataset.action_dim, "all_obs_keys": config.all_obs_keys}
    save_checkpoint(build_checkpoint(model, config, shape_metadata, dataset.env_args), ckpt_path)
    return ckpt_path


def evaluate(ckpt_path: Path, n: int) -> dict:
    policy, ckpt = policy_from_checkpoint(ckpt_path=ckpt_path)
    env = create_env(ckpt["env_metadata"])
    stats = rollout_with_stats(policy, env, n=n, horizon=50, progress=False)
    env.close()
    return stats


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", type=Path, help="HDF5 dataset with train mask (default: generate FetchReach)")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--steps", type=int, default=100, help="gradient steps per epoch")
    parser.add_argument("--rollouts", type=int, default=10)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        if args.dataset is None:
            from _demo_data import make_demo_dataset

            args.dataset = make_demo_dataset(tmp)
        ckpt_path = train(args.dataset, tmp, args.epochs, args.steps)
        stats = evaluate(ckpt_path, args.rollouts)
    print(f"success rate {stats['Success_Rate']:.2f} over {args.rollouts} episodes, mean return {stats['Return']:.2f}")


if __name__ == "__main__":
    main()
