"""The memory monitor: Memory/* in TensorBoard, and past experiment.memory.max_fraction an emergency checkpoint and
one line with exit code 4 (an injected reader plays the filling machine)."""

import pytest

from robokit.train.tb_events import read_scalars
from robokit.config import apply_overrides, load_config
from robokit.errors import MemoryLimitError
from robokit.train.checkpoint import load_checkpoint
from robokit.train.memory import MemoryMonitor, read_process_memory
from robokit.train.offline import train
from script_runner import REPO

QUICK = ["train.num_epochs=3", "experiment.epoch_every_n_steps=10", "experiment.validate=false",
         "experiment.rollout.enabled=false", "experiment.save.every_n_epochs=1", "algo.actor_layer_dims=[16]",
         "experiment.memory.every_n_steps=5"]


def filling_machine(start: float = 0.5, per_reading: float = 0.05):
    """A reader whose RAM fraction grows by `per_reading` at each reading."""
    readings = []

    def read():
        readings.append(start + per_reading * len(readings))
        return {"RAM_GB": 10 * readings[-1], "RAM_Fraction": readings[-1]}

    return read, readings


def test_this_process_memory_is_read():
    values = read_process_memory()
    assert 0.01 < values["RAM_GB"] < 1000 and 0 < values["RAM_Fraction"] < 1


def test_monitor_reads_every_n_steps_and_stops_past_the_limit():
    read, readings = filling_machine()
    monitor = MemoryMonitor(0.62, every_n_steps=3, reader=read)
    for _ in range(5):
        monitor.step()
    assert len(readings) == 1 and monitor.epoch_peaks() == {"RAM_GB": 5.0, "RAM_Fraction": 0.5}
    monitor.check()  # 0.55
    monitor.check()  # 0.60
    with pytest.raises(MemoryLimitError, match="RAM use reached 65% .*max_fraction=0.62"):
        monitor.check()


def test_training_logs_memory_and_stops_with_an_emergency_checkpoint(fetch_push_dataset, tmp_path):
    config = load_config(REPO / "configs/bc.json")
    apply_overrides(config, [*QUICK, "experiment.memory.max_fraction=0.72"])
    read, readings = filling_machine()  # 0.5, 0.55, ...: past 0.72 at the 6th reading (0.75), in epoch 3 (2 readings per epoch)
    with pytest.raises(MemoryLimitError) as info:
        train(config, dataset_path=fetch_push_dataset, output_dir=tmp_path, progress=False, memory_reader=read)
    message = str(info.value)
    assert "RAM use reached 75%" in message and "in epoch 3" in message and "emergency.pth" in message
    assert "lower train.batch_size" in message and "\n" not in message and MemoryLimitError.exit_code == 4
    run = next(tmp_path.glob("*/*"))
    emergency = load_checkpoint(run / "models" / "emergency.pth")
    assert emergency["train_state"]["epoch"] == 3 and emergency["model"]
    peaks = dict(read_scalars(run / "logs" / "tb")["Memory/RAM_Fraction"])
    assert peaks == pytest.approx({1: 0.55, 2: 0.65})  # each epoch's highest reading


def test_online_training_stops_the_same_way(tmp_path):
    from robokit.config import config_factory
    from robokit.train.online import train as train_online

    config = config_factory("ppo")
    apply_overrides(config, ["experiment.env=\"Pendulum-v1\"", "experiment.memory.every_n_steps=1"])
    read, _ = filling_machine(start=0.97)
    with pytest.raises(MemoryLimitError, match="RAM use reached 97% .* at env step .*emergency.pth"):
        train_online(config, output_dir=tmp_path, debug=True, progress=False, memory_reader=read)
    assert load_checkpoint(next(tmp_path.glob("*/*/models/emergency.pth")))["algo_name"] == "ppo"
