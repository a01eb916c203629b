"""The offline training loop: robomimic's train.py as one flat function.

train(config) validates every input first (config, dataset, environment) and writes nothing until they pass.
A run then writes `<output_dir>/<experiment.name>/<timestamp>/` with
    config.json        the full config of the run
    logs/log.txt       the terminal output;  logs/tb/  TensorBoard event files
    models/*.pth       last.pth, model_epoch_<N>.pth, model_best_{validation,success_rate,return}.pth
    videos/*.mp4       rollout videos
"""

import json
import math
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from robokit.algo import RolloutPolicy, algo_factory
from robokit.algo.base import PlannerAlgo
from robokit.algo.registry import algo_class_for_config
from robokit.config import apply_overrides
from robokit.data import SequenceDataset, check_dataset, list_filter_keys, make_dataloader
from robokit.data.embodiment import CameraSlots, DataType, RobotData, mask_key, padded_key_of, training_layouts
from robokit.data.hdf5_format import obs_specs, read_embodiments
from robokit.data.language import Vocabulary
from robokit.data.multi_dataset import dataset_records, load_multi_datasets, run_entries
from robokit.envs import create_envs
from robokit.errors import ConfigError, DatasetError, MemoryLimitError, TrainingDivergedError
from robokit.models.obs_encoder import check_observation_encoders
from robokit.train.auto_batch import resolve_batch_size
from robokit.train.checkpoint import (build_checkpoint, load_checkpoint, prune_epoch_checkpoints,
                                     save_checkpoint)
from robokit.train.distributed import DistContext
from robokit.train.divergence import diverged_error
from robokit.train.memory import MEMORY_FIX, MemoryMonitor
from robokit.train.resume import capture_rng_state, finish_resume, load_resume_checkpoint, restore_algo
from robokit.train.logger import RunLogger
from robokit.train.precision import gradient_step_precision, make_grad_scaler, set_flush_denormals
from robokit.train.rollouts import rollout_with_stats
from robokit.utils.device import resolve_device
from robokit.utils.partial_files import remove_stale_partials
from robokit.utils.tensors import map_structure


@dataclass
class TrainState:
    """Progress and best scores, saved in every checkpoint."""

    epoch: int = 0
    step: int = 0
    best_valid_loss: float = math.inf
    best_success_rate: float = -1.0
    best_return: float = -math.inf
    last_rollout: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {
            "epoch": self.epoch,
            "step": self.step,
            "best_valid_loss": self.best_valid_loss,
            "best_success_rate": self.best_success_rate,
            "best_return": self.best_return,
        }


def apply_debug_settings(config) -> None:
    """`--debug`, for both loops: the config class's DEBUG_OVERRIDES (a tiny version of the whole run)."""
    apply_overrides(config, type(config).DEBUG_OVERRIDES)


# ----- data -----
def robot_layouts(config, paths) -> tuple:
    """(input, output) SlotLayouts of `train.input_robot_data_spec` / `output_robot_data_spec` over the datasets
    `paths` (robokit.data.embodiment.training_layouts); (None, None) without specs on one robot's data."""
    return training_layouts(config.train.input_robot_data_spec, config.train.output_robot_data_spec, paths,
                            where="train")


def camera_slots(config, paths, layouts: tuple | None = None) -> CameraSlots | None:
    """The run's camera slots (robots with different cameras get zero images and a camera mask,
    robokit.data.embodiment.CameraSlots), on robot data specs or several robots (`layouts`, default
    `robot_layouts(config, paths)`); None otherwise (every file then has every key)."""
    layouts = robot_layouts(config, paths) if layouts is None else layouts
    if all(layout is None for layout in layouts):
        return None
    return CameraSlots.for_data(paths, config.all_obs_keys)


