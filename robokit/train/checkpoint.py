"""Checkpoints: self-describing dicts of tensors and plain data, loadable with `torch.load(weights_only=True)`.

Layout:
    format_version, algo_name, config (plain dict), shape_metadata {all_shapes, ac_dim, all_obs_keys},
    env_metadata (the dataset's env_args), obs_normalization_stats, action_normalization_stats
    ({key: {"offset", "scale"}} tensors, or None), robot_data (None, or a run on robot data specs: its slot
    layouts, each robot's names and environment, see robokit.data.embodiment.RobotData), algo_origin (None for a built-in algorithm, else where the plugin
    came from: {"module", "path", "sha256", "kind"}, see robokit.algo.plugins), model (network state dict), optimizer_state, ema (the EMA
    weights when algo.ema is on, else None),
    train_state {epoch, step, best_valid_loss, best_success_rate, best_return},
    datasets (offline runs: per dataset of train.data its entry, samples, share and env_metadata; issue 19).
Files are written to a hidden partial file and renamed, so an interrupted save never leaves a broken checkpoint.
"""

import os
import warnings
from pathlib import Path

import torch

import robokit
from robokit.algo import RolloutPolicy, algo_factory
from robokit.algo.plugins import algo_origin, check_checkpoint_algo
from robokit.config import config_factory
from robokit.config.online import OnlineConfig
from robokit.config.registry import REGISTERED_CONFIGS
from robokit.data.embodiment import RobotAdapter, RobotData
from robokit.data.language import Vocabulary
from robokit.envs import create_env
from robokit.errors import CheckpointError, ConfigError
from robokit.train.divergence import check_finite_weights
from robokit.utils.device import resolve_device
from robokit.utils.normalization import stats_to_numpy, stats_to_tensors
from robokit.utils.partial_files import is_write_failure, partial_path, remove_stale_partials, write_error

FORMAT_VERSION = 2
#: online RL checkpoints (sac, td3, ppo, a2c) of earlier formats do not load: format 2 dropped their flat
#: optimiser state, PPO's paired actor/critic trunks and `train.manual_backward`
ONLINE_MIN_FORMAT_VERSION = 2


def build_checkpoint(algo, config, shape_metadata: dict, env_metadata: dict | None, obs_normalization_stats=None,
                     action_normalization_stats=None, train_state: dict | None = None, robot_data=None,
                     language=None) -> dict:
    """Everything needed to rebuild `algo` for deployment or to resume training.

    `robot_data`: a `robokit.data.embodiment.RobotData` (a run on robot data specs): the slot layouts, every
    robot's names and environment, stored as plain data under "robot_data".
    `language`: the robokit.data.language.Vocabulary of a language-conditioned run, as plain data under "language".

    Non-finite weights raise TrainingDivergedError: such a checkpoint is never built, so never written.
    """
    model = algo.serialize()
    check_finite_weights(model)
    return {
        "format_version": FORMAT_VERSION,
        "robokit_version": robokit.__version__,
        "algo_name": config.algo_name,
        "algo_origin": algo_origin(config.algo_name),  # None for built-ins; a plugin's module, path and sha256
        "config": config.to_dict(),
        "shape_metadata": shape_metadata,
        "env_metadata": env_metadata,
        "obs_normalization_stats": stats_to_tensors(obs_normalization_stats),
        "action_normalization_stats": stats_to_tensors(action_normalization_stats),
        "model": model,
        "optimizer_state": algo.optimizer_state(),
        "ema": algo.ema_state(),  # {network: {"step", "weights"}} when algo.ema is on, else None
        "train_state": dict(train_state or {}),
        "robot_data": None if robot_data is None else robot_data.to_config(),
        "language": None if language is None else language.to_dict(),
    }


def save_checkpoint(ckpt: dict, path: str | os.PathLike) -> None:
    """Write atomically: to a hidden partial file beside `path` (`robokit.utils.partial_files`), then rename.

    A failed write (full disk, read-only folder) or an interruption removes the partial file and leaves a
    previous `path` as it was; a write failure raises OutputWriteError naming the path and the free space.
    Partial files that a killed run left in the folder are removed first.
    """
    path = Path(path)
    tmp = partial_path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        remove_stale_partials(path.parent)
        torch.save(ckpt, tmp)
        os.replace(tmp, path)
    except BaseException as exc:
        tmp.unlink(missing_ok=True)
        if is_write_failure(exc, path.parent):
            raise write_error(path, exc) from None
        raise


