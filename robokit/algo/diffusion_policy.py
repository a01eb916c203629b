"""Diffusion Policy (Chi et al. 2023, "Diffusion Policy: Visuomotor Policy Learning via Action Diffusion").

The policy denoises a chunk of Tp actions conditioned on the last To observations:

    training:   a ~ data (B, Tp, A) in [-1, 1], t ~ U{0..T-1}, eps ~ N(0, I), a_t = sqrt(ab_t) a + sqrt(1-ab_t) eps
                loss = mean over real (unpadded) steps and action dims of |net(a_t, t, obs) - target|^2
                (target: eps, a or v)
    acting:     a_T ~ N(0, I); a_{t'} = sampler.step(net(a_t, t, obs), t, t', a_t) for the DDPM / DDIM steps;
                the chunk from index To - 1 (the current step) on is returned, (B, Tp - To + 1, A), and
                `RolloutPolicy` executes action_horizon of its actions before re-planning (`chunk_spec`).

`algo_config_to_class` picks DP-C (`algo.unet.enabled`: the 1-D temporal UNet with FiLM conditioning) or DP-T
(`algo.transformer.enabled`). Observations go through the shared encoder (`Algo._make_encoder`: low-dim and
camera keys); its BatchNorm layers become GroupNorm, which averages well with EMA (robomimic does the same).
EMA and the per-step learning-rate schedule come from `Algo` (`algo.ema`, `learning_rate.step_every_batch`).
"""

from __future__ import annotations

import torch
from torch import nn

from robokit.algo.base import PolicyAlgo
from robokit.algo.chunking import ChunkSpec
from robokit.algo.losses import masked_entry_mean, policy_loss_log, zero_padded_dims
from robokit.algo.registry import register_algo_factory_func
from robokit.errors import ConfigError
from robokit.models.diffusion_unet import ConditionalUnet1D, DiffusionTransformer
from robokit.models.noise_schedulers import DDIM, DDPM
from robokit.utils import batch_keys as K
from robokit.utils.tensors import to_device


@register_algo_factory_func("diffusion_policy")
def algo_config_to_class(algo_config):
    """DP-C (algo.unet.enabled) or DP-T (algo.transformer.enabled); both or neither is a ConfigError."""
    unet, transformer = algo_config.unet.enabled, algo_config.transformer.enabled
    if unet and transformer:
        raise ConfigError("algo.unet.enabled and algo.transformer.enabled are both true; enable one denoiser")
    if unet:
        return DiffusionPolicyUNet, {}
    if transformer:
        return DiffusionPolicyTransformer, {}
    raise ConfigError("diffusion_policy needs a denoiser: set algo.unet.enabled=true (DP-C) or "
                      "algo.transformer.enabled=true (DP-T)")


