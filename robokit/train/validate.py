"""A checklist for an algorithm (built-in or plugin) before anyone trains it for hours.

    results = validate_algo("bc", overrides=["algo.actor_layer_dims=[32]"])
    for r in results: print(r.line())          # "PASS  losses finite   Loss=0.91, ..." / "FAIL ... fix: ..."

The checks run on batches of a tiny synthetic dataset written from the algorithm's declared inputs (the config's
observation keys with small made-up shapes: low_dim (5,), rgb (H, W, 3), depth (H, W, 1), scan (16,); actions
(3,) in [-1, 1]), or on a real dataset when one is given, through the same SequenceDataset windows training uses
(frame_stack, seq_length, goals, padding). Each check is a `CheckResult`; a failed check names what failed and
how to fix it, and the checks that depend on it are reported as failed with "skipped" rather than raising.

Checks, in order: config loads / every field has help / networks build / losses finite / no NaN gradient /
every trainable parameter changes (within `param_steps` steps: delayed actor updates are allowed) /
serialize-deserialize reproduces the actions / get_action shapes for one and a batch of observations (and
(B, H, A) chunks for algorithms with a `chunk_spec`) / determinism in eval mode (same seed, same action) /
checkpoint loads with weights_only=True / overfitting a handful of samples drives the loss down.

Online algorithms (robokit.config.online.OnlineConfig) learn from an environment; they are not validated here.
"""

import copy
import math
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from robokit.algo import PlannerAlgo, RolloutPolicy, algo_factory
from robokit.algo.registry import algo_class_for_config
from robokit.config import apply_overrides, config_factory, iter_params, load_config
from robokit.config.online import OnlineConfig
from robokit.config.registry import REGISTERED_CONFIGS
from robokit.data.hdf5_format import DatasetWriter
from robokit.data.sequence_dataset import SequenceDataset
from robokit.errors import ConfigError, TrainingDivergedError, UserError
from robokit.utils import batch_keys as K

LOW_DIM_SHAPE, SCAN_SHAPE, IMAGE_SIZE, AC_DIM = (5,), (16,), 24, 3


@dataclass
class CheckResult:
    """One line of the checklist: `name`, whether it `passed`, what was found (`detail`), how to fix it (`hint`)."""

    name: str
    passed: bool
    detail: str = ""
    hint: str = ""

    def line(self) -> str:
        text = f"{'PASS' if self.passed else 'FAIL'}  {self.name:<28} {self.detail}".rstrip()
        return text + (f"; fix: {self.hint}" if not self.passed and self.hint else "")


def offline_algo_names() -> list[str]:
    """Registered algorithms that train on datasets (those validate_algo checks)."""
    return sorted(n for n, cls in REGISTERED_CONFIGS.items() if not issubclass(cls, OnlineConfig))


# ----------------------------------------------------------------- inputs


def _key_modalities(config) -> dict[str, str]:
    """{obs key: modality} over every observation section (HBC has one per part), obs and goal groups."""
    out = {}
    for section in config.observation_sections():
        for group in ("obs", "goal"):
            keys = getattr(section.modalities, group)
            for modality in ("low_dim", "rgb", "depth", "scan"):
                for key in getattr(keys, modality):
                    out.setdefault(key, modality)
    return out


def _image_size(config) -> int:
    """Big enough for the configured crop randomizers."""
    size = IMAGE_SIZE
    for section in config.observation_sections():
        for encoder in section.encoder.to_dict().values() if hasattr(section, "encoder") else ():
            kwargs = encoder.get("obs_randomizer_kwargs") or {}
            for each in kwargs if isinstance(kwargs, list) else [kwargs]:
                for k in ("crop_height", "crop_width"):
                    if isinstance(each.get(k), int):
                        size = max(size, each[k] + 4)
    return size


def synthetic_shapes(config) -> dict[str, tuple]:
    """Made-up per-step shapes of the config's observation keys (see the module docstring)."""
    size = _image_size(config)
    shape_of = {"low_dim": LOW_DIM_SHAPE, "scan": SCAN_SHAPE, "rgb": (size, size, 3), "depth": (size, size, 1)}
    return {key: shape_of[modality] for key, modality in _key_modalities(config).items()}


