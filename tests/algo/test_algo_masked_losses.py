"""Action losses with an action-dim mask (padded multi-robot layouts, robokit.data.embodiment): padded dims get
exactly zero gradient and an empty slot leaves the loss unchanged, in the loss functions and in every BC variant
(deterministic, Gaussian, GMM, VAE, RNN, transformer); ACT and Diffusion Policy in test_algo_masked_chunking.py."""

import pytest
import torch

from robokit.algo import algo_factory
from robokit.algo.losses import action_losses
from robokit.config import apply_overrides, config_factory
from robokit.utils import batch_keys as K

ALL_TERMS = {"l2_loss": 1.0, "l1_loss": 1.0, "cos_loss": 1.0}


def test_hand_computed_masked_l2():
    pred = torch.tensor([[1.0, 2.0], [3.0, 9.0]])
    target = torch.zeros(2, 2)
    action_mask = torch.tensor([[True, True], [True, False]])  # the second sample's robot has one action dim
    losses = action_losses(pred, target, action_mask=action_mask)
    assert losses["l2_loss"].item() == pytest.approx((1 + 4 + 9) / 3)


@pytest.mark.parametrize("shape, step_mask", [((6, 5), False), ((4, 3, 5), False), ((4, 3, 5), True)])
def test_gradient_at_a_padded_output_is_exactly_zero(shape, step_mask):
    torch.manual_seed(0)
    pred = torch.randn(shape, requires_grad=True)
    target = torch.randn(shape) * 1e3  # padded targets may hold anything
    action_mask = torch.ones(shape[0], shape[-1], dtype=torch.bool)
    action_mask[::2, 3:] = False  # every other sample is a robot with 3 of the 5 dims
    mask = torch.rand(shape[:-1]) > 0.3 if step_mask else None
    loss = action_losses(pred, target, mask, ALL_TERMS, action_mask=action_mask)["action_loss"]
    (grad,) = torch.autograd.grad(loss, pred)
    assert (grad[::2, ..., 3:] == 0).all()
    assert (grad[1::2] != 0).any() and (grad[::2, ..., :3] != 0).any()


def test_an_empty_slot_leaves_the_loss_unchanged():
    torch.manual_seed(1)
    pred, target = torch.randn(8, 3), torch.randn(8, 3)
    plain = action_losses(pred, target, weights=ALL_TERMS)
    # the same data padded to 4 dims with garbage in the padded slot, masked out
    pred4 = torch.cat([pred, torch.randn(8, 1) * 100], dim=1)
    target4 = torch.cat([target, torch.randn(8, 1) * 100], dim=1)
    mask4 = torch.tensor([True, True, True, False]).expand(8, 4)
    padded = action_losses(pred4, target4, weights=ALL_TERMS, action_mask=mask4)
    for name in ("l2_loss", "l1_loss", "cos_loss", "action_loss"):
        torch.testing.assert_close(padded[name], plain[name])
    # an all-True mask is the unmasked loss, with and without a step mask
    step = torch.rand(8, 2) > 0.5
    pred3, target3 = torch.randn(8, 2, 3), torch.randn(8, 2, 3)
    torch.testing.assert_close(action_losses(pred3, target3, step, ALL_TERMS, action_mask=torch.ones(8, 3) > 0),
                               action_losses(pred3, target3, step, ALL_TERMS))


def _bc(overrides=()):
    config = config_factory("bc")
    apply_overrides(config, ["algo.actor_layer_dims=[16]", *overrides])
    torch.manual_seed(0)
    algo = algo_factory("bc", config, {"observation": (4,), "desired_goal": (2,)}, 3, "cpu")
    algo.set_train()
    return algo


def _batch(padded_value):
    torch.manual_seed(2)
    actions = torch.rand(8, 1, 3) * 2 - 1
    actions[:4, :, 2] = padded_value  # the first four samples' robot has 2 action dims
    action_mask = torch.ones(8, 3, dtype=torch.bool)
    action_mask[:4, 2] = False
    obs = {"observation": torch.randn(8, 1, 4), "desired_goal": torch.randn(8, 1, 2)}
    return {K.OBS: obs, K.ACTIONS: actions, K.ACTION_MASK: action_mask}


def test_bc_loss_ignores_padded_action_dims():
    algo = _bc()
    losses = [algo._compute_losses(algo._forward_training(b), b)["action_loss"]
              for b in (algo.process_batch_for_training(_batch(v)) for v in (0.0, 50.0))]
    torch.testing.assert_close(losses[0], losses[1])
    batch = algo.process_batch_for_training(_batch(0.0))
    pred = algo._forward_training(batch)
    (grad,) = torch.autograd.grad(algo._compute_losses(pred, batch)["action_loss"], pred)
    assert (grad[:4, 2] == 0).all() and (grad[4:, 2] != 0).all()
    info = algo.train_on_batch(batch, epoch=1)
    assert torch.isfinite(info["losses"]["action_loss"])


