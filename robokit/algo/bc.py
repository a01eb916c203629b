"""Behaviour cloning: BC, BC_Gaussian, BC_GMM, BC_VAE, BC_RNN, BC_RNN_GMM, BC_Transformer, BC_Transformer_GMM.

`algo_config_to_class` picks the variant from `algo.{gaussian,gmm,vae,rnn,transformer}.enabled`. The variants
share one skeleton: `_forward_training` -> `_compute_losses` -> `_train_step`, and differ in the network
(`_create_networks`), in which window steps they train on (`process_batch_for_training`) and in how the
action loss is computed.
"""

import dataclasses

import torch

from robokit.algo.base import PolicyAlgo
from robokit.algo.losses import action_losses, masked_log_prob, masked_mean, policy_loss_log, zero_padded_dims
from robokit.algo.registry import register_algo_factory_func
from robokit.errors import ConfigError
from robokit.models.policy_nets import MLPPolicy, RNNPolicy, TransformerPolicy, VAEPolicy
from robokit.models.vae import ActionVAE
from robokit.utils import batch_keys as K
from robokit.utils.tensors import to_device


def _enabled(algo_config, name: str) -> bool:
    section = getattr(algo_config, name, None)
    return bool(section is not None and getattr(section, "enabled", False))


@register_algo_factory_func("bc")
def algo_config_to_class(algo_config):
    """Map `config.algo` to the BC variant to build; an impossible combination is a ConfigError naming it."""
    on = {name: _enabled(algo_config, name) for name in ("gaussian", "gmm", "vae", "rnn", "transformer")}
    if on["rnn"] and on["transformer"]:
        raise ConfigError("algo.rnn.enabled and algo.transformer.enabled are both true; enable one sequence model")
    heads = [name for name in ("gaussian", "gmm", "vae") if on[name]]
    if len(heads) > 1:
        raise ConfigError(f"algo.{heads[0]}.enabled and algo.{heads[1]}.enabled are both true; enable at most one")
    sequence_model = "rnn" if on["rnn"] else "transformer" if on["transformer"] else None
    if sequence_model and heads and heads[0] != "gmm":
        raise ConfigError(
            f"algo.{heads[0]}.enabled cannot be combined with algo.{sequence_model}.enabled; "
            f"use algo.gmm.enabled for a stochastic {sequence_model} policy"
        )
    gmm = on["gmm"]
    if sequence_model == "rnn":
        return (BC_RNN_GMM if gmm else BC_RNN), {}
    if sequence_model == "transformer":
        return (BC_Transformer_GMM if gmm else BC_Transformer), {}
    if on["gaussian"]:
        return BC_Gaussian, {}
    if gmm:
        return BC_GMM, {}
    if on["vae"]:
        return BC_VAE, {}
    return BC, {}




def _as_dict(section) -> dict:
    return dataclasses.asdict(section) if dataclasses.is_dataclass(section) else dict(section)


class BC(PolicyAlgo):
    """Deterministic MLP policy trained with weighted L2 / L1 / cosine action losses.

    With `train.frame_stack = F > 1` the policy sees the last F observations, concatenated.
    """

    HEAD = "deterministic"
    SUPPORTS_ACTION_MASK = True  # every variant leaves padded action dims out of its loss

    # ----- networks -----
    @property
    def frame_stack(self) -> int:
        return self.global_config.train.frame_stack

    def _head_params(self) -> dict | None:
        return _as_dict(getattr(self.algo_config, self.HEAD)) if self.HEAD != "deterministic" else None

    def _create_networks(self) -> None:
        self.nets["policy"] = MLPPolicy(
            self._make_encoder(), self.ac_dim, self.algo_config.actor_layer_dims, self.HEAD, self._head_params(),
            n_frames=self.frame_stack,
        )

    # ----- training -----
    def _select_obs(self, obs: dict, steps: slice | int) -> dict:
        return {k: obs[k][:, steps] for k in self.obs_shapes}

    def process_batch_for_training(self, batch: dict) -> dict:
        """obs: the frames up to step t, (B, *shape) or (B, F, *shape); actions: the action at t, (B, A);
        the action mask (B, A) of a padded multi-robot batch, when it has one."""
        t = self.frame_stack - 1  # position of step t in the window
        steps = slice(0, t + 1) if self.frame_stack > 1 else t
        selected = {
            K.OBS: self._select_obs(batch[K.OBS], steps),
            K.ACTIONS: batch[K.ACTIONS][:, t],
            **self._goal_batch(batch),
        }
        if K.ACTION_MASK in batch:
            selected[K.ACTION_MASK] = batch[K.ACTION_MASK]
        return to_device(selected, self.device)

    def _forward_training(self, batch: dict):
        return self.nets["policy"](batch[K.OBS], batch.get(K.GOAL_OBS))

    def _compute_losses(self, predictions, batch: dict) -> dict:
        loss_cfg = self.algo_config.loss
        weights = {"l2_loss": loss_cfg.l2_weight, "l1_loss": loss_cfg.l1_weight, "cos_loss": loss_cfg.cos_weight}
        return action_losses(predictions, batch[K.ACTIONS], batch.get(K.PAD_MASK), weights,
                             untrained_terms=self.log_diagnostics, action_mask=batch.get(K.ACTION_MASK))

    def _train_step(self, losses: dict) -> dict:
        return {"policy_grad_norm": self.backprop("policy", losses["action_loss"])}

    def train_on_batch(self, batch: dict, epoch: int, validate: bool = False) -> dict:
        with torch.set_grad_enabled(not validate):
            losses = self._compute_losses(self._forward_training(batch), batch)
            info = {"losses": {k: v.detach() for k, v in losses.items()}}
            if not validate:
                info.update(self._train_step(losses))
        return info

    def log_info(self, info: dict) -> dict:
        return {**super().log_info(info), **policy_loss_log(info)}

    # ----- deployment -----
    def get_action(self, obs_dict: dict, goal_dict: dict | None = None) -> torch.Tensor:
        """obs {k: (B, *shape)} (or (B, F, *shape) with frame stacking) -> actions (B, A)."""
        self._check_eval()
        with torch.no_grad():
            out = self.nets["policy"](obs_dict, goal_dict)
            return self._action_from_output(out)

    def _action_from_output(self, out) -> torch.Tensor:
        return out


