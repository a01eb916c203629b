"""Goal learning: GL (deterministic subgoal regression) and GL_VAE (a conditional VAE over subgoals).

A subgoal is the observation `algo.subgoal_horizon` steps ahead, restricted to the keys of
`observation.modalities.subgoal`; it is read from the dataset window (`next_obs` at window step h - 1).
Subgoals are handled as one flat vector (B, S) of those keys in sorted order. GL is the planner of HBC and
IRIS; on its own it trains and predicts subgoals but does not act.
"""

from collections import OrderedDict
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from robokit.algo.base import PlannerAlgo, scalars
from robokit.algo.bc import action_vae_from_config, vae_losses
from robokit.algo.registry import register_algo_factory_func
from robokit.algo.value_utils import tile
from robokit.models.mlp import MLP
from robokit.models.policy_nets import ObsGoalEncoder, VAEPolicy
from robokit.utils import batch_keys as K
from robokit.utils.tensors import to_device

SUBGOALS = "subgoals"  # processed-batch key of the target subgoals {k: (B, *shape)}


@register_algo_factory_func("gl")
def algo_config_to_class(algo_config):
    """GL_VAE when `algo.vae.enabled`, else the deterministic GL."""
    return (GL_VAE if algo_config.vae.enabled else GL), {}


class SubgoalMLP(nn.Module):
    """Deterministic subgoal network: obs (+ goal) features -> flat subgoal (B, S)."""

    def __init__(self, encoder: ObsGoalEncoder, subgoal_dim: int, layer_dims: Sequence[int]):
        super().__init__()
        self.encoder = encoder
        self.mlp = MLP(encoder.output_dim, subgoal_dim, layer_dims)

    def forward(self, obs: dict, goal: dict | None = None) -> torch.Tensor:
        return self.mlp(self.encoder(obs, goal))


class GL(PlannerAlgo):
    """Regresses the subgoal observation with an MLP (sum over keys of the per-key MSE)."""

    def __init__(self, algo_config, obs_config, global_config, obs_key_shapes, ac_dim, device):
        self.subgoal_shapes = OrderedDict((k, tuple(obs_key_shapes[k])) for k in obs_config.subgoal_keys())
        super().__init__(algo_config, obs_config, global_config, obs_key_shapes, ac_dim, device)

    @property
    def subgoal_dim(self) -> int:
        return sum(int(torch.Size(shape).numel()) for shape in self.subgoal_shapes.values())

    def flatten_subgoals(self, subgoals: dict) -> torch.Tensor:
        """{k: (B, *shape)} -> (B, S)."""
        return torch.cat([subgoals[k].reshape(subgoals[k].shape[0], -1) for k in self.subgoal_shapes], dim=-1)

    def unflatten_subgoals(self, flat: torch.Tensor) -> dict:
        """(*lead, S) -> {k: (*lead, *shape)}."""
        out, start = {}, 0
        for k, shape in self.subgoal_shapes.items():
            size = int(torch.Size(shape).numel())
            out[k] = flat[..., start:start + size].reshape(*flat.shape[:-1], *shape)
            start += size
        return out

    def _create_networks(self) -> None:
        layer_dims = self.algo_config.ae.planner_layer_dims
        self.nets["goal_network"] = SubgoalMLP(self._make_encoder(), self.subgoal_dim, layer_dims)

    # ----- training -----
    def process_batch_for_training(self, batch: dict) -> dict:
        """obs at t {k: (B, *shape)}; subgoals = next_obs at window step h - 1, i.e. the obs at t + h."""
        h = self.algo_config.subgoal_horizon
        processed = {
            K.OBS: {k: batch[K.OBS][k][:, 0] for k in self.obs_shapes},
            SUBGOALS: {k: batch[K.NEXT_OBS][k][:, h - 1] for k in self.subgoal_shapes},
            **self._goal_batch(batch),
        }
        return to_device(processed, self.device)

    def subgoal_targets(self, processed: dict) -> dict:
        """The dataset subgoals of a processed batch (what the actor of HBC / IRIS trains toward)."""
        return processed[SUBGOALS]

    def planner_inputs(self, processed: dict) -> tuple[dict, dict | None]:
        """(obs, goal) of a processed batch, the inputs of `get_subgoal_predictions`."""
        return processed[K.OBS], processed.get(K.GOAL_OBS)

    def _losses(self, batch: dict) -> dict:
        pred = self.unflatten_subgoals(self.nets["goal_network"](batch[K.OBS], batch.get(K.GOAL_OBS)))
        losses = {f"Goal_{k}_Loss": F.mse_loss(pred[k], batch[SUBGOALS][k]) for k in self.subgoal_shapes}
        losses["Loss"] = sum(losses.values())
        return losses

    def train_on_batch(self, batch: dict, epoch: int, validate: bool = False) -> dict:
        with torch.set_grad_enabled(not validate):
            losses = self._losses(batch)
            info = {k: v.detach() for k, v in losses.items()}
            if not validate:
                info["Grad_Norms"] = self.backprop("goal_network", losses["Loss"])
        return info

    def log_info(self, info: dict) -> dict:
        log = super().log_info(info)
        log.update(scalars(info))
        return log

    # ----- deployment -----
    def get_subgoal_predictions(self, obs_dict: dict, goal_dict: dict | None = None) -> dict:
        """obs {k: (B, *shape)} -> subgoals {k: (B, *shape)}."""
        with torch.no_grad():
            return self.unflatten_subgoals(self.nets["goal_network"](obs_dict, goal_dict))

    def sample_subgoals(self, obs_dict: dict, goal_dict: dict | None = None, num_samples: int = 1) -> dict:
        """{k: (B, num_samples, *shape)} (identical samples: GL is deterministic)."""
        flat = self.flatten_subgoals(self.get_subgoal_predictions(obs_dict, goal_dict))  # (B, S)
        return self.unflatten_subgoals(flat.unsqueeze(1).expand(-1, num_samples, -1))

    def get_action(self, obs_dict: dict, goal_dict: dict | None = None) -> torch.Tensor:
        raise NotImplementedError("GL predicts subgoals and does not act; train hbc or iris for a policy")


