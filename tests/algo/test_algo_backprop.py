"""Algo.backprop: the logged gradient norm is the true one, with and without clipping, and clipping bounds the step."""

import pytest
import torch

from robokit.algo import algo_factory
from robokit.algo.base import gradient_norm
from robokit.config import apply_overrides, config_factory


def test_gradient_norm_matches_torch_on_mixed_and_strided_grads():
    torch.manual_seed(0)
    grads = [torch.randn(64, 33), torch.randn(7), torch.randn(16, 8).t(), torch.randn(3, 4, 5)[:, 1]]
    assert not grads[2].is_contiguous()
    expected = torch.nn.utils.get_total_norm(grads)
    torch.testing.assert_close(gradient_norm(grads), expected)
    assert gradient_norm([]).item() == 0.0


def bc_algo(max_grad_norm):
    config = config_factory("bc")
    apply_overrides(config, ["algo.actor_layer_dims=[32,32]", f"train.max_grad_norm={max_grad_norm}"])
    torch.manual_seed(0)
    return algo_factory("bc", config, {"observation": (6,), "desired_goal": (2,)}, 3, "cpu")


@pytest.mark.parametrize("max_grad_norm", ["null", 1e-3])
def test_logged_norm_is_the_norm_before_clipping(max_grad_norm):
    algo = bc_algo(max_grad_norm)
    algo.set_train()
    batch = {"obs": {"observation": torch.randn(32, 6), "desired_goal": torch.randn(32, 2)},
             "actions": torch.rand(32, 3) * 2 - 1}

    # the reference: the same loss's gradients, taken by hand before the step
    loss = algo._compute_losses(algo._forward_training(batch), batch)["action_loss"]
    params = list(algo.nets["policy"].parameters())
    expected = torch.linalg.vector_norm(torch.cat([g.reshape(-1) for g in torch.autograd.grad(loss, params)]))

    info = algo.train_on_batch(batch, epoch=1)
    assert algo.log_info(info)["Policy_Grad_Norms"] == pytest.approx(expected.item(), rel=1e-5)
    assert expected.item() > 1e-3  # so that the clipped case really clips
    if max_grad_norm != "null":  # gradients were rescaled to the limit before the optimiser saw them
        clipped = gradient_norm([p.grad for p in params])
        assert clipped.item() == pytest.approx(1e-3, rel=1e-3)


def test_without_diagnostics_only_trained_values_are_computed():
    algo = bc_algo("null")
    algo.set_train()
    algo.set_log_diagnostics(False)
    batch = {"obs": {"observation": torch.randn(32, 6), "desired_goal": torch.randn(32, 2)},
             "actions": torch.rand(32, 3) * 2 - 1}
    before = [p.detach().clone() for p in algo.nets.parameters()]
    log = algo.log_info(algo.train_on_batch(batch, epoch=1))
    assert "Loss" in log and "L2_Loss" in log
    assert not {"Policy_Grad_Norms", "L1_Loss", "Cosine_Loss"} & set(log)
    assert all(not torch.equal(a, b) for a, b in zip(before, algo.nets.parameters()))  # it still trained

    clipping = bc_algo(1e-3)  # clipping needs the norm: it is logged whatever the switch says
    clipping.set_train()
    clipping.set_log_diagnostics(False)
    assert clipping.log_info(clipping.train_on_batch(batch, epoch=1))["Policy_Grad_Norms"] > 0


def test_run_epoch_logs_every_nth_step_and_restores_diagnostics(fetch_push_dataset):
    from robokit.train.offline import batch_stream, load_datasets, run_epoch

    def fresh():
        config = config_factory("bc")
        apply_overrides(config, ["algo.actor_layer_dims=[32,32]", "experiment.validate=false"])
        train_ds, _ = load_datasets(config, fetch_push_dataset)
        torch.manual_seed(0)
        algo = algo_factory("bc", config, train_ds.obs_key_shapes, train_ds.action_dim, "cpu")
        algo.set_train()
        return algo, batch_stream(train_ds, 16, num_workers=0, seed=0)

    # the reference: every step logged, by hand
    algo, batches = fresh()
    losses = [algo.log_info(algo.train_on_batch(algo.process_batch_for_training(next(batches)), 1))["Loss"]
              for _ in range(7)]

    algo, batches = fresh()
    log = run_epoch(algo, batches, 7, epoch=1, progress=False, stats_every=3)  # logs steps 0, 3 and 6
    assert log["Loss"] == pytest.approx(sum(losses[i] for i in (0, 3, 6)) / 3, rel=1e-5)
    assert "Policy_Grad_Norms" in log and "L1_Loss" in log
    assert algo.log_diagnostics  # back on for code that calls train_on_batch itself
