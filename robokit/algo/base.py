"""Algo base classes, after robomimic's: `Algo`, `PolicyAlgo`, `ValueAlgo`, `PlannerAlgo`, `HierarchicalAlgo`.

Subclasses build networks into `self.nets` in `_create_networks`; `_create_optimizers` then gives every
network named in `algo.optim_params` (e.g. "policy", "critic") an optimiser and a per-epoch LR schedule.
"""

import contextlib
import dataclasses
import functools
from collections import OrderedDict
from typing import Mapping

import torch
from torch import nn

from robokit.algo.chunking import ChunkSpec  # noqa: F401  (the type of PolicyAlgo.chunk_spec)
from robokit.algo.ema import EMA
from robokit.algo.lr_schedule import make_lr_scheduler, make_step_lr_scheduler
from robokit.errors import TrainingDivergedError
from robokit.models.policy_nets import ObsGoalEncoder
from robokit.utils import batch_keys as K
from robokit.utils.tensors import to_device


def _section_items(section) -> list[tuple[str, object]]:
    """(name, value) pairs of a config section (dataclass) or a plain dict."""
    if isinstance(section, Mapping):
        return list(section.items())
    return [(f.name, getattr(section, f.name)) for f in dataclasses.fields(section)]


class Algo:
    """Base of every algorithm.

    Args:
        algo_config: the config's `algo` section.
        obs_config: the config's `observation` section (modalities and encoders).
        global_config: the whole config (train settings such as seq_length, num_epochs, max_grad_norm).
        obs_key_shapes: {obs key: per-step shape} for (at least) every key the config lists.
        ac_dim: action dimension.
        device: torch device for networks and batches.

    `log_diagnostics` (default True) asks `train_on_batch` for its logging-only statistics: gradient norms and
    loss terms that are not trained on. Training loops turn it off, with `set_log_diagnostics`, on the steps
    whose info they do not log (`experiment.logging.stats_every_n_steps`).
    """

    log_diagnostics: bool = True
    #: called with every network's gradients before clipping and stepping; data-parallel training sets it to an
    #: average over the ranks (robokit.train.distributed), None otherwise
    gradient_sync = None
    #: torch.amp.GradScaler with train.mixed_precision="fp16" (set by the training loop, which calls its update()
    #: once per train_on_batch): losses are scaled before backward and gradients unscaled before clipping
    grad_scaler = None

    def __init__(self, algo_config, obs_config, global_config, obs_key_shapes, ac_dim, device):
        self.algo_config = algo_config
        self.obs_config = obs_config
        self.global_config = global_config
        self.ac_dim = int(ac_dim)
        self.device = torch.device(device)
        self.obs_modalities = self._modalities_by_key()
        self.obs_shapes = self._shapes_for_group("obs", obs_key_shapes)
        self.goal_shapes = self._shapes_for_group("goal", obs_key_shapes)
        self.nets = nn.ModuleDict()
        self._create_networks()
        self.nets.to(self.device)
        self.optimizers: dict[str, torch.optim.Optimizer] = {}
        self.lr_schedulers: dict[str, torch.optim.lr_scheduler.LRScheduler] = {}
        self._create_optimizers()
        self.emas: dict[str, EMA] = {}  # network name -> EMA of its weights (algo.ema), updated per step
        self._create_emas()

    # ----- construction -----
    @property
    def language_conditioned(self) -> bool:
        """Whether the instruction (obs key LANG, modality "language") is an input (observation.language.enabled)."""
        language = getattr(self.obs_config, "language", None)
        return bool(language is not None and language.enabled)

    def _modalities_by_key(self) -> dict[str, str]:
        table = {}
        for group in ("obs", "goal"):
            modalities = getattr(self.obs_config.modalities, group)
            for modality, keys in _section_items(modalities):
                for key in keys or []:
                    table[key] = modality
        if self.language_conditioned:
            table[K.LANG] = "language"
        return table

    def _shapes_for_group(self, group: str, obs_key_shapes: Mapping) -> "OrderedDict[str, tuple]":
        keys = [k for _, ks in _section_items(getattr(self.obs_config.modalities, group)) for k in (ks or [])]
        if group == "obs" and self.language_conditioned:
            if K.LANG not in obs_key_shapes:
                raise KeyError(f"observation.language.enabled needs the instruction's shape (key '{K.LANG}': the "
                               "vocabulary size), which the training data gives")
            keys.append(K.LANG)
        missing = [k for k in keys if k not in obs_key_shapes]
        if missing:
            raise KeyError(f"observation keys {missing} have no shape; known: {sorted(obs_key_shapes)}")
        return OrderedDict((k, tuple(obs_key_shapes[k])) for k in sorted(keys))

    @property
    def encoder_configs(self) -> dict:
        configs = dict(_section_items(self.obs_config.encoder))
        if self.language_conditioned:
            configs["language"] = self.obs_config.language  # embedding_dim of the LanguageEncoder
        return configs

    def _make_encoder(self) -> ObsGoalEncoder:
        """A new encoder of this algorithm's observations (and goals), as `observation.encoder` configures it."""
        return ObsGoalEncoder(self.obs_shapes, self.goal_shapes, self.obs_modalities, self.encoder_configs)

    def _create_networks(self) -> None:
        """Build networks into `self.nets`."""
        raise NotImplementedError

    def _create_optimizers(self) -> None:
        """One optimiser (and LR schedule) per `algo.optim_params` entry that names a network in `self.nets`."""
        optim_params = getattr(self.algo_config, "optim_params", None)
        if optim_params is None:
            return
        num_epochs = self.global_config.train.num_epochs
        for name, params in _section_items(optim_params):
            if name not in self.nets:
                continue
            self.optimizers[name] = make_optimizer(self.nets[name].parameters(), params)
            if getattr(params.learning_rate, "step_every_batch", False):  # stepped by apply_gradients
                self.lr_schedulers[name] = make_step_lr_scheduler(
                    self.optimizers[name], params.learning_rate, functools.partial(self.run_length, name))
                self._lr_every_step = getattr(self, "_lr_every_step", set()) | {name}
            else:
                self.lr_schedulers[name] = make_lr_scheduler(self.optimizers[name], params.learning_rate, num_epochs)

    def _create_emas(self) -> None:
        """An EMA of the weights of every optimised network when `algo.ema.enabled` (robokit.algo.ema)."""
        cfg = getattr(self.algo_config, "ema", None)
        if cfg is None or not getattr(cfg, "enabled", False):
            return
        for name in self.optimizers:
            self.emas[name] = EMA(self.nets[name], power=cfg.power, inv_gamma=cfg.inv_gamma, min_value=cfg.min_value,
                                  max_value=cfg.max_value, update_after_step=cfg.update_after_step)

    def set_steps_per_epoch(self, steps: int, total_steps: int | None = None) -> None:
        """Tell the algorithm the training loop's gradient steps (`train_on_batch` calls) per epoch, and of the whole
        run when that is not `steps * train.num_epochs` (online RL: no steps before `learning_starts`): the length
        of the run for the learning-rate schedules that step every batch (`learning_rate.step_every_batch`)."""
        self._steps_per_epoch = int(steps)
        self._total_steps = None if total_steps is None else int(total_steps)

    def optimizer_steps_per_batch(self, net_name: str) -> float:
        """Optimiser steps of `net_name` per `train_on_batch` call (1; TD3's delayed actor: 1 / update_freq)."""
        return 1.0

    def run_length(self, net_name: str | None = None) -> tuple[int, int]:
        """(optimiser steps per epoch, optimiser steps of the whole run) of `net_name` (of one step per batch when
        None): `set_steps_per_epoch`, or else `experiment.epoch_every_n_steps`, times `train.num_epochs`."""
        steps = getattr(self, "_steps_per_epoch", None)
        if steps is None:
            steps = getattr(getattr(self.global_config, "experiment", None), "epoch_every_n_steps", None)
        if not steps:
            raise RuntimeError("a learning-rate schedule with step_every_batch needs the run's length: set "
                               "experiment.epoch_every_n_steps or call algo.set_steps_per_epoch(n) before training")
        total = getattr(self, "_total_steps", None)
        if total is None:
            total = int(steps) * int(self.global_config.train.num_epochs)
        share = 1.0 if net_name is None else self.optimizer_steps_per_batch(net_name)
        return max(int(steps * share), 1), max(int(total * share), 1)

    # ----- training -----
    def process_batch_for_training(self, batch: dict) -> dict:
        """Select what the algorithm trains on and move it to the device."""
        return to_device(batch, self.device)

    def _goal_batch(self, batch: dict) -> dict:
        """{goal_obs: {k: ...}} of the goal keys this algorithm reads, to merge into a processed batch; {} without
        goals."""
        if not self.goal_shapes:
            return {}
        return {K.GOAL_OBS: {k: batch[K.GOAL_OBS][k] for k in self.goal_shapes}}

    def train_on_batch(self, batch: dict, epoch: int, validate: bool = False) -> dict:
        """One gradient step (none when `validate`); returns an info dict of tensors / floats."""
        raise NotImplementedError

    def log_info(self, info: dict) -> dict:
        """Turn `train_on_batch`'s info into {name: float} for logging; includes "Loss" and learning rates."""
        log = {}
        for name, optimizer in self.optimizers.items():
            log[f"Optimizer/{name}_lr"] = optimizer.param_groups[0]["lr"]
        return log

    def set_log_diagnostics(self, enabled: bool) -> None:
        """Measure (True) or skip (False) the logging-only statistics of the next `train_on_batch` calls."""
        self.log_diagnostics = enabled

    def on_epoch_end(self, epoch: int) -> None:
        """Step the per-epoch learning-rate schedules (those with step_every_batch step in apply_gradients)."""
        every_step = getattr(self, "_lr_every_step", ())
        for name, scheduler in self.lr_schedulers.items():
            if name not in every_step:
                scheduler.step()

    def _after_optimizer_step(self, net_name: str) -> None:
        """What follows every optimiser step of `net_name`: its per-step LR schedule and its EMA."""
        if net_name in getattr(self, "_lr_every_step", ()):
            self.lr_schedulers[net_name].step()
        ema = self.emas.get(net_name)
        if ema is not None:
            ema.update(self.nets[net_name])

    def backprop(self, net_name: str, loss: torch.Tensor, retain_graph: bool = False,
                 max_grad_norm: float | None = None) -> torch.Tensor | None:
        """Zero grads, backprop `loss`, clip, step; returns the gradient norm before clipping.

        Gradients are clipped to `max_grad_norm` when given (e.g. `algo.critic.max_gradient_norm`),
        else to `train.max_grad_norm`. Without clipping the norm is for logging only: it is None when
        `log_diagnostics` is off. A non-finite loss, or a non-finite gradient norm where one is measured,
        raises TrainingDivergedError before the optimiser steps, so the weights stay finite.
        """
        if not torch.isfinite(loss).all():  # before backward: the weights stay as they were
            raise TrainingDivergedError(f"the {net_name} loss is {loss.detach().float().sum().item()}")
        self.zero_grads(net_name)
        (loss if self.grad_scaler is None else self.grad_scaler.scale(loss)).backward(retain_graph=retain_graph)
        return self.apply_gradients(net_name, max_grad_norm)

    def zero_grads(self, net_name: str) -> None:
        """Drop the gradients of `net_name`'s parameters (set to None: backward then writes instead of adding)."""
        self.optimizers[net_name].zero_grad(set_to_none=True)

    def apply_gradients(self, net_name: str, max_grad_norm: float | None = None) -> torch.Tensor | None:
        """Clip the gradients in `.grad` as `backprop` does and step `net_name`'s optimiser; returns the norm."""
        optimizer = self.optimizers[net_name]
        max_norm = max_grad_norm if max_grad_norm is not None else getattr(self.global_config.train, "max_grad_norm", None)
        params = [p for group in optimizer.param_groups for p in group["params"] if p.grad is not None]
        grads = [p.grad for p in params]
        if self.gradient_sync is not None:  # data-parallel training: the mean gradient over the ranks
            self.gradient_sync(grads)
        if self.grad_scaler is not None:
            self.grad_scaler.unscale_(optimizer)
        if max_norm is not None:  # torch.nn.utils.clip_grad_norm_ with gradient_norm's faster norm
            grad_norm = gradient_norm(grads)
            torch.nn.utils.clip_grads_with_norm_(params, max_norm, grad_norm)
        elif self.log_diagnostics:  # no rescaling pass over the gradients, just their norm
            grad_norm = gradient_norm(grads)
        else:
            grad_norm = None
        if self.grad_scaler is not None:  # fp16: an overflowed step is skipped and the loss scale lowered
            self.grad_scaler.step(optimizer)
        elif grad_norm is not None and not torch.isfinite(grad_norm):  # clipping cannot rescue it: inf * 0 is nan
            raise TrainingDivergedError(f"the gradient of {net_name} has norm {float(grad_norm)}")
        else:
            optimizer.step()
        self._after_optimizer_step(net_name)
        return grad_norm

    def set_train(self) -> None:
        self.nets.train()

    def set_eval(self) -> None:
        self.nets.eval()

    def _check_eval(self) -> None:
        """Acting methods call this first: a policy acts in evaluation mode (dropout off, targets as trained)."""
        assert not self.nets.training, "call set_eval() (RolloutPolicy.start_episode does) before acting"

    # ----- state -----
    def serialize(self) -> dict:
        """Network weights (a state dict of tensors)."""
        return self.nets.state_dict()

    def deserialize(self, model_dict: dict) -> None:
        self.nets.load_state_dict(model_dict)

    def optimizer_state(self) -> dict:
        """Optimiser and LR-schedule state, for exact resume."""
        state = {
            "optimizers": {k: v.state_dict() for k, v in self.optimizers.items()},
            "lr_schedulers": {k: v.state_dict() for k, v in self.lr_schedulers.items()},
        }
        if self.grad_scaler is not None:
            state["grad_scaler"] = self.grad_scaler.state_dict()
        return state

    def ema_state(self) -> dict | None:
        """{network name: EMA state} when `algo.ema` is on, else None (saved in checkpoints as "ema")."""
        return {name: ema.state_dict() for name, ema in self.emas.items()} or None

    def load_ema_state(self, state: dict | None) -> None:
        for name, ema_state in (state or {}).items():
            if name not in self.emas:
                raise KeyError(f"the checkpoint has an EMA of {name!r} but this algorithm averages "
                               f"{sorted(self.emas) or 'no network (algo.ema.enabled is false)'}")
            self.emas[name].load_state_dict(ema_state)

    @contextlib.contextmanager
    def ema_weights(self):
        """Within the block the averaged networks hold their EMA weights (evaluation rollouts, validation);
        their training weights come back afterwards. Without EMA it does nothing."""
        with contextlib.ExitStack() as stack:
            for name, ema in self.emas.items():
                stack.enter_context(ema.applied(self.nets[name]))
            yield self

    def use_ema_weights(self) -> None:
        """Load the EMA weights into the networks for good (deployment: `policy_from_checkpoint`)."""
        for name, ema in self.emas.items():
            ema.copy_to(self.nets[name])

    def load_optimizer_state(self, state: dict) -> None:
        for k, v in state.get("optimizers", {}).items():
            self.optimizers[k].load_state_dict(v)
        for k, v in state.get("lr_schedulers", {}).items():
            self.lr_schedulers[k].load_state_dict(v)
        if self.grad_scaler is not None and "grad_scaler" in state:
            self.grad_scaler.load_state_dict(state["grad_scaler"])

    # ----- deployment -----
    def reset(self) -> None:
        """Clear per-episode state (RNN hidden state, action queues) before a rollout."""

    def __repr__(self) -> str:
        n_params = sum(p.numel() for p in self.nets.parameters())
        return f"{type(self).__name__}(params={n_params:,}, device={self.device})\n{self.nets}"


