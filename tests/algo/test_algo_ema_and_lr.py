"""EMA of the weights (math against hand computation, Algo integration, checkpoints) and learning-rate schedules
that step every batch (against diffusers' get_cosine_schedule_with_warmup formula, written out by hand)."""

import math

import numpy as np
import pytest
import torch
from torch import nn

from robokit.algo import RolloutPolicy, algo_factory
from robokit.algo.ema import EMA
from robokit.algo.lr_schedule import step_lr_factor_fn
from robokit.config import apply_overrides, config_factory
from robokit.errors import ConfigError
from robokit.train.checkpoint import build_checkpoint, policy_from_checkpoint
from robokit.utils import batch_keys as K


class Tiny(nn.Module):
    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.zeros(2))
        self.frozen = nn.Parameter(torch.zeros(1), requires_grad=False)
        self.register_buffer("count", torch.zeros(1))


def set_weights(net, w, frozen, count):
    with torch.no_grad():
        net.w.copy_(torch.tensor(w)), net.frozen.fill_(frozen), net.count.fill_(count)


def test_ema_follows_the_warmup_formula_by_hand():
    net = Tiny()
    ema = EMA(net, power=0.75)
    history = [([1.0, 2.0], 5.0, 1.0), ([3.0, 4.0], 6.0, 2.0), ([5.0, -1.0], 7.0, 3.0), ([0.0, 0.0], 8.0, 4.0)]
    decays = []
    for w, frozen, count in history:
        set_weights(net, w, frozen, count)
        decays.append(ema.update(net))
    # update n uses k = max(0, (n - 1) - 1): 0, 0, 1, 2 -> decay 0, 0, 1 - 2^-0.75, 1 - 3^-0.75
    d3, d4 = 1 - 2 ** -0.75, 1 - 3 ** -0.75
    assert decays == pytest.approx([0.0, 0.0, d3, d4])
    assert d3 == pytest.approx(0.405396, abs=1e-6)
    expected = np.array([3.0, 4.0])  # after two copies
    expected = d3 * expected + (1 - d3) * np.array([5.0, -1.0])
    expected = d4 * expected + (1 - d4) * np.array([0.0, 0.0])
    np.testing.assert_allclose(ema.averaged["w"].numpy(), expected, rtol=1e-6)
    assert ema.averaged["frozen"].item() == 8.0 and ema.averaged["count"].item() == 4.0  # copied, not averaged
    assert ema.step == 4


def test_ema_decay_bounds_and_delayed_start():
    ema = EMA(Tiny(), power=0.75, max_value=0.3, min_value=0.1, update_after_step=2)
    # k = max(0, done - 2 - 1): updates 1-4 copy; update 5 has k = 1 -> 0.405 clipped to 0.3
    assert [ema.decay(done) for done in range(6)] == pytest.approx([0, 0, 0, 0, 0.3, 0.3])
    assert EMA(Tiny(), power=2.0, inv_gamma=2.0).decay(3) == pytest.approx(1 - (1 + 2 / 2.0) ** -2.0)


def test_ema_state_round_trip_and_applied_restores():
    net = Tiny()
    ema = EMA(net)
    set_weights(net, [1.0, 1.0], 0.0, 0.0)
    ema.update(net)
    set_weights(net, [9.0, 9.0], 0.0, 0.0)
    with ema.applied(net):
        assert net.w.tolist() == [1.0, 1.0]
    assert net.w.tolist() == [9.0, 9.0]
    other = EMA(Tiny())
    other.load_state_dict(ema.state_dict())
    assert other.step == 1 and other.averaged["w"].tolist() == [1.0, 1.0]


# ----- learning-rate schedules per step -----
def lr_config(kind="cosine", warmup=0, cycles=0.5, decay=0.1, schedule=()):
    config = config_factory("bc")
    lr = config.algo.optim_params.policy.learning_rate
    lr.scheduler_type, lr.step_every_batch, lr.warmup_steps, lr.num_cycles = kind, True, warmup, cycles
    lr.decay_factor, lr.epoch_schedule = decay, list(schedule)
    return lr


def test_cosine_with_warmup_matches_diffusers_formula():
    # diffusers.optimization.get_cosine_schedule_with_warmup(num_warmup_steps=5, num_training_steps=20):
    # step < 5: step / 5; else max(0, 0.5 * (1 + cos(pi * num_cycles * 2 * (step - 5) / 15)))
    factor = step_lr_factor_fn(lr_config(warmup=5), lambda: (4, 20))
    expected = {0: 0.0, 1: 0.2, 4: 0.8, 5: 1.0, 10: 0.75, 15: 0.25, 20: 0.0, 25: 0.25}  # (not clamped past the end)
    assert {s: factor(s) for s in expected} == pytest.approx(expected, abs=1e-12)
    full_cycle = step_lr_factor_fn(lr_config(cycles=1.0), lambda: (4, 20))
    assert full_cycle(10) == pytest.approx(0.0, abs=1e-12) and full_cycle(20) == pytest.approx(1.0)
    assert full_cycle(5) == pytest.approx(0.5)


