"""`LanguageEncoder`: an instruction's bag of words (N, V) -> a fixed-size embedding (N, D), learned from scratch.

The input is robokit.data.language's bag of words (word counts / number of words), so `bow @ weight` is the
mean of the instruction's learned word embeddings (rows of `weight`, one per vocabulary word; `<unk>` has
its own). No pretrained weights, nothing downloaded. It is the encoder of the "language" modality of
robokit.models.obs_encoder, so every algorithm's observation encoder concatenates it with the other inputs.
"""

import torch
from torch import nn


class LanguageEncoder(nn.Module):
    """(N, V) bag of words -> (N, embedding_dim): the mean of learned word embeddings."""

    def __init__(self, vocab_size: int, embedding_dim: int = 32):
        super().__init__()
        if vocab_size < 1 or embedding_dim < 1:
            raise ValueError(f"vocab_size and embedding_dim must be >= 1, got {vocab_size} and {embedding_dim}")
        self.weight = nn.Parameter(torch.randn(vocab_size, embedding_dim))  # (V, D), unit-variance embeddings
        self.output_dim = int(embedding_dim)

    def forward(self, bow: torch.Tensor) -> torch.Tensor:
        return bow.float() @ self.weight  # (N, V) @ (V, D) -> (N, D)