def make_optimizer(parameters, optim_config) -> torch.optim.Optimizer:
    """Adam / AdamW / SGD from an `optim_params.<net>` section (learning_rate.initial, regularization.L2)."""
    kind = getattr(optim_config, "optimizer_type", "adam") or "adam"
    lr = optim_config.learning_rate.initial
    weight_decay = optim_config.regularization.L2
    parameters = list(parameters)
    if kind in ("adam", "adamw"):
        # the fused kernel (one pass over each parameter) is several times faster than the default on CPU too
        fused = {"fused": True} if _fused_adam_supported(parameters) else {}
        cls = torch.optim.Adam if kind == "adam" else torch.optim.AdamW
        return cls(parameters, lr=lr, weight_decay=weight_decay, **fused)
    if kind == "sgd":
        return torch.optim.SGD(parameters, lr=lr, momentum=0.9, weight_decay=weight_decay)
    raise ValueError(f"unknown optimizer_type {kind!r}")


def _fused_adam_supported(parameters: list) -> bool:
    """Whether torch's fused Adam can take these parameters (floating point, on CPU / CUDA / MPS)."""
    tensors = [p for p in parameters if isinstance(p, torch.Tensor)]
    return bool(tensors) and all(p.is_floating_point() and p.device.type in ("cpu", "cuda", "mps") for p in tensors)


