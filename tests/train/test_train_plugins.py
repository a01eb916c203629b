"""Algorithms from outside robokit (robokit.algo.plugins): a plugin written into tmp_path trains with
scripts/train.py --algo_module, its checkpoint records where it came from, and loading it never imports code."""

import json
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from plugin_source import PLUGIN
from script_runner import assert_one_line_error, run_script
from robokit.algo.plugins import algo_origin, code_sha256, load_algo_module
from robokit.algo.registry import REGISTERED_ALGO_FACTORY_FUNCS
from robokit.config.registry import REGISTERED_CONFIGS
from robokit.data.hdf5_format import DatasetWriter
from robokit.errors import CheckpointError, ConfigError

REPO = Path(__file__).resolve().parents[2]

def write_plugin(folder: Path, name: str, stem: str | None = None) -> Path:
    path = folder / f"{stem or name}.py"
    path.write_text(PLUGIN.replace("@name@", name))
    return path


def write_tiny_dataset(path: Path, n_demos: int = 4, length: int = 12) -> Path:
    rng = np.random.default_rng(0)
    with DatasetWriter(path, env_args={"env_name": "PointReach-v0", "type": 4, "env_kwargs": {}}) as writer:
        for _ in range(n_demos):
            pos = rng.normal(size=(length, 3)).astype(np.float32)
            writer.add_episode(obs={"pos": pos}, next_obs={"pos": pos + 0.1},
                               actions=np.tanh(pos[:, :2]).astype(np.float32), rewards=np.zeros(length, np.float32),
                               dones=(np.arange(length) == length - 1).astype(np.float32))
    return path


TRAIN_SET = ["observation.modalities.obs.low_dim=[\"pos\"]", "train.num_epochs=2", "experiment.epoch_every_n_steps=5",
             "experiment.validate=false", "experiment.rollout.enabled=false", "train.batch_size=8"]


@pytest.fixture(scope="module")
def plugin_run(tmp_path_factory):
    """A run of the plugin `ext_bc` (in a folder outside the repository) trained by scripts/train.py."""
    folder = tmp_path_factory.mktemp("plugin")
    plugin = write_plugin(folder, "ext_bc")
    dataset = write_tiny_dataset(folder / "tiny.hdf5")
    result = run_script("train.py", "--algo", "ext_bc", "--algo_module", plugin, "--dataset", dataset,
                        "--output", folder / "runs", "--no-progress", "--set", *TRAIN_SET, check=True)
    run_dir = Path(result.stdout.strip().splitlines()[-1].split("finished: ")[1])
    return plugin, dataset, run_dir


def test_plugin_trains_and_its_checkpoint_records_its_origin(plugin_run):
    plugin, _, run_dir = plugin_run
    ckpt = torch.load(run_dir / "models" / "last.pth", weights_only=True)
    assert ckpt["algo_name"] == "ext_bc"
    assert ckpt["algo_origin"] == {"module": "ext_bc", "path": str(plugin.resolve()), "sha256": code_sha256(plugin),
                                   "kind": "file"}
    assert json.loads((run_dir / "config.json").read_text())["algo_name"] == "ext_bc"
    assert (run_dir / "plots" / "curves.png").stat().st_size > 1000  # an offline run ends with its learning curves


def test_loading_never_imports_code_unless_named(plugin_run, clean_registries):
    from robokit import policy_from_checkpoint

    plugin, _, run_dir = plugin_run
    ckpt_path = run_dir / "models" / "last.pth"
    with pytest.raises(CheckpointError, match=r"needs algorithm 'ext_bc', which is not registered; loading a "
                                              r"checkpoint never imports code.*algo_module=PATH.*ext_bc\.py"):
        policy_from_checkpoint(ckpt_path)
    assert "ext_bc" not in sys.modules and "ext_bc" not in REGISTERED_CONFIGS
    policy, _ = policy_from_checkpoint(ckpt_path, algo_module=plugin)
    action = policy({"pos": np.zeros(3, np.float32)})
    assert action.shape == (2,) and np.isfinite(action).all()
    again, _ = policy_from_checkpoint(ckpt_path)  # already imported: loads without algo_module
    assert np.allclose(again({"pos": np.zeros(3, np.float32)}), action)


def test_a_changed_plugin_warns_and_a_wrong_one_refuses(plugin_run, tmp_path, clean_registries, capsys):
    from robokit import policy_from_checkpoint

    _, _, run_dir = plugin_run
    ckpt_path = run_dir / "models" / "last.pth"
    other = write_plugin(tmp_path, "other_bc")
    with pytest.raises(CheckpointError, match="needs algorithm 'ext_bc', which .*other_bc.py does not register"):
        policy_from_checkpoint(ckpt_path, algo_module=other)
    changed = write_plugin(tmp_path, "ext_bc")
    changed.write_text(changed.read_text() + "\n# edited after training\n")
    policy_from_checkpoint(ckpt_path, algo_module=changed)
    warning = capsys.readouterr().err.strip().splitlines()
    assert len(warning) == 1 and "plugin 'ext_bc' changed since training (sha256" in warning[0]


