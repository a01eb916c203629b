"""Hand-written forward and backward passes of ReLU MLPs, for gradient steps that skip autograd.

SAC's and TD3's networks are small (two 256-wide hidden layers), so on a CPU a gradient step spends most of
its time in per-operation costs: autograd nodes, gradient accumulation, casts, one ReLU kernel per layer.
`ReluMLPPass` runs an `MLP` (ReLU hidden layers, optionally a `Float32Linear` output layer) as a fixed list
of matrix products, and its backward writes each weight's gradient straight into `param.grad` (the views of a
`FlatParameters` buffer). The values are autograd's: a float32 SAC step by hand matched autograd's to 2e-6
after ten steps. In bfloat16 hidden layers (`train.mixed_precision=bf16`) the weights are cast once per
change (`refresh`, one operation for many networks) instead of once per use, and on the CPU bias and ReLU
run inside oneDNN's product.

    mlp_pass = ReluMLPPass.of(mlp)                 # None when `mlp` is not a plain ReLU MLP
    y, cache = mlp_pass.forward(x, torch.bfloat16)  # x (B, D) -> y (B, O) float32
    gx = mlp_pass.backward(cache, gy, param_grads=True, input_grad=True)  # writes dL/dW to .grad; dL/dx (B, D)
    optimizer.step(); ReluMLPPass.refresh([mlp_pass], torch.bfloat16)    # after every change of the weights

The backward writes the gradients rather than adding to them, so an optimiser whose parameters the passes all
cover (`covers`) needs no zeroing first.
"""

from dataclasses import dataclass

import torch
from torch import nn

from robokit.models.mlp import MLP, Float32Linear


@dataclass
class PassCache:
    """What a forward pass keeps for its backward: the inputs of each layer, in the compute dtype."""

    inputs: list  # [x, h_1, ..., h_L]: layer i's input (B, D_i); h_L feeds the output layer
    last_float: torch.Tensor  # h_L in float32 (the output layer's input)

    def first_rows(self, n: int) -> "PassCache":
        """The cache of the first n samples alone (views): a backward through part of a batched forward."""
        return PassCache([t[:n] for t in self.inputs], self.last_float[:n])


