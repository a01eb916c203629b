"""The ACT network (Zhao et al. 2023): a conditional VAE whose decoder is a transformer encoder-decoder.

    style encoder (training only)   [CLS, proprio, a_t .. a_{t+k-1}] -> transformer encoder -> CLS -> mu, logvar
    z = mu + sigma * eps in training, z = 0 (the prior's mean) at inference
    transformer encoder             [z token, proprio token, goal token, camera tokens ...] + position codes
    transformer decoder             k learned queries attend to the encoder's output -> (B, k, dim) -> (B, k, A)

Camera tokens come from the configured image encoder (`observation.encoder.rgb` / `.depth`, a `VisualCore`): its
output before flattening is a (C, H, W) feature map (no pooling: H*W tokens of width C, 2-D sin/cos positions), or
(K, d) keypoints (K tokens), or a flat vector (one token). Each camera also gets a learned embedding, so two
cameras' tokens at the same position differ. All `n_decoder_layers` decoder layers are run.
"""

from collections import OrderedDict
from collections.abc import Mapping

import torch
from torch import nn

from robokit.models.obs_cores import VisualCore
from robokit.models.obs_encoder import (
    IMAGE_MODALITIES,
    ObservationEncoder,
    build_obs_key_encoder,
)
from robokit.models.transformer import sinusoidal_positions

Obs = Mapping[str, torch.Tensor]