class _DistributionLoss:
    """Mixin: the policy outputs a distribution; the loss is its negative log-likelihood of the data."""

    def _compute_losses(self, predictions, batch: dict) -> dict:
        # (B,) or (B, T); over a robot's real action dims only (the marginal over its padded ones)
        log_prob = masked_log_prob(predictions, batch[K.ACTIONS], batch.get(K.ACTION_MASK))
        mask = batch.get(K.PAD_MASK)
        log_likelihood = masked_mean(log_prob, mask)
        return {"log_likelihood": log_likelihood, "action_loss": -log_likelihood}

    def _action_from_output(self, out) -> torch.Tensor:
        return out.sample()


class BC_Gaussian(_DistributionLoss, BC):
    """Diagonal-Gaussian policy trained by maximum likelihood."""

    HEAD = "gaussian"


class BC_GMM(_DistributionLoss, BC):
    """Gaussian-mixture policy trained by maximum likelihood (multimodal demonstrations)."""

    HEAD = "gmm"


class BC_VAE(BC):
    """Conditional-VAE policy: loss = reconstruction + kl_weight * KL; acts by decoding prior samples."""

    def _create_networks(self) -> None:
        if self.frame_stack != 1:
            raise ConfigError("BC_VAE uses a single observation; set train.frame_stack=1")
        encoder = self._make_encoder()
        self.nets["policy"] = VAEPolicy(encoder, action_vae_from_config(self.algo_config.vae, encoder.output_dim,
                                                                         self.ac_dim))

    def _forward_training(self, batch: dict):
        actions = zero_padded_dims(batch[K.ACTIONS], batch.get(K.ACTION_MASK))  # the encoder reads real dims only
        return self.nets["policy"].forward_train(batch[K.OBS], batch.get(K.GOAL_OBS), actions)

    def _compute_losses(self, predictions, batch: dict) -> dict:
        reconstruction, kl = predictions
        losses = vae_losses(reconstruction, kl, batch[K.ACTIONS], self.algo_config.vae, batch.get(K.ACTION_MASK))
        losses["action_loss"] = losses.pop("loss")
        return losses


def vae_losses(reconstruction: torch.Tensor, kl: torch.Tensor, target: torch.Tensor, vae_cfg,
               target_mask: torch.Tensor | None = None) -> dict:
    """ELBO terms of a VAE over (B, D) targets: reconstruction (mean or sum over D), KL, and their weighted sum.

    target_mask: (B, D) bool, False at padded dims (multi-robot actions): the reconstruction is then the sum or
    mean over the real dims only, and padded dims get exactly zero gradient."""
    squared_error = (reconstruction - target) ** 2  # (B, D)
    if target_mask is not None:
        real = target_mask.to(device=squared_error.device, dtype=torch.bool)
        squared_error = torch.where(real, squared_error, squared_error.new_zeros(()))
        total = squared_error.sum(-1)
        per_sample = (total if vae_cfg.decoder.reconstruction_sum_across_elements
                      else total / real.sum(-1).clamp_min(1).to(total.dtype))
    elif vae_cfg.decoder.reconstruction_sum_across_elements:
        per_sample = squared_error.sum(-1)
    else:
        per_sample = squared_error.mean(-1)
    losses = {"reconstruction_loss": per_sample.mean(), "kl_loss": kl.mean()}
    losses["loss"] = losses["reconstruction_loss"] + vae_cfg.kl_weight * losses["kl_loss"]
    return losses