def test_run_trained_agent_needs_the_module(plugin_run):
    _, _, run_dir = plugin_run
    result = run_script("run_trained_agent.py", "--agent", run_dir / "models" / "last.pth", "--n_rollouts", 1)
    assert_one_line_error(result, "needs algorithm 'ext_bc'", "--algo_module PATH")


def test_package_folder_and_zip_import_under_stable_names(tmp_path, clean_registries):
    package = tmp_path / "pkg_algo"
    package.mkdir()
    (package / "algo.py").write_text(PLUGIN.replace("@name@", "pkg_bc"))
    (package / "__init__.py").write_text("from . import algo  # registers pkg_bc\n")
    origin = load_algo_module(package)
    assert origin["module"] == "pkg_algo" and origin["kind"] == "package" and origin["algo_names"] == ["pkg_bc"]
    assert algo_origin("pkg_bc")["sha256"] == code_sha256(package)
    assert load_algo_module(package) == origin  # importing the same plugin twice is harmless

    zipped = tmp_path / "zipped.zip"
    with zipfile.ZipFile(zipped, "w") as archive:
        archive.writestr("zip_algo/__init__.py", "from .algo import *  # registers zip_bc\n")
        archive.writestr("zip_algo/algo.py", PLUGIN.replace("@name@", "zip_bc"))
    origin = load_algo_module(zipped)
    assert origin["module"] == "zip_algo" and origin["kind"] == "zip" and "zip_bc" in REGISTERED_CONFIGS


@pytest.mark.parametrize("content, fragments", [
    ("x = 1\n", ["registers no algorithm", "ALGO_NAME"]),
    (PLUGIN.replace("@name@", "bc"), ["failed", "already registered", "fix: give the plugin"]),
    ("import robokit\nraise RuntimeError('plugin is broken\\nreally broken')\n",
     ["failed: RuntimeError: really broken"]),
    ("def broken(:\n", ["failed: SyntaxError"]),
])
def test_bad_plugins_are_one_line_and_register_nothing(tmp_path, clean_registries, content, fragments):
    before = (set(REGISTERED_CONFIGS), set(REGISTERED_ALGO_FACTORY_FUNCS))
    path = tmp_path / "bad_plugin.py"
    path.write_text(content)
    with pytest.raises(ConfigError) as info:
        load_algo_module(path)
    message = str(info.value)
    assert "\n" not in message and all(f in message for f in fragments), message
    assert (set(REGISTERED_CONFIGS), set(REGISTERED_ALGO_FACTORY_FUNCS)) == before
    assert "bad_plugin" not in sys.modules


def test_train_script_bad_plugin_exits_2(tmp_path):
    missing = run_script("train.py", "--algo", "x", "--algo_module", tmp_path / "nope.py", "--dataset", "d.hdf5")
    assert_one_line_error(missing, "nope.py does not exist")
    empty = tmp_path / "empty_algo.py"
    empty.write_text("VALUE = 1\n")
    result = run_script("train.py", "--algo", "x", "--algo_module", empty, "--dataset", "d.hdf5")
    assert_one_line_error(result, "registers no algorithm")
    unknown = run_script("train.py", "--algo", "my_own_bc", "--dataset", "d.hdf5")
    assert_one_line_error(unknown, "unknown algo name 'my_own_bc'", "pass --algo_module FILE")


def test_installed_package_registers_through_its_entry_point(tmp_path, monkeypatch, clean_registries):
    from robokit.algo.plugins import ensure_algo_registered, entry_point_algos

    site = tmp_path / "site"
    (site / "ep_pkg").mkdir(parents=True)
    (site / "ep_pkg" / "__init__.py").write_text(PLUGIN.replace("@name@", "ep_bc"))
    dist_info = site / "ep_pkg-0.1.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text("Metadata-Version: 2.1\nName: ep-pkg\nVersion: 0.1\n")
    (dist_info / "entry_points.txt").write_text("[robokit.algos]\nep_bc = ep_pkg\n")
    monkeypatch.syspath_prepend(str(site))
    assert entry_point_algos()["ep_bc"] == "ep_pkg" and "ep_pkg" not in sys.modules  # listed, not imported
    origin = ensure_algo_registered("ep_bc")
    assert origin["module"] == "ep_pkg" and origin["kind"] == "installed" and "ep_bc" in REGISTERED_CONFIGS
    assert algo_origin("ep_bc")["sha256"] == code_sha256(site / "ep_pkg")


def test_the_example_file_is_a_plugin_for_train_py(tmp_path):
    dataset = write_tiny_dataset(tmp_path / "tiny.hdf5")
    result = run_script("train.py", "--algo", "bc_ensemble", "--algo_module", REPO / "examples" / "add_new_algo.py",
                        "--dataset", dataset, "--output", tmp_path / "runs", "--no-progress", "--set", *TRAIN_SET,
                        "algo.num_members=2", "algo.layer_dims=[8]", check=True)
    run_dir = Path(result.stdout.strip().splitlines()[-1].split("finished: ")[1])
    ckpt = torch.load(run_dir / "models" / "last.pth", weights_only=True)
    assert ckpt["algo_origin"]["module"] == "add_new_algo" and ckpt["algo_origin"]["kind"] == "file"