class PolicyAlgo(Algo):
    """An algorithm with a policy: `get_action(obs_dict, goal_dict=None) -> (B, A) tensor`, or a chunk (B, H, A)
    of the next H actions (index 0: the current step's) when `chunk_spec` is set.

    Multi-robot data (robokit.data.embodiment): a batch's ACTION_MASK (B, A) is False at a robot's padded
    action dims. An algorithm whose losses leave those out (exactly zero gradient there) sets
    SUPPORTS_ACTION_MASK; the training loop refuses padded actions for the others. At inference
    `inference_action_mask` (A,) bool, set by a RolloutPolicy fed by a robot's names, says which dims are real.
    """

    SUPPORTS_ACTION_MASK: bool = False
    inference_action_mask: torch.Tensor | None = None

    def get_action(self, obs_dict: dict, goal_dict: dict | None = None) -> torch.Tensor:
        raise NotImplementedError

    @property
    def chunk_spec(self) -> "ChunkSpec | None":
        """How `RolloutPolicy` executes the chunks `get_action` returns (robokit.algo.chunking); None (default):
        `get_action` returns one action (B, A) per step."""
        return None

    def reset_envs(self, env_mask) -> None:
        """Clear the per-episode state of the envs where `env_mask` (N,) bool is True, the others keeping theirs.

        Only algorithms that keep per-episode state (override `reset`) need it; without it, `RolloutPolicy`
        resets such an algorithm for all envs together only.
        """


