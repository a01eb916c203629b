"""Networks: MLPs, observation encoders, distribution heads, RNN and transformer trunks, VAEs, policies."""

from robokit.models.distributions import GaussianHead, GMMHead
from robokit.models.mlp import MLP
from robokit.models.obs_encoder import ObservationEncoder

__all__ = ["MLP", "ObservationEncoder", "GaussianHead", "GMMHead"]
