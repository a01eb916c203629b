"""Backbones, CoordConv and pooling: output shapes, parameter counts, keypoint coordinates."""

import pytest
import torch

from robokit.models.vision import (
    CoordConv2d,
    ResNet18Conv,
    ResNetConv,
    ShallowConv,
    SpatialMeanPool,
    SpatialSoftmax,
)


def n_params(module) -> int:
    return sum(p.numel() for p in module.parameters())


def test_resnet18_trunk_matches_torchvision_without_fc():
    net = ResNet18Conv()
    assert n_params(net) == 11_176_512  # torchvision resnet18 (11,689,512) minus fc (512 * 1000 + 1000)
    out = net(torch.zeros(2, 3, 84, 84))
    assert out.shape == (2, 512, 3, 3)
    assert net.output_shape((3, 84, 84)) == (512, 3, 3)
    names = {name.split(".")[0] for name, _ in net.named_parameters()}
    assert names == {"conv1", "bn1", "layer1", "layer2", "layer3", "layer4"}


def test_resnet18_rejects_pretrained_weights():
    with pytest.raises(ValueError, match="pretrained=false"):
        ResNet18Conv(pretrained=True)


@pytest.mark.parametrize("size", [(32, 32), (58, 58), (64, 48)])
def test_small_resnet_and_shallow_conv_report_their_output_shape(size):
    for net in (ResNetConv(3, channels=(8, 16), blocks=(1, 2)), ShallowConv(1, output_channel=8)):
        channels = 1 if isinstance(net, ShallowConv) else 3
        out = net(torch.rand(2, channels, *size))
        assert tuple(out.shape[1:]) == net.output_shape((channels, *size))


def test_coord_conv_sees_two_extra_channels():
    conv = CoordConv2d(3, 4, kernel_size=1)
    assert conv.weight.shape == (4, 5, 1, 1)
    with torch.no_grad():
        conv.weight.zero_()
        conv.bias.zero_()
        conv.weight[0, 3] = 1.0  # channel 0 copies the x coordinate, channel 1 the y coordinate
        conv.weight[1, 4] = 1.0
    out = conv(torch.zeros(1, 3, 3, 5))
    assert torch.allclose(out[0, 0, 0], torch.linspace(-1, 1, 5))
    assert torch.allclose(out[0, 1, :, 0], torch.linspace(-1, 1, 3))
    assert ResNet18Conv(input_coord_conv=True)(torch.zeros(2, 3, 32, 32)).shape == (2, 512, 1, 1)


def test_spatial_softmax_finds_a_single_bright_pixel():
    pool = SpatialSoftmax((1, 5, 9), num_kp=None, temperature=0.01)
    feature = torch.zeros(1, 1, 5, 9)
    feature[0, 0, 1, 6] = 1.0  # row 1 of 5, column 6 of 9
    keypoint = pool(feature)
    assert keypoint.shape == (1, 1, 2)
    expected = torch.tensor([-1 + 2 * 6 / 8, -1 + 2 * 1 / 4])  # (x, y) = (0.5, -0.5)
    assert torch.allclose(keypoint[0, 0], expected, atol=1e-4)


def test_spatial_softmax_keypoints_lie_in_the_image_and_variance_is_reported():
    pool = SpatialSoftmax((16, 7, 7), num_kp=8, output_variance=True, learnable_temperature=True)
    out = pool(torch.randn(4, 16, 7, 7) * 5)
    assert out.shape == (4, 8, 5) == (4, *pool.output_shape((16, 7, 7)))
    assert out[..., :2].abs().max() <= 1.0
    assert (out[..., 2:4] >= 0).all()  # variances
    assert pool.temperature.requires_grad


def test_spatial_softmax_noise_only_at_training():
    pool = SpatialSoftmax((4, 6, 6), num_kp=None, noise_std=0.5)
    x = torch.randn(3, 4, 6, 6)
    pool.eval()
    assert torch.equal(pool(x), pool(x))
    pool.train()
    assert not torch.equal(pool(x), pool(x))


def test_spatial_mean_pool():
    pool = SpatialMeanPool((3, 4, 4))
    x = torch.arange(2 * 3 * 16, dtype=torch.float32).reshape(2, 3, 4, 4)
    assert torch.allclose(pool(x), x.mean(dim=(2, 3)))
    assert pool.output_shape((3, 4, 4)) == (3,)
