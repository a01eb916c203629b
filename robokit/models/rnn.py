"""Recurrent trunk (LSTM or GRU) over (B, T, D) sequences."""

import torch
from torch import nn

RNNState = torch.Tensor | tuple[torch.Tensor, torch.Tensor]


class RNNTrunk(nn.Module):
    """(B, T, input_dim) -> (B, T, output_dim), carrying a hidden state between calls."""

    def __init__(self, input_dim: int, hidden_dim: int, num_layers: int = 2, rnn_type: str = "LSTM", bidirectional=False):
        super().__init__()
        if rnn_type not in ("LSTM", "GRU"):
            raise ValueError(f"rnn_type must be 'LSTM' or 'GRU', got {rnn_type!r}")
        rnn_cls = nn.LSTM if rnn_type == "LSTM" else nn.GRU
        self.rnn = rnn_cls(input_dim, hidden_dim, num_layers=num_layers, batch_first=True, bidirectional=bidirectional)
        self.rnn_type, self.hidden_dim, self.num_layers = rnn_type, hidden_dim, num_layers
        self.num_directions = 2 if bidirectional else 1
        self.output_dim = hidden_dim * self.num_directions

    def initial_state(self, batch_size: int, device: torch.device) -> RNNState:
        """Zero hidden state: (num_layers * directions, B, H), a pair of them for an LSTM."""
        h = torch.zeros(self.num_layers * self.num_directions, batch_size, self.hidden_dim, device=device)
        return (h, torch.zeros_like(h)) if self.rnn_type == "LSTM" else h

    def forward(self, x: torch.Tensor, state: RNNState | None = None) -> tuple[torch.Tensor, RNNState]:
        if state is None:
            state = self.initial_state(x.shape[0], x.device)
        out, state = self.rnn(x, state)  # (B, T, H * directions)
        return out, state
