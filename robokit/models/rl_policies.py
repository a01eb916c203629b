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


def tanh_log_det_jacobian(u: torch.Tensor, epsilon: float = 0.0) -> torch.Tensor:
    """sum log(1 - tanh(u)^2) over the last dim: (..., A) -> (...). Exactly and stably, 2 (log 2 - u -
    softplus(-2u)), when epsilon is 0; else log(1 - tanh(u)^2 + epsilon), the SAC authors' and Stable-Baselines3's
    form, which stops falling at log(epsilon) per dimension once tanh(u) saturates."""
    if epsilon > 0:
        return torch.log(1.0 - torch.tanh(u).pow(2) + epsilon).sum(-1)
    return (2.0 * (math.log(2.0) - u - F.softplus(-2.0 * u))).sum(-1)


def squashed_gaussian_sample(mean: torch.Tensor, log_std: torch.Tensor, eps: torch.Tensor | None = None,
                             log_prob_epsilon: float = 0.0):
    """a = tanh(u), u = mean + eps * exp(log_std), eps ~ N(0, 1) (drawn unless given): actions (B, A),
    log pi(a) (B,) and eps (B, A); `log_prob_epsilon` as in `tanh_log_det_jacobian`."""
    eps = torch.randn_like(mean) if eps is None else eps
    u = mean + eps * log_std.exp()  # (B, A) pre-tanh sample
    gaussian = -(0.5 * eps.pow(2) + log_std).sum(-1) - 0.5 * LOG_2PI * mean.shape[-1]  # log N(u; mean, std)
    return torch.tanh(u), gaussian - tanh_log_det_jacobian(u, log_prob_epsilon), eps


class SquashedGaussianActor(nn.Module):
    """obs {k: (B, *shape)} -> (mean, log_std), each (B, A), of the Gaussian before the tanh."""

    def __init__(self, encoder: ObsGoalEncoder, ac_dim: int, layer_dims: Sequence[int],
                 log_std_min: float = -20.0, log_std_max: float = 2.0, log_prob_epsilon: float = 0.0):
        super().__init__()
        self.encoder = encoder
        self.trunk = MLP(encoder.output_dim, None, layer_dims)  # (B, H), ends with an activation
        self.head = Float32Linear(self.trunk.output_dim, 2 * ac_dim)  # mean and log_std
        self.log_std_min, self.log_std_max = float(log_std_min), float(log_std_max)
        self.log_prob_epsilon = float(log_prob_epsilon)  # see tanh_log_det_jacobian

    def forward(self, obs: Obs, goal: Obs | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        mean, log_std = self.head(self.trunk(self.encoder(obs, goal))).chunk(2, dim=-1)  # (B, A) each
        return mean, log_std.clamp(self.log_std_min, self.log_std_max)

    def sample(self, obs: Obs, goal: Obs | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Reparameterised actions (B, A) in (-1, 1) and their log-probabilities (B,)."""
        actions, log_prob, _ = squashed_gaussian_sample(*self(obs, goal), log_prob_epsilon=self.log_prob_epsilon)
        return actions, log_prob

    def sample_actions(self, obs: Obs, goal: Obs | None = None) -> torch.Tensor:
        """`sample`'s actions (B, A) without their log-probabilities (exploration: the same noise draws)."""
        mean, log_std = self(obs, goal)
        return torch.tanh(mean + torch.randn_like(mean) * log_std.exp())

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
    """PPO / A2C networks: a Gaussian policy over (B, A) and a state value (B,), with separate encoders and trunks.

    The policy's mean is unbounded (actions are clipped to [-1, 1] before they reach the environment); its
    log-std is one learned parameter per action dimension.
    """

    def __init__(self, actor_encoder: ObsGoalEncoder, critic_encoder: ObsGoalEncoder, ac_dim: int,
                 actor_layer_dims: Sequence[int], critic_layer_dims: Sequence[int], activation: str = "tanh",
                 log_std_init: float = 0.0, ortho_init: bool = True):
        super().__init__()
        self.actor_encoder, self.critic_encoder = actor_encoder, critic_encoder
        self.actor = MLP(actor_encoder.output_dim, None, actor_layer_dims, activation=activation)  # (B, Ha)
        self.critic = MLP(critic_encoder.output_dim, None, critic_layer_dims, activation=activation)  # (B, Hc)
        self.mean = Float32Linear(self.actor.output_dim, ac_dim)
        self.value_head = Float32Linear(self.critic.output_dim, 1)
        self.log_std = nn.Parameter(torch.full((ac_dim,), float(log_std_init)))
        if ortho_init:  # Stable-Baselines3's gains
            orthogonal_init_(self.actor, math.sqrt(2.0))
            orthogonal_init_(self.critic, math.sqrt(2.0))
            orthogonal_init_(self.mean, 0.01)
            orthogonal_init_(self.value_head, 1.0)

    def action_mean(self, obs: Obs) -> torch.Tensor:
        """The policy's mean: (B, A)."""
        return self.mean(self.actor(self.actor_encoder(obs)))

    def value(self, obs: Obs) -> torch.Tensor:
        """V(s): (B,)."""
        return self.value_head(self.critic(self.critic_encoder(obs))).squeeze(-1)

    def forward(self, obs: Obs) -> tuple[torch.Tensor, torch.Tensor]:
        """The policy's mean (B, A) and the value (B,)."""
        return self.action_mean(obs), self.value(obs)

    def policy(self, obs: Obs) -> tuple[torch.Tensor, torch.Tensor]:
        """(mean (B, A), log_std (B, A))."""
        mean = self.action_mean(obs)
        return mean, self.log_std.expand_as(mean)

    def evaluate(self, obs: Obs, actions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """log-probs (B,) of `actions` (B, A) and values (B,)."""
        mean, values = self(obs)
        return self.log_prob(actions, mean), values

    def entropy(self) -> torch.Tensor:
        """The policy's entropy, a scalar: the same for every state (the log-std is state-independent)."""
        return (self.log_std + 0.5 * (1.0 + LOG_2PI)).sum()

    def log_prob(self, actions: torch.Tensor, mean: torch.Tensor) -> torch.Tensor:
        """log N(actions; mean, exp(log_std)^2) summed over actions, the state-independent log-std summed once, not
        per row: (B, A) -> (B,)."""
        z = (actions - mean) * torch.exp(-self.log_std)
        return -0.5 * z.square().sum(-1) - (self.log_std.sum() + 0.5 * LOG_2PI * z.shape[-1])

    def sample(self, obs: Obs) -> torch.Tensor:
        """Sampled actions (B, A), unclipped."""
        mean = self.action_mean(obs)
        return mean + torch.randn_like(mean) * self.log_std.exp()