def action_vae_from_config(vae_cfg, cond_dim: int, ac_dim: int, squash_output: bool = True) -> ActionVAE:
    """An `ActionVAE` from a `VAEConfig` section (BC_VAE, BCQ's action sampler, GL_VAE's subgoal model)."""
    if vae_cfg.prior.use_categorical:
        raise ConfigError(f"{vae_cfg.key_path('prior.use_categorical')} is not supported yet; set it to false")
    return ActionVAE(
        cond_dim=cond_dim,
        ac_dim=ac_dim,
        latent_dim=vae_cfg.latent_dim,
        encoder_layer_dims=vae_cfg.encoder_layer_dims,
        decoder_layer_dims=vae_cfg.decoder_layer_dims,
        prior_layer_dims=vae_cfg.prior_layer_dims,
        decoder_is_conditioned=vae_cfg.decoder.is_conditioned,
        latent_clip=vae_cfg.latent_clip,
        prior_learn=vae_cfg.prior.learn,
        prior_is_conditioned=vae_cfg.prior.is_conditioned,
        prior_use_gmm=vae_cfg.prior.use_gmm,
        prior_gmm_num_modes=vae_cfg.prior.gmm_num_modes,
        prior_gmm_learn_weights=vae_cfg.prior.gmm_learn_weights,
        squash_output=squash_output,
    )


class BC_RNN(BC):
    """Recurrent policy trained on windows of `train.seq_length` steps.

    At rollout time the hidden state is carried across `get_action` calls and reset every `algo.rnn.horizon`
    steps (robomimic's re-planning); with `algo.rnn.open_loop` the observation at the last reset is used.
    """

    def _create_networks(self) -> None:
        rnn = self.algo_config.rnn
        self.nets["policy"] = RNNPolicy(
            self._make_encoder(), self.ac_dim, self.algo_config.actor_layer_dims, self.HEAD, self._head_params(),
            hidden_dim=rnn.hidden_dim, num_layers=rnn.num_layers, rnn_type=rnn.rnn_type, rnn_kwargs=rnn.kwargs,
        )
        self.reset()

    def process_batch_for_training(self, batch: dict) -> dict:
        """The whole window: obs {k: (B, T, *shape)}, actions (B, T, A), pad_mask (B, T)."""
        obs = self._select_obs(batch[K.OBS], slice(None))
        if self.algo_config.rnn.open_loop:  # every step sees the window's first observation
            obs = {k: v[:, :1].expand_as(v) for k, v in obs.items()}
        selected = {K.OBS: obs, K.ACTIONS: batch[K.ACTIONS], K.PAD_MASK: batch.get(K.PAD_MASK),
                    K.ACTION_MASK: batch.get(K.ACTION_MASK), **self._goal_batch(batch)}
        return to_device(selected, self.device)

    def _forward_training(self, batch: dict):
        out, _ = self.nets["policy"](batch[K.OBS], batch.get(K.GOAL_OBS))
        return out

    def reset(self) -> None:
        self._rnn_state = None
        self._rnn_counter: torch.Tensor | None = None  # (B,) steps since each env's last re-plan
        self._open_loop_obs = None

    def reset_envs(self, env_mask) -> None:
        """Start the envs of `env_mask` (B,) bool afresh: they re-plan (zero hidden state) at their next step."""
        if self._rnn_counter is not None:
            mask = torch.as_tensor(env_mask, dtype=torch.bool, device=self._rnn_counter.device)
            self._rnn_counter = torch.where(mask, torch.zeros_like(self._rnn_counter), self._rnn_counter)

    def get_action(self, obs_dict: dict, goal_dict: dict | None = None) -> torch.Tensor:
        """obs {k: (B, *shape)} -> actions (B, A), advancing the hidden state one step.

        Each env re-plans (zero hidden state, new open-loop observation) every `algo.rnn.horizon` of its own
        steps, counted from its own reset (`reset_envs`), so envs of a batch may re-plan at different steps.
        """
        self._check_eval()
        policy = self.nets["policy"]
        batch_size = next(iter(obs_dict.values())).shape[0]
        if self._rnn_state is None or _state_batch_size(self._rnn_state) != batch_size:
            self._rnn_state = policy.initial_state(batch_size, self.device)
            self._rnn_counter = torch.zeros(batch_size, dtype=torch.long, device=self.device)
            self._open_loop_obs = obs_dict
        replan = self._rnn_counter % self.algo_config.rnn.horizon == 0  # (B,)
        if replan.any():
            fresh = policy.initial_state(batch_size, self.device)
            keep = lambda new, old: torch.where(replan.view(1, -1, 1), new, old)  # noqa: E731  (L, B, H)
            self._rnn_state = (tuple(keep(n, o) for n, o in zip(fresh, self._rnn_state))
                               if isinstance(self._rnn_state, tuple) else keep(fresh, self._rnn_state))
            self._open_loop_obs = {k: torch.where(replan.view(-1, *([1] * (v.dim() - 1))), v, self._open_loop_obs[k])
                                   for k, v in obs_dict.items()}
        self._rnn_counter = self._rnn_counter + 1
        obs = self._open_loop_obs if self.algo_config.rnn.open_loop else obs_dict
        with torch.no_grad():
            out, self._rnn_state = policy({k: v.unsqueeze(1) for k, v in obs.items()}, goal_dict, self._rnn_state)
            return self._action_from_output(out)[:, 0]