def replace_batch_norm_with_group_norm(module: nn.Module, channels_per_group: int = 16) -> nn.Module:
    """Swap every BatchNorm2d of `module` for a GroupNorm with C / 16 groups (in place; returns `module`)."""
    for name, child in module.named_children():
        if isinstance(child, nn.BatchNorm2d):
            groups = max(1, child.num_features // channels_per_group)
            setattr(module, name, nn.GroupNorm(groups, child.num_features))
        else:
            replace_batch_norm_with_group_norm(child, channels_per_group)
    return module


def make_noise_schedule(algo_config) -> DDPM | DDIM:
    """The enabled sampler (algo.ddpm or algo.ddim) with its schedule."""
    if algo_config.ddpm.enabled:
        c = algo_config.ddpm
        return DDPM(c.num_train_timesteps, c.beta_schedule, c.clip_sample, c.prediction_type)
    c = algo_config.ddim
    return DDIM(c.num_train_timesteps, c.beta_schedule, c.clip_sample, c.prediction_type,
                set_alpha_to_one=c.set_alpha_to_one, steps_offset=c.steps_offset)


class DiffusionPolicy(PolicyAlgo):
    """The shared skeleton; variants build the denoiser (`_make_denoiser`) and shape its condition (`_condition`).

    Multi-robot data (ACTION_MASK): a robot's padded action dims are left out of the loss (exactly zero
    gradient) and held at 0 in the noisy actions the denoiser reads, in training and (`inference_action_mask`)
    in sampling, so the network never sees values there.
    """

    SUPPORTS_ACTION_MASK = True

    def _create_networks(self) -> None:
        h = self.algo_config.horizon
        self.n_obs, self.n_exec, self.n_pred = h.observation_horizon, h.action_horizon, h.prediction_horizon
        encoder = replace_batch_norm_with_group_norm(self._make_encoder())
        self.nets["policy"] = nn.ModuleDict({"encoder": encoder, "denoiser": self._make_denoiser(encoder.output_dim)})
        self.noise_schedule = make_noise_schedule(self.algo_config)
        self.num_inference_steps = self.algo_config.scheduler.num_inference_timesteps
        self._inference_steps = self.noise_schedule.inference_steps(self.num_inference_steps)

    def _make_denoiser(self, feature_dim: int) -> nn.Module:
        raise NotImplementedError

    def _condition(self, features: torch.Tensor) -> torch.Tensor:
        """Observation features (B, To, D) -> the denoiser's condition."""
        raise NotImplementedError

    @property
    def chunk_spec(self) -> ChunkSpec:
        """Execute action_horizon actions of each chunk, then re-plan."""
        return ChunkSpec(action_horizon=self.n_exec)

    # ----- training -----
    def process_batch_for_training(self, batch: dict) -> dict:
        """obs {k: (B, To, *shape)}: steps t-To+1..t; actions (B, Tp, A) and pad_mask (B, Tp) from step t-To+1."""
        obs = {k: batch[K.OBS][k][:, : self.n_obs] for k in self.obs_shapes}
        actions = batch[K.ACTIONS][:, : self.n_pred]
        if actions.shape[1] != self.n_pred or next(iter(obs.values())).shape[1] != self.n_obs:
            raise ConfigError(f"diffusion_policy needs windows of {self.n_obs} observations and {self.n_pred} actions "
                              f"(train.frame_stack={self.n_obs}, train.seq_length={self.n_pred}); the batch has "
                              f"{next(iter(obs.values())).shape[1]} and {actions.shape[1]}")
        mask = batch.get(K.PAD_MASK)
        mask = mask[:, : self.n_pred] if mask is not None else torch.ones(actions.shape[:2], dtype=torch.bool)
        return to_device({K.OBS: obs, K.ACTIONS: actions, K.PAD_MASK: mask, K.ACTION_MASK: batch.get(K.ACTION_MASK),
                          **self._goal_batch(batch)}, self.device)

    def _features(self, nets: nn.ModuleDict, obs: dict, goal: dict | None) -> torch.Tensor:
        return nets["encoder"](obs, goal)  # (B, To, D)

    def train_on_batch(self, batch: dict, epoch: int, validate: bool = False) -> dict:
        policy = self.nets["policy"]
        actions = batch[K.ACTIONS]  # (B, Tp, A), normalised to [-1, 1]
        b = actions.shape[0]
        with torch.set_grad_enabled(not validate):
            cond = self._condition(self._features(policy, batch[K.OBS], batch.get(K.GOAL_OBS)))
            noise = torch.randn_like(actions)
            timesteps = torch.randint(0, self.noise_schedule.num_train_timesteps, (b,), device=self.device)
            noisy = zero_padded_dims(self.noise_schedule.add_noise(actions, noise, timesteps),
                                 batch.get(K.ACTION_MASK))  # (B, Tp, A)
            prediction = policy["denoiser"](noisy, timesteps, cond)
            target = self.noise_schedule.training_target(actions, noise, timesteps)
            # over real entries: padded steps past the episode end and a robot's padded action dims count 0
            loss = masked_entry_mean((prediction - target) ** 2, batch.get(K.PAD_MASK), batch.get(K.ACTION_MASK))
            info = {"losses": {"l2_loss": loss.detach()}}
            if not validate:
                info["policy_grad_norm"] = self.backprop("policy", loss)
        return info

    def log_info(self, info: dict) -> dict:
        log = {**super().log_info(info), **policy_loss_log(info)}
        log["Loss"] = log["L2_Loss"]  # the denoising loss is the whole loss
        return log

    # ----- deployment -----
    @torch.no_grad()
    def sample_actions(self, obs_dict: dict, goal_dict: dict | None = None,
                       generator: torch.Generator | None = None) -> torch.Tensor:
        """The whole denoised sequence (B, Tp, A) in normalised units; obs {k: (B, To, *shape)}."""
        policy = self.nets["policy"]
        obs = {k: v if v.dim() == len(self.obs_shapes[k]) + 2 else v.unsqueeze(1) for k, v in obs_dict.items()}
        cond = self._condition(self._features(policy, obs, goal_dict))
        b = cond.shape[0]
        real = self.inference_action_mask  # (A,) bool for a robot fed by names, else None
        real = None if real is None else real.to(self.device).view(1, -1).expand(b, -1)
        x = zero_padded_dims(torch.randn((b, self.n_pred, self.ac_dim), generator=generator, device=self.device), real)
        for t, prev_t in self._inference_steps:
            x = self.noise_schedule.step(policy["denoiser"](x, t, cond), t, prev_t, x, generator=generator)
            x = zero_padded_dims(x, real)
        return x

    def get_action(self, obs_dict: dict, goal_dict: dict | None = None) -> torch.Tensor:
        """obs {k: (B, To, *shape)} -> a chunk (B, Tp - To + 1, A) whose index 0 is the current step's action."""
        self._check_eval()
        return self.sample_actions(obs_dict, goal_dict)[:, self.n_obs - 1:]


class DiffusionPolicyUNet(DiffusionPolicy):
    """DP-C: the UNet conditioned (FiLM) on the flattened features of the To observations."""

    def _make_denoiser(self, feature_dim: int) -> nn.Module:
        u = self.algo_config.unet
        return ConditionalUnet1D(self.ac_dim, feature_dim * self.algo_config.horizon.observation_horizon,
                                 u.diffusion_step_embed_dim, u.down_dims, u.kernel_size, u.n_groups)

    def _condition(self, features: torch.Tensor) -> torch.Tensor:
        return features.flatten(1)  # (B, To * D)


class DiffusionPolicyTransformer(DiffusionPolicy):
    """DP-T: a transformer decoder over the action tokens, cross-attending to one token per observation step."""

    def _make_denoiser(self, feature_dim: int) -> nn.Module:
        t, h = self.algo_config.transformer, self.algo_config.horizon
        return DiffusionTransformer(self.ac_dim, h.prediction_horizon, feature_dim, h.observation_horizon,
                                    n_layer=t.n_layer, n_head=t.n_head, n_emb=t.n_emb, p_drop_emb=t.p_drop_emb,
                                    p_drop_attn=t.p_drop_attn, causal_attn=t.causal_attn,
                                    n_cond_layers=t.n_cond_layers)

    def _condition(self, features: torch.Tensor) -> torch.Tensor:
        return features  # (B, To, D)