def sinusoidal_positions_2d(height: int, width: int, dim: int) -> torch.Tensor:
    """Fixed 2-D position codes of a (height, width) grid, (height * width, dim), row-major: the first dim // 2
    channels encode the row, the others the column (DETR's split)."""
    rows = sinusoidal_positions(height, dim // 2)  # (H, dim//2)
    cols = sinusoidal_positions(width, dim - dim // 2)  # (W, dim - dim//2)
    grid = torch.cat([rows[:, None, :].expand(height, width, -1), cols[None, :, :].expand(height, width, -1)], dim=-1)
    return grid.reshape(height * width, dim)


def core_token_shape(core: nn.Module) -> tuple[int, ...]:
    """The per-image shape of a VisualCore's output before any flattening: (C, H, W), (K, d) or (D,)."""
    if not isinstance(core, VisualCore):
        raise TypeError(f"ACT image tokens need a VisualCore, got {type(core).__name__}")
    if len(core.head):  # flatten (+ Linear): one vector per image
        return (core.output_dim,)
    shape = core.backbone.output_shape(core.input_shape)  # (C', H', W')
    if core.pool is not None:
        shape = core.pool.output_shape(shape)  # (K, 2 or 5) keypoints or (C',) means
    return tuple(shape)


class CameraTokens(nn.Module):
    """One camera: images (B, H, W, C) (uint8 or float) -> tokens (B, N, dim_model) and positions (N, dim_model).

    The image goes through the configured encoder (to float, randomizers, VisualCore); its unflattened output
    becomes N tokens, each projected to `dim_model`.
    """

    def __init__(self, modality: str, shape: tuple[int, ...], encoder_config, dim_model: int):
        super().__init__()
        self.encoder = build_obs_key_encoder(modality, shape, encoder_config)
        self.token_shape = core_token_shape(self.encoder.core)
        if len(self.token_shape) == 3:  # feature map: one token per position
            channels, height, width = self.token_shape
            self.n_tokens, token_width = height * width, channels
            self.register_buffer("fixed_positions", sinusoidal_positions_2d(height, width, dim_model), persistent=False)
            self.learned_positions = None
        else:
            self.n_tokens, token_width = (self.token_shape[0], self.token_shape[1]) if len(self.token_shape) == 2 \
                else (1, self.token_shape[0])
            self.fixed_positions = None
            self.learned_positions = nn.Parameter(torch.randn(self.n_tokens, dim_model) * 0.02)
        self.camera_embedding = nn.Parameter(torch.randn(dim_model) * 0.02)  # tells cameras apart
        self.proj = nn.Linear(token_width, dim_model)

    def positions(self) -> torch.Tensor:
        """(N, dim_model) position codes of this camera's tokens."""
        base = self.fixed_positions if self.learned_positions is None else self.learned_positions
        return base + self.camera_embedding

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        features = self.encoder(images)  # (B, prod(token_shape)), flattened C-major
        B = features.shape[0]
        if len(self.token_shape) == 3:
            channels = self.token_shape[0]
            tokens = features.reshape(B, channels, self.n_tokens).transpose(1, 2)  # (B, H'*W', C')
        else:
            tokens = features.reshape(B, self.n_tokens, -1)  # (B, K, d) or (B, 1, D)
        return self.proj(tokens)  # (B, N, dim_model)


def _encoder_stack(dim_model, n_heads, dim_feedforward, dropout, activation, pre_norm, n_layers) -> nn.TransformerEncoder:
    layer = nn.TransformerEncoderLayer(dim_model, n_heads, dim_feedforward, dropout, activation, batch_first=True,
                                       norm_first=pre_norm)
    return nn.TransformerEncoder(layer, n_layers, norm=nn.LayerNorm(dim_model) if pre_norm else None,
                                 enable_nested_tensor=False)


class StyleEncoder(nn.Module):
    """q(z | proprio, action chunk): (B, D_p), (B, k, A), pad mask (B, k) -> mu, logvar (B, Z).

    The sequence [CLS, proprio token, one token per action] (fixed sin/cos positions) runs through a transformer
    encoder; padded actions are masked out of the attention, so they do not change z.
    """

    def __init__(self, proprio_dim: int, ac_dim: int, chunk_size: int, latent_dim: int, dim_model: int, n_heads: int,
                 dim_feedforward: int, dropout: float, activation: str, pre_norm: bool, n_layers: int):
        super().__init__()
        self.cls = nn.Parameter(torch.randn(1, 1, dim_model) * 0.02)
        self.proprio_proj = nn.Linear(proprio_dim, dim_model) if proprio_dim else None
        self.action_proj = nn.Linear(ac_dim, dim_model)
        n_prefix = 1 + (1 if proprio_dim else 0)
        self.register_buffer("positions", sinusoidal_positions(n_prefix + chunk_size, dim_model), persistent=False)
        self.encoder = _encoder_stack(dim_model, n_heads, dim_feedforward, dropout, activation, pre_norm, n_layers)
        self.out = nn.Linear(dim_model, 2 * latent_dim)

    def forward(self, proprio: torch.Tensor | None, actions: torch.Tensor, pad_mask: torch.Tensor | None):
        B, k, _ = actions.shape
        tokens = [self.cls.expand(B, -1, -1)]  # (B, 1, E)
        if self.proprio_proj is not None:
            tokens.append(self.proprio_proj(proprio).unsqueeze(1))  # (B, 1, E)
        n_prefix = len(tokens)
        tokens.append(self.action_proj(actions))  # (B, k, E)
        x = torch.cat(tokens, dim=1) + self.positions[: n_prefix + k]  # (B, P + k, E)
        ignore = None
        if pad_mask is not None:  # key padding mask: True where a token is ignored
            ignore = torch.cat([torch.zeros(B, n_prefix, dtype=torch.bool, device=x.device), ~pad_mask.bool()], dim=1)
        cls_out = self.encoder(x, src_key_padding_mask=ignore)[:, 0]  # (B, E)
        mu, logvar = self.out(cls_out).chunk(2, dim=-1)  # (B, Z) each
        return mu, logvar


class ACTNetwork(nn.Module):
    """ACT: obs {k: (B, *shape)} (+ goal {k: (B, *shape)}) [+ actions (B, k, A), pad_mask (B, k)] ->
    (actions (B, k, A), mu (B, Z) or None, logvar (B, Z) or None).

    Args:
        obs_shapes / goal_shapes: {key: per-step shape}; obs_modalities: {key: modality}.
        encoder_configs: {modality: `observation.encoder.<modality>`}; image keys are tokenised by `CameraTokens`,
            low_dim keys are concatenated into one proprio token (goal keys into one goal token).
        ac_dim, chunk_size, latent_dim, use_vae, transformer sizes: see `ACTAlgoConfig`.
    """

    def __init__(self, obs_shapes: Mapping, goal_shapes: Mapping | None, obs_modalities: Mapping, encoder_configs,
                 ac_dim: int, chunk_size: int = 100, latent_dim: int = 32, use_vae: bool = True, dim_model: int = 512,
                 n_heads: int = 8, dim_feedforward: int = 3200, activation: str = "relu", n_encoder_layers: int = 4,
                 n_decoder_layers: int = 7, n_vae_encoder_layers: int = 4, pre_norm: bool = False,
                 dropout: float = 0.1):
        super().__init__()
        self.chunk_size, self.latent_dim, self.use_vae = chunk_size, latent_dim, use_vae
        # low_dim keys and the instruction (modality "language", its learned embedding) form the proprio token
        low_dim = OrderedDict((k, s) for k, s in obs_shapes.items()
                              if obs_modalities.get(k, "low_dim") in ("low_dim", "language"))
        images = OrderedDict((k, s) for k, s in obs_shapes.items() if obs_modalities.get(k) in IMAGE_MODALITIES)
        other = sorted(set(obs_shapes) - set(low_dim) - set(images))
        if other:
            raise ValueError(f"ACT encodes low_dim, rgb and depth observations; {other} are neither")
        if not low_dim and not images:
            raise ValueError("ACT needs at least one observation key")
        self.proprio = (ObservationEncoder(low_dim, obs_modalities, {"language": encoder_configs.get("language")})
                        if low_dim else None)  # (B, D_p), flattened and concatenated
        self.goal = ObservationEncoder(goal_shapes) if goal_shapes else None
        proprio_dim = self.proprio.output_dim if self.proprio is not None else 0

        self.style_encoder = StyleEncoder(proprio_dim, ac_dim, chunk_size, latent_dim, dim_model, n_heads,
                                          dim_feedforward, dropout, activation, pre_norm, n_vae_encoder_layers) \
            if use_vae else None
        self.latent_proj = nn.Linear(latent_dim, dim_model)
        self.proprio_proj = nn.Linear(proprio_dim, dim_model) if proprio_dim else None
        self.goal_proj = nn.Linear(self.goal.output_dim, dim_model) if self.goal is not None else None
        n_prefix = 1 + (self.proprio_proj is not None) + (self.goal_proj is not None)  # latent, proprio, goal
        self.prefix_positions = nn.Parameter(torch.randn(n_prefix, dim_model) * 0.02)
        self.cameras = nn.ModuleDict({
            key: CameraTokens(obs_modalities[key], tuple(shape), encoder_configs.get(obs_modalities[key]), dim_model)
            for key, shape in images.items()
        })
        self.encoder = _encoder_stack(dim_model, n_heads, dim_feedforward, dropout, activation, pre_norm,
                                      n_encoder_layers)
        decoder_layer = nn.TransformerDecoderLayer(dim_model, n_heads, dim_feedforward, dropout, activation,
                                                   batch_first=True, norm_first=pre_norm)
        self.decoder = nn.TransformerDecoder(decoder_layer, n_decoder_layers, norm=nn.LayerNorm(dim_model))
        self.queries = nn.Parameter(torch.randn(chunk_size, dim_model) * 0.02)  # one per chunk step
        self.action_head = nn.Linear(dim_model, ac_dim)

    @property
    def n_tokens(self) -> int:
        """Tokens the transformer encoder reads per sample."""
        return self.prefix_positions.shape[0] + sum(cam.n_tokens for cam in self.cameras.values())

    def encode_style(self, proprio: torch.Tensor | None, actions: torch.Tensor, pad_mask: torch.Tensor | None):
        """mu, logvar (B, Z) of q(z | proprio, actions (B, k, A)); needs use_vae."""
        return self.style_encoder(proprio, actions, pad_mask)

    def forward(self, obs: Obs, goal: Obs | None = None, actions: torch.Tensor | None = None,
                pad_mask: torch.Tensor | None = None):
        proprio = self.proprio({k: obs[k] for k in self.proprio.obs_shapes}) if self.proprio is not None else None
        any_obs = next(iter(obs.values()))
        B, device = any_obs.shape[0], any_obs.device
        mu = logvar = None
        if self.use_vae and actions is not None:
            mu, logvar = self.encode_style(proprio, actions, pad_mask)  # (B, Z) each
            z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu) if self.training else mu
        else:
            z = torch.zeros(B, self.latent_dim, device=device)  # the prior's mean

        tokens = [self.latent_proj(z).unsqueeze(1)]  # (B, 1, E)
        if self.proprio_proj is not None:
            tokens.append(self.proprio_proj(proprio).unsqueeze(1))
        if self.goal_proj is not None:
            if goal is None:
                raise ValueError("this policy is goal-conditioned: pass goal observations")
            tokens.append(self.goal_proj(self.goal(goal)).unsqueeze(1))
        positions = [self.prefix_positions]
        for key, camera in self.cameras.items():
            tokens.append(camera(obs[key]))  # (B, N_cam, E)
            positions.append(camera.positions())
        x = torch.cat(tokens, dim=1) + torch.cat(positions, dim=0)  # (B, N, E)
        memory = self.encoder(x)  # (B, N, E)
        queries = self.queries.unsqueeze(0).expand(B, -1, -1)  # (B, k, E)
        decoded = self.decoder(queries, memory)  # (B, k, E), through every decoder layer
        return self.action_head(decoded), mu, logvar  # (B, k, A)