def write_synthetic_dataset(path: Path, shapes: dict, n_demos: int = 4, length: int = 16, seed: int = 0) -> Path:
    """A robomimic-layout file: observations {key: (T, *shape)} (uint8 for images), actions (T, 3) a smooth
    function of the first low-dim key (so there is something to fit), rewards 1 at the last step, dones."""
    rng = np.random.default_rng(seed)
    with DatasetWriter(path, env_args={"env_name": "Synthetic-v0", "type": 4, "env_kwargs": {}}) as writer:
        for _ in range(n_demos):
            obs = {}
            for key, shape in shapes.items():
                if len(shape) == 3:
                    obs[key] = rng.integers(0, 256, size=(length + 1, *shape), dtype=np.uint8)
                else:
                    obs[key] = rng.normal(size=(length + 1, *shape)).astype(np.float32)
            first = next((v for v in obs.values() if v.dtype != np.uint8), None)
            base = first.reshape(length + 1, -1) if first is not None else rng.normal(size=(length + 1, AC_DIM))
            actions = np.tanh(base[:length, :AC_DIM] * 0.8).astype(np.float32)
            if actions.shape[1] < AC_DIM:
                actions = np.pad(actions, ((0, 0), (0, AC_DIM - actions.shape[1])))
            rewards = (np.arange(length) == length - 1).astype(np.float32)
            writer.add_episode(obs={k: v[:length] for k, v in obs.items()},
                               next_obs={k: v[1:] for k, v in obs.items()}, actions=actions, rewards=rewards,
                               dones=rewards.copy())
    return path


# ----------------------------------------------------------------- helpers


def _trainable(algo) -> dict[str, torch.Tensor]:
    return {f"{net}.{name}": p for net, module in algo.nets.items() for name, p in module.named_parameters()
            if p.requires_grad}


def _losses(info: dict) -> dict[str, float]:
    """The scalar losses of a train_on_batch info dict (keys containing "loss", nested dicts flattened)."""
    out = {}

    def walk(tree, prefix=""):
        for key, value in tree.items():
            name = f"{prefix}{key}"
            if isinstance(value, dict):
                walk(value, name + "/")
            elif "loss" in name.lower() and isinstance(value, (torch.Tensor, float, int)):
                tensor = torch.as_tensor(value)
                if tensor.numel() == 1:
                    out[name] = float(tensor.detach().float())

    walk(info)
    return out


def _main_loss(algo, info: dict) -> float:
    log = algo.log_info(info)
    if "Loss" in log:
        return float(log["Loss"])
    losses = _losses(info)
    return sum(losses.values()) if losses else math.nan


def _obs_for_action(batch: dict, frame_stack: int, rows: slice) -> tuple[dict, dict | None]:
    """get_action inputs from a dataset batch: {k: (B, *shape)} (frame_stack 1) or {k: (B, F, *shape)}."""
    obs = {k: (v[rows, :frame_stack] if frame_stack > 1 else v[rows, frame_stack - 1]) for k, v in batch[K.OBS].items()}
    goal = {k: v[rows] for k, v in batch[K.GOAL_OBS].items()} if K.GOAL_OBS in batch else None
    return obs, goal


def _actions(algo, obs: dict, goal: dict | None, seed: int = 0) -> torch.Tensor:
    """algo.get_action on fresh episode state, eval mode, a fixed seed: (B, A) or (B, H, A); for a planner
    (PlannerAlgo, which proposes subgoals and does not act) its flattened subgoal predictions (B, S)."""
    algo.set_eval()
    algo.reset()
    torch.manual_seed(seed)
    device_obs = {k: v.to(algo.device) for k, v in obs.items()}
    device_goal = None if goal is None else {k: v.to(algo.device) for k, v in goal.items()}
    with torch.no_grad():
        if isinstance(algo, PlannerAlgo):
            subgoals = algo.get_subgoal_predictions(device_obs, device_goal)  # {k: (B, *shape)}
            return torch.cat([v.reshape(v.shape[0], -1) for _, v in sorted(subgoals.items())], dim=1).cpu()
        return algo.get_action(device_obs, device_goal).detach().cpu()


def _first_error(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[-1] if lines else ''}"[:300]


# ----------------------------------------------------------------- the checklist


def make_config(algo_name: str | None = None, config_path=None, overrides=()):
    """The config under test: `config_path`'s or `algo_name`'s defaults, then `overrides` ("key=value")."""
    config = load_config(config_path, validate=False) if config_path else config_factory(algo_name, validate=False)
    if algo_name is not None and config.algo_name != algo_name:
        raise ConfigError(f"--config is a {config.algo_name!r} config but --algo is {algo_name!r}; drop one of them")
    apply_overrides(config, list(overrides))
    return config