class GL_VAE(GL):
    """A conditional VAE over flat subgoals (B, S), conditioned on obs (+ goal) features.

    Predictions decode prior samples, so `sample_subgoals` gives diverse proposals (IRIS ranks them).
    """

    def _create_networks(self) -> None:
        encoder = self._make_encoder()
        vae = action_vae_from_config(self.algo_config.vae, encoder.output_dim, self.subgoal_dim, squash_output=False)
        self.nets["goal_network"] = VAEPolicy(encoder, vae)

    def _losses(self, batch: dict) -> dict:
        target = self.flatten_subgoals(batch[SUBGOALS])  # (B, S)
        reconstruction, kl = self.nets["goal_network"].forward_train(batch[K.OBS], batch.get(K.GOAL_OBS), target)
        losses = vae_losses(reconstruction, kl, target, self.algo_config.vae)
        return {"Loss": losses["loss"], "Reconstruction_Loss": losses["reconstruction_loss"],
                "KL_Loss": losses["kl_loss"]}

    def sample_subgoals(self, obs_dict: dict, goal_dict: dict | None = None, num_samples: int = 1) -> dict:
        """num_samples prior samples per observation: {k: (B, num_samples, *shape)}."""
        flat = self.flatten_subgoals(self.get_subgoal_predictions(tile(obs_dict, num_samples),
                                                                   tile(goal_dict, num_samples)))  # (B * N, S)
        return self.unflatten_subgoals(flat.reshape(-1, num_samples, flat.shape[-1]))

    # ----- latent subgoals (HBC's algo.latent_subgoal) -----
    @property
    def latent_dim(self) -> int:
        return self.algo_config.vae.latent_dim

    def _features(self, obs: dict, goal: dict | None) -> torch.Tensor:
        return self.nets["goal_network"].encoder(obs, goal)  # (B, D)

    def encode_subgoals(self, obs: dict, goal: dict | None, subgoals: dict, num_prior_samples: int = 0):
        """Posterior latents (B, Z) of the subgoals; with num_prior_samples > 0, the nearest of that many prior
        samples instead (robomimic's prior correction, so training latents look like those used when acting)."""
        vae = self.nets["goal_network"].vae
        with torch.no_grad():
            cond = self._features(obs, goal)  # (B, D)
            z = vae.encoder(torch.cat([cond, self.flatten_subgoals(subgoals)], dim=-1)).sample()  # (B, Z)
            if num_prior_samples <= 0:
                return z
            priors = vae.prior_distribution(cond.repeat_interleave(num_prior_samples, 0)).sample()  # (B * N, Z)
            priors = priors.reshape(-1, num_prior_samples, z.shape[-1])  # (B, N, Z)
            nearest = (priors - z[:, None]).pow(2).sum(-1).argmin(dim=1)  # (B,)
            return priors[torch.arange(z.shape[0], device=z.device), nearest]

    def sample_latent_subgoals(self, obs: dict, goal: dict | None = None) -> torch.Tensor:
        """A prior sample per observation: (B, Z)."""
        with torch.no_grad():
            return self.nets["goal_network"].vae.prior_distribution(self._features(obs, goal)).sample()
