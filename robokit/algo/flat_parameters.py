"""One contiguous buffer for all of a network's parameters, and one for their gradients.

Small networks trained on small batches (PPO's 64x64 MLPs on minibatches of 64) spend most of a gradient step
in per-tensor overheads: zeroing every gradient, a norm per tensor for clipping, the optimiser's loop over
parameters. With the parameters as views into one buffer, each of these is a single operation on one tensor:

    flat = FlatParameters(net)           # net's parameters now live in flat.param (N,)
    optimizer = Adam([flat.param])       # updates every parameter of `net` at once
    flat.zero_grad(); loss.backward()    # autograd accumulates into views of flat.grad (N,)
    clip_grad_norm_([flat.grad], 0.5); optimizer.step()

The module keeps its parameters, names and state dict (`load_state_dict` copies into the views). Moving the
module to another device afterwards detaches its parameters from the buffer; `check_attached` says so.
"""

import torch
import torch.optim.optimizer as optimizer_module
from torch import nn


class FlatParameters:
    """The trainable parameters of `module` as views into `param` (N,), their gradients as views into `grad`."""

    def __init__(self, module: nn.Module):
        params = [p for p in module.parameters() if p.requires_grad]
        if not params:
            raise ValueError("FlatParameters needs a module with trainable parameters")
        dtypes, devices = {p.dtype for p in params}, {p.device for p in params}
        if len(dtypes) > 1 or len(devices) > 1:
            raise ValueError(f"FlatParameters needs one dtype and device, got {sorted(map(str, dtypes))} on "
                             f"{sorted(map(str, devices))}")
        total = sum(p.numel() for p in params)
        data = torch.empty(total, dtype=params[0].dtype, device=params[0].device)
        grad = torch.zeros_like(data)
        offset = 0
        for p in params:
            n = p.numel()
            data[offset:offset + n].copy_(p.detach().reshape(-1))
            p.data = data[offset:offset + n].view_as(p)
            p.grad = grad[offset:offset + n].view_as(p)
            offset += n
        self.param = nn.Parameter(data)  # shares storage with the module's parameters
        self.param.grad = grad
        self._module_params = params

    @property
    def grad(self) -> torch.Tensor:
        """Every parameter's gradient, (N,)."""
        return self.param.grad

    def zero_grad(self) -> None:
        """Zero every gradient in place (the views must stay: never set them to None)."""
        self.param.grad.zero_()

    def check_attached(self) -> None:
        """RuntimeError when the module's parameters no longer live in the buffer (e.g. after `.to(device)`)."""
        storage = self.param.untyped_storage().data_ptr()
        for p in self._module_params:
            if p.untyped_storage().data_ptr() != storage or p.grad is None or \
                    p.grad.untyped_storage().data_ptr() != self.param.grad.untyped_storage().data_ptr():
                raise RuntimeError("a network's parameters left their flat buffer (moved to another device after "
                                   "its optimiser was made?); move networks before creating optimisers")


class FlatAdam(torch.optim.Adam):
    """torch.optim.Adam(fused=True) over one flat parameter, stepping through the fused kernel directly.

    For a single tensor, Adam.step's bookkeeping (hooks, grouping tensors by device, the per-parameter state
    loop) costs several times the update itself. The same kernel, state and state dict as torch.optim.Adam
    (AdamW with `decoupled_weight_decay=True`); the first step, closures and options the shortcut does not cover
    (amsgrad, maximize) go through Adam.step. `update()` is `step()` without torch's wrapper around every call.
    """

    def __init__(self, param: torch.Tensor, **kwargs):
        super().__init__([param], fused=True, **kwargs)

    @torch.no_grad()
    def step(self, closure=None):
        if closure is not None or not self._fused_update():
            return super().step(closure)
        return None

    def update(self) -> None:
        """`step()` without the wrapper torch puts around it (a profiler range, the step-hook loops, the LR
        scheduler's call counter), which costs about a third of a 140k-parameter update on a CPU. Goes through
        `step()` when step hooks are registered."""
        if self._optimizer_step_pre_hooks or self._optimizer_step_post_hooks or \
                optimizer_module._global_optimizer_pre_hooks or optimizer_module._global_optimizer_post_hooks:
            self.step()
            return
        self._opt_called = True  # what the LR scheduler's counter records: a scheduler step may follow
        with torch.no_grad():
            if not self._fused_update():
                super().step()

    def _fused_update(self) -> bool:
        """One fused Adam update of the flat parameter; False (nothing done) where the shortcut does not apply."""
        group = self.param_groups[0]
        (param,) = group["params"]
        state = self.state[param]
        if not state or param.grad is None or group["amsgrad"] or group["maximize"]:
            return False
        kernel = torch._fused_adamw_ if group["decoupled_weight_decay"] else torch._fused_adam_
        state["step"] += 1
        beta1, beta2 = group["betas"]
        kernel([param], [param.grad], [state["exp_avg"]], [state["exp_avg_sq"]], [], [state["step"]],
               amsgrad=False, lr=group["lr"], beta1=beta1, beta2=beta2, weight_decay=group["weight_decay"],
               eps=group["eps"], maximize=False, grad_scale=None, found_inf=None)
        return True