def validate_algo(algo_name: str | None = None, config_path=None, dataset_path=None, overrides=(),
                  overfit_steps: int = 60, param_steps: int = 4, batch_size: int = 8, device="cpu") -> list[CheckResult]:
    """Run the checklist; returns one CheckResult per check (see the module docstring).

    A config that does not load raises ConfigError (the script prints one line, exit 2); an online algorithm is a
    ConfigError too. Everything the algorithm's own code raises becomes a failed check.
    """
    config = make_config(algo_name, config_path, overrides)
    if isinstance(config, OnlineConfig):
        raise ConfigError(f"{config.algo_name} learns online from an environment; validate_algo checks algorithms "
                          "that train on datasets (the online ones are exercised by tests/online_rl)")
    results: list[CheckResult] = []
    with tempfile.TemporaryDirectory(prefix="robokit-validate-") as tmp:
        _run_checks(config, dataset_path, Path(tmp), results, overfit_steps, param_steps, batch_size,
                    torch.device(device))
    return results


def _run_checks(config, dataset_path, tmp: Path, results: list, overfit_steps: int, param_steps: int,
                batch_size: int, device) -> None:
    add = results.append
    # --- the config
    if not _key_modalities(config):
        apply_overrides(config, ['observation.modalities.obs.low_dim=["state"]'])
    config.experiment.validate = False
    try:
        config.validate()
        algo_class_for_config(config)
        add(CheckResult("config loads", True, f"{config.algo_name}: {len(config.all_obs_keys)} observation key(s)"))
    except UserError as exc:
        add(CheckResult("config loads", False, str(exc), "correct the config or the --set overrides"))
        return
    helpless = [p.key for p in iter_params(config) if not (p.help or "").strip()]
    add(CheckResult("every field has help", not helpless,
                    f"{len(helpless)} field(s) without help: {', '.join(helpless[:5])}" if helpless else
                    f"{sum(1 for _ in iter_params(config))} fields",
                    "give each param(...) a help string: param(default, \"what it does\")"))

    # --- data: the declared inputs, or a real dataset
    if dataset_path is None:
        dataset_path = write_synthetic_dataset(tmp / "synthetic.hdf5", synthetic_shapes(config))
        source = "synthetic"
    else:
        source = str(dataset_path)
    from robokit.train.offline import camera_slots, dataset_kwargs, robot_layouts  # the exact windows training uses

    try:
        layouts = robot_layouts(config, [str(dataset_path)])
        dataset = SequenceDataset(str(dataset_path), filter_by_attribute=config.train.hdf5_filter_key,
                                  **dataset_kwargs(config, layouts, camera_slots(config, [str(dataset_path)], layouts)))
    except UserError as exc:
        add(CheckResult("data windows", False, str(exc), "check the observation keys and train.seq_length"))
        return
    n = min(batch_size, len(dataset))
    generator = torch.Generator().manual_seed(0)
    batch = dataset.get_batch(torch.randperm(len(dataset), generator=generator)[:n])
    shapes = dataset.obs_key_shapes

    # --- networks
    def build(seed: int):
        torch.manual_seed(seed)
        return algo_factory(config.algo_name, config, obs_key_shapes=shapes, ac_dim=dataset.action_dim, device=device)

    try:
        algo = build(0)
        n_params = sum(p.numel() for p in _trainable(algo).values())
        add(CheckResult("networks build", n_params > 0, f"{type(algo).__name__}: {len(algo.nets)} network(s), "
                        f"{n_params} trainable parameters ({source} data)", "_create_networks must fill self.nets"))
    except Exception as exc:  # the algorithm's own code
        add(CheckResult("networks build", False, _first_error(exc), "see _create_networks and the config's sizes"))
        return
    if n_params == 0:
        return

    # --- one training step: losses, gradients, parameters
    algo.set_train()
    algo.set_steps_per_epoch(max(overfit_steps, 1))
    before = {name: p.detach().clone() for name, p in _trainable(algo).items()}
    changed: set[str] = set()
    bad_grads: set[str] = set()
    info, error = None, None
    for step in range(param_steps):
        try:
            info = algo.train_on_batch(algo.process_batch_for_training(copy.copy(batch)), epoch=1)
        except TrainingDivergedError as exc:
            error = exc
            break
        except Exception as exc:  # the algorithm's own code
            add(CheckResult("losses finite", False, f"train_on_batch raised {_first_error(exc)}",
                            "see process_batch_for_training / train_on_batch"))
            return
        for name, p in _trainable(algo).items():
            if p.grad is not None and not torch.isfinite(p.grad).all():
                bad_grads.add(name)
            if not torch.equal(p.detach(), before[name]):
                changed.add(name)
        if step == 0:
            first_info = info
    if error is not None and "loss" in str(error):
        add(CheckResult("losses finite", False, str(error), "look for log(0), division by zero or exploding "
                        "targets in the loss"))
    else:
        losses = _losses(first_info) if info is not None else {}
        bad = {k: v for k, v in losses.items() if not math.isfinite(v)}
        add(CheckResult("losses finite", not bad and bool(losses),
                        (f"non-finite: {', '.join(f'{k}={v}' for k, v in bad.items())}" if bad else
                         ", ".join(f"{k}={v:.3g}" for k, v in list(losses.items())[:4]) or "no loss in the info dict"),
                        "return the losses from train_on_batch (keys with 'loss') and keep them finite"))
    grad_problem = str(error) if error is not None and "gradient" in str(error) else ""
    add(CheckResult("no NaN gradient", not bad_grads and not grad_problem,
                    grad_problem or (f"non-finite gradients in {', '.join(sorted(bad_grads)[:5])}" if bad_grads
                                     else "all gradients finite"),
                    "clamp log-probabilities and std, check divisions in the loss"))
    frozen = sorted(set(before) - changed)
    add(CheckResult("every parameter trains", not frozen,
                    (f"{len(frozen)} of {len(before)} trainable tensors unchanged after {param_steps} steps: "
                     f"{', '.join(frozen[:6])}{', ...' if len(frozen) > 6 else ''}") if frozen else
                    f"{len(before)} trainable tensors changed",
                    "use every network in a loss, register each optimised net in self.optimizers, or set "
                    "requires_grad=False on parameters that are meant to stay fixed"))

    # --- acting
    frame_stack = int(config.train.frame_stack)
    obs1, goal1 = _obs_for_action(batch, frame_stack, slice(0, 1))
    obs_b, goal_b = _obs_for_action(batch, frame_stack, slice(0, n))
    if isinstance(algo, PlannerAlgo):
        try:
            act_b = _actions(algo, obs_b, goal_b)
            ok = act_b.shape[0] == n and bool(torch.isfinite(act_b).all())
            add(CheckResult("subgoal shapes", ok, f"{type(algo).__name__} plans subgoals (no actions): "
                            f"{tuple(act_b.shape)} flattened", "get_subgoal_predictions returns {k: (B, *shape)}"))
        except Exception as exc:  # the algorithm's own code
            add(CheckResult("subgoal shapes", False, _first_error(exc), "see get_subgoal_predictions"))
            return
    else:
        act_b = _check_action_shapes(algo, add, obs1, goal1, obs_b, goal_b, n, frame_stack, dataset.action_dim)
        if act_b is None:
            return
    _check_acting(algo, build, add, config, dataset, tmp, obs_b, goal_b, act_b)
    add(_check_overfit(build, batch, overfit_steps))