def _dist_params(dist):
    """The tensors a distribution head output: means and standard deviations (..., [M,] A)."""
    base = dist.component_distribution.base_dist if hasattr(dist, "component_distribution") else dist.base_dist
    return base.loc, base.scale


@pytest.mark.parametrize("head", ["gaussian", "gmm"])
def test_likelihood_heads_marginalise_padded_dims(head):
    """The Gaussian / GMM log-likelihood over a robot's real dims: no gradient at a padded dim's mean or std,
    padded targets do not matter, and with every dim real it is the plain log-likelihood."""
    algo = _bc([f"algo.{head}.enabled=true"])
    batch = algo.process_batch_for_training(_batch(0.0))
    dist = algo._forward_training(batch)
    loss = algo._compute_losses(dist, batch)["action_loss"]
    loc, scale = _dist_params(dist)
    grad_loc, grad_scale = torch.autograd.grad(loss, [loc, scale])
    for grad in (grad_loc, grad_scale):
        assert (grad[:4, ..., 2] == 0).all() and (grad[4:, ..., 2] != 0).any() and (grad[:4, ..., :2] != 0).any()
    other = algo.process_batch_for_training(_batch(50.0))
    torch.testing.assert_close(algo._compute_losses(algo._forward_training(other), other)["action_loss"], loss)
    full = {**batch, K.ACTION_MASK: torch.ones(8, 3, dtype=torch.bool)}
    plain = {k: v for k, v in batch.items() if k != K.ACTION_MASK}
    torch.testing.assert_close(algo._compute_losses(dist, full)["action_loss"],
                               algo._compute_losses(dist, plain)["action_loss"])
    assert torch.isfinite(algo.train_on_batch(batch, epoch=1)["losses"]["action_loss"])


def test_vae_reconstruction_leaves_padded_dims_out():
    algo = _bc(["algo.vae.enabled=true", "algo.vae.latent_dim=2", "algo.vae.encoder_layer_dims=[8]",
                "algo.vae.decoder_layer_dims=[8]", "algo.vae.prior_layer_dims=[8]"])
    batch = algo.process_batch_for_training(_batch(0.0))
    torch.manual_seed(3)
    reconstruction, kl = algo._forward_training(batch)
    losses = algo._compute_losses((reconstruction, kl), batch)
    (grad,) = torch.autograd.grad(losses["reconstruction_loss"], reconstruction)
    assert (grad[:4, 2] == 0).all() and (grad[4:, 2] != 0).all()
    # by hand: per sample, the mean squared error over its real dims
    err = (reconstruction - batch[K.ACTIONS]) ** 2
    expected = torch.cat([err[:4, :2].mean(-1), err[4:].mean(-1)]).mean()
    torch.testing.assert_close(losses["reconstruction_loss"], expected)
    assert torch.isfinite(algo.train_on_batch(batch, epoch=1)["losses"]["action_loss"])


@pytest.mark.parametrize("variant", ["rnn", "transformer"])
def test_sequence_variants_carry_the_mask_to_the_loss(variant):
    overrides = {"rnn": ["algo.rnn.enabled=true", "algo.rnn.hidden_dim=8", "algo.rnn.horizon=3", "train.seq_length=3"],
                 "transformer": ["algo.transformer.enabled=true", "algo.transformer.embed_dim=8",
                                 "algo.transformer.num_layers=1", "algo.transformer.num_heads=2",
                                 "algo.transformer.context_length=3", "train.frame_stack=3",
                                 "algo.transformer.supervise_all_steps=true"]}[variant]
    algo = _bc(overrides)
    torch.manual_seed(2)
    action_mask = torch.ones(4, 3, dtype=torch.bool)
    action_mask[:2, 2] = False
    raw = {K.OBS: {"observation": torch.randn(4, 3, 4), "desired_goal": torch.randn(4, 3, 2)},
           K.ACTIONS: torch.rand(4, 3, 3) * 2 - 1, K.PAD_MASK: torch.ones(4, 3, dtype=torch.bool),
           K.ACTION_MASK: action_mask}
    batch = algo.process_batch_for_training(raw)
    pred = algo._forward_training(batch)  # (B, T, A)
    (grad,) = torch.autograd.grad(algo._compute_losses(pred, batch)["action_loss"], pred)
    assert (grad[:2, :, 2] == 0).all() and (grad[2:, :, 2] != 0).any()
