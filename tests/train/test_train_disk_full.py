"""A full disk while a run writes: one line with the path, the free space and the fix; the previous checkpoint
intact; no partial file left; and the partial files of killed runs cleaned up by the next run."""

import errno
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from script_runner import assert_one_line_error, run_script
from robokit.config import apply_overrides, load_config
from robokit.data.hdf5_format import DatasetWriter
from robokit.errors import OutputWriteError
from robokit.train.checkpoint import load_checkpoint
from robokit.train.dispatch import train
from robokit.utils.partial_files import partial_path, remove_stale_partials

REPO = Path(__file__).parents[2]
QUICK = ["train.num_epochs=3", "experiment.epoch_every_n_steps=2", "experiment.validate=false",
         "experiment.rollout.enabled=false", "experiment.save.every_n_epochs=1"]


@pytest.fixture
def tiny_filesystem(tmp_path):
    """A 512 KiB tmpfs (needs root, as on CI); skipped where it cannot be mounted."""
    mount = tmp_path / "tiny"
    mount.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=512k", "tmpfs", str(mount)], capture_output=True).returncode:
        pytest.skip("cannot mount a tmpfs here (not root?); the injected-error tests cover the same path")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


def all_files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*") if p.is_file())


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_full_disk_during_a_checkpoint_is_one_line_and_leaves_no_partial_file(fetch_push_dataset, tiny_filesystem):
    """BC's default network (13 MB of weights) cannot be saved on 512 KiB; config and logs fit."""
    result = run_script("train.py", "--config", "configs/bc.json", "--dataset", fetch_push_dataset, "--output",
                        tiny_filesystem, "--no-progress", "--set", *QUICK, cwd=REPO)
    line = assert_one_line_error(result, "cannot write", "model_epoch_1.pth", "No space left on device", "free there",
                                 "fix: free disk space or write elsewhere")
    assert "Traceback" not in result.stderr and "iostream" not in line
    files = all_files(tiny_filesystem)
    assert "config.json" in files and not [f for f in files if f.endswith(".pth") or ".partial-" in f], files


def test_full_disk_while_writing_a_dataset(tiny_filesystem):
    out = tiny_filesystem / "big.hdf5"
    result = run_script("generate_dataset.py", "--env", "FetchPush-v4", "--n-demos", "200", "--out", out, cwd=REPO)
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr[-2000:]
    line = result.stderr.strip().splitlines()[-1]  # after the progress bar
    assert f"cannot write {out}: No space left on device" in line and "free there" in line
    assert "another output path" in line
    assert all_files(tiny_filesystem) == []


def test_injected_write_error_keeps_the_previous_checkpoint(fetch_push_dataset, tmp_path, monkeypatch):
    """The third save (epoch 2's model_epoch_2.pth) fails half-way, as on a disk that fills up."""
    config = load_config(REPO / "configs/bc.json")
    apply_overrides(config, [*QUICK, "algo.actor_layer_dims=[16]"])
    real_save, calls = torch.save, []

    def filling_disk_save(obj, f, *args, **kwargs):
        calls.append(Path(f))
        if len(calls) == 3:
            Path(f).write_bytes(b"half a checkpoint")
            raise OSError(errno.ENOSPC, "No space left on device", str(f))
        return real_save(obj, f, *args, **kwargs)

    monkeypatch.setattr(torch, "save", filling_disk_save)
    with pytest.raises(OutputWriteError, match="cannot write .*model_epoch_2.pth: No space left on device") as info:
        train(config, dataset_path=fetch_push_dataset, output_dir=tmp_path / "runs", progress=False)
    assert "\n" not in str(info.value)
    models = next((tmp_path / "runs").glob("*/*/models"))
    assert all_files(models) == ["last.pth", "model_epoch_1.pth"]
    assert load_checkpoint(models / "last.pth")["train_state"]["epoch"] == 1


def test_partial_files_of_killed_runs_are_removed_by_the_next_run(fetch_push_dataset, tmp_path):
    killed = tmp_path / "runs" / "again" / "20260101_000000_000000" / "models"
    killed.mkdir(parents=True)
    stale = killed / f".last.pth.partial-{dead_pid()}"
    stale.write_bytes(b"half")
    live = killed / f".model_epoch_1.pth.partial-{partial_path('x').name.rsplit('-', 1)[1]}"  # this process: alive
    live.write_bytes(b"being written")
    run_script("train.py", "--config", "configs/bc.json", "--dataset", fetch_push_dataset, "--output",
               tmp_path / "runs", "--name", "again", "--no-progress", "--set", *QUICK, "train.num_epochs=1",
               "algo.actor_layer_dims=[16]", cwd=REPO, check=True)
    assert not stale.exists() and live.exists()


def test_dataset_writer_removes_a_killed_writers_partial_file(tmp_path):
    stale = tmp_path / f".demos.hdf5.partial-{dead_pid()}"
    stale.write_bytes(b"half")
    with DatasetWriter(tmp_path / "other.hdf5", env_args={"env_name": "X", "type": 4, "env_kwargs": {}}) as writer:
        writer.add_episode(obs={"x": torch.zeros(3, 1).numpy()}, actions=torch.zeros(3, 1).numpy(),
                           rewards=[0, 0, 0], dones=[0, 0, 1])
    assert all_files(tmp_path) == ["other.hdf5"]
    assert remove_stale_partials(tmp_path) == []
