"""Policies of the online RL algorithms: SAC's squashed Gaussian actor and the PPO / A2C actor-critic.

Actions live in [-1, 1]^A (the loop and RolloutPolicy scale them to the environment's bounds).

- `SquashedGaussianActor` (SAC): a = tanh(u), u ~ N(mean(s), exp(clamp(log_std(s)))). It samples and
  computes the log-probability with the tanh correction in closed form (no torch.distributions objects on
  the hot path) and acts deterministically with tanh(mean). `TanhGaussianHead` in distributions.py is the
  distribution-object version used by the offline algorithms.
- `GaussianActorCritic` (PPO, A2C): a Gaussian policy with a state-independent log-std and a separate value
  network, both MLPs with tanh activations and orthogonal initialisation, as in Stable-Baselines3.
"""

import math
from collections.abc import Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from robokit.models.mlp import MLP, Float32Linear
from robokit.models.policy_nets import ObsGoalEncoder

Obs = Mapping[str, torch.Tensor]
LOG_2PI = math.log(2.0 * math.pi)


def gaussian_log_prob(x: torch.Tensor, mean: torch.Tensor, log_std: torch.Tensor) -> torch.Tensor:
    """log N(x; mean, exp(log_std)^2) summed over the last dim: (..., A) -> (...)."""
    z = (x - mean) * torch.exp(-log_std)
    return -(0.5 * z.pow(2) + log_std + 0.5 * LOG_2PI).sum(-1)


def tanh_log_det_jacobian(u: torch.Tensor) -> torch.Tensor:
    """sum log(1 - tanh(u)^2) over the last dim, stably: 2 * (log 2 - u - softplus(-2u)). (..., A) -> (...)."""
    return (2.0 * (math.log(2.0) - u - F.softplus(-2.0 * u))).sum(-1)


class SquashedGaussianActor(nn.Module):
    """obs {k: (B, *shape)} -> (mean, log_std), each (B, A), of the Gaussian before the tanh."""

    def __init__(self, encoder: ObsGoalEncoder, ac_dim: int, layer_dims: Sequence[int],
                 log_std_min: float = -20.0, log_std_max: float = 2.0):
        super().__init__()
        self.encoder = encoder
        self.trunk = MLP(encoder.output_dim, None, layer_dims)  # (B, H), ends with an activation
        self.head = Float32Linear(self.trunk.output_dim, 2 * ac_dim)  # mean and log_std
        self.log_std_min, self.log_std_max = float(log_std_min), float(log_std_max)

    def forward(self, obs: Obs, goal: Obs | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        mean, log_std = self.head(self.trunk(self.encoder(obs, goal))).chunk(2, dim=-1)  # (B, A) each
        return mean, log_std.clamp(self.log_std_min, self.log_std_max)

    def sample(self, obs: Obs, goal: Obs | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Reparameterised actions (B, A) in (-1, 1) and their log-probabilities (B,)."""
        mean, log_std = self(obs, goal)
        u = mean + torch.randn_like(mean) * log_std.exp()  # (B, A) pre-tanh sample
        log_prob = gaussian_log_prob(u, mean, log_std) - tanh_log_det_jacobian(u)  # (B,)
        return torch.tanh(u), log_prob

    def mode(self, obs: Obs, goal: Obs | None = None) -> torch.Tensor:
        """The deterministic action tanh(mean): (B, A)."""
        return torch.tanh(self(obs, goal)[0])


def orthogonal_init_(module: nn.Module, gain: float) -> None:
    """Orthogonal weights with `gain` and zero biases for every Linear layer in `module`."""
    for layer in module.modules():
        if isinstance(layer, nn.Linear):
            nn.init.orthogonal_(layer.weight, gain=gain)
            nn.init.zeros_(layer.bias)


class GaussianActorCritic(nn.Module):
    """PPO / A2C networks: a Gaussian policy over (B, A) and a state value (B,), with separate MLP trunks.

    The policy's mean is unbounded (actions are clipped to [-1, 1] before they reach the environment); its
    log-std is one learned parameter per action dimension.
    """

    def __init__(self, actor_encoder: ObsGoalEncoder, critic_encoder: ObsGoalEncoder, ac_dim: int,
                 actor_layer_dims: Sequence[int], critic_layer_dims: Sequence[int], activation: str = "tanh",
                 log_std_init: float = 0.0, ortho_init: bool = True):
        super().__init__()
        self.actor_encoder, self.critic_encoder = actor_encoder, critic_encoder
        self.actor = MLP(actor_encoder.output_dim, None, actor_layer_dims, activation=activation)
        self.mean = Float32Linear(self.actor.output_dim, ac_dim)
        self.log_std = nn.Parameter(torch.full((ac_dim,), float(log_std_init)))
        self.critic = MLP(critic_encoder.output_dim, 1, critic_layer_dims, activation=activation)
        if ortho_init:
            orthogonal_init_(self.actor, math.sqrt(2.0))
            orthogonal_init_(self.critic, math.sqrt(2.0))
            orthogonal_init_(self.mean, 0.01)
            orthogonal_init_(self.critic.net[-1], 1.0)

    def policy(self, obs: Obs) -> tuple[torch.Tensor, torch.Tensor]:
        """(mean (B, A), log_std (B, A))."""
        mean = self.mean(self.actor(self.actor_encoder(obs)))
        return mean, self.log_std.expand_as(mean)

    def value(self, obs: Obs) -> torch.Tensor:
        """V(s): (B,)."""
        return self.critic(self.critic_encoder(obs)).squeeze(-1)

    def evaluate(self, obs: Obs, actions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """log-probs (B,) of `actions` (B, A), entropies (B,) and values (B,)."""
        mean, log_std = self.policy(obs)
        entropy = (log_std + 0.5 * (1.0 + LOG_2PI)).sum(-1)
        return gaussian_log_prob(actions, mean, log_std), entropy, self.value(obs)

    def sample(self, obs: Obs) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Sampled actions (B, A) (unclipped), their log-probs (B,) and the values (B,)."""
        mean, log_std = self.policy(obs)
        actions = mean + torch.randn_like(mean) * log_std.exp()
        return actions, gaussian_log_prob(actions, mean, log_std), self.value(obs)
