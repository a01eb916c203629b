"""robokit's DDPM / DDIM against diffusers' DDPMScheduler / DDIMScheduler (a test-only dependency, the `dev`
extra): betas, alphas_cumprod, timesteps, add_noise and step outputs; without diffusers, against the published
formulas written out by hand."""

import math

import pytest
import torch

from robokit.models.noise_schedulers import DDIM, DDPM, make_betas

diffusers = pytest.importorskip("diffusers", reason="the dev extra installs diffusers")

CASES = [
    dict(num_train_timesteps=100, beta_schedule="squaredcos_cap_v2", clip_sample=True, prediction_type="epsilon"),
    dict(num_train_timesteps=50, beta_schedule="linear", clip_sample=False, prediction_type="sample"),
    dict(num_train_timesteps=60, beta_schedule="scaled_linear", clip_sample=True, prediction_type="v_prediction"),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c["beta_schedule"])
def test_ddpm_matches_diffusers(case):
    ours = DDPM(**case)
    ref = diffusers.DDPMScheduler(**case)
    torch.testing.assert_close(ours.betas, ref.betas, rtol=1e-6, atol=1e-9)
    torch.testing.assert_close(ours.alphas_cumprod, ref.alphas_cumprod, rtol=1e-6, atol=1e-9)
    g = torch.Generator().manual_seed(0)
    x0 = torch.rand(4, 8, 3, generator=g) * 2 - 1
    noise = torch.randn(4, 8, 3, generator=g)
    t = torch.tensor([0, 5, 17, case["num_train_timesteps"] - 1])
    torch.testing.assert_close(ours.add_noise(x0, noise, t), ref.add_noise(x0, noise, t))
    for n in (case["num_train_timesteps"], 10):
        ref.set_timesteps(n)
        steps = ours.inference_steps(n)
        assert [t for t, _ in steps] == ref.timesteps.tolist()
        sample = torch.randn(4, 8, 3, generator=g)
        for i, (t, prev_t) in enumerate(steps[:3] + steps[-2:]):
            output = torch.randn(4, 8, 3, generator=g)
            # diffusers draws its sampling noise with torch.randn from the generator: give both the same draw
            theirs = ref.step(output, t, sample, generator=torch.Generator().manual_seed(i)).prev_sample
            drawn = torch.randn(4, 8, 3, generator=torch.Generator().manual_seed(i))
            mine = ours.step(output, t, prev_t, sample, noise=drawn)
            # robokit computes the per-step scalars in float64, diffusers in float32
            torch.testing.assert_close(mine, theirs, rtol=1e-4, atol=1e-4)
            sample = theirs


@pytest.mark.parametrize("case", CASES, ids=lambda c: c["beta_schedule"])
@pytest.mark.parametrize("set_alpha_to_one,steps_offset", [(True, 0), (False, 1)])
def test_ddim_matches_diffusers(case, set_alpha_to_one, steps_offset):
    ours = DDIM(**case, set_alpha_to_one=set_alpha_to_one, steps_offset=steps_offset)
    ref = diffusers.DDIMScheduler(**case, set_alpha_to_one=set_alpha_to_one, steps_offset=steps_offset)
    torch.testing.assert_close(ours.alphas_cumprod, ref.alphas_cumprod, rtol=1e-6, atol=1e-9)
    g = torch.Generator().manual_seed(1)
    ref.set_timesteps(10)
    steps = ours.inference_steps(10)
    assert [t for t, _ in steps] == ref.timesteps.tolist()
    sample = torch.randn(2, 16, 4, generator=g)
    mine, theirs = sample.clone(), sample.clone()
    for t, prev_t in steps:  # a whole deterministic chain, same network outputs
        output = torch.randn(2, 16, 4, generator=g)
        mine = ours.step(output, t, prev_t, mine)
        theirs = ref.step(output, t, theirs).prev_sample
        torch.testing.assert_close(mine, theirs, rtol=1e-4, atol=1e-4)


def test_cosine_betas_by_hand():
    """The published squaredcos_cap_v2 formula, independent of diffusers."""
    betas = make_betas(4, "squaredcos_cap_v2")
    f = [math.cos((s / 4 + 0.008) / 1.008 * math.pi / 2) ** 2 for s in range(5)]
    expected = [min(1 - f[i + 1] / f[i], 0.999) for i in range(4)]
    assert betas.tolist() == pytest.approx(expected, rel=1e-6)
    assert betas[-1].item() == pytest.approx(0.999)  # the cap
    ddpm = DDPM(num_train_timesteps=4, beta_schedule="squaredcos_cap_v2", clip_sample=False)
    # epsilon prediction with a zero network output and x_t = 1 at t = 1: x_0 = 1 / sqrt(ab_1), mean by eq. (7)
    ab1, ab0 = ddpm.alpha_bar(1), ddpm.alpha_bar(0)
    out = ddpm.step(torch.zeros(1), 1, 0, torch.ones(1), noise=torch.zeros(1))
    beta = 1 - ab1 / ab0
    mean = ab0 ** 0.5 * beta / (1 - ab1) / ab1 ** 0.5 + (1 - beta) ** 0.5 * (1 - ab0) / (1 - ab1)
    assert out.item() == pytest.approx(mean, rel=1e-6)
