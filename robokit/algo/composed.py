"""`ComposedAlgo`: an algorithm built from named sub-algorithms (HBC = planner + actor; IRIS's value planner).

The parts keep their own networks, optimisers and losses. The composite exposes them under one Algo API:
`nets` is a ModuleDict of the parts' `nets` (so checkpoints hold "planner.*", "actor.*" weights), optimisers
and LR schedules are flattened as "<part>/<name>", and training info / logs are nested / prefixed by part.
"""

import contextlib
import textwrap

import torch
from torch import nn

from robokit.algo.base import Algo


class ComposedAlgo(Algo):
    """Base of algorithms made of parts; subclasses build the parts and call `_set_parts` in `__init__`.

    They set `algo_config`, `obs_config`, `global_config`, `ac_dim`, `device`, `obs_shapes` and `goal_shapes`
    themselves instead of calling `Algo.__init__` (which would build networks from a single observation config).
    """

    def _init_common(self, algo_config, obs_config, global_config, ac_dim, device) -> None:
        self.algo_config, self.obs_config, self.global_config = algo_config, obs_config, global_config
        self.ac_dim, self.device = int(ac_dim), torch.device(device)

    def _set_parts(self, parts: dict) -> None:
        self.parts: dict[str, Algo] = dict(parts)
        self.nets = nn.ModuleDict({name: part.nets for name, part in self.parts.items()})
        self.optimizers = {f"{name}/{key}": opt for name, part in self.parts.items()
                           for key, opt in part.optimizers.items()}
        self.lr_schedulers = {f"{name}/{key}": sched for name, part in self.parts.items()
                              for key, sched in part.lr_schedulers.items()}
        self.emas = {}  # each part averages its own networks (algo.<part>.ema)
        ema = getattr(self.algo_config, "ema", None)
        if ema is not None and getattr(ema, "enabled", False):
            from robokit.errors import ConfigError  # noqa: PLC0415

            raise ConfigError(f"{ema.key_path('enabled')}: {type(self).__name__} is made of parts that average "
                              f"their own weights; enable algo.<part>.ema instead (parts: {', '.join(self.parts)})")

    # ----- data-parallel gradient averaging: every part's -----
    @property
    def gradient_sync(self):
        return getattr(self, "_gradient_sync", None)

    @gradient_sync.setter
    def gradient_sync(self, sync) -> None:
        self._gradient_sync = sync
        for part in self.parts.values():
            part.gradient_sync = sync

    # ----- EMA: each part's own -----
    def ema_state(self) -> dict | None:
        state = {name: part.ema_state() for name, part in self.parts.items()}
        return {name: s for name, s in state.items() if s} or None

    def load_ema_state(self, state: dict | None) -> None:
        for name, part_state in (state or {}).items():
            self.parts[name].load_ema_state(part_state)

    @contextlib.contextmanager
    def ema_weights(self):
        with contextlib.ExitStack() as stack:
            for part in self.parts.values():
                stack.enter_context(part.ema_weights())
            yield self

    def use_ema_weights(self) -> None:
        for part in self.parts.values():
            part.use_ema_weights()

    def _create_networks(self) -> None:  # the parts build their own
        raise NotImplementedError

    # ----- training -----
    def process_batch_for_training(self, batch: dict) -> dict:
        return {name: part.process_batch_for_training(batch) for name, part in self.parts.items()}

    def train_on_batch(self, batch: dict, epoch: int, validate: bool = False) -> dict:
        return {name: part.train_on_batch(batch[name], epoch, validate=validate) for name, part in self.parts.items()}

    def log_info(self, info: dict) -> dict:
        """Each part's log under "<Part>/", and "Loss" = the sum of the parts' losses."""
        log, total = {}, 0.0
        for name, part in self.parts.items():
            part_log = part.log_info(info[name])
            total += part_log.get("Loss", 0.0)
            log.update({f"{name.title()}/{key}": value for key, value in part_log.items()})
        log["Loss"] = total
        return log

    def set_log_diagnostics(self, enabled: bool) -> None:
        super().set_log_diagnostics(enabled)
        for part in self.parts.values():
            part.set_log_diagnostics(enabled)

    def on_epoch_end(self, epoch: int) -> None:
        for part in self.parts.values():
            part.on_epoch_end(epoch)

    def set_train(self) -> None:
        for part in self.parts.values():
            part.set_train()

    def set_eval(self) -> None:
        for part in self.parts.values():
            part.set_eval()

    def reset(self) -> None:
        for part in self.parts.values():
            part.reset()

    def __repr__(self) -> str:
        inner = "\n".join(textwrap.indent(f"{name}: {part!r}", "  ") for name, part in self.parts.items())
        return f"{type(self).__name__}({', '.join(self.parts)})\n{inner}"
