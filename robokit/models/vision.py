"""Convolutional backbones and spatial pooling for image observations, in plain torch (no torchvision).

Backbones (ResNet18Conv, a smaller ResNetConv, ShallowConv) map float images (N, C, H, W) to feature maps (N, C', H', W'); pools map feature maps to
(N, K, 2) keypoints (SpatialSoftmax) or (N, C') means (SpatialMeanPool). Every part reports
`output_shape(input_shape)` without a batch dimension, so encoders know their sizes before any data.
`BACKBONES` and `POOLS` are the name tables that configs choose from (`backbone_class`, `pool_class`).
"""

import math

import torch
import torch.nn.functional as F
from torch import nn


def _conv_size(size: int, kernel: int, stride: int, padding: int) -> int:
    return (size + 2 * padding - kernel) // stride + 1


def coordinate_grid(height: int, width: int, device=None) -> torch.Tensor:
    """(2, H, W): x then y pixel-centre coordinates, each from -1 (left / top) to 1 (right / bottom)."""
    ys = torch.linspace(-1.0, 1.0, height, device=device)
    xs = torch.linspace(-1.0, 1.0, width, device=device)
    grid_y, grid_x = torch.meshgrid(ys, xs, indexing="ij")  # (H, W) each
    return torch.stack([grid_x, grid_y])


