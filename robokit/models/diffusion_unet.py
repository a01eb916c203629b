"""Denoising networks of Diffusion Policy (Chi et al. 2023): the 1-D temporal UNet with FiLM conditioning (DP-C)
and the transformer denoiser (DP-T).

Both map a noisy action sequence x_t (B, T, A), the diffusion timestep t and the observation features to the
network output (B, T, A) (the predicted noise, clean sample or v, as the noise schedule's prediction_type).
"""

from __future__ import annotations

import math
from typing import Sequence

import torch
from torch import nn


def timestep_tensor(timesteps, batch_size: int, device) -> torch.Tensor:
    """(B,) float timesteps from an int, a 0-d tensor or a (B,) tensor."""
    t = torch.as_tensor(timesteps, device=device)
    if t.dim() == 0:
        t = t.expand(batch_size)
    return t.float()


class SinusoidalEmbedding(nn.Module):
    """t (B,) -> (B, dim): [sin(t w_k), cos(t w_k)], w_k = 10000^(-k / (dim/2 - 1)) (the Transformer's encoding)."""

    def __init__(self, dim: int):
        super().__init__()
        if dim % 2 or dim < 4:
            raise ValueError(f"the timestep embedding size must be even and >= 4, got {dim}")
        half = dim // 2
        self.register_buffer("freqs", torch.exp(-math.log(10000.0) * torch.arange(half) / (half - 1)),
                             persistent=False)

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        angles = t.float()[:, None] * self.freqs[None, :]  # (B, dim/2)
        return torch.cat([angles.sin(), angles.cos()], dim=-1)


class ConvBlock1d(nn.Sequential):
    """Conv1d (same length) -> GroupNorm -> Mish over (B, C, T)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, n_groups: int):
        super().__init__(
            nn.Conv1d(in_channels, out_channels, kernel_size, padding=kernel_size // 2),
            nn.GroupNorm(n_groups, out_channels),
            nn.Mish(),
        )


class FiLMResidualBlock1d(nn.Module):
    """Two conv blocks; between them the features are modulated by the condition: h = scale(c) * h + bias(c)
    (FiLM, per channel); a 1x1 conv matches the residual's channels."""

    def __init__(self, in_channels: int, out_channels: int, cond_dim: int, kernel_size: int, n_groups: int):
        super().__init__()
        self.conv1 = ConvBlock1d(in_channels, out_channels, kernel_size, n_groups)
        self.conv2 = ConvBlock1d(out_channels, out_channels, kernel_size, n_groups)
        self.film = nn.Sequential(nn.Mish(), nn.Linear(cond_dim, 2 * out_channels))
        self.residual = nn.Conv1d(in_channels, out_channels, 1) if in_channels != out_channels else nn.Identity()

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        """x (B, C_in, T), cond (B, D) -> (B, C_out, T)."""
        h = self.conv1(x)  # (B, C_out, T)
        scale, bias = self.film(cond).unsqueeze(-1).chunk(2, dim=1)  # (B, C_out, 1) each
        h = self.conv2(scale * h + bias)
        return h + self.residual(x)


class ConditionalUnet1D(nn.Module):
    """DP-C: a UNet over the time axis of the action sequence, every residual block FiLM-conditioned on
    [timestep embedding, observation features].

    Args:
        input_dim: A, the action size.
        global_cond_dim: size of the flattened observation features (To x D).
        diffusion_step_embed_dim: size of the timestep embedding (sinusoidal -> MLP).
        down_dims: channels per level; the sequence length halves between levels, so T must be divisible by
            2 ** (len(down_dims) - 1).
        kernel_size: temporal convolution kernel (odd).
        n_groups: GroupNorm groups (divides every entry of down_dims).
    """

    def __init__(self, input_dim: int, global_cond_dim: int, diffusion_step_embed_dim: int = 256,
                 down_dims: Sequence[int] = (256, 512, 1024), kernel_size: int = 5, n_groups: int = 8):
        super().__init__()
        dims = [int(input_dim), *map(int, down_dims)]
        dsed = int(diffusion_step_embed_dim)
        self.time_embedding = nn.Sequential(
            SinusoidalEmbedding(dsed), nn.Linear(dsed, 4 * dsed), nn.Mish(), nn.Linear(4 * dsed, dsed)
        )
        cond_dim = dsed + int(global_cond_dim)
        block = lambda cin, cout: FiLMResidualBlock1d(cin, cout, cond_dim, kernel_size, n_groups)  # noqa: E731
        levels = list(zip(dims[:-1], dims[1:]))  # (in, out) channels per level
        self.down = nn.ModuleList()
        for i, (cin, cout) in enumerate(levels):
            last = i == len(levels) - 1
            self.down.append(nn.ModuleList([
                block(cin, cout), block(cout, cout),
                nn.Conv1d(cout, cout, 3, stride=2, padding=1) if not last else nn.Identity(),  # T -> T/2
            ]))
        self.mid = nn.ModuleList([block(dims[-1], dims[-1]), block(dims[-1], dims[-1])])
        self.up = nn.ModuleList()
        for cin, cout in reversed(levels[1:]):  # one upsampling per downsampling
            self.up.append(nn.ModuleList([
                block(2 * cout, cin), block(cin, cin),  # the skip connection doubles the input channels
                nn.ConvTranspose1d(cin, cin, 4, stride=2, padding=1),  # T/2 -> T
            ]))
        self.final = nn.Sequential(ConvBlock1d(dims[1], dims[1], kernel_size, n_groups),
                                   nn.Conv1d(dims[1], input_dim, 1))
        self.downsamplings = len(levels) - 1

    def forward(self, sample: torch.Tensor, timesteps, global_cond: torch.Tensor) -> torch.Tensor:
        """sample (B, T, A), timesteps int or (B,), global_cond (B, Dc) -> (B, T, A)."""
        b = sample.shape[0]
        cond = torch.cat([self.time_embedding(timestep_tensor(timesteps, b, sample.device)), global_cond], dim=-1)
        x = sample.transpose(1, 2)  # (B, A, T)
        skips = []
        for res1, res2, downsample in self.down:
            x = res2(res1(x, cond), cond)
            skips.append(x)
            x = downsample(x)
        for res in self.mid:
            x = res(x, cond)
        for res1, res2, upsample in self.up:
            x = torch.cat([x, skips.pop()], dim=1)  # (B, 2C, T'); the first level's skip stays unused
            x = upsample(res2(res1(x, cond), cond))
        return self.final(x).transpose(1, 2)  # (B, T, A)