def _state_batch_size(state) -> int:
    return (state[0] if isinstance(state, tuple) else state).shape[1]


class BC_RNN_GMM(_DistributionLoss, BC_RNN):
    """Recurrent Gaussian-mixture policy (robomimic's strongest low-dim BC baseline)."""

    HEAD = "gmm"


class BC_Transformer(BC):
    """Causal transformer over the last `transformer.context_length` (= train.frame_stack) observations.

    Trained on the action at the last step, or at every step with `supervise_all_steps`; with
    `pred_future_acs` position i is trained on the action i steps after t (needs seq_length >= context_length).
    """

    def _create_networks(self) -> None:
        cfg = self.algo_config.transformer
        self.context_length = cfg.context_length
        params = dict(
            context_length=cfg.context_length, embed_dim=cfg.embed_dim, num_layers=cfg.num_layers,
            num_heads=cfg.num_heads, emb_dropout=cfg.emb_dropout, attn_dropout=cfg.attn_dropout,
            block_output_dropout=cfg.block_output_dropout, sinusoidal_embedding=cfg.sinusoidal_embedding,
            activation=cfg.activation, nn_parameter_for_timesteps=cfg.nn_parameter_for_timesteps, causal=cfg.causal,
        )
        self.nets["policy"] = TransformerPolicy(
            self._make_encoder(), self.ac_dim, self.algo_config.actor_layer_dims, self.HEAD, self._head_params(), params
        )

    def process_batch_for_training(self, batch: dict) -> dict:
        """obs {k: (B, h, *shape)} for the h = context_length frames up to t; actions (B, h, A); pad_mask (B, h)."""
        h = self.context_length
        cfg = self.algo_config.transformer
        first = h - 1 if cfg.pred_future_acs else 0
        actions = batch[K.ACTIONS][:, first : first + h]
        if actions.shape[1] != h:  # BCConfig.check rejects such configs; a hand-made batch can still be short
            raise ConfigError(
                f"algo.transformer.pred_future_acs needs {2 * h - 1} action steps per sample "
                f"(train.frame_stack - 1 + train.seq_length with train.seq_length >= {h}); got {batch[K.ACTIONS].shape[1]}"
            )
        mask = batch.get(K.PAD_MASK)
        mask = mask[:, first : first + h] if mask is not None else torch.ones(actions.shape[:2], dtype=torch.bool)
        if not cfg.supervise_all_steps:  # only the last position carries a loss
            mask = mask & (torch.arange(h) == h - 1)
        selected = {K.OBS: self._select_obs(batch[K.OBS], slice(0, h)), K.ACTIONS: actions, K.PAD_MASK: mask,
                    K.ACTION_MASK: batch.get(K.ACTION_MASK), **self._goal_batch(batch)}
        return to_device(selected, self.device)

    def get_action(self, obs_dict: dict, goal_dict: dict | None = None) -> torch.Tensor:
        """obs {k: (B, h, *shape)} (a single frame (B, *shape) is treated as h = 1) -> actions (B, A)."""
        self._check_eval()
        obs = {k: v if v.dim() == len(self.obs_shapes[k]) + 2 else v.unsqueeze(1) for k, v in obs_dict.items()}
        cfg = self.algo_config.transformer
        position = 0 if (cfg.pred_future_acs and cfg.supervise_all_steps) else -1
        with torch.no_grad():
            out = self.nets["policy"](obs, goal_dict)
            return self._action_from_output(out)[:, position]


class BC_Transformer_GMM(_DistributionLoss, BC_Transformer):
    """Transformer with a Gaussian-mixture action head."""

    HEAD = "gmm"