def file_obs_keys(config, path=None, cameras: CameraSlots | None = None) -> list[str]:
    """The config's observation keys that name arrays of the file `path`: all of them but the padded keys (a data
    type, e.g. joint_positions, or its mask) that an input robot data spec builds, the camera masks and the cameras
    that a robot of the file has not (`cameras`: `camera_slots(config, paths)`)."""
    keys = list(config.all_obs_keys)
    if config.train.input_robot_data_spec:
        keys = [k for k in keys if padded_key_of(k) not in {dt.value for dt in DataType}]
    if cameras is not None:
        masks = {mask_key(dt.value) for dt in cameras.keys}
        lacking = {k for emb in read_embodiments(path).values() for k in cameras.lacking(emb)} if path else set()
        keys = [k for k in keys if k not in masks and k not in lacking]
    return keys


def dataset_kwargs(config, layouts: tuple = (None, None), cameras: CameraSlots | None = None) -> dict:
    """SequenceDataset arguments from the config's train section; `layouts`: `robot_layouts(config, paths)`,
    `cameras`: `camera_slots(config, paths)`."""
    train = config.train
    action_config = (train.action_config or {}).get("actions", {}) or {}
    return dict(
        obs_layout=layouts[0],
        action_layout=layouts[1],
        camera_slots=cameras,
        obs_keys=config.all_obs_keys,
        dataset_keys=train.dataset_keys,
        frame_stack=train.frame_stack,
        seq_length=train.seq_length,
        pad_frame_stack=train.pad_frame_stack,
        pad_seq_length=train.pad_seq_length,
        goal_mode=train.goal_mode,
        hdf5_cache_mode=train.hdf5_cache_mode,
        hdf5_use_swmr=train.hdf5_use_swmr,
        hdf5_normalize_obs=train.hdf5_normalize_obs,
        load_next_obs=train.hdf5_load_next_obs,
        action_normalization=action_config.get("normalization"),
    )


def filter_keys(config, dataset_path, train_key: str | None = None) -> tuple[str | None, str | None]:
    """(training, validation) mask names of `dataset_path`: `train_key` (an entry's) or train.hdf5_filter_key,
    and with experiment.validate "train" / "valid" by default, checked to be in the file."""
    train_key = train_key or config.train.hdf5_filter_key
    valid_key = None
    if config.experiment.validate:
        available = list_filter_keys(dataset_path)
        train_key = train_key or "train"
        valid_key = config.train.hdf5_validation_filter_key or "valid"
        missing = [k for k in (train_key, valid_key) if k not in available]
        if missing:
            raise DatasetError(
                f"{dataset_path}: experiment.validate needs masks {missing} (the file has {available or 'none'}); "
                f"fix: python scripts/split_train_val.py --dataset {dataset_path}, or --set experiment.validate=false"
            )
    return train_key, valid_key


def load_datasets(config, dataset_path, entries=None) -> tuple[SequenceDataset, SequenceDataset | None]:
    """Training and (when experiment.validate) validation datasets; validation reuses training's statistics.

    `entries` (robokit.config.datasets, issue 19): the run's datasets; several give a weighted MultiDataset
    (robokit.data.multi_dataset), one its own filter_key, demo_limit and lang."""
    if entries is not None and len(entries) > 1:
        keys = [filter_keys(config, e.path, e.filter_key) for e in entries]
        paths = [e.path for e in entries]
        layouts = robot_layouts(config, paths)
        kwargs = dataset_kwargs(config, layouts, camera_slots(config, paths, layouts))
        return load_multi_datasets(entries, kwargs, [k[0] for k in keys], keys[0][1],
                                   config.train.normalize_weights_by_ds_size)
    entry = entries[0] if entries else None
    train_key, valid_key = filter_keys(config, dataset_path, entry.filter_key if entry else None)
    layouts = robot_layouts(config, [dataset_path])
    kwargs = dataset_kwargs(config, layouts, camera_slots(config, [dataset_path], layouts))
    if entry is not None:
        kwargs.update(demo_limit=entry.demo_limit, lang=entry.lang)
    train_ds = SequenceDataset(dataset_path, filter_by_attribute=train_key, **kwargs)
    valid_ds = None
    if valid_key is not None:
        valid_ds = SequenceDataset(
            dataset_path, filter_by_attribute=valid_key,
            obs_normalization_stats=train_ds.get_obs_normalization_stats(),
            action_normalization_stats=train_ds.get_action_normalization_stats(),
            **{k: v for k, v in kwargs.items() if k != "demo_limit"},
        )
    return train_ds, valid_ds


