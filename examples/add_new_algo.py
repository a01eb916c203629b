"""A new algorithm in one file: its config class, its Algo class and a factory registered with the decorator.

Everything else (strict configs, the training loop, checkpoints, policy_from_checkpoint, rollouts) comes free.
The algorithm here, "bc_ensemble", trains K small MLP policies on the same batches with independent
initialisations and acts with their mean action.

    python examples/add_new_algo.py [--dataset D.hdf5] [--epochs 5]

The same file is a plugin: robokit's own scripts train and load it without any edit to robokit.

1. By path (a .py file like this one, a package folder, or a .zip of either):

    python scripts/train.py --algo bc_ensemble --algo_module examples/add_new_algo.py --dataset D.hdf5 \
        --set 'observation.modalities.obs.low_dim=["observation"]'
    python scripts/validate_algo.py --algo bc_ensemble --algo_module examples/add_new_algo.py
    python scripts/run_trained_agent.py --agent RUN/models/last.pth --algo_module examples/add_new_algo.py

   or in Python: `policy_from_checkpoint(path, algo_module="examples/add_new_algo.py")`.

2. As an installed package: declare the algorithm in the `robokit.algos` entry-point group of its metadata,

    setup(name="my-robokit-algos", packages=["my_algos"],
          entry_points={"robokit.algos": ["bc_ensemble = my_algos.bc_ensemble"]})

   and then `scripts/train.py --algo bc_ensemble ...` imports `my_algos.bc_ensemble` because you named it.

The checkpoint records where the algorithm came from (module, path, sha256 of the code). Loading a checkpoint
never imports code by itself: without `algo_module` a plugin checkpoint is a one-line error unless the module
is already imported; a plugin whose code changed since training loads with a one-line warning.
"""

import argparse
import tempfile
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from robokit import policy_from_checkpoint
from robokit.algo import PolicyAlgo, register_algo_factory_func
from robokit.config import AlgoConfig, BaseConfig, OptimizerConfig, Section, param
from robokit.envs import create_env
from robokit.models import MLP
from robokit.models.policy_nets import ObsGoalEncoder
from robokit.train.offline import train
from robokit.train.rollouts import rollout_with_stats
from robokit.utils import batch_keys as K
from robokit.utils.tensors import to_device


# ----- 1. the config: robomimic-style sections, typed and strict -----
class EnsembleOptimParams(Section):
    """Optimisers of the ensemble (one, over all members)."""

    policy: OptimizerConfig = param(OptimizerConfig(), "optimiser of all ensemble members")


class EnsembleAlgoConfig(AlgoConfig):
    """`config.algo` of bc_ensemble."""

    optim_params: EnsembleOptimParams = param(EnsembleOptimParams(), "optimisers")
    num_members: int = param(5, "number of MLP policies in the ensemble", minimum=1)
    layer_dims: list[int] = param([256, 256], "hidden sizes of each member")


class EnsembleConfig(BaseConfig):
    """Behaviour cloning with an ensemble of MLPs."""

    ALGO_NAME = "bc_ensemble"  # registers the config class
    algo: EnsembleAlgoConfig = param(EnsembleAlgoConfig(), "algorithm settings")


# ----- 2. the algorithm -----
class EnsembleNet(nn.Module):
    """obs {k: (B, *shape)} -> member actions (K, B, A)."""

    def __init__(self, encoder: ObsGoalEncoder, ac_dim: int, num_members: int, layer_dims):
        super().__init__()
        self.encoder = encoder
        self.members = nn.ModuleList(MLP(encoder.output_dim, ac_dim, layer_dims) for _ in range(num_members))

    def forward(self, obs, goal=None) -> torch.Tensor:
        features = self.encoder(obs, goal)  # (B, D)
        return torch.stack([torch.tanh(member(features)) for member in self.members])  # (K, B, A)


class BCEnsemble(PolicyAlgo):
    def _create_networks(self) -> None:
        encoder = ObsGoalEncoder(self.obs_shapes, self.goal_shapes, self.obs_modalities, self.encoder_configs)
        self.nets["policy"] = EnsembleNet(encoder, self.ac_dim, self.algo_config.num_members,
                                          self.algo_config.layer_dims)

    def process_batch_for_training(self, batch: dict) -> dict:
        return to_device({K.OBS: {k: batch[K.OBS][k][:, 0] for k in self.obs_shapes},
                          K.ACTIONS: batch[K.ACTIONS][:, 0]}, self.device)  # (B, *shape), (B, A)

    def train_on_batch(self, batch: dict, epoch: int, validate: bool = False) -> dict:
        with torch.set_grad_enabled(not validate):
            member_actions = self.nets["policy"](batch[K.OBS])  # (K, B, A)
            loss = F.mse_loss(member_actions, batch[K.ACTIONS].expand_as(member_actions))
            if not validate:
                self.backprop("policy", loss)
        return {"loss": loss.detach(), "spread": member_actions.std(0).mean().detach()}

    def log_info(self, info: dict) -> dict:
        return {**super().log_info(info), "Loss": info["loss"].item(), "Ensemble_Spread": info["spread"].item()}

    def get_action(self, obs_dict: dict, goal_dict: dict | None = None) -> torch.Tensor:
        with torch.no_grad():
            return self.nets["policy"](obs_dict, goal_dict).mean(0)  # (B, A)


@register_algo_factory_func("bc_ensemble")
def algo_config_to_class(algo_config):
    return BCEnsemble, {}


# ----- 3. use it like any built-in algorithm -----
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", type=Path, help="HDF5 dataset with train/valid masks (default: FetchReach)")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--steps", type=int, default=100, help="gradient steps per epoch")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        if args.dataset is None:
            from _demo_data import make_demo_dataset

            args.dataset = make_demo_dataset(Path(tmp))
        config = EnsembleConfig()
        config.train.num_epochs = args.epochs
        config.experiment.epoch_every_n_steps = args.steps
        config.experiment.rollout.enabled = False
        config.algo.optim_params.policy.learning_rate.initial = 1e-3
        run_dir = train(config, dataset_path=args.dataset, output_dir=tmp, progress=False)

        policy, ckpt = policy_from_checkpoint(run_dir / "models" / "last.pth")
        env = create_env(ckpt["env_metadata"])
        stats = rollout_with_stats(policy, env, n=10, horizon=50, progress=False)
        env.close()
    print(f"{type(policy.policy).__name__}: success rate {stats['Success_Rate']:.2f} over 10 episodes")


if __name__ == "__main__":
    main()
