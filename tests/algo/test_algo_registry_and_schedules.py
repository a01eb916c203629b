"""The algorithm registry and learning-rate schedules."""

import math
from types import SimpleNamespace

import pytest
import torch

from robokit.algo import algo_factory, algo_name_to_factory_func, register_algo_factory_func
from robokit.algo.lr_schedule import lr_factor_fn
from robokit.config import config_factory
from robokit.errors import ConfigError


def test_registering_a_name_twice_is_an_error():
    with pytest.raises(ValueError, match="already registered"):
        register_algo_factory_func("bc")(lambda algo_config: None)


def test_unknown_name_lists_the_registered_ones():
    with pytest.raises(ConfigError, match=r"unknown algorithm 'nope'; registered: .*bc"):
        algo_name_to_factory_func("nope")
    with pytest.raises(ConfigError, match=r"unknown algorithm 'nope'; registered: .*bc"):
        algo_factory("nope", config_factory("bc"), {"observation": (25,)}, 4, "cpu")


def test_algo_factory_rejects_a_config_of_another_algorithm():
    with pytest.raises(ConfigError, match="algo_name 'iql' but a config for 'bc'"):
        algo_factory("iql", config_factory("bc"), {"observation": (25,), "desired_goal": (3,)}, 4, "cpu")


def lr(kind, schedule=(), decay=0.1, warmup=0):
    return SimpleNamespace(scheduler_type=kind, decay_factor=decay, epoch_schedule=list(schedule), warmup_epochs=warmup)


def test_multistep_linear_cosine_and_warmup_factors():
    multistep = lr_factor_fn(lr("multistep", [2, 4]), num_epochs=10)
    assert [multistep(e) for e in range(6)] == pytest.approx([1, 1, 0.1, 0.1, 0.01, 0.01])
    linear = lr_factor_fn(lr("linear", [4], decay=0.2), num_epochs=10)
    assert [linear(e) for e in (0, 2, 4, 8)] == pytest.approx([1.0, 0.6, 0.2, 0.2])
    cosine = lr_factor_fn(lr("cosine", [4], decay=0.0), num_epochs=10)
    assert [cosine(e) for e in (0, 2, 4)] == pytest.approx([1.0, 0.5 * (1 + math.cos(math.pi / 2)), 0.0])
    warm = lr_factor_fn(lr("constant", warmup=3), num_epochs=10)
    assert [warm(e) for e in range(5)] == pytest.approx([0.25, 0.5, 0.75, 1.0, 1.0])


def test_schedule_steps_the_optimiser_learning_rate_per_epoch():
    from robokit.algo.lr_schedule import make_lr_scheduler

    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    scheduler = make_lr_scheduler(optimizer, lr("multistep", [1]), num_epochs=3)
    optimizer.step(), scheduler.step()
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.1)
