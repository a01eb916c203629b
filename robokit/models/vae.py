"""Conditional VAE over actions: q(z | a, s), p(a | z, s), prior p(z) or p(z | s).

The prior is a unit Gaussian, a learned Gaussian, or a learned Gaussian mixture, each optionally
conditioned on the observation features.
"""

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn
from torch.distributions import Categorical, Independent, MixtureSameFamily, Normal

from robokit.models.mlp import MLP


class GaussianMLP(nn.Module):
    """(..., D) -> diagonal Gaussian over (..., Z)."""

    def __init__(self, input_dim: int, latent_dim: int, layer_dims: Sequence[int]):
        super().__init__()
        self.net = MLP(input_dim, 2 * latent_dim, layer_dims)

    def forward(self, x: torch.Tensor) -> Independent:
        mean, raw_std = self.net(x).chunk(2, dim=-1)
        return Independent(Normal(mean, F.softplus(raw_std) + 1e-4), 1)


class LearnedPrior(nn.Module):
    """A learned Gaussian or Gaussian-mixture prior, optionally conditioned on (B, D) features."""

    def __init__(self, latent_dim, cond_dim, is_conditioned, use_gmm, num_modes, learn_weights, layer_dims):
        super().__init__()
        self.latent_dim, self.is_conditioned = latent_dim, is_conditioned
        self.num_modes = num_modes if use_gmm else 1
        self.use_gmm, self.learn_weights = use_gmm, learn_weights
        n_params = self.num_modes * 2 * latent_dim + (self.num_modes if use_gmm and learn_weights else 0)
        if is_conditioned:
            self.net = MLP(cond_dim, n_params, layer_dims)
        else:
            self.params = nn.Parameter(torch.randn(n_params) * 0.1)

    def forward(self, cond: torch.Tensor, batch_size: int):
        raw = self.net(cond) if self.is_conditioned else self.params.expand(batch_size, -1)  # (B, P)
        M, Z = self.num_modes, self.latent_dim
        means = raw[:, : M * Z].reshape(-1, M, Z)
        stds = F.softplus(raw[:, M * Z : 2 * M * Z].reshape(-1, M, Z)) + 1e-4
        if not self.use_gmm:
            return Independent(Normal(means[:, 0], stds[:, 0]), 1)
        logits = raw[:, 2 * M * Z :] if self.learn_weights else torch.zeros(raw.shape[0], M, device=raw.device)
        return MixtureSameFamily(Categorical(logits=logits), Independent(Normal(means, stds), 1))


class ActionVAE(nn.Module):
    """VAE over actions (B, A) conditioned on observation features (B, D).

    Any flat target works in place of actions (GL_VAE models subgoal observations with `squash_output=False`).
    """

    def __init__(
        self,
        cond_dim: int,
        ac_dim: int,
        latent_dim: int,
        encoder_layer_dims: Sequence[int],
        decoder_layer_dims: Sequence[int],
        prior_layer_dims: Sequence[int],
        decoder_is_conditioned: bool = True,
        latent_clip: float | None = None,
        prior_learn: bool = False,
        prior_is_conditioned: bool = False,
        prior_use_gmm: bool = False,
        prior_gmm_num_modes: int = 10,
        prior_gmm_learn_weights: bool = False,
        squash_output: bool = True,
    ):
        super().__init__()
        self.latent_dim, self.latent_clip = latent_dim, latent_clip
        self.squash_output = squash_output  # tanh into [-1, 1] (actions); False for unbounded targets
        self.decoder_is_conditioned = decoder_is_conditioned
        self.encoder = GaussianMLP(cond_dim + ac_dim, latent_dim, encoder_layer_dims)
        dec_in = latent_dim + (cond_dim if decoder_is_conditioned else 0)
        self.decoder = MLP(dec_in, ac_dim, decoder_layer_dims)
        self.prior = (
            LearnedPrior(latent_dim, cond_dim, prior_is_conditioned, prior_use_gmm, prior_gmm_num_modes,
                         prior_gmm_learn_weights, prior_layer_dims)
            if prior_learn else None
        )

    def prior_distribution(self, cond: torch.Tensor):
        if self.prior is None:
            zeros = torch.zeros(cond.shape[0], self.latent_dim, device=cond.device)
            return Independent(Normal(zeros, torch.ones_like(zeros)), 1)
        return self.prior(cond, cond.shape[0])

    def decode(self, z: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        if self.latent_clip is not None:
            z = z.clamp(-self.latent_clip, self.latent_clip)
        dec_in = torch.cat([z, cond], dim=-1) if self.decoder_is_conditioned else z
        out = self.decoder(dec_in)  # (B, A)
        return torch.tanh(out) if self.squash_output else out

    def forward(self, cond: torch.Tensor, actions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Returns (reconstructed actions (B, A), KL(q || prior) per sample (B,))."""
        posterior = self.encoder(torch.cat([cond, actions], dim=-1))
        z = posterior.rsample()  # (B, Z)
        prior = self.prior_distribution(cond)
        if isinstance(prior, MixtureSameFamily):  # no closed form: single-sample Monte Carlo estimate
            kl = posterior.log_prob(z) - prior.log_prob(z)
        else:
            kl = torch.distributions.kl_divergence(posterior, prior)
        return self.decode(z, cond), kl

    def sample(self, cond: torch.Tensor) -> torch.Tensor:
        """Actions (B, A) decoded from prior samples."""
        return self.decode(self.prior_distribution(cond).sample(), cond)
