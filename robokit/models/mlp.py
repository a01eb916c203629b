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


class PairedMLP(nn.Module):
    """Two MLPs of the same shape (e.g. an actor's and a critic's trunk) evaluated together, one batched matmul
    per layer: (B, D) shared by both, or (2, B, D) one input each -> (2, B, H), H = layer_dims[-1].

    Every layer ends with the activation. For small networks on small batches a layer costs its kernel-launch
    and autograd overheads, not its arithmetic, so one batched layer costs about half as much as two.
    Member i's layer l computes h @ weights[l][i] + biases[l][i], weights[l]: (2, D_in, D_out).
    """

    def __init__(self, input_dim: int, layer_dims: Sequence[int], activation: str = "tanh"):
        super().__init__()
        if not layer_dims:
            raise ValueError("PairedMLP needs at least one hidden layer")
        dims = [input_dim, *layer_dims]
        self.weights = nn.ParameterList([nn.Parameter(torch.empty(2, d_in, d_out)) for d_in, d_out in zip(dims, dims[1:])])
        self.biases = nn.ParameterList([nn.Parameter(torch.zeros(2, 1, d_out)) for d_out in dims[1:]])
        self.activation = ACTIVATIONS[activation]()
        self.input_dim, self.output_dim = input_dim, dims[-1]
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """nn.Linear's default initialisation, for each member."""
        for weight, bias in zip(self.weights, self.biases):
            bound = 1.0 / weight.shape[1] ** 0.5
            nn.init.uniform_(weight, -bound, bound)
            nn.init.uniform_(bias, -bound, bound)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x.expand(2, *x.shape) if x.dim() == 2 else x  # (2, B, D)
        activation = self.activation
        for weight, bias in self._layers:
            h = activation(torch.baddbmm(bias, h, weight))
        return h

    @property
    def _layers(self) -> list[tuple[nn.Parameter, nn.Parameter]]:
        """(weight, bias) per layer; iterating ParameterLists costs more than the layers at small sizes."""
        layers = self.__dict__.get("_layer_cache")
        if layers is None:
            layers = self.__dict__["_layer_cache"] = list(zip(self.weights, self.biases))
        return layers

    def _apply(self, fn, *args, **kwargs):
        self.__dict__.pop("_layer_cache", None)  # conversions may replace the parameter objects
        return super()._apply(fn, *args, **kwargs)