class CoordConv2d(nn.Conv2d):
    """Conv2d that first appends 2 channels holding each pixel's (x, y) in [-1, 1] (Liu et al., 2018).

    in_channels counts the image channels only; the weights see in_channels + 2.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size, **conv_kwargs):
        super().__init__(in_channels + 2, out_channels, kernel_size, **conv_kwargs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        grid = coordinate_grid(x.shape[-2], x.shape[-1], x.device).to(x.dtype)  # (2, H, W)
        x = torch.cat([x, grid.expand(x.shape[0], -1, -1, -1)], dim=1)  # (N, C + 2, H, W)
        return super().forward(x)


class BasicBlock(nn.Module):
    """ResNet basic block: two 3x3 convs with batch norm and an identity (or 1x1 projection) shortcut."""

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.downsample = None
        if stride != 1 or in_channels != out_channels:
            self.downsample = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False), nn.BatchNorm2d(out_channels)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + identity)


class ResNetConv(nn.Module):
    """A ResNet trunk without pooling or classifier: (N, C, H, W) -> (N, channels[-1], H', W').

    conv1 7x7/2 + batch norm + ReLU + 3x3/2 max pool, then one layer per entry of `channels`, each of
    `blocks` BasicBlocks (the first layer keeps the resolution, the others halve it): H' = ceil(H / 2^(1 + L)).
    A small trunk (e.g. channels [32, 64], blocks 1) is a CPU-friendly image encoder.

    Args:
        input_channel: image channels (3 for rgb, 1 for depth).
        channels: output channels of each layer.
        blocks: BasicBlocks per layer (one int for all layers, or one per layer).
        input_coord_conv: make conv1 a CoordConv2d (adds (x, y) coordinate channels).
    """

    def __init__(self, input_channel: int = 3, channels=(32, 64), blocks=1, input_coord_conv: bool = False):
        super().__init__()
        channels = list(channels)
        blocks = [blocks] * len(channels) if isinstance(blocks, int) else list(blocks)
        if not channels or len(blocks) != len(channels) or min(blocks) < 1:
            raise ValueError(f"channels {channels} and blocks {blocks} must be non-empty, of one length, blocks >= 1")
        conv = CoordConv2d if input_coord_conv else nn.Conv2d
        self.conv1 = conv(input_channel, channels[0], kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(channels[0])
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.num_layers, width = len(channels), channels[0]
        for i, (out_channels, n_blocks) in enumerate(zip(channels, blocks)):
            stride = 1 if i == 0 else 2
            layer = [BasicBlock(width, out_channels, stride)]
            layer += [BasicBlock(out_channels, out_channels) for _ in range(n_blocks - 1)]
            setattr(self, f"layer{i + 1}", nn.Sequential(*layer))  # torchvision's names: layer1, layer2, ...
            width = out_channels
        self.output_channel = width

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(F.relu(self.bn1(self.conv1(x))))  # (N, channels[0], H/4, W/4)
        for i in range(self.num_layers):
            x = getattr(self, f"layer{i + 1}")(x)  # halves H and W after the first layer
        return x  # (N, channels[-1], H', W')

    def output_shape(self, input_shape) -> tuple[int, int, int]:
        _, h, w = input_shape
        for _ in range(1 + self.num_layers):  # conv1 + max pool, then each layer after the first: ceil halving
            h, w = math.ceil(h / 2), math.ceil(w / 2)
        return (self.output_channel, h, w)


class ResNet18Conv(ResNetConv):
    """The ResNet-18 trunk: (N, C, H, W) -> (N, 512, ceil(H/32), ceil(W/32)); torchvision's resnet18 minus
    avgpool and fc (layers of 2 BasicBlocks with 64, 128, 256, 512 channels).

    Args:
        input_channel: image channels (3 for rgb, 1 for depth).
        pretrained: must be False: no weights can be downloaded (kept for robomimic configs).
        input_coord_conv: make conv1 a CoordConv2d (adds (x, y) coordinate channels).
    """

    def __init__(self, input_channel: int = 3, pretrained: bool = False, input_coord_conv: bool = False):
        if pretrained:
            raise ValueError("pretrained weights cannot be downloaded here; set pretrained=false "
                             "(the trunk is trained from scratch)")
        super().__init__(input_channel, channels=(64, 128, 256, 512), blocks=2, input_coord_conv=input_coord_conv)


class ShallowConv(nn.Module):
    """robomimic's 4-layer conv net (Finn et al., 2016): (N, C, H, W) -> (N, output_channel, ceil(H/2), ceil(W/2)).

    7x7/2 conv (64) - ReLU - 1x1 conv (32) - ReLU - 3x3 conv (32) - ReLU - 3x3 conv (output_channel).
    """

    def __init__(self, input_channel: int = 3, output_channel: int = 32):
        super().__init__()
        self.output_channel = output_channel
        self.nets = nn.Sequential(
            nn.Conv2d(input_channel, 64, kernel_size=7, stride=2, padding=3), nn.ReLU(),
            nn.Conv2d(64, 32, kernel_size=1), nn.ReLU(),
            nn.Conv2d(32, 32, kernel_size=3, padding=1), nn.ReLU(),
            nn.Conv2d(32, output_channel, kernel_size=3, padding=1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.nets(x)

    def output_shape(self, input_shape) -> tuple[int, int, int]:
        _, h, w = input_shape
        return (self.output_channel, _conv_size(h, 7, 2, 3), _conv_size(w, 7, 2, 3))


class SpatialSoftmax(nn.Module):
    """Keypoints as expected pixel coordinates under a per-channel softmax (Finn et al., 2016).

    (N, C, H, W) -> (N, K, 2): for each of K channels (a 1x1 conv first maps C to K = num_kp when given),
    softmax(feature / temperature) over the H*W positions weights the pixel coordinates (x, y), each in
    [-1, 1] (left/top = -1). With output_variance the result is (N, K, 5): x, y, var_x, var_y, cov_xy.
    At training, Gaussian noise of std noise_std is added to the keypoints.
    """

    def __init__(self, input_shape, num_kp: int | None = 32, temperature: float = 1.0,
                 learnable_temperature: bool = False, output_variance: bool = False, noise_std: float = 0.0):
        super().__init__()
        channels, self.height, self.width = input_shape
        if temperature <= 0:
            raise ValueError(f"temperature must be positive, got {temperature}")
        self.keypoint_conv = nn.Conv2d(channels, num_kp, kernel_size=1) if num_kp is not None else None
        self.num_kp = num_kp if num_kp is not None else channels
        self.output_variance = output_variance
        self.noise_std = noise_std
        temperature = torch.tensor([float(temperature)])
        if learnable_temperature:
            self.temperature = nn.Parameter(temperature)
        else:
            self.register_buffer("temperature", temperature)
        self.register_buffer("grid", coordinate_grid(self.height, self.width).reshape(2, -1))  # (2, H*W)

    def forward(self, feature: torch.Tensor) -> torch.Tensor:
        if self.keypoint_conv is not None:
            feature = self.keypoint_conv(feature)  # (N, K, H, W)
        n = feature.shape[0]
        attention = torch.softmax(feature.reshape(n, self.num_kp, -1) / self.temperature, dim=-1)  # (N, K, H*W)
        keypoints = attention @ self.grid.T  # (N, K, 2)
        if self.training and self.noise_std > 0:
            keypoints = keypoints + torch.randn_like(keypoints) * self.noise_std
        if not self.output_variance:
            return keypoints
        second = attention @ (self.grid.T ** 2)  # (N, K, 2): E[x^2], E[y^2]
        variance = second - keypoints ** 2  # (N, K, 2)
        cross = attention @ (self.grid[0] * self.grid[1]) - keypoints[..., 0] * keypoints[..., 1]  # (N, K)
        return torch.cat([keypoints, variance, cross.unsqueeze(-1)], dim=-1)  # (N, K, 5)

    def output_shape(self, input_shape) -> tuple[int, int]:
        return (self.num_kp, 5 if self.output_variance else 2)


class SpatialMeanPool(nn.Module):
    """Mean over the spatial positions: (N, C, H, W) -> (N, C)."""

    def __init__(self, input_shape):
        super().__init__()
        self.channels = input_shape[0]

    def forward(self, feature: torch.Tensor) -> torch.Tensor:
        return feature.flatten(2).mean(dim=2)

    def output_shape(self, input_shape) -> tuple[int]:
        return (self.channels,)


BACKBONES: dict[str, type] = {"ResNet18Conv": ResNet18Conv, "ResNetConv": ResNetConv, "ShallowConv": ShallowConv}
POOLS: dict[str, type] = {"SpatialSoftmax": SpatialSoftmax, "SpatialMeanPool": SpatialMeanPool}
