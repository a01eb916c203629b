"""Observation encoders: a dict of observations -> one feature vector.

Each observation key belongs to a modality ("low_dim", "rgb", ...). `MODALITY_ENCODERS` maps a modality to
a builder `(shape, encoder_config) -> nn.Module` whose module maps (N, *shape) -> (N, D). It is a constant
table, not state that must be initialised: the observation spec (which key has which modality) is passed in.
"""

from typing import Callable, Mapping

import torch
from torch import nn


class FlattenEncoder(nn.Module):
    """Low-dimensional observations: (N, *shape) -> (N, prod(shape)), no parameters."""

    def __init__(self, shape: tuple[int, ...]):
        super().__init__()
        self.output_dim = int(torch.tensor(shape).prod().item()) if len(shape) else 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.reshape(x.shape[0], self.output_dim).float()


def _build_low_dim(shape: tuple[int, ...], encoder_config: Mapping | None) -> nn.Module:
    return FlattenEncoder(shape)


EncoderBuilder = Callable[[tuple[int, ...], Mapping | None], nn.Module]

MODALITY_ENCODERS: dict[str, EncoderBuilder] = {"low_dim": _build_low_dim}


class ObservationEncoder(nn.Module):
    """Encodes each key with its modality's encoder and concatenates the features in sorted key order.

    Args:
        obs_shapes: {key: per-step shape}, e.g. {"observation": (25,), "agentview_image": (84, 84, 3)}.
        obs_modalities: {key: modality name}; keys missing here default to "low_dim".
        encoder_configs: {modality: config section or dict} passed to the modality's builder.

    forward(obs) takes {key: (*lead, *shape)} and returns (*lead, output_dim): any leading dims
    (batch, time) are flattened for the encoders and restored afterwards.
    """

    def __init__(
        self,
        obs_shapes: Mapping[str, tuple[int, ...]],
        obs_modalities: Mapping[str, str] | None = None,
        encoder_configs: Mapping[str, object] | None = None,
    ):
        super().__init__()
        obs_modalities = obs_modalities or {}
        encoder_configs = encoder_configs or {}
        self.obs_shapes = {key: tuple(obs_shapes[key]) for key in sorted(obs_shapes)}
        self.encoders = nn.ModuleDict()
        for key, shape in self.obs_shapes.items():
            modality = obs_modalities.get(key, "low_dim")
            if modality not in MODALITY_ENCODERS:
                raise ValueError(f"no encoder for modality {modality!r} (key {key!r}); known: {sorted(MODALITY_ENCODERS)}")
            self.encoders[key] = MODALITY_ENCODERS[modality](shape, encoder_configs.get(modality))
        self.output_dim = sum(enc.output_dim for enc in self.encoders.values())

    def forward(self, obs: Mapping[str, torch.Tensor]) -> torch.Tensor:
        features = []
        lead_shape = None
        for key, shape in self.obs_shapes.items():
            x = obs[key]
            lead_shape = x.shape[: x.dim() - len(shape)]
            flat = x.reshape(-1, *shape)  # (N, *shape), N = prod(lead)
            features.append(self.encoders[key](flat))  # (N, D_key)
        out = torch.cat(features, dim=-1)  # (N, D)
        return out.reshape(*lead_shape, self.output_dim)  # (*lead, D)