def prune_epoch_checkpoints(models_dir: str | os.PathLike, keep: int | None) -> list[Path]:
    """Delete all but the newest `keep` model_epoch_<N>.pth of a run's models folder (None: keep all); last.pth
    and model_best_*.pth are never touched. Returns the deleted paths."""
    if keep is None:
        return []
    epochs = sorted((int(p.stem.rsplit("_", 1)[1]), p) for p in Path(models_dir).glob("model_epoch_*.pth")
                    if p.stem.rsplit("_", 1)[1].isdigit())
    doomed = [p for _, p in epochs[:-keep]]
    for path in doomed:
        path.unlink(missing_ok=True)
    return doomed


def load_checkpoint(path: str | os.PathLike) -> dict:
    """Read a checkpoint with `weights_only=True`; a missing or foreign file is a CheckpointError."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    try:
        with warnings.catch_warnings():  # torch's warnings about a foreign pickle: the error below says it once
            warnings.simplefilter("ignore")
            ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types for corrupt / non-torch files
        raise CheckpointError(f"{path} {_unreadable_reason(exc)}; fix: pass a .pth file that robokit's train.py "
                              "wrote (e.g. <run>/models/last.pth)") from None
    if not isinstance(ckpt, dict) or "format_version" not in ckpt:
        raise CheckpointError(f"{path} is not a robokit checkpoint (no format_version)")
    if ckpt["format_version"] > FORMAT_VERSION:
        raise CheckpointError(
            f"{path} has checkpoint format {ckpt['format_version']}, newer than this robokit reads "
            f"({FORMAT_VERSION}); upgrade robokit"
        )
    algo_name = ckpt.get("algo_name")
    config_class = REGISTERED_CONFIGS.get(algo_name) if isinstance(algo_name, str) else None
    if ckpt["format_version"] < ONLINE_MIN_FORMAT_VERSION and config_class and issubclass(config_class, OnlineConfig):
        raise CheckpointError(
            f"{path} is a {algo_name} checkpoint of format {ckpt['format_version']} (robokit "
            f"{ckpt.get('robokit_version', 'unknown')}); online RL checkpoints load from format "
            f"{ONLINE_MIN_FORMAT_VERSION} on (their networks' and optimisers' layout changed): retrain it, or load it "
            f"with the robokit version that wrote it"
        )
    return ckpt


def _unreadable_reason(exc: Exception) -> str:
    """Why torch.load failed, in a few words: never torch's advice to load with weights_only=False, which
    would run whatever code the file carries."""
    text = str(exc)
    if "Weights only load failed" in text or "weights_only" in text:
        return "holds pickled Python objects, which robokit never loads (they could run code)"
    first = text.strip().splitlines()[0] if text.strip() else type(exc).__name__
    return f"is not a readable robokit checkpoint ({first[:160]})"


REQUIRED_ENTRIES = {"algo_name": str, "config": dict, "shape_metadata": dict, "model": dict}


def check_checkpoint_entries(ckpt: dict, source: str) -> None:
    """Raise CheckpointError when `ckpt` lacks an entry a policy is built from, or holds no weights."""
    problems = [f"no '{key}'" if key not in ckpt else f"'{key}' is a {type(ckpt[key]).__name__}, not a {kind.__name__}"
                for key, kind in REQUIRED_ENTRIES.items() if not isinstance(ckpt.get(key), kind)]
    if not problems and not ckpt["model"]:
        problems.append("no weights (an empty 'model')")
    if not problems:
        shapes = ckpt["shape_metadata"]
        problems = [f"no shape_metadata['{key}']" for key in ("all_shapes", "ac_dim") if key not in shapes]
    if problems:
        raise CheckpointError(f"{source} is incomplete: {', '.join(problems)}; fix: load another checkpoint of the "
                              "run (e.g. models/last.pth) or retrain")


def _flat_tensors(tree, prefix: str = "") -> dict:
    """{dotted name: tensor} of a (nested) state dict."""
    if isinstance(tree, torch.Tensor):
        return {prefix: tree}
    flat = {}
    if isinstance(tree, dict):
        for key, value in tree.items():
            flat.update(_flat_tensors(value, f"{prefix}.{key}" if prefix else str(key)))
    return flat


def load_weights(algo, model: dict, source: str) -> None:
    """`algo.deserialize(model)` after checking that every tensor the algorithm expects is there with its shape;
    a mismatch is one CheckpointError line naming the tensors."""
    expected, given = _flat_tensors(algo.serialize()), _flat_tensors(model)
    problems = [f"tensor {name} has shape {tuple(given[name].shape)}, expected {tuple(t.shape)}"
                for name, t in expected.items() if name in given and given[name].shape != t.shape]
    missing = [name for name in expected if name not in given]
    unexpected = [name for name in given if name not in expected]
    if missing:
        problems.append(f"missing {len(missing)} tensor(s) ({', '.join(missing[:3])}{', ...' if len(missing) > 3 else ''})")
    if unexpected:
        problems.append(f"{len(unexpected)} unexpected tensor(s) ({', '.join(unexpected[:3])}"
                        f"{', ...' if len(unexpected) > 3 else ''})")
    if problems:
        more = f" (+{len(problems) - 2} more)" if len(problems) > 2 else ""
        raise CheckpointError(f"{source}: its weights do not fit the {type(algo).__name__} network its config builds: "
                              f"{'; '.join(problems[:2])}{more}; fix: the file is damaged or was edited: load another "
                              "checkpoint of the run or retrain")
    algo.deserialize(model)


def maybe_dict_from_checkpoint(ckpt_path=None, ckpt_dict=None) -> dict:
    if ckpt_dict is not None:
        return ckpt_dict
    if ckpt_path is None:
        raise ValueError("pass ckpt_path or ckpt_dict")
    return load_checkpoint(ckpt_path)


def config_from_checkpoint(ckpt_dict: dict, source: str = "the checkpoint"):
    """The run's config; one that no longer loads is a CheckpointError naming `source`."""
    try:
        return config_factory(ckpt_dict["algo_name"], dic=ckpt_dict["config"])
    except ConfigError as exc:
        raise CheckpointError(f"{source}: its config does not load ({exc}); fix: load it with the robokit version "
                              f"that wrote it ({ckpt_dict.get('robokit_version', 'unknown')}) or retrain") from None