class DiffusionTransformer(nn.Module):
    """DP-T: a transformer decoder over the action tokens that cross-attends to condition tokens
    [timestep embedding, one token per observation step] (the time-series diffusion transformer of the paper).

    Args:
        input_dim: A. horizon: T, action tokens. cond_dim: features per observation step (D). n_obs_steps: To.
        n_layer / n_head / n_emb: decoder layers, heads and width. p_drop_emb / p_drop_attn: dropout of the
        embeddings and inside the layers. causal_attn: action token i attends to action tokens <= i and to the
        observation tokens up to step i (the paper's default). n_cond_layers: transformer encoder layers over
        the condition tokens (0: a 2-layer MLP, as in the paper).
    """

    def __init__(self, input_dim: int, horizon: int, cond_dim: int, n_obs_steps: int, n_layer: int = 8,
                 n_head: int = 4, n_emb: int = 256, p_drop_emb: float = 0.0, p_drop_attn: float = 0.3,
                 causal_attn: bool = True, n_cond_layers: int = 0):
        super().__init__()
        self.horizon, self.n_obs_steps = int(horizon), int(n_obs_steps)
        n_cond = 1 + self.n_obs_steps  # timestep token + observation tokens
        self.input_emb = nn.Linear(input_dim, n_emb)
        self.pos_emb = nn.Parameter(torch.zeros(1, self.horizon, n_emb))
        self.time_emb = SinusoidalEmbedding(n_emb)
        self.cond_obs_emb = nn.Linear(cond_dim, n_emb)
        self.cond_pos_emb = nn.Parameter(torch.zeros(1, n_cond, n_emb))
        self.drop = nn.Dropout(p_drop_emb)
        if n_cond_layers > 0:
            layer = nn.TransformerEncoderLayer(n_emb, n_head, 4 * n_emb, p_drop_attn, activation="gelu",
                                               batch_first=True, norm_first=True)
            self.cond_encoder = nn.TransformerEncoder(layer, n_cond_layers, enable_nested_tensor=False)
        else:
            self.cond_encoder = nn.Sequential(nn.Linear(n_emb, 4 * n_emb), nn.Mish(), nn.Linear(4 * n_emb, n_emb))
        layer = nn.TransformerDecoderLayer(n_emb, n_head, 4 * n_emb, p_drop_attn, activation="gelu",
                                           batch_first=True, norm_first=True)
        self.decoder = nn.TransformerDecoder(layer, n_layer)
        if causal_attn:  # True = not allowed (boolean masks of nn.Transformer)
            t = torch.arange(self.horizon)
            s = torch.arange(n_cond)
            self.register_buffer("tgt_mask", t[None, :] > t[:, None], persistent=False)  # (T, T)
            # token s = 0 is the timestep (always visible); observation token s is step s - 1
            self.register_buffer("memory_mask", (s[None, :] - 1) > t[:, None], persistent=False)  # (T, S)
        else:
            self.tgt_mask = self.memory_mask = None
        self.ln_f = nn.LayerNorm(n_emb)
        self.head = nn.Linear(n_emb, input_dim)
        nn.init.normal_(self.pos_emb, std=0.02)
        nn.init.normal_(self.cond_pos_emb, std=0.02)

    def forward(self, sample: torch.Tensor, timesteps, obs_features: torch.Tensor) -> torch.Tensor:
        """sample (B, T, A), timesteps int or (B,), obs_features (B, To, D) -> (B, T, A)."""
        b = sample.shape[0]
        time_token = self.time_emb(timestep_tensor(timesteps, b, sample.device)).unsqueeze(1)  # (B, 1, E)
        cond = torch.cat([time_token, self.cond_obs_emb(obs_features)], dim=1)  # (B, S, E)
        memory = self.cond_encoder(self.drop(cond + self.cond_pos_emb))  # (B, S, E)
        x = self.drop(self.input_emb(sample) + self.pos_emb[:, : sample.shape[1]])  # (B, T, E)
        x = self.decoder(x, memory, tgt_mask=self.tgt_mask, memory_mask=self.memory_mask)
        return self.head(self.ln_f(x))  # (B, T, A)


__all__ = ["ConditionalUnet1D", "DiffusionTransformer", "FiLMResidualBlock1d", "SinusoidalEmbedding"]
