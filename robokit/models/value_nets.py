"""Value networks: state values V(s, g), action values Q(s, a, g), C51 distributional critics and ensembles.

Every network encodes the observation (and goal) with an `ObsGoalEncoder`, so image observations work the
same way as in the policies. Outputs are squeezed: a batch of B inputs gives values of shape (B,).
`value_bounds=(low, high)` squashes the output with a scaled tanh into that range.
"""

from typing import Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from robokit.models.mlp import MLP
from robokit.models.policy_nets import ObsGoalEncoder

Obs = Mapping[str, torch.Tensor]


def _check_bounds(value_bounds) -> tuple[float, float] | None:
    if value_bounds is None:
        return None
    low, high = (float(v) for v in value_bounds)
    if not low < high:
        raise ValueError(f"value_bounds must be (low, high) with low < high, got {tuple(value_bounds)}")
    return low, high


class _BoundedOutput(nn.Module):
    """(..., 1) raw outputs -> (...) values, squashed into `value_bounds` when given."""

    def __init__(self, value_bounds=None):
        super().__init__()
        self.value_bounds = _check_bounds(value_bounds)

    def forward(self, raw: torch.Tensor) -> torch.Tensor:
        raw = raw.squeeze(-1)
        if self.value_bounds is None:
            return raw
        low, high = self.value_bounds
        return low + (high - low) * 0.5 * (torch.tanh(raw) + 1.0)


class ValueNetwork(nn.Module):
    """V(s, g): obs {k: (B, *shape)} (+ goal) -> (B,)."""

    def __init__(self, encoder: ObsGoalEncoder, layer_dims: Sequence[int], value_bounds=None):
        super().__init__()
        self.encoder = encoder
        self.mlp = MLP(encoder.output_dim, 1, layer_dims)
        self.output = _BoundedOutput(value_bounds)

    def forward(self, obs: Obs, goal: Obs | None = None) -> torch.Tensor:
        return self.output(self.mlp(self.encoder(obs, goal)))


class ActionValueNetwork(nn.Module):
    """Q(s, a, g): obs {k: (B, *shape)}, actions (B, A) (+ goal) -> (B,)."""

    def __init__(self, encoder: ObsGoalEncoder, ac_dim: int, layer_dims: Sequence[int], value_bounds=None):
        super().__init__()
        self.encoder = encoder
        self.mlp = MLP(encoder.output_dim + ac_dim, 1, layer_dims)
        self.output = _BoundedOutput(value_bounds)

    def forward(self, obs: Obs, actions: torch.Tensor, goal: Obs | None = None) -> torch.Tensor:
        features = torch.cat([self.encoder(obs, goal), actions], dim=-1)  # (B, D + A)
        return self.output(self.mlp(features))


class DistributionalActionValueNetwork(nn.Module):
    """C51 critic: a categorical distribution over `num_atoms` values evenly spaced in `value_bounds`.

    `logits(obs, actions, goal)` -> (B, N); `forward` -> expected value (B,); `atoms` is (N,).
    """

    def __init__(self, encoder: ObsGoalEncoder, ac_dim: int, layer_dims: Sequence[int], value_bounds,
                 num_atoms: int = 51):
        super().__init__()
        bounds = _check_bounds(value_bounds)
        if bounds is None:
            raise ValueError("a distributional critic needs value_bounds=(low, high) for its atoms")
        self.encoder = encoder
        self.mlp = MLP(encoder.output_dim + ac_dim, num_atoms, layer_dims)
        self.register_buffer("atoms", torch.linspace(bounds[0], bounds[1], num_atoms))  # (N,)

    def logits(self, obs: Obs, actions: torch.Tensor, goal: Obs | None = None) -> torch.Tensor:
        return self.mlp(torch.cat([self.encoder(obs, goal), actions], dim=-1))  # (B, N)

    def forward(self, obs: Obs, actions: torch.Tensor, goal: Obs | None = None) -> torch.Tensor:
        return F.softmax(self.logits(obs, actions, goal), dim=-1) @ self.atoms  # (B,)


class CriticEnsemble(nn.ModuleList):
    """K critics with independent weights: `forward(*inputs)` -> (K, B), one row per member."""

    def forward(self, *inputs, **kwargs) -> torch.Tensor:
        return torch.stack([critic(*inputs, **kwargs) for critic in self])


def project_onto_atoms(values: torch.Tensor, probs: torch.Tensor, atoms: torch.Tensor) -> torch.Tensor:
    """C51 projection: mass `probs` (B, N) sitting at `values` (B, N) spread onto the fixed `atoms` (N,).

    Each value is clipped to the atom range and its mass split between the two nearest atoms in proportion
    to closeness. Returns (B, N) probabilities on `atoms`.
    """
    low, high = atoms[0], atoms[-1]
    delta = (high - low) / (atoms.shape[0] - 1)
    position = (values.clamp(low, high) - low) / delta  # (B, N) fractional atom index
    lower = position.floor().long().clamp(max=atoms.shape[0] - 1)
    upper = (lower + 1).clamp(max=atoms.shape[0] - 1)
    upper_weight = position - lower.to(position.dtype)  # 0 when the value sits exactly on an atom
    projected = torch.zeros_like(probs)
    projected.scatter_add_(-1, lower, probs * (1.0 - upper_weight))
    projected.scatter_add_(-1, upper, probs * upper_weight)
    return projected