def _check_action_shapes(algo, add, obs1, goal1, obs_b, goal_b, n: int, frame_stack: int, ac_dim: int):
    """get_action on a batch ((B, A), or (B, H, A) with a chunk_spec) and RolloutPolicy on one and on a batch of
    raw observations; returns the batch's actions, or None after a failure."""
    chunk_spec = getattr(algo, "chunk_spec", None)
    try:
        act_b = _actions(algo, obs_b, goal_b)
        expected = (n, "H", ac_dim) if chunk_spec is not None else (n, ac_dim)
        ok = (act_b.ndim == 3 and act_b.shape[0] == n and act_b.shape[2] == ac_dim) if chunk_spec \
            else tuple(act_b.shape) == expected
        policy = RolloutPolicy(algo)
        policy.start_episode()
        single = policy({k: v[0, -1].numpy() if frame_stack > 1 else v[0].numpy() for k, v in obs1.items()},
                        None if goal1 is None else {k: v[0].numpy() for k, v in goal1.items()})
        policy.start_episode()
        many = policy({k: v[:, -1].numpy() if frame_stack > 1 else v.numpy() for k, v in obs_b.items()},
                      None if goal_b is None else {k: v.numpy() for k, v in goal_b.items()})
        ok = ok and single.shape == (ac_dim,) and many.shape == (n, ac_dim)
        add(CheckResult("get_action shapes", ok and bool(torch.isfinite(act_b).all()),
                        f"get_action {tuple(act_b.shape)} (expected {expected}); policy: one {single.shape}, "
                        f"batch {many.shape}" + (f"; chunk_spec {chunk_spec}" if chunk_spec else ""),
                        "get_action returns (B, A), or (B, H, A) with a chunk_spec, finite"))
    except Exception as exc:  # the algorithm's own code
        add(CheckResult("get_action shapes", False, _first_error(exc), "see get_action"))
        return None
    return act_b


