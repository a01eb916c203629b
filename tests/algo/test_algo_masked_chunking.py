"""ACT and Diffusion Policy on padded multi-robot actions (ACTION_MASK (B, A), robokit.data.embodiment): a robot's
padded action dims get exactly zero gradient at the network's output, their values in the data do not change
the loss, an all-True mask is the unmasked loss, and sampling holds padded dims at 0."""

import pytest
import torch

from robokit.algo import algo_factory
from robokit.config import apply_overrides, config_factory
from robokit.utils import batch_keys as K

SHAPES = {"observation": (5,), "desired_goal": (2,)}
AC_DIM, CHUNK = 4, 4
ACT_TINY = [f"algo.chunk_size={CHUNK}", "algo.n_action_steps=2", f"train.seq_length={CHUNK}", "algo.dim_model=16",
            "algo.n_heads=2", "algo.dim_feedforward=32", "algo.n_encoder_layers=1", "algo.n_decoder_layers=1",
            "algo.n_vae_encoder_layers=1", "algo.latent_dim=4"]
DP_TINY = ["algo.horizon.observation_horizon=2", "algo.horizon.action_horizon=2", f"algo.horizon.prediction_horizon={CHUNK}",
           "algo.unet.diffusion_step_embed_dim=16", "algo.unet.down_dims=[16, 32]", "algo.unet.kernel_size=3",
           "algo.unet.n_groups=4", "algo.ddpm.num_train_timesteps=10", "algo.ddpm.num_inference_timesteps=10",
           "algo.optim_params.policy.learning_rate.warmup_steps=0"]
DP_T = ["algo.unet.enabled=false", "algo.transformer.enabled=true", "algo.transformer.n_layer=1",
        "algo.transformer.n_head=2", "algo.transformer.n_emb=16", "algo.transformer.p_drop_attn=0.0"]
VARIANTS = {"act": ("act", ACT_TINY, 1), "dp_c": ("diffusion_policy", DP_TINY, 2),
            "dp_t": ("diffusion_policy", DP_TINY + DP_T, 2)}

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def make_algo(variant):
    name, overrides, _ = VARIANTS[variant]
    config = config_factory(name)
    apply_overrides(config, overrides)
    torch.manual_seed(0)
    algo = algo_factory(name, config, SHAPES, AC_DIM, "cpu")
    algo.set_train()
    return algo


def make_batch(variant, padded_value=0.0):
    """Windows of 6 samples; samples 0-2 are a robot with 3 of the 4 action dims (dim 3 padded)."""
    n_obs = VARIANTS[variant][2]
    t = n_obs - 1 + CHUNK
    g = torch.Generator().manual_seed(1)
    actions = torch.rand(6, t, AC_DIM, generator=g) * 2 - 1
    actions[:3, :, 3] = padded_value
    action_mask = torch.ones(6, AC_DIM, dtype=torch.bool)
    action_mask[:3, 3] = False
    obs = {"observation": torch.randn(6, t, 5, generator=g), "desired_goal": torch.randn(6, t, 2, generator=g)}
    return {K.OBS: obs, K.ACTIONS: actions,
            K.PAD_MASK: torch.ones(6, t, dtype=torch.bool), K.ACTION_MASK: action_mask}


def output_grad(algo, batch, seed=0):
    """(loss, the gradient at the network's action output) of one training step."""
    module = algo.nets["policy"]["denoiser"] if "denoiser" in getattr(algo.nets["policy"], "keys", lambda: [])() \
        else algo.nets["policy"]
    captured = {}

    def keep(_, __, out):
        out = out[0] if isinstance(out, tuple) else out
        out.retain_grad()
        captured["out"] = out

    handle = module.register_forward_hook(keep)
    torch.manual_seed(seed)
    info = algo.train_on_batch(algo.process_batch_for_training(batch), epoch=1)
    handle.remove()
    return info["losses"], captured["out"].grad


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_padded_action_dims_get_exactly_zero_gradient(variant):
    algo = make_algo(variant)
    losses, grad = output_grad(algo, make_batch(variant))
    assert grad.shape[-1] == AC_DIM
    assert (grad[:3, ..., 3] == 0).all(), "a padded output dim got gradient"
    assert (grad[3:, ..., 3] != 0).any() and (grad[:3, ..., :3] != 0).any()
    assert all(torch.isfinite(v) for v in losses.values())


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_padded_values_do_not_change_the_loss_and_a_full_mask_is_the_plain_loss(variant):
    loss = lambda batch: output_grad(make_algo(variant), batch)[0]  # noqa: E731  (same weights, same noise)
    key = "l1_loss" if variant == "act" else "l2_loss"
    torch.testing.assert_close(loss(make_batch(variant, 0.0))[key], loss(make_batch(variant, 50.0))[key])
    full = make_batch(variant)
    full[K.ACTION_MASK] = torch.ones(6, AC_DIM, dtype=torch.bool)
    plain = {k: v for k, v in full.items() if k != K.ACTION_MASK}
    torch.testing.assert_close(loss(full)[key], loss(plain)[key])


@pytest.mark.parametrize("variant", ["dp_c", "dp_t"])
def test_diffusion_samples_hold_padded_dims_at_zero(variant):
    algo = make_algo(variant)
    algo.set_eval()
    obs = {"observation": torch.randn(3, 2, 5), "desired_goal": torch.randn(3, 2, 2)}
    algo.inference_action_mask = torch.tensor([True, True, True, False])
    chunk = algo.get_action(obs)
    assert (chunk[..., 3] == 0).all() and (chunk[..., :3] != 0).any()
    algo.inference_action_mask = None
    assert (algo.get_action(obs)[..., 3] != 0).any()