GATHER_BYTES = 8 * 2**20  # without workers, gather several batches at once up to about this many bytes


def batch_stream(dataset: SequenceDataset, batch_size: int, num_workers: int, seed: int, start: int = 0,
                 shard: tuple[int, int] = (0, 1)):
    """Endless iterator of shuffled batches (each pass over the sampler reshuffles), from the `start`-th batch of
    the seeded sequence on (a resumed run continues where the interrupted one stopped); `shard` (rank,
    world_size): this rank's slice of each global batch (data-parallel training).

    Without workers, batches are gathered here, not through a DataLoader, and several at a time (one
    `get_batch` for up to GATHER_BYTES of small low-dimensional batches, then sliced): the per-batch Python
    work of gathering is what a training step on small networks waits for.
    """
    loader = make_dataloader(dataset, min(batch_size, len(dataset) // shard[1]), num_workers=num_workers, seed=seed,
                             shard=shard)
    loader.sampler.skip(start)
    if num_workers > 0:
        while True:
            yield from loader
    group = None  # batches gathered per get_batch, sized from the first batch
    while True:
        indices = iter(loader.sampler)
        while True:
            chunk = [i for _, i in zip(range(group or 1), indices)]
            if not chunk:
                break
            gathered = dataset.get_batch(torch.cat(chunk))
            if group is None:
                sizes = []
                map_structure(lambda t: sizes.append(t.numel() * t.element_size()), gathered)
                group = max(1, min(64, GATHER_BYTES // max(sum(sizes), 1)))
            first = 0
            for part in chunk:
                yield map_structure(lambda t, lo=first, hi=first + len(part): t[lo:hi], gathered)
                first += len(part)


def steps_per_epoch(n_steps: int | None, dataset: SequenceDataset, batch_size: int, world_size: int = 1) -> int:
    """`n_steps`, or one pass over the dataset in global batches of batch_size x world_size."""
    return n_steps if n_steps is not None else max(len(dataset) // (batch_size * world_size), 1)


def run_epoch(algo, batches, num_steps: int, epoch: int, validate: bool = False, progress: bool = True,
              stats_every: int = 1, precision: str = "off", monitor: MemoryMonitor | None = None) -> dict:
    """`num_steps` batches through `train_on_batch`; returns the mean of each logged value.

    The info of every `stats_every`-th step (the first one included) is logged; on the other steps the algorithm
    skips its logging-only statistics. Validation logs every step. `precision`: `train.mixed_precision`.
    """
    logs = defaultdict(list)
    desc = f"epoch {epoch} " + ("valid" if validate else "train")
    every = 1 if validate else stats_every
    try:
        for step in tqdm(range(num_steps), desc=desc, unit="step", leave=False, disable=not progress, mininterval=0.5):
            logged = step % every == 0
            algo.set_log_diagnostics(logged)
            batch = algo.process_batch_for_training(next(batches))
            with gradient_step_precision(precision, algo.device):
                try:
                    info = algo.train_on_batch(batch, epoch, validate=validate)
                except TrainingDivergedError as exc:
                    exc.where = f"epoch {epoch}, step {step + 1} of {num_steps}"
                    raise
            if algo.grad_scaler is not None and not validate:
                algo.grad_scaler.update()  # once per step, after every optimiser of the step
            if monitor is not None:
                monitor.step()
            if logged:
                for key, value in algo.log_info(info).items():
                    logs[key].append(value)
    finally:
        algo.set_log_diagnostics(True)
    return {key: float(np.mean(values)) for key, values in logs.items()}


# ----- environment -----
def env_args_for_run(config, dataset_env_args: dict) -> dict:
    """The dataset's env_args with `experiment.env` and `experiment.env_meta_update_dict` applied."""
    env_args = dict(dataset_env_args)
    env_args["env_kwargs"] = dict(env_args.get("env_kwargs", {}))
    if config.experiment.env:
        env_args["env_name"] = config.experiment.env
    update = dict(config.experiment.env_meta_update_dict or {})
    env_args["env_kwargs"].update(update.pop("env_kwargs", {}))
    env_args.update(update)
    return env_args


def eval_targets(config, dataset, entries) -> tuple[dict[str, dict], list[str]]:
    """({name: env_args} of every environment evaluated during training, [the names the best checkpoints
    follow]). One dataset: its env (named by env id), then `experiment.additional_envs` (its env_kwargs, another
    id). Several (issue 19): each dataset whose entry has eval set, named by the dataset, then the additional envs
    on the first of them; `experiment.env` replaces them all by that env on the first dataset's metadata, as in
    robomimic. The best checkpoints follow the mean over the datasets' envs (the first target alone for one)."""
    members = getattr(dataset, "datasets", None)
    if members is None or config.experiment.env:
        base = env_args_for_run(config, (members[0] if members else dataset).env_args)
        primary = {base["env_name"]: base}
    else:
        primary = {e.name: env_args_for_run(config, ds.env_args) for e, ds in zip(entries, members) if e.eval}
    targets = dict(primary)
    if primary:
        first = next(iter(primary.values()))
        for name in config.experiment.additional_envs or []:
            targets.setdefault(name, dict(first, env_name=name))
    return targets, list(primary)


def make_eval_envs(config, targets: dict[str, dict]) -> dict[str, list]:
    """{name: `experiment.rollout.num_envs` envs} for `eval_targets`' {name: env_args}."""
    rollout_cfg = config.experiment.rollout
    envs: dict[str, list] = {}
    try:
        for name, env_args in targets.items():
            envs[name] = create_envs(env_args, rollout_cfg.num_envs, rollout_cfg.vector_env,
                                     render_offscreen=config.experiment.render_video)
    except BaseException:
        close_envs(envs)
        raise
    return envs


def close_envs(envs: dict[str, list]) -> None:
    for group in envs.values():
        for env in group:
            env.close()


# ----- the run -----
def check_output_dir(config, output_dir=None) -> None:
    """Refuse an output folder that cannot hold run folders (an existing file on its path), before any work."""
    path = Path(output_dir or config.train.output_dir)
    for part in (path, *path.parents):
        if part.exists() and not part.is_dir():
            flag = "--output" if output_dir else "train.output_dir"
            raise ConfigError(f"{flag} {path}: {part} is a file, not a folder; fix: choose a folder for the runs")


def create_run_dir(config, output_dir=None) -> Path:
    """A new `<output_dir>/<experiment.name>/<timestamp>/` with logs/, models/ and videos/; partial checkpoint
    files that killed runs of the experiment left behind are removed first."""
    base = Path(output_dir or config.train.output_dir) / config.experiment.name
    for models in base.glob("*/models"):
        remove_stale_partials(models)
    root = base / datetime.now().strftime("%Y%m%d_%H%M%S_%f")
    for sub in ("logs", "models", "videos"):
        (root / sub).mkdir(parents=True, exist_ok=False)
    return root


def train(config, dataset_path=None, output_dir=None, device=None, debug: bool = False, progress: bool = True,
          resume_dir=None, dist: "DistContext | None" = None, memory_reader=None) -> Path:
    """Train `config`'s algorithm on its dataset; returns the run folder.

    `resume_dir`: continue that run folder from its `models/last.pth` exactly as if it had not stopped (weights,
    optimisers, schedules, EMA, RNG states, sampler position, counters, best scores); `config` may differ from
    the run's only in `robokit.train.resume.RESUMABLE_KEYS`. `dist`: this process's rank in a data-parallel
    job (robokit.train.distributed); rank 0 alone writes and evaluates. `memory_reader`: what the memory monitor
    reads (default: this process's RAM and CUDA memory; tests inject one).
    """
    if debug:
        apply_debug_settings(config)
    config.validate()
    algo_class_for_config(config)  # impossible algorithm combinations fail before any work
    for obs_section in config.observation_sections():  # unknown encoder / randomizer names and arguments too
        check_observation_encoders(obs_section)
    device = resolve_device(device, config.train.cuda)  # a bad --device fails before any data is read
    check_output_dir(config, output_dir)
    entries = run_entries(config, dataset_path)  # --dataset, or train.data: a path or several entries (issue 19)
    dataset_path = entries[0].path  # the first dataset: messages
    cameras = camera_slots(config, [e.path for e in entries])  # robots without a camera get zero images there
    for entry in entries:
        check_dataset(entry.path, obs_keys=file_obs_keys(config, entry.path, cameras),
                      dataset_keys=config.train.dataset_keys)
    resumed = load_resume_checkpoint(resume_dir, config) if resume_dir is not None else None
    if not any(config.obs_keys_by_modality("obs").values()):
        specs = obs_specs(dataset_path)
        low_dim = [k for k, (_, dtype) in specs.items() if dtype != np.uint8]
        raise ConfigError(
            "the config lists no observation keys (observation.modalities.obs is empty); fix: name the dataset's, "
            f"e.g. --set 'observation.modalities.obs.low_dim={json.dumps(low_dim)}' ({dataset_path} has "
            f"{', '.join(specs) or 'no observations'})")
    train_ds, valid_ds = load_datasets(config, dataset_path, entries)
    vocabulary = attach_language(config, train_ds, valid_ds)  # None unless observation.language.enabled
    if config.train.batch_size == "auto":
        if dist is not None:
            raise ConfigError("train.batch_size=auto is not measured under torchrun (every rank would probe); fix: "
                              "run once without torchrun to find it (it is cached), then set train.batch_size")
        resolve_batch_size(config, len(train_ds), device)  # probes train on every train.data entry
    targets, primary = eval_targets(config, train_ds, entries)
    env_args = next(iter(targets.values()), None) or env_args_for_run(config, train_ds.env_args)
    datasets_record = dataset_records(entries, train_ds, lambda name, ds: targets.get(name)
                                      or env_args_for_run(config, ds.env_args))
    rollout_cfg = config.experiment.rollout
    main = dist is None or dist.is_main  # the one process that writes files and runs rollouts
    acts = not issubclass(algo_class_for_config(config)[0], PlannerAlgo)  # GL predicts subgoals: nothing to roll out
    eval_envs = make_eval_envs(config, targets) if rollout_cfg.enabled and main and acts else {}
    if dist is not None:
        device = dist.device

    torch.manual_seed(config.train.seed)
    np.random.seed(config.train.seed)
    set_flush_denormals(config.train.flush_denormals)
    shape_metadata = {
        "all_shapes": {k: list(v) for k, v in train_ds.obs_key_shapes.items()},
        "ac_dim": train_ds.action_dim,
        "all_obs_keys": list(config.all_obs_keys),
    }
    algo = algo_factory(config.algo_name, config, obs_key_shapes=train_ds.obs_key_shapes,
                        ac_dim=train_ds.action_dim, device=device)
    check_action_padding(algo, train_ds)
    robot_data = None
    if train_ds.obs_layout is not None or train_ds.action_layout is not None:
        robot_data = RobotData.for_training(train_ds.obs_layout, train_ds.action_layout, [e.path for e in entries],
                                            train_ds.obs_keys)
    if config.experiment.ckpt_path:
        algo.deserialize(load_checkpoint(config.experiment.ckpt_path)["model"])
    algo.grad_scaler = make_grad_scaler(config.train.mixed_precision, device)
    shard = (0, 1)
    if dist is not None:
        dist.broadcast_from_main(algo.nets)
        algo.gradient_sync = dist.average_gradients
        torch.manual_seed(config.train.seed + dist.rank)  # per-rank randomness (dropout, noise) from here on
        shard = (dist.rank, dist.world_size)
    state = TrainState()
    if resumed is not None:
        run_dir = Path(resume_dir)
        state = resume_algo(algo, resumed, run_dir / "models" / "last.pth", dist)
    elif main:
        run_dir = create_run_dir(config, output_dir)
    else:
        run_dir = None
    if main:
        config.dump(run_dir / "config.json")
        log = RunLogger(run_dir / "logs", log_tb=config.experiment.logging.log_tb,
                        log_txt=config.experiment.logging.terminal_output_to_txt)
    else:
        log = RunLogger(None)  # other ranks write nothing
    log.print(f"run folder: {run_dir}")
    log.print(f"train: {train_ds}")
    if rollout_cfg.enabled and not acts:
        log.print(f"rollouts skipped: {config.algo_name} predicts subgoals and does not act (train hbc or iris for a "
                  "policy); experiment.rollout.enabled is ignored")
    if valid_ds is not None:
        log.print(f"valid: {valid_ds}")
    log.print(repr(algo))
    if resumed is not None:
        log.print(f"resumed after epoch {state.epoch} (step {state.step}) from {run_dir / 'models' / 'last.pth'}")

    saved: dict[str, Path] = {}  # the last checkpoint written, for the message of a diverged run

    def checkpoint(name: str, state: TrainState, rng_states: list | None = None) -> None:
        ckpt = build_checkpoint(algo, config, shape_metadata, env_args, train_ds.get_obs_normalization_stats(),
                                train_ds.get_action_normalization_stats(), state.as_dict(), robot_data, vocabulary)
        ckpt["resume_state"] = {"rng_per_rank": rng_states or [capture_rng_state()]}
        ckpt["datasets"] = datasets_record  # each dataset's entry, share and env (issue 19)
        path = run_dir / "models" / f"{name}.pth"
        save_checkpoint(ckpt, path)
        saved["last"] = path

    batch_size = config.train.batch_size
    n_train = steps_per_epoch(config.experiment.epoch_every_n_steps, train_ds, batch_size, shard[1])
    n_valid = (steps_per_epoch(config.experiment.validation_epoch_every_n_steps, valid_ds, batch_size, shard[1])
               if valid_ds is not None else 0)
    train_batches = batch_stream(train_ds, batch_size, config.train.num_data_workers, config.train.seed,
                                 start=state.step, shard=shard)
    valid_batches = (batch_stream(valid_ds, batch_size, 0, config.train.seed, start=state.epoch * n_valid,
                                  shard=shard) if valid_ds is not None else None)
    algo.set_steps_per_epoch(n_train)  # the run's length, for learning rates that step every batch
    save_cfg = config.experiment.save
    memory_cfg = config.experiment.memory
    monitor = MemoryMonitor(memory_cfg.max_fraction, memory_cfg.every_n_steps, memory_reader, device)
    last_time_save = time.time()
    try:
        for epoch in range(state.epoch + 1, config.train.num_epochs + 1):
            state.epoch = epoch
            started = time.perf_counter()
            algo.set_train()
            train_log = run_epoch(algo, train_batches, n_train, epoch, progress=progress,
                                  stats_every=config.experiment.logging.stats_every_n_steps,
                                  precision=config.train.mixed_precision, monitor=monitor)
            state.step += n_train
            step_rate = n_train / (time.perf_counter() - started)
            log.scalars("Train", {**train_log, "Steps_per_second": step_rate}, epoch)
            log.scalars("Memory", monitor.epoch_peaks(), epoch)
            line = f"epoch {epoch}/{config.train.num_epochs} | loss {train_log['Loss']:.4f} | {step_rate:.0f} steps/s"
            saves: list[str] = []

            if valid_batches is not None:
                algo.set_eval()
                with algo.ema_weights():  # with algo.ema on, validation and rollouts judge the EMA weights
                    valid_log = run_epoch(algo, valid_batches, n_valid, epoch, validate=True, progress=progress,
                                          precision=config.train.mixed_precision)
                log.scalars("Valid", valid_log, epoch)
                line += f" | valid {valid_log['Loss']:.4f}"
                if valid_log["Loss"] < state.best_valid_loss:
                    state.best_valid_loss = valid_log["Loss"]
                    if save_cfg.on_best_validation:
                        saves.append("model_best_validation")

            video_paths = []
            if eval_envs and epoch > rollout_cfg.warmstart and epoch % rollout_cfg.rate == 0:
                scores = []  # (success rate, return) of the envs the best checkpoints follow (eval_targets)
                for i, (env_name, envs) in enumerate(eval_envs.items()):
                    policy = make_rollout_policy(algo, train_ds, robot_data, targets[env_name]["env_name"], vocabulary)
                    video_path = None
                    if config.experiment.render_video:
                        video_path = run_dir / "videos" / (f"epoch_{epoch}.mp4" if i == 0 else
                                                           f"epoch_{epoch}_{env_name}.mp4")
                        video_paths.append(video_path)
                    with algo.ema_weights():
                        stats = evaluate(policy, envs, config, epoch, video_path, progress)
                    log.scalars(f"Rollout/{env_name}", {k: v for k, v in stats.items() if k != "episodes"}, epoch)
                    if env_name in primary:
                        scores.append((stats["Success_Rate"], stats["Return"]))
                    if env_name in primary and len(primary) == 1:
                        line += f" | success {stats['Success_Rate']:.2f} | return {stats['Return']:.2f}"
                    else:  # each of several datasets, and the additional envs, under its own name
                        line += f" | {env_name} success {stats['Success_Rate']:.2f}"
                if scores:
                    success_rate, mean_return = (float(v) for v in np.mean(scores, axis=0))
                    if len(scores) > 1:
                        line += f" | mean success {success_rate:.2f} | mean return {mean_return:.2f}"
                    if success_rate > state.best_success_rate:
                        state.best_success_rate = success_rate
                        if save_cfg.on_best_rollout_success_rate:
                            saves.append("model_best_success_rate")
                    if mean_return > state.best_return:
                        state.best_return = mean_return
                        if save_cfg.on_best_rollout_return:
                            saves.append("model_best_return")

            if save_cfg.enabled:  # every rank's RNG state, gathered on rank 0, makes last.pth resumable per rank
                rng_states = dist.gather_objects(capture_rng_state()) if dist is not None else None
            if save_cfg.enabled and main:
                periodic = save_cfg.every_n_epochs is not None and epoch % save_cfg.every_n_epochs == 0
                timed = save_cfg.every_n_seconds is not None and time.time() - last_time_save > save_cfg.every_n_seconds
                if periodic or timed or epoch in save_cfg.epochs:
                    saves.append(f"model_epoch_{epoch}")
                    last_time_save = time.time()
                log.flush()  # the epoch's logs reach the disk before its checkpoints: a run killed after them resumes
                for name in saves:  # with every epoch up to the checkpoint's in its logs
                    checkpoint(name, state, rng_states)
                checkpoint("last", state, rng_states)
                prune_epoch_checkpoints(run_dir / "models", save_cfg.keep_last_n)
            if not saves and not config.experiment.keep_all_videos:
                for video_path in video_paths:
                    video_path.unlink(missing_ok=True)
            if saves:
                line += f" | saved {', '.join(saves)}"
            log.print(line)
            algo.on_epoch_end(epoch)
    except MemoryLimitError as exc:
        kept = "no checkpoint written (not rank 0)"
        if main:
            checkpoint("emergency", state)
            kept = f"wrote {run_dir / 'models' / 'emergency.pth'}"
        error = MemoryLimitError(f"{exc} in epoch {state.epoch}; {kept}; fix: {MEMORY_FIX}")
        log.print(f"error: {error}", terminal=False)  # the script prints it once
        raise error from None
    except TrainingDivergedError as exc:
        error = diverged_error(exc, config, algo, exc.where or f"the end of epoch {state.epoch}", saved.get("last"))
        log.print(f"error: {error}", terminal=False)  # the script prints it once
        raise error from None
    finally:
        log.close()
        close_envs(eval_envs)
    if main:
        from robokit.train.plots import write_run_plots

        write_run_plots(run_dir)  # <run>/plots/curves.png, when matplotlib is installed
    return run_dir


def resume_algo(algo, ckpt: dict, source, dist: "DistContext | None" = None) -> TrainState:
    """`ckpt`'s weights, optimisers, schedules, EMA and this rank's RNG states into `algo`; returns the progress."""
    restore_algo(algo, ckpt, source)
    saved = ckpt["train_state"]
    state = TrainState(**{k: saved[k] for k in TrainState().as_dict() if k in saved})
    finish_resume(algo, ckpt, state.epoch, source, dist)
    return state


def evaluate(policy: RolloutPolicy, envs: list, config, epoch: int, video_path=None, progress: bool = True) -> dict:
    """`experiment.rollout.n` episodes in `envs` (stepped together when there are several), seeded per epoch."""
    rollout_cfg = config.experiment.rollout
    return rollout_with_stats(policy, envs, rollout_cfg.n, rollout_cfg.horizon, rollout_cfg.terminate_on_success,
                              seed=config.train.seed * 100_000 + epoch * 1000, video_path=video_path,
                              video_skip=config.experiment.video_skip, progress=progress)


def language_enabled(config) -> bool:
    """Whether any observation section of the config has observation.language.enabled."""
    return any(getattr(getattr(section, "language", None), "enabled", False)
               for section in config.observation_sections())


def attach_language(config, train_ds, valid_ds=None) -> Vocabulary | None:
    """With observation.language.enabled: the vocabulary of the training demos' instructions, given to the datasets
    (batches then carry obs[LANG]); set_language's DatasetError (one line) when a demo has no instruction, unless
    train.input_robot_data_spec lists language (then such demos get a masked, zero instruction). None when off."""
    if not language_enabled(config):
        layout = train_ds.obs_layout
        if layout is not None and DataType.LANGUAGE in layout.data_types:
            raise ConfigError("train.input_robot_data_spec lists language but observation.language.enabled is false; "
                              "fix: set observation.language.enabled=true, or leave language out of the spec")
        return None
    vocabulary = Vocabulary.from_instructions(lang for lang in train_ds.demo_langs if lang is not None)
    train_ds.set_language(vocabulary)
    if valid_ds is not None:
        valid_ds.set_language(vocabulary)
    return vocabulary


def make_rollout_policy(algo, dataset: SequenceDataset, robot_data: RobotData | None = None,
                        env_name: str | None = None, language: Vocabulary | None = None) -> RolloutPolicy:
    """Deploy `algo` with the dataset's normalisation statistics; with `robot_data` (a run on robot data specs),
    fed by names as the robot recorded in `env_name`."""
    adapter = None
    if robot_data is not None:
        adapter = robot_data.adapter(algo.obs_shapes, robot=robot_data.robot_for_env(env_name, dataset.robot))
    return RolloutPolicy(algo, dataset.get_obs_normalization_stats(), dataset.get_action_normalization_stats(),
                         robot=adapter, language=language)


def check_action_padding(algo, dataset: SequenceDataset) -> None:
    """ConfigError (one line) when the data has padded action dims that the algorithm's losses cannot leave out."""
    if dataset.has_padded_actions and not getattr(algo, "SUPPORTS_ACTION_MASK", False):
        raise ConfigError(f"{type(algo).__name__} cannot leave padded action dims out of its losses (the robots' "
                          f"actions {', '.join(dataset.robots)} have different widths); fix: train them with bc "
                          "(any variant), act or diffusion_policy, or give the robots equal output specs")