class ReluMLPPass:
    """Forward and backward of an MLP whose hidden layers are Linear + ReLU and whose output layer, if any,
    is a `Float32Linear`. Parameters stay the module's own tensors (updates to them are seen)."""

    def __init__(self, hidden: list[nn.Linear], output: nn.Linear | None):
        self.hidden = hidden
        self.output = output
        self._copies: dict[torch.dtype, list[torch.Tensor]] = {}  # the hidden weights in a compute dtype
        self._fused_linear = getattr(torch.ops.mkldnn, "_linear_pointwise", None)  # absent without oneDNN

    @classmethod
    def of(cls, mlp: MLP, head: nn.Module | None = None) -> "ReluMLPPass | None":
        """The pass of `mlp` (followed by `head`, a `Float32Linear`, when given), or None when a layer is not
        Linear + ReLU (dropout, other activations, an output activation) or no output layer is float32."""
        layers = list(mlp.net) + ([head] if head is not None else [])
        hidden, output = [], None
        i = 0
        while i < len(layers):
            layer = layers[i]
            if type(layer) is nn.Linear and i + 1 < len(layers) and isinstance(layers[i + 1], nn.ReLU):
                hidden.append(layer)
                i += 2
            elif isinstance(layer, Float32Linear) and i == len(layers) - 1:
                output = layer
                i += 1
            else:
                return None
        return cls(hidden, output) if hidden else None

    def parameters(self) -> list[nn.Parameter]:
        """Every parameter whose gradient `backward` writes."""
        layers = self.hidden + ([self.output] if self.output is not None else [])
        return [p for layer in layers for p in (layer.weight, layer.bias)]

    @staticmethod
    def covers(passes: list["ReluMLPPass"], module: nn.Module) -> bool:
        """Whether the backward of `passes` writes the gradient of every trainable parameter of `module`."""
        written = {id(p) for mlp_pass in passes for p in mlp_pass.parameters()}
        return all(id(p) in written for p in module.parameters() if p.requires_grad)

    @staticmethod
    def refresh(passes: list["ReluMLPPass"], dtype: torch.dtype) -> None:
        """Copy the current hidden weights of `passes` into their `dtype` copies, in one operation; call after
        the weights change (an optimiser step, a target update, a checkpoint). Float32 needs no copies."""
        if dtype == torch.float32:
            return
        copies, weights = [], []
        for p in passes:
            if dtype in p._copies:
                copies += p._copies[dtype]
                weights += [layer.weight for layer in p.hidden]
            else:
                p._copies[dtype] = [layer.weight.detach().to(dtype) for layer in p.hidden]
        if copies:
            with torch.no_grad():
                torch._foreach_copy_(copies, weights)

    def _weights(self, dtype: torch.dtype) -> list[torch.Tensor]:
        """The hidden weights in `dtype`: the parameters themselves in float32, else the copies (made on first
        use, then updated by `refresh`)."""
        if dtype == torch.float32:
            return [layer.weight for layer in self.hidden]
        if dtype not in self._copies:
            self._copies[dtype] = [layer.weight.detach().to(dtype) for layer in self.hidden]
        return self._copies[dtype]

    @torch.no_grad()
    def forward(self, x: torch.Tensor, dtype: torch.dtype = torch.float32,
                keep: bool = True) -> tuple[torch.Tensor, PassCache | None]:
        """x (B, D) -> float32 (B, O) outputs (the last hidden layer's (B, H) without an output layer).

        Hidden layers compute in `dtype` (float32 or bfloat16); the output layer in float32. `keep=False`
        returns no cache (no backward will follow)."""
        h = x.to(dtype)
        inputs = [h]
        fused = dtype != torch.float32 and h.device.type == "cpu" and self._fused_linear is not None
        for layer, weight in zip(self.hidden, self._weights(dtype)):
            if fused:  # bias + ReLU inside oneDNN's bfloat16 product, the bias kept in float32
                h = self._fused_linear(h, weight, layer.bias, "relu", [], "")
            else:
                h = torch.addmm(layer.bias.to(dtype), h, weight.t()).relu_()
            inputs.append(h)
        last = h.float()
        y = torch.addmm(self.output.bias, last, self.output.weight.t()) if self.output is not None else last
        return y, (PassCache(inputs, last) if keep else None)

    @torch.no_grad()
    def backward(self, cache: PassCache, grad_out: torch.Tensor, param_grads: bool = True,
                 input_grad: bool = False) -> torch.Tensor | None:
        """grad_out dL/dy (B, O) -> writes dL/dW, dL/db into each parameter's `.grad` (when `param_grads`; the
        gradients must exist, e.g. views of a flat buffer, and their old values are overwritten); returns dL/dx
        (B, D) in float32 when `input_grad`, else None. `grad_out` is left as it is."""
        inputs = cache.inputs
        dtype = inputs[0].dtype
        g = grad_out.float()
        if self.output is not None:
            if param_grads:
                torch.mm(g.t(), cache.last_float, out=self.output.weight.grad)
                torch.sum(g, 0, out=self.output.bias.grad)
            g = g.mm(self.output.weight).to(dtype)
        else:
            g = g.to(dtype, copy=True)  # the ReLU gradient below works in place
        weights = self._weights(dtype)
        for i in reversed(range(len(self.hidden))):
            relu_backward_(g, inputs[i + 1])
            layer = self.hidden[i]
            if param_grads:
                if dtype == torch.float32:
                    torch.mm(g.t(), inputs[i], out=layer.weight.grad)
                else:
                    layer.weight.grad.copy_(g.t().mm(inputs[i]))
                torch.sum(g, 0, dtype=torch.float32, out=layer.bias.grad)
            if i > 0 or input_grad:
                g = g.mm(weights[i])
        return g.float() if input_grad else None


def relu_backward_(grad: torch.Tensor, out: torch.Tensor) -> None:
    """grad *= (out > 0) in place, for out = relu(...) (B, H) of grad's dtype.

    A bfloat16 ReLU output is >= 0 (or -0.0), so out > 0 exactly where its bits, read as int16, are > 0: comparing
    the bits is three times faster on a CPU than PyTorch's bfloat16 kernel, with the same result bit for bit (NaN
    outputs aside)."""
    if grad.dtype == torch.bfloat16:
        grad, out = grad.view(torch.int16), out.view(torch.int16)
    torch.ops.aten.threshold_backward.grad_input(grad, out, 0, grad_input=grad)
