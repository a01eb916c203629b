"""GPT-style transformer trunk over a context of (B, T, D) embeddings."""

import math

import torch
import torch.nn.functional as F
from torch import nn

from robokit.models.mlp import ACTIVATIONS


class SelfAttention(nn.Module):
    """Multi-head self-attention, (B, T, E) -> (B, T, E), optionally causal."""

    def __init__(self, embed_dim: int, num_heads: int, attn_dropout: float, output_dropout: float, causal: bool):
        super().__init__()
        self.qkv = nn.Linear(embed_dim, 3 * embed_dim)
        self.proj = nn.Linear(embed_dim, embed_dim)
        self.num_heads, self.causal, self.attn_dropout = num_heads, causal, attn_dropout
        self.output_dropout = nn.Dropout(output_dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, T, E = x.shape
        q, k, v = self.qkv(x).split(E, dim=-1)
        q, k, v = (t.reshape(B, T, self.num_heads, E // self.num_heads).transpose(1, 2) for t in (q, k, v))  # (B, h, T, e)
        y = F.scaled_dot_product_attention(
            q, k, v, dropout_p=self.attn_dropout if self.training else 0.0, is_causal=self.causal
        )  # (B, h, T, e)
        y = y.transpose(1, 2).reshape(B, T, E)
        return self.output_dropout(self.proj(y))


class TransformerBlock(nn.Module):
    """Pre-norm block: x + attn(ln(x)), then x + mlp(ln(x))."""

    def __init__(self, embed_dim, num_heads, attn_dropout, output_dropout, activation, causal):
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(embed_dim), nn.LayerNorm(embed_dim)
        self.attn = SelfAttention(embed_dim, num_heads, attn_dropout, output_dropout, causal)
        self.mlp = nn.Sequential(
            nn.Linear(embed_dim, 4 * embed_dim),
            ACTIVATIONS[activation](),
            nn.Linear(4 * embed_dim, embed_dim),
            nn.Dropout(output_dropout),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln1(x))
        return x + self.mlp(self.ln2(x))


def sinusoidal_positions(length: int, dim: int) -> torch.Tensor:
    """Fixed sin/cos position codes, (length, dim)."""
    position = torch.arange(length).unsqueeze(1)
    freq = torch.exp(torch.arange(0, dim, 2) * (-math.log(10000.0) / dim))
    codes = torch.zeros(length, dim)
    codes[:, 0::2] = torch.sin(position * freq)
    codes[:, 1::2] = torch.cos(position * freq[: dim // 2])
    return codes


class TransformerTrunk(nn.Module):
    """(B, T, input_dim) -> (B, T, embed_dim) with T <= context_length."""

    def __init__(
        self,
        input_dim: int,
        context_length: int,
        embed_dim: int = 512,
        num_layers: int = 6,
        num_heads: int = 8,
        emb_dropout: float = 0.1,
        attn_dropout: float = 0.1,
        block_output_dropout: float = 0.1,
        sinusoidal_embedding: bool = False,
        activation: str = "gelu",
        nn_parameter_for_timesteps: bool = True,
        causal: bool = True,
    ):
        super().__init__()
        self.context_length = context_length
        self.input_embedding = nn.Linear(input_dim, embed_dim)
        if sinusoidal_embedding:
            self.register_buffer("fixed_positions", sinusoidal_positions(context_length, embed_dim))
            self.positions = None
        elif nn_parameter_for_timesteps:
            self.positions = nn.Parameter(torch.zeros(context_length, embed_dim))
            nn.init.normal_(self.positions, std=0.02)
        else:
            self.positions = nn.Embedding(context_length, embed_dim)
        self.embed_dropout = nn.Dropout(emb_dropout)
        self.blocks = nn.Sequential(
            *[
                TransformerBlock(embed_dim, num_heads, attn_dropout, block_output_dropout, activation, causal)
                for _ in range(num_layers)
            ]
        )
        self.ln_out = nn.LayerNorm(embed_dim)
        self.output_dim = embed_dim

    def _position_codes(self, T: int, device) -> torch.Tensor:
        if self.positions is None:
            return self.fixed_positions[:T]
        if isinstance(self.positions, nn.Embedding):
            return self.positions(torch.arange(T, device=device))
        return self.positions[:T]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        T = x.shape[1]
        if T > self.context_length:
            raise ValueError(f"sequence of {T} steps exceeds context_length {self.context_length}")
        h = self.input_embedding(x) + self._position_codes(T, x.device)  # (B, T, E)
        return self.ln_out(self.blocks(self.embed_dropout(h)))
