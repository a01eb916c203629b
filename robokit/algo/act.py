"""Action Chunking with Transformers (`act`): a CVAE transformer policy that predicts `chunk_size` actions at once.

Training (Zhao et al. 2023): the style encoder reads the demonstrated chunk and gives q(z | s, a_{t:t+k}); the
transformer decodes the chunk from z and the observation tokens. The loss is the L1 error over the chunk's real
steps (steps past the episode's end are padding, masked out) and, for multi-robot data, real action dims
(ACTION_MASK) + kl_weight x KL(q || N(0, I)).

Deployment: z = 0; `get_action` returns the whole chunk (B, chunk_size, A) and `chunk_spec` tells
`RolloutPolicy` how to execute it: `n_action_steps` actions from a queue, or temporal ensembling.
"""

import torch

from robokit.algo.base import PolicyAlgo
from robokit.algo.chunking import ChunkSpec
from robokit.algo.losses import masked_entry_mean, policy_loss_log, zero_padded_dims
from robokit.algo.registry import register_algo_factory_func
from robokit.errors import ConfigError
from robokit.models.act import ACTNetwork
from robokit.utils import batch_keys as K
from robokit.utils.tensors import to_device


@register_algo_factory_func("act")
def algo_config_to_class(algo_config):
    """ACT has one variant; (ACT, {})."""
    return ACT, {}


def kl_to_standard_normal(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, exp(logvar)) || N(0, I)) per sample, summed over the latent dims: (B, Z) -> (B,)."""
    return 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).sum(-1)


def masked_l1(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None,
              action_mask: torch.Tensor | None = None) -> torch.Tensor:
    """Mean absolute error over the real entries of (B, k, A) chunks -> (): the steps `mask` (B, k) keeps and,
    for multi-robot data, the action dims `action_mask` (B, A) keeps (padded dims get exactly zero gradient)."""
    return masked_entry_mean((pred - target).abs(), mask, action_mask)


class ACT(PolicyAlgo):
    """ACT policy: `get_action` -> chunks (B, chunk_size, A) of normalised actions, index 0 the current step."""

    SUPPORTS_ACTION_MASK = True  # the L1 loss leaves a robot's padded action dims out

    def _create_networks(self) -> None:
        cfg = self.algo_config
        self.nets["policy"] = ACTNetwork(
            self.obs_shapes, self.goal_shapes, self.obs_modalities, self.encoder_configs, self.ac_dim,
            chunk_size=cfg.chunk_size, latent_dim=cfg.latent_dim, use_vae=cfg.use_vae, dim_model=cfg.dim_model,
            n_heads=cfg.n_heads, dim_feedforward=cfg.dim_feedforward, activation=cfg.feedforward_activation,
            n_encoder_layers=cfg.n_encoder_layers, n_decoder_layers=cfg.n_decoder_layers,
            n_vae_encoder_layers=cfg.n_vae_encoder_layers, pre_norm=cfg.pre_norm, dropout=cfg.dropout,
        )

    @property
    def chunk_spec(self) -> ChunkSpec:
        """Queue `n_action_steps` actions of each chunk, or ensemble every step with `temporal_ensemble_coeff`."""
        return ChunkSpec(self.algo_config.action_horizon, self.algo_config.temporal_ensemble_coeff)

    # ----- training -----
    def process_batch_for_training(self, batch: dict) -> dict:
        """obs at step t {k: (B, *shape)}; actions a_t .. a_{t+k-1} (B, k, A); pad_mask (B, k) (True: real step)."""
        k = self.algo_config.chunk_size
        t = self.global_config.train.frame_stack - 1  # position of step t in the window
        actions = batch[K.ACTIONS][:, t : t + k]
        if actions.shape[1] != k:
            raise ConfigError(
                f"algo.chunk_size={k} needs windows of {k} actions, the batch has {batch[K.ACTIONS].shape[1] - t}; "
                f"set train.seq_length={k}"
            )
        mask = batch.get(K.PAD_MASK)
        selected = {
            K.OBS: {key: batch[K.OBS][key][:, t] for key in self.obs_shapes},
            K.ACTIONS: actions,
            K.PAD_MASK: mask[:, t : t + k] if mask is not None else None,
            K.ACTION_MASK: batch.get(K.ACTION_MASK),  # (B, A) multi-robot data: False at padded dims
        }
        return to_device({**selected, **self._goal_batch(batch)}, self.device)

    def _forward_training(self, batch: dict):
        actions = zero_padded_dims(batch[K.ACTIONS], batch.get(K.ACTION_MASK))  # the style encoder reads real dims only
        return self.nets["policy"](batch[K.OBS], batch.get(K.GOAL_OBS), actions, batch.get(K.PAD_MASK))

    def _compute_losses(self, predictions, batch: dict) -> dict:
        chunk, mu, logvar = predictions  # (B, k, A), (B, Z) or None
        losses = {"l1_loss": masked_l1(chunk, batch[K.ACTIONS], batch.get(K.PAD_MASK), batch.get(K.ACTION_MASK))}
        if mu is not None:
            losses["kl_loss"] = kl_to_standard_normal(mu, logvar).mean()
            losses["action_loss"] = losses["l1_loss"] + self.algo_config.kl_weight * losses["kl_loss"]
        else:
            losses["action_loss"] = losses["l1_loss"]
        return losses

    def train_on_batch(self, batch: dict, epoch: int, validate: bool = False) -> dict:
        with torch.set_grad_enabled(not validate):
            losses = self._compute_losses(self._forward_training(batch), batch)
            info = {"losses": {k: v.detach() for k, v in losses.items()}}
            if not validate:
                info["policy_grad_norm"] = self.backprop("policy", losses["action_loss"])
        return info

    def log_info(self, info: dict) -> dict:
        return {**super().log_info(info), **policy_loss_log(info)}

    # ----- deployment -----
    def get_action(self, obs_dict: dict, goal_dict: dict | None = None) -> torch.Tensor:
        """obs {k: (B, *shape)} -> the chunk (B, chunk_size, A) decoded with z = 0; index 0 is the current step."""
        self._check_eval()
        with torch.no_grad():
            chunk, _, _ = self.nets["policy"](obs_dict, goal_dict)
            return chunk
