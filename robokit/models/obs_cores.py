"""Encoder cores: the network that turns one observation into a feature vector (robomimic's `core_class`).

`VisualCore`: backbone (ResNet18Conv, ShallowConv) -> pool (SpatialSoftmax, SpatialMeanPool, none) ->
flatten -> optional Linear to `feature_dimension`; input (N, C, H, W) float.
`ScanCore`: stacked Conv1d -> optional pool -> flatten -> optional Linear; input (N, C, L) float.
Both expose `output_dim`. `CORES` is the name table configs choose from (`core_class`).
"""

import math
from collections.abc import Mapping, Sequence

import torch
from torch import nn

from robokit.models.class_table import build_component, check_component
from robokit.models.mlp import ACTIVATIONS
from robokit.models.vision import BACKBONES, POOLS


def _feature_head(feat_shape, flatten: bool, feature_dimension: int | None) -> tuple[list[nn.Module], int]:
    """Flatten + optional Linear after a (pooled) feature map; returns (modules, output_dim)."""
    if not flatten:
        if feature_dimension is not None:
            raise ValueError("feature_dimension needs flatten=true")
        return [], int(math.prod(feat_shape))
    modules: list[nn.Module] = [nn.Flatten()]
    width = int(math.prod(feat_shape))
    if feature_dimension is not None:
        modules.append(nn.Linear(width, feature_dimension))
        width = feature_dimension
    return modules, width


class VisualCore(nn.Module):
    """(N, C, H, W) float images -> (N, D) features: backbone, pool, flatten, Linear(feature_dimension).

    Args:
        input_shape: (C, H, W) of the images the core sees (after any crop).
        backbone_class / backbone_kwargs: a `BACKBONES` name and its arguments (input_channel is set here).
        pool_class / pool_kwargs: a `POOLS` name (or None: no pooling) and its arguments.
        flatten: flatten the pooled features (needed for feature_dimension; output_dim counts all elements).
        feature_dimension: size of a final Linear projection, or None for the flattened features.
    """

    def __init__(self, input_shape, backbone_class: str = "ResNet18Conv", backbone_kwargs: Mapping | None = None,
                 pool_class: str | None = "SpatialSoftmax", pool_kwargs: Mapping | None = None, flatten: bool = True,
                 feature_dimension: int | None = 64, where: str = "core_kwargs"):
        # `where` (the config key of these kwargs, for error messages) is set by the encoder builder
        super().__init__()
        self.input_shape = tuple(input_shape)
        self.backbone = build_component(BACKBONES, backbone_class, backbone_kwargs, f"{where}.backbone_class",
                                        f"{where}.backbone_kwargs", input_channel=self.input_shape[0])
        feat_shape = self.backbone.output_shape(self.input_shape)  # (C', H', W')
        self.pool = None
        if pool_class is not None:
            self.pool = build_component(POOLS, pool_class, pool_kwargs, f"{where}.pool_class",
                                        f"{where}.pool_kwargs", input_shape=feat_shape)
            feat_shape = self.pool.output_shape(feat_shape)  # (K, 2) or (C',)
        head, self.output_dim = _feature_head(feat_shape, flatten, feature_dimension)
        self.head = nn.Sequential(*head)

    @staticmethod
    def check_nested(kwargs: Mapping, where: str) -> None:
        """Check backbone and pool names and arguments without building them."""
        check_component(BACKBONES, kwargs.get("backbone_class", "ResNet18Conv"), kwargs.get("backbone_kwargs"),
                        f"{where}.backbone_class", f"{where}.backbone_kwargs", ("input_channel",))
        if kwargs.get("pool_class", "SpatialSoftmax") is not None:
            check_component(POOLS, kwargs.get("pool_class", "SpatialSoftmax"), kwargs.get("pool_kwargs"),
                            f"{where}.pool_class", f"{where}.pool_kwargs", ("input_shape",))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = self.backbone(x)  # (N, C', H', W')
        if self.pool is not None:
            features = self.pool(features)  # (N, K, 2) or (N, C')
        return self.head(features)  # (N, D)


_DEFAULT_SCAN_CONV = {"out_channels": [32, 64, 64], "kernel_size": [8, 4, 2], "stride": [4, 2, 1]}  # robomimic's


class ScanCore(nn.Module):
    """(N, C, L) float range scans -> (N, D): Conv1d layers, optional pool, flatten, Linear(feature_dimension).

    conv_kwargs holds equal-length lists out_channels, kernel_size, stride (default: robomimic's
    [32, 64, 64], [8, 4, 2], [4, 2, 1]); the pool sees the conv output as a (C', L', 1) feature map.
    """

    def __init__(self, input_shape, conv_kwargs: Mapping | None = None, conv_activation: str | None = "relu",
                 pool_class: str | None = None, pool_kwargs: Mapping | None = None, flatten: bool = True,
                 feature_dimension: int | None = None, where: str = "core_kwargs"):
        super().__init__()
        channels, length = input_shape
        conv = {**_DEFAULT_SCAN_CONV, **dict(conv_kwargs or {})}
        sizes = [conv["out_channels"], conv["kernel_size"], conv["stride"]]
        if not all(isinstance(s, Sequence) and len(s) == len(sizes[0]) for s in sizes):
            raise ValueError("conv_kwargs out_channels, kernel_size and stride must be lists of one length")
        if conv_activation is not None and conv_activation not in ACTIVATIONS:
            raise ValueError(f"conv_activation must be one of {', '.join(ACTIVATIONS)} or null")
        layers: list[nn.Module] = []
        for out_channels, kernel, stride in zip(*sizes):
            layers.append(nn.Conv1d(channels, out_channels, kernel, stride=stride))
            if conv_activation is not None:
                layers.append(ACTIVATIONS[conv_activation]())
            channels, length = out_channels, (length - kernel) // stride + 1
        if length < 1:
            raise ValueError(f"scans of length {input_shape[1]} are too short for these convolutions")
        self.convs = nn.Sequential(*layers)
        feat_shape: tuple = (channels, length)
        self.pool = None
        if pool_class is not None:
            self.pool = build_component(POOLS, pool_class, pool_kwargs, f"{where}.pool_class", f"{where}.pool_kwargs",
                                        input_shape=(channels, length, 1))
            feat_shape = self.pool.output_shape((channels, length, 1))
        head, self.output_dim = _feature_head(feat_shape, flatten, feature_dimension)
        self.head = nn.Sequential(*head)

    @staticmethod
    def check_nested(kwargs: Mapping, where: str) -> None:
        if kwargs.get("pool_class") is not None:
            check_component(POOLS, kwargs["pool_class"], kwargs.get("pool_kwargs"), f"{where}.pool_class",
                            f"{where}.pool_kwargs", ("input_shape",))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = self.convs(x)  # (N, C', L')
        if self.pool is not None:
            features = self.pool(features.unsqueeze(-1))  # (N, C', L', 1) -> pooled
        return self.head(features)  # (N, D)


CORES: dict[str, type] = {"VisualCore": VisualCore, "ScanCore": ScanCore}
