"""Policy networks: observation (+ goal) encoder -> trunk (MLP, RNN or transformer) -> action head.

A head is "deterministic" (Linear + tanh, returns actions), "gaussian" or "gmm" (return a distribution).
"""

from typing import Mapping, Sequence

import torch
from torch import nn

from robokit.models.distributions import GaussianHead, GMMHead, TanhGaussianHead
from robokit.models.mlp import MLP, Float32Linear
from robokit.models.obs_encoder import ObservationEncoder
from robokit.models.rnn import RNNState, RNNTrunk
from robokit.models.transformer import TransformerTrunk

Obs = Mapping[str, torch.Tensor]


class ObsGoalEncoder(nn.Module):
    """Observation features, with goal features (B, Dg) broadcast over the observation's leading dims."""

    def __init__(self, obs_shapes, goal_shapes=None, obs_modalities=None, encoder_configs=None):
        super().__init__()
        self.obs = ObservationEncoder(obs_shapes, obs_modalities, encoder_configs)
        self.goal = ObservationEncoder(goal_shapes, obs_modalities, encoder_configs) if goal_shapes else None
        self.output_dim = self.obs.output_dim + (self.goal.output_dim if self.goal is not None else 0)

    def forward(self, obs: Obs, goal: Obs | None = None) -> torch.Tensor:
        features = self.obs(obs)  # (*lead, D)
        if self.goal is None:
            return features
        if goal is None:
            raise ValueError("this policy is goal-conditioned: pass goal observations")
        goal_features = self.goal(goal)  # (B, Dg)
        while goal_features.dim() < features.dim():
            goal_features = goal_features.unsqueeze(1)
        goal_features = goal_features.expand(*features.shape[:-1], -1)  # (*lead, Dg)
        return torch.cat([features, goal_features], dim=-1)


class DeterministicHead(nn.Module):
    """(..., D) -> actions (..., A) in [-1, 1]."""

    def __init__(self, input_dim: int, ac_dim: int):
        super().__init__()
        self.linear = Float32Linear(input_dim, ac_dim)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.linear(features))


def make_action_head(kind: str, input_dim: int, ac_dim: int, params: Mapping | None = None) -> nn.Module:
    """kind: "deterministic" | "gaussian" | "tanh_gaussian" | "gmm"; params: the head's config values."""
    params = dict(params or {})
    params.pop("enabled", None)
    if kind == "deterministic":
        return DeterministicHead(input_dim, ac_dim)
    if kind == "gaussian":
        return GaussianHead(input_dim, ac_dim, **params)
    if kind == "gmm":
        return GMMHead(input_dim, ac_dim, **params)
    if kind == "tanh_gaussian":
        return TanhGaussianHead(input_dim, ac_dim, **params)
    raise ValueError(f"unknown action head {kind!r}")


class MLPPolicy(nn.Module):
    """obs {k: (B, *shape)} or, with frame stacking, {k: (B, F, *shape)} -> head over (B, A)."""

    def __init__(self, encoder: ObsGoalEncoder, ac_dim: int, layer_dims: Sequence[int], head: str,
                 head_params=None, n_frames: int = 1):
        super().__init__()
        self.encoder = encoder
        self.mlp = MLP(encoder.output_dim * n_frames, None, layer_dims)
        self.head = make_action_head(head, self.mlp.output_dim, ac_dim, head_params)

    def forward(self, obs: Obs, goal: Obs | None = None):
        features = self.encoder(obs, goal)  # (B, D) or (B, F, D)
        return self.head(self.mlp(features.reshape(features.shape[0], -1)))


class RNNPolicy(nn.Module):
    """obs {k: (B, T, *shape)} -> head over (B, T, A), plus the RNN state to carry to the next call."""

    def __init__(self, encoder: ObsGoalEncoder, ac_dim: int, layer_dims: Sequence[int], head: str, head_params,
                 hidden_dim: int, num_layers: int, rnn_type: str, rnn_kwargs: Mapping | None = None):
        super().__init__()
        self.encoder = encoder
        self.rnn = RNNTrunk(encoder.output_dim, hidden_dim, num_layers, rnn_type, **dict(rnn_kwargs or {}))
        self.mlp = MLP(self.rnn.output_dim, None, layer_dims)
        self.head = make_action_head(head, self.mlp.output_dim, ac_dim, head_params)

    def initial_state(self, batch_size: int, device) -> RNNState:
        return self.rnn.initial_state(batch_size, device)

    def forward(self, obs: Obs, goal: Obs | None = None, state: RNNState | None = None):
        features, state = self.rnn(self.encoder(obs, goal), state)  # (B, T, H)
        return self.head(self.mlp(features)), state


class TransformerPolicy(nn.Module):
    """obs {k: (B, T, *shape)} with T <= context_length -> head over (B, T, A) (causal: step t sees <= t)."""

    def __init__(self, encoder: ObsGoalEncoder, ac_dim: int, layer_dims: Sequence[int], head: str, head_params,
                 transformer_params: Mapping):
        super().__init__()
        self.encoder = encoder
        self.transformer = TransformerTrunk(encoder.output_dim, **transformer_params)
        self.mlp = MLP(self.transformer.output_dim, None, layer_dims)
        self.head = make_action_head(head, self.mlp.output_dim, ac_dim, head_params)

    def forward(self, obs: Obs, goal: Obs | None = None):
        return self.head(self.mlp(self.transformer(self.encoder(obs, goal))))


class VAEPolicy(nn.Module):
    """Observation (+ goal) features condition an `ActionVAE`; actions are decoded from prior samples."""

    def __init__(self, encoder: ObsGoalEncoder, vae: nn.Module):
        super().__init__()
        self.encoder, self.vae = encoder, vae

    def forward_train(self, obs: Obs, goal: Obs | None, actions: torch.Tensor):
        """Returns (reconstruction (B, A), KL per sample (B,))."""
        return self.vae(self.encoder(obs, goal), actions)

    def forward(self, obs: Obs, goal: Obs | None = None) -> torch.Tensor:
        return self.vae.sample(self.encoder(obs, goal))  # (B, A)


class PerturbationActor(nn.Module):
    """BCQ's actor: nudges proposed actions (B, A) by at most `perturbation_scale` per dimension.

    a' = clip(a + scale * tanh(MLP([features(s, g), a])), -1, 1)
    """

    def __init__(self, encoder: ObsGoalEncoder, ac_dim: int, layer_dims: Sequence[int], perturbation_scale: float):
        super().__init__()
        self.encoder = encoder
        self.mlp = MLP(encoder.output_dim + ac_dim, ac_dim, layer_dims)
        self.perturbation_scale = float(perturbation_scale)

    def forward(self, obs: Obs, actions: torch.Tensor, goal: Obs | None = None) -> torch.Tensor:
        features = torch.cat([self.encoder(obs, goal), actions], dim=-1)  # (B, D + A)
        perturbation = self.perturbation_scale * torch.tanh(self.mlp(features))  # (B, A)
        return (actions + perturbation).clamp(-1.0, 1.0)