def test_other_per_step_schedules():
    linear = step_lr_factor_fn(lr_config("linear", warmup=2, decay=0.2), lambda: (5, 12))
    assert [linear(s) for s in (0, 1, 2, 7, 12)] == pytest.approx([0.0, 0.5, 1.0, 0.6, 0.2])
    multistep = step_lr_factor_fn(lr_config("multistep", schedule=[1, 3], decay=0.5), lambda: (10, 50))
    assert [multistep(s) for s in (0, 9, 10, 29, 30)] == pytest.approx([1.0, 1.0, 0.5, 0.5, 0.25])


def test_per_step_keys_need_step_every_batch():
    config = config_factory("bc")
    with pytest.raises(ConfigError, match="warmup_steps=10 needs .*step_every_batch=true"):
        apply_overrides(config, ["algo.optim_params.policy.learning_rate.warmup_steps=10"])


# ----- through Algo -----
SHAPES = {"observation": (3,)}


def bc(overrides=()):
    config = config_factory("bc")
    apply_overrides(config, ['observation.modalities.obs.low_dim=["observation"]', "algo.actor_layer_dims=[8]",
                             "train.num_epochs=2", "experiment.epoch_every_n_steps=5", *overrides])
    torch.manual_seed(0)
    return config, algo_factory("bc", config, SHAPES, 2, "cpu")


def batch(seed=0):
    g = torch.Generator().manual_seed(seed)
    return {K.OBS: {"observation": torch.randn(8, 1, 3, generator=g)}, K.ACTIONS: torch.randn(8, 1, 2, generator=g)}


def test_algo_steps_the_lr_every_batch_and_not_at_epoch_end():
    _, algo = bc(["algo.optim_params.policy.learning_rate.step_every_batch=true",
                  "algo.optim_params.policy.learning_rate.scheduler_type=cosine",
                  "algo.optim_params.policy.learning_rate.warmup_steps=2",
                  "algo.optim_params.policy.learning_rate.initial=0.01"])
    optimizer = algo.optimizers["policy"]
    assert optimizer.param_groups[0]["lr"] == 0.0  # diffusers' warm-up starts at 0
    algo.set_train()
    lrs = []
    for step in range(4):
        algo.train_on_batch(algo.process_batch_for_training(batch(step)), epoch=1)
        lrs.append(optimizer.param_groups[0]["lr"])
    algo.on_epoch_end(1)
    # run = 5 steps x 2 epochs = 10; after step s the factor is factor(s): 0.5, 1, cos schedule at 1/8, 2/8
    expected = [0.005, 0.01, 0.01 * 0.5 * (1 + math.cos(math.pi / 8)), 0.01 * 0.5 * (1 + math.cos(math.pi * 2 / 8))]
    assert lrs == pytest.approx(expected)
    assert optimizer.param_groups[0]["lr"] == pytest.approx(expected[-1])  # the epoch end left it alone
    algo.set_steps_per_epoch(50)  # the loop's real epoch length changes the run length
    assert algo.run_length() == (50, 100)


def test_algo_ema_is_updated_each_step_used_for_evaluation_and_saved(tmp_path):
    config, algo = bc(["algo.ema.enabled=true", "algo.optim_params.policy.learning_rate.initial=0.05"])
    ema = algo.emas["policy"]
    algo.set_train()
    for step in range(5):
        algo.train_on_batch(algo.process_batch_for_training(batch(step)), epoch=1)
    assert ema.step == 5
    trained = {k: v.clone() for k, v in algo.nets["policy"].state_dict().items()}
    averaged = {k: v.clone() for k, v in ema.averaged.items()}
    assert any(not torch.equal(trained[k], averaged[k]) for k in trained)
    with algo.ema_weights():
        assert all(torch.equal(algo.nets["policy"].state_dict()[k], averaged[k]) for k in averaged)
    assert all(torch.equal(algo.nets["policy"].state_dict()[k], trained[k]) for k in trained)
    ckpt = build_checkpoint(algo, config, {"all_shapes": {"observation": [3]}, "ac_dim": 2,
                                           "all_obs_keys": ["observation"]}, None)
    assert ckpt["ema"]["policy"]["step"] == 5
    torch.save(ckpt, tmp_path / "c.pth")
    policy, _ = policy_from_checkpoint(tmp_path / "c.pth", device="cpu")
    loaded = policy.policy.nets["policy"].state_dict()
    assert all(torch.allclose(loaded[k], averaged[k]) for k in averaged)  # deployment acts with the EMA
    assert isinstance(policy, RolloutPolicy)
    _, plain = bc()
    assert plain.emas == {} and plain.ema_state() is None
