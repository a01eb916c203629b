"""Randomizers: random at training, deterministic at evaluation; crops, colour jitter, noise, chaining."""

import pytest
import torch

from robokit.models.randomizers import ColorRandomizer, CropRandomizer, GaussianNoiseRandomizer


def images(n=4, c=3, h=10, w=12):
    return torch.rand(n, c, h, w, generator=torch.Generator().manual_seed(0))


def test_random_crops_differ_at_training_and_centre_crop_at_evaluation():
    crop = CropRandomizer((3, 10, 12), crop_height=6, crop_width=8)
    x = images(n=64)
    crop.train()
    out = crop.forward_in(x)
    assert out.shape == (64, 3, 6, 8)
    # each crop is a window of its own image
    corners = [(i, j) for i in range(5) for j in range(5)]
    for k in range(0, 64, 9):
        assert any(torch.equal(out[k], x[k, :, i:i + 6, j:j + 8]) for i, j in corners)
    assert not torch.equal(out, crop.forward_in(x))  # a new draw differs
    crop.eval()
    centre = crop.forward_in(x)
    assert torch.equal(centre, x[:, :, 2:8, 2:10])
    assert torch.equal(centre, crop.forward_in(x))


def test_crops_with_several_samples_average_back_and_pos_enc_adds_channels():
    crop = CropRandomizer((3, 10, 12), crop_height=6, crop_width=8, num_crops=3, pos_enc=True)
    assert crop.output_shape_in((3, 10, 12)) == (5, 6, 8)
    x = images(n=2)
    out = crop.forward_in(x)
    assert out.shape == (6, 5, 6, 8)
    assert out[:, 3:].abs().max() <= 1.0  # the position channels
    features = torch.arange(6, dtype=torch.float32)[:, None].expand(6, 4)  # (N * 3, D)
    assert torch.equal(crop.forward_out(features), torch.tensor([[1.0] * 4, [4.0] * 4]))
    crop.eval()
    assert crop.forward_in(x).shape == (2, 5, 6, 8)


def test_crop_must_fit_the_image():
    with pytest.raises(ValueError, match="does not fit"):
        CropRandomizer((3, 10, 12), crop_height=11, crop_width=8)


def test_colour_jitter_changes_images_in_range_only_at_training():
    jitter = ColorRandomizer((3, 10, 12), brightness=0.5, contrast=0.5, saturation=0.5, hue=0.2, num_samples=2)
    x = images()
    out = jitter.forward_in(x)
    assert out.shape == (8, 3, 10, 12)
    assert 0.0 <= out.min() and out.max() <= 1.0
    assert not torch.allclose(out[0], x[0])
    jitter.eval()
    assert torch.equal(jitter.forward_in(x), x)


def test_hue_rotation_by_a_full_turn_is_identity_and_a_third_turn_permutes_rgb():
    from robokit.models.randomizers import _shift_hue

    x = images(n=2)
    assert torch.allclose(_shift_hue(x, torch.ones(2)), x, atol=1e-5)
    red = torch.zeros(1, 3, 2, 2)
    red[:, 0] = 1.0
    green = _shift_hue(red, torch.tensor([1 / 3]))
    assert torch.allclose(green[0, :, 0, 0], torch.tensor([0.0, 1.0, 0.0]), atol=1e-5)


def test_gaussian_noise_with_limits():
    noise = GaussianNoiseRandomizer((5,), noise_std=0.1, limits=[0.0, 1.0])
    x = torch.full((1000, 5), 0.5)
    out = noise.forward_in(x)
    assert 0.05 < float((out - x).std()) < 0.15
    assert out.min() >= 0 and out.max() <= 1
    noise.eval()
    assert torch.equal(noise.forward_in(x), x)