class ValueAlgo(Algo):
    """An algorithm with value functions."""

    def get_state_value(self, obs_dict: dict, goal_dict: dict | None = None) -> torch.Tensor:
        raise NotImplementedError

    def get_state_action_value(self, obs_dict: dict, actions: torch.Tensor, goal_dict: dict | None = None):
        raise NotImplementedError


class PlannerAlgo(Algo):
    """An algorithm that proposes subgoals."""

    def get_subgoal_predictions(self, obs_dict: dict, goal_dict: dict | None = None) -> dict:
        raise NotImplementedError

    def sample_subgoals(self, obs_dict: dict, goal_dict: dict | None = None, num_samples: int = 1) -> dict:
        raise NotImplementedError


class HierarchicalAlgo(Algo):
    """A high-level planner driving a low-level policy."""

    def get_action(self, obs_dict: dict, goal_dict: dict | None = None) -> torch.Tensor:
        raise NotImplementedError

    @property
    def current_subgoal(self) -> dict:
        raise NotImplementedError


def scalars(info: dict) -> dict:
    """{name: float} of every scalar tensor / number in a flat `info`; a None (not measured this step) is left out."""
    return {name: float(value) for name, value in info.items() if value is not None}


def gradient_norm(grads: list[torch.Tensor]) -> torch.Tensor:
    """The L2 norm of all `grads` taken together, a scalar tensor: one BLAS dot product per tensor.

    The same value as `torch.nn.utils.get_total_norm` up to float32 rounding. BLAS spreads a large dot product
    over the CPU threads; in train.py's BC loop on 2 cores this took a quarter of get_total_norm's time.
    """
    if not grads:
        return torch.zeros(())
    flat = [g.reshape(-1) for g in grads]
    if len(flat) == 1:
        return torch.dot(flat[0], flat[0]).sqrt()
    return torch.stack([torch.dot(g, g) for g in flat]).sum().sqrt()


__all__ = ["Algo", "PolicyAlgo", "ValueAlgo", "PlannerAlgo", "HierarchicalAlgo", "make_optimizer", "gradient_norm",
           "scalars"]