def _check_acting(algo, build, add, config, dataset, tmp: Path, obs_b, goal_b, act_b) -> None:
    """Determinism in eval mode, the serialize round trip and the weights_only checkpoint, all judged by the
    actions (or subgoals) `act_b` the algorithm gave for `obs_b`."""
    again = _actions(algo, obs_b, goal_b)
    other_seed = _actions(algo, obs_b, goal_b, seed=1)
    kind = "deterministic" if torch.equal(act_b, other_seed) else "stochastic, reproducible with a seed"
    add(CheckResult("deterministic in eval mode", torch.equal(act_b, again), kind if torch.equal(act_b, again) else
                    f"two calls with the same seed differ by {float((act_b - again).abs().max()):.3g}",
                    "turn off dropout/noise in eval mode (set_eval), draw noise from torch's seeded generator, "
                    "and reset per-episode state in reset()"))

    # --- serialize / deserialize, checkpoint
    try:
        copy_algo = build(1)
        copy_algo.deserialize(algo.serialize())
        same = torch.allclose(_actions(copy_algo, obs_b, goal_b), act_b, atol=1e-6)
        add(CheckResult("serialize round trip", same, "a fresh copy acts the same" if same else
                        "a fresh copy with the deserialized weights acts differently",
                        "serialize every network (and buffer) that get_action uses"))
    except Exception as exc:  # the algorithm's own code
        add(CheckResult("serialize round trip", False, _first_error(exc), "see serialize / deserialize"))
    add(_check_checkpoint(algo, config, dataset, tmp, obs_b, goal_b, act_b))


def _check_checkpoint(algo, config, dataset, tmp: Path, obs, goal, actions) -> CheckResult:
    from robokit.train.checkpoint import algo_from_checkpoint, build_checkpoint, save_checkpoint

    shape_metadata = {"all_shapes": {k: list(v) for k, v in dataset.obs_key_shapes.items()},
                      "ac_dim": dataset.action_dim, "all_obs_keys": list(config.all_obs_keys)}
    path = tmp / "check.pth"
    try:
        save_checkpoint(build_checkpoint(algo, config, shape_metadata, None, dataset.get_obs_normalization_stats(),
                                         dataset.get_action_normalization_stats()), path)
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
        loaded = algo_from_checkpoint(ckpt, device=algo.device, source=str(path))
        same = torch.allclose(_actions(loaded, obs, goal), actions, atol=1e-6)
        return CheckResult("checkpoint weights_only", same, f"{path.stat().st_size // 1024} KiB, reloads and acts "
                           "the same" if same else "the reloaded policy acts differently",
                           "keep only tensors and plain data in serialize(); rebuild state from the config")
    except Exception as exc:  # pickled objects in the state, or a load failure
        return CheckResult("checkpoint weights_only", False, _first_error(exc),
                           "serialize() must return tensors and plain Python data only (no objects)")


def _check_overfit(build, batch: dict, steps: int) -> CheckResult:
    """Train a fresh copy on one fixed small batch, with the same random draws every step (a fixed objective
    even for diffusion or dropout): the mean loss of the last steps is below that of the first."""
    algo = build(2)
    algo.set_train()
    algo.set_steps_per_epoch(max(steps, 1))
    losses = []
    try:
        for _ in range(steps):
            torch.manual_seed(3)  # the same noise, timesteps and dropout every step: one fixed objective to fit
            info = algo.train_on_batch(algo.process_batch_for_training(copy.copy(batch)), epoch=1)
            losses.append(_main_loss(algo, info))
    except Exception as exc:  # the algorithm's own code, or a diverged step
        return CheckResult("overfits a few samples", False, _first_error(exc), "see train_on_batch")
    k = max(1, min(5, steps // 4))
    first, last = float(np.mean(losses[:k])), float(np.mean(losses[-k:]))
    ok = math.isfinite(first) and math.isfinite(last) and last < first
    return CheckResult("overfits a few samples", ok, f"loss {first:.4g} -> {last:.4g} in {steps} steps",
                       "raise the learning rate or check that the loss depends on the networks' outputs")