def algo_from_checkpoint(ckpt_dict: dict, device=None, source: str = "the checkpoint", algo_module=None):
    """Rebuild the Algo with its weights; an incomplete or mismatched checkpoint is a CheckpointError naming `source`.

    A plugin algorithm loads only when it is already imported or `algo_module` names it (robokit.algo.plugins):
    loading a checkpoint never imports code on its own."""
    check_checkpoint_entries(ckpt_dict, source)
    check_checkpoint_algo(ckpt_dict, algo_module, source)
    config = config_from_checkpoint(ckpt_dict, source)
    device = resolve_device(device, config.train.cuda)
    shapes = ckpt_dict["shape_metadata"]
    try:
        algo = algo_factory(
            ckpt_dict["algo_name"],
            config,
            obs_key_shapes={k: tuple(v) for k, v in shapes["all_shapes"].items()},
            ac_dim=shapes["ac_dim"],
            device=device,
        )
    except (KeyError, TypeError, ValueError) as exc:  # shapes that cannot build the networks
        raise CheckpointError(f"{source}: its shape_metadata cannot build the networks ({exc}); fix: load another "
                              "checkpoint of the run or retrain") from None
    load_weights(algo, ckpt_dict["model"], source)
    algo.load_ema_state(ckpt_dict.get("ema"))
    return algo


def policy_from_checkpoint(ckpt_path=None, ckpt_dict=None, device=None, verbose=False, algo_module=None, robot=None,
                           robot_spec=None, embodiment=None):
    """Load a trained policy: returns `(RolloutPolicy, ckpt_dict)`, the policy in evaluation mode.

    `algo_module`: the plugin (.py file, package folder, .zip or module name) that defines the checkpoint's
    algorithm, when it is not built in and not imported yet.

    A model trained on robot data specs (train.input/output_robot_data_spec, `ckpt["robot_data"]`) is fed by
    names: `robot="name"` (a robot of its training data) gives a policy that takes that robot's observation
    dict, reorders it into the model's slots and returns the robot's own action; `robot_spec={data type:
    [names]}` (which items feed the slots, in order) with `embodiment=` (an Embodiment or its dict: where the
    robot's named items live, e.g. `robokit.envs.embodiments.embodiment_for_env(...)`) does the same for a new
    robot (see robokit.data.embodiment.RobotAdapter). Mistakes are one ConfigError line."""
    ckpt_dict = maybe_dict_from_checkpoint(ckpt_path, ckpt_dict)
    source = str(ckpt_path) if ckpt_path is not None else "the checkpoint"
    adapter = robot_adapter_from_checkpoint(ckpt_dict, robot, robot_spec, embodiment, source)
    algo = algo_from_checkpoint(ckpt_dict, device, source=source, algo_module=algo_module)
    algo.use_ema_weights()  # with algo.ema on, the policy acts with the averaged weights
    algo.set_eval()
    language = ckpt_dict.get("language")
    policy = RolloutPolicy(
        algo,
        obs_normalization_stats=stats_to_numpy(ckpt_dict.get("obs_normalization_stats")),
        action_normalization_stats=stats_to_numpy(ckpt_dict.get("action_normalization_stats")),
        robot=adapter,
        language=None if language is None else Vocabulary.from_dict(language),
    )
    if verbose:
        print(f"loaded {ckpt_dict['algo_name']} policy ({type(algo).__name__}) on {algo.device}")
        if adapter is not None:
            print(adapter.describe())
    return policy, ckpt_dict


