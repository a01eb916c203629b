"""Distribution heads: features -> a torch distribution over actions.

Means are squashed with tanh into [-1, 1] (actions are normalised or bounded there). At evaluation,
`low_noise_eval` shrinks the standard deviations so the sampled action is close to the mode.
"""

import torch
import torch.nn.functional as F
from torch import nn
from torch.distributions import Categorical, Independent, MixtureSameFamily, Normal, TransformedDistribution
from torch.distributions.transforms import TanhTransform

from robokit.models.mlp import Float32Linear

LOW_NOISE_STD = 1e-4
MAX_PRE_TANH_MEAN = 9.0  # tanh(9) = 1 - 3e-8: a larger pre-tanh mean cannot move the action


def _std_from_raw(raw: torch.Tensor, activation: str, min_std: float) -> torch.Tensor:
    if activation == "softplus":
        return F.softplus(raw) + min_std
    if activation == "exp":
        return torch.exp(raw) + min_std
    raise ValueError(f"unknown std_activation {activation!r}; use 'softplus' or 'exp'")


class GaussianHead(nn.Module):
    """(..., D) -> diagonal Gaussian over (..., A)."""

    def __init__(
        self,
        input_dim: int,
        ac_dim: int,
        fixed_std: bool = False,
        init_std: float = 0.1,
        min_std: float = 0.01,
        std_activation: str = "softplus",
        low_noise_eval: bool = True,
    ):
        super().__init__()
        self.ac_dim = ac_dim
        self.fixed_std, self.init_std, self.min_std = fixed_std, init_std, min_std
        self.std_activation, self.low_noise_eval = std_activation, low_noise_eval
        self.mean = Float32Linear(input_dim, ac_dim)
        self.raw_std = None if fixed_std else Float32Linear(input_dim, ac_dim)
        if self.raw_std is not None:
            nn.init.zeros_(self.raw_std.weight)
            nn.init.constant_(self.raw_std.bias, self._inverse_activation(init_std - min_std))

    def _inverse_activation(self, value: float) -> float:
        value = max(value, 1e-6)
        if self.std_activation == "softplus":
            return float(torch.log(torch.expm1(torch.tensor(value))))
        return float(torch.log(torch.tensor(value)))

    def _std(self, features: torch.Tensor, mean: torch.Tensor) -> torch.Tensor:
        """(..., A) standard deviations: fixed, or from the features; tiny at evaluation with low_noise_eval."""
        if self.low_noise_eval and not self.training:
            return torch.full_like(mean, LOW_NOISE_STD)
        if self.raw_std is None:
            return torch.full_like(mean, self.init_std)
        return _std_from_raw(self.raw_std(features), self.std_activation, self.min_std)

    def forward(self, features: torch.Tensor) -> Independent:
        mean = torch.tanh(self.mean(features))  # (..., A)
        return Independent(Normal(mean, self._std(features, mean)), 1)


class GMMHead(nn.Module):
    """(..., D) -> mixture of `num_modes` diagonal Gaussians over (..., A)."""

    def __init__(
        self,
        input_dim: int,
        ac_dim: int,
        num_modes: int = 5,
        min_std: float = 1e-4,
        std_activation: str = "softplus",
        low_noise_eval: bool = True,
    ):
        super().__init__()
        self.ac_dim, self.num_modes = ac_dim, num_modes
        self.min_std, self.std_activation, self.low_noise_eval = min_std, std_activation, low_noise_eval
        self.means = Float32Linear(input_dim, num_modes * ac_dim)
        self.raw_stds = Float32Linear(input_dim, num_modes * ac_dim)
        self.logits = Float32Linear(input_dim, num_modes)

    def forward(self, features: torch.Tensor) -> MixtureSameFamily:
        lead = features.shape[:-1]
        means = torch.tanh(self.means(features)).reshape(*lead, self.num_modes, self.ac_dim)  # (..., M, A)
        raw = self.raw_stds(features).reshape(*lead, self.num_modes, self.ac_dim)
        stds = _std_from_raw(raw, self.std_activation, self.min_std)  # (..., M, A)
        if self.low_noise_eval and not self.training:
            stds = torch.full_like(stds, LOW_NOISE_STD)
        components = Independent(Normal(means, stds), 1)
        return MixtureSameFamily(Categorical(logits=self.logits(features)), components)


class TanhGaussianHead(GaussianHead):
    """(..., D) -> tanh-squashed diagonal Gaussian over (..., A) (SAC / CQL actors).

    Unlike `GaussianHead` (a Gaussian whose mean is squashed), samples are squashed, so `rsample()` is
    differentiable and `log_prob` includes the tanh Jacobian; log_prob of actions at exactly +-1 is -inf,
    so callers clamp dataset actions slightly inside (-1, 1).
    """

    def forward(self, features: torch.Tensor) -> Independent:
        mean = self.mean(features).clamp(-MAX_PRE_TANH_MEAN, MAX_PRE_TANH_MEAN)  # (..., A) before tanh
        gaussian = Normal(mean, self._std(features, mean))
        return Independent(TransformedDistribution(gaussian, [TanhTransform(cache_size=1)]), 1)
