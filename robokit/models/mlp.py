"""Multi-layer perceptron."""

from typing import Sequence

import torch
from torch import nn

ACTIVATIONS = {"relu": nn.ReLU, "gelu": nn.GELU, "tanh": nn.Tanh, "elu": nn.ELU, "silu": nn.SiLU}


class Float32Linear(nn.Linear):
    """A Linear layer that computes in float32 even under bfloat16 autocast (`train.mixed_precision`).

    For output layers: Q-values, log-stds and logits need more than bfloat16's 8 bits of mantissa, and the
    layer is too small for its precision to cost time. Same parameters and state-dict keys as nn.Linear.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not torch.is_autocast_enabled(x.device.type):
            return super().forward(x)
        with torch.autocast(x.device.type, enabled=False):
            return super().forward(x.float())


def hidden_activation(name: str) -> nn.Module:
    """The activation after a hidden Linear layer. ReLU overwrites its input: nothing else reads a Linear's
    output, and skipping the allocation saved 10% of a float32 SAC gradient step (256x256, batch 256)."""
    return nn.ReLU(inplace=True) if name == "relu" else ACTIVATIONS[name]()


class MLP(nn.Module):
    """(..., input_dim) -> (..., output_dim) through hidden layers `layer_dims`.

    `output_dim=None` ends after the last hidden layer (then `output_dim` reports its width).
    """

    def __init__(
        self,
        input_dim: int,
        output_dim: int | None,
        layer_dims: Sequence[int] = (),
        activation: str = "relu",
        dropout: float = 0.0,
        output_activation: str | None = None,
    ):
        super().__init__()
        layers: list[nn.Module] = []
        width = input_dim
        for dim in layer_dims:
            layers += [nn.Linear(width, dim), hidden_activation(activation)]
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
            width = dim
        if output_dim is not None:
            layers.append(Float32Linear(width, output_dim))
            width = output_dim
            if output_activation is not None:
                layers.append(ACTIVATIONS[output_activation]())
        self.net = nn.Sequential(*layers)
        self.input_dim = input_dim
        self.output_dim = width

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)