def robot_data_from_checkpoint(ckpt_dict: dict, source: str = "the checkpoint") -> RobotData | None:
    """The checkpoint's RobotData (None for a model trained without robot data specs)."""
    raw = ckpt_dict.get("robot_data")
    if raw is None:
        return None
    try:
        return RobotData.from_config(raw)
    except (ConfigError, KeyError, TypeError) as exc:
        raise CheckpointError(f"{source}: its robot_data does not load ({exc}); fix: load another checkpoint of the "
                              "run or retrain") from None


def robot_adapter_from_checkpoint(ckpt_dict: dict, robot=None, robot_spec=None, embodiment=None,
                                  source: str = "the checkpoint") -> RobotAdapter | None:
    """The RobotAdapter `policy_from_checkpoint` feeds the model through; None for a model without robot data
    specs (then `robot` / `robot_spec` / `embodiment` are refused in one line)."""
    record = robot_data_from_checkpoint(ckpt_dict, source)
    if record is None:
        if robot is not None or robot_spec is not None or embodiment is not None:
            raise ConfigError(f"{source} was trained without robot data specs (train.input/output_robot_data_spec): "
                              "it takes the observation keys it was trained on and has no named slots; drop "
                              "robot / robot_spec / embodiment")
        return None
    check_checkpoint_entries(ckpt_dict, source)
    shapes = {k: tuple(v) for k, v in ckpt_dict["shape_metadata"]["all_shapes"].items()}
    return record.adapter(shapes, robot=robot, spec=robot_spec, embodiment=embodiment)


def env_args_from_checkpoint(ckpt_dict: dict, dataset: str | None = None) -> dict:
    """The env_args (env_name, type, env_kwargs) of the environment the checkpoint's policy was trained for.

    A run on several datasets (train.data entries, issue 19) records each dataset's environment under
    `ckpt["datasets"]`: `dataset` names one; by default the first dataset whose entry has eval set. An unknown
    name, or no name while no dataset was evaluated, is one CheckpointError line listing the names."""
    records = ckpt_dict.get("datasets") or []
    if dataset is not None or len(records) > 1:
        names = ", ".join(r["name"] for r in records) or "none: it was trained on one dataset"
        if dataset is None:
            chosen = next((r for r in records if r.get("eval")), None)
            if chosen is None:
                raise CheckpointError(f"the checkpoint's datasets were not evaluated in training (no entry has "
                                      f"eval); choose the environment of one by name (--env_dataset): {names}")
        else:
            chosen = next((r for r in records if r["name"] == dataset), None)
            if chosen is None:
                raise CheckpointError(f"the checkpoint has no dataset named '{dataset}'; its datasets: {names}")
        if chosen.get("env_metadata"):
            return chosen["env_metadata"]
    env_meta = ckpt_dict.get("env_metadata")
    if not env_meta:
        raise CheckpointError("the checkpoint has no env metadata; create the environment yourself")
    return env_meta


def datasets_from_checkpoint(ckpt_dict: dict) -> list[dict]:
    """The run's datasets as recorded (issue 19): per dataset its train.data entry (path, name, weight, filter_key,
    lang, demo_limit, eval, key), samples, share of the samples and env_metadata; [] for older checkpoints."""
    return [dict(r) for r in ckpt_dict.get("datasets") or []]


def env_from_checkpoint(ckpt_path=None, ckpt_dict=None, env_name=None, render_offscreen=False, dataset=None,
                        **env_kwargs):
    """The environment the checkpoint's policy was trained for: returns `(env, ckpt_dict)`; `dataset`: which
    dataset's environment, for a run on several (see env_args_from_checkpoint)."""
    ckpt_dict = maybe_dict_from_checkpoint(ckpt_path, ckpt_dict)
    env = create_env(env_args_from_checkpoint(ckpt_dict, dataset), render_offscreen=render_offscreen,
                     env_name=env_name, **env_kwargs)
    return env, ckpt_dict
