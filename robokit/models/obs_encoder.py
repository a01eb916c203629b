"""Observation encoders: a dict of observations -> one feature vector.

Each observation key belongs to a modality ("low_dim", "rgb", "depth", "scan"). `MODALITY_ENCODERS` maps a
modality to a builder `(shape, encoder_config) -> nn.Module` whose module maps (N, *shape) -> (N, D) and has
`.output_dim`. It is a constant table, not state that must be initialised: the observation spec (which key has
which modality) is passed in.

encoder_config is the config's `observation.encoder.<modality>` section (or a dict with its keys, or None):
    core_class / core_kwargs: a name of `CORES` (VisualCore, ScanCore) and its arguments; null: the raw input,
        flattened.
    obs_randomizer_class / obs_randomizer_kwargs: augmentation, one name of `RANDOMIZERS` (CropRandomizer,
        ColorRandomizer, GaussianNoiseRandomizer) with a dict of its arguments, or a list of names applied in
        order with a list of dicts (one per name) or one dict shared by all (each takes the keys it knows).

The "language" modality is the instruction (robokit.data.language's bag of words, key LANG), added to the
observations when `observation.language.enabled`; its encoder is robokit.models.language.LanguageEncoder.
`observation.language.conditioning` says how its embedding joins the rest: "concat" (one more feature) or
"film" (it scales and shifts the other keys' features; see ObservationEncoder).

Images are uint8 (H, W, C) in datasets and environments; they stay uint8 until here, where they become float
(N, C, H, W) in [0, 1] on the device, once per forward.
"""

import dataclasses
from collections.abc import Callable, Mapping

import torch
from torch import nn

from robokit.errors import ConfigError
from robokit.models.class_table import build_component, check_component
from robokit.models.language import LanguageEncoder
from robokit.models.obs_cores import CORES
from robokit.models.randomizers import RANDOMIZERS

IMAGE_MODALITIES = ("rgb", "depth")


class FlattenEncoder(nn.Module):
    """Low-dimensional observations: (N, *shape) -> (N, prod(shape)), no parameters."""

    def __init__(self, shape: tuple[int, ...]):
        super().__init__()
        self.output_dim = int(torch.tensor(shape).prod().item()) if len(shape) else 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 2 or x.shape[1] != self.output_dim:  # already (N, D): no op (small networks pay per op)
            x = x.reshape(x.shape[0], self.output_dim)
        return x.float()


class ImageToFloat(nn.Module):
    """(N, H, W, C) images (or (N, H, W) depth) -> (N, C, H, W) float; uint8 is scaled to [0, 1]."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() == 3:
            x = x.unsqueeze(-1)  # (N, H, W, 1)
        x = x.permute(0, 3, 1, 2)  # (N, C, H, W), a view
        return x.float().div_(255.0) if x.dtype == torch.uint8 else x.float()


class ScanToFloat(nn.Module):
    """(N, L) or (N, L, C) range scans -> (N, C, L) float."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x.unsqueeze(1) if x.dim() == 2 else x.transpose(1, 2)).float()


class ObsKeyEncoder(nn.Module):
    """One observation key: (N, *shape) -> to float -> randomizers' forward_in -> core -> forward_out -> (N, D)."""

    def __init__(self, to_float: nn.Module, randomizers: list[nn.Module], core: nn.Module):
        super().__init__()
        self.to_float = to_float
        self.randomizers = nn.ModuleList(randomizers)
        self.core = core
        self.output_dim = core.output_dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.to_float(x)  # (N, C, H, W) images, (N, C, L) scans, (N, *shape) low_dim
        for randomizer in self.randomizers:
            x = randomizer.forward_in(x)  # (N * S, ...) at training
        features = self.core(x)  # (N * S, D)
        for randomizer in reversed(self.randomizers):
            features = randomizer.forward_out(features)
        return features.reshape(features.shape[0], -1)  # (N, D), also for a core with flatten=false


# ----- reading an encoder config (a Section, a dict or None) -----
def _get(encoder_config, name: str, default=None):
    if encoder_config is None:
        return default
    if isinstance(encoder_config, Mapping):
        return encoder_config.get(name, default)
    return getattr(encoder_config, name, default)


def _where(encoder_config, modality: str) -> str:
    path = encoder_config.key_path() if hasattr(encoder_config, "key_path") else ""
    return path or f"observation.encoder.{modality}"


def _randomizer_specs(encoder_config, where: str) -> list[tuple[str, object, str, str]]:
    """[(class name, kwargs, key of the name, key of the kwargs)] from obs_randomizer_class / _kwargs."""
    names = _get(encoder_config, "obs_randomizer_class")
    kwargs = _get(encoder_config, "obs_randomizer_kwargs") or {}
    if names is None:
        return []
    class_key, kwargs_key = f"{where}.obs_randomizer_class", f"{where}.obs_randomizer_kwargs"
    if isinstance(names, str):
        if not isinstance(kwargs, Mapping):
            raise ConfigError(f"config key '{kwargs_key}' must be a dict when obs_randomizer_class is one name")
        return [(names, kwargs, class_key, kwargs_key)]
    if not isinstance(names, list):
        raise ConfigError(f"config key '{class_key}' must be null, a class name or a list of names, got {names!r}")
    if isinstance(kwargs, list):
        if len(kwargs) != len(names):
            raise ConfigError(f"config keys '{class_key}' and '{kwargs_key}' are lists of different lengths "
                              f"({len(names)} and {len(kwargs)}); give one kwargs dict per randomizer")
        return [(n, k, f"{class_key}[{i}]", f"{kwargs_key}[{i}]") for i, (n, k) in enumerate(zip(names, kwargs))]
    return [(n, kwargs, f"{class_key}[{i}]", kwargs_key) for i, n in enumerate(names)]


def check_encoder_config(modality: str, encoder_config) -> None:
    """ConfigError for unknown class names or arguments in one modality's encoder config (no shapes needed)."""
    where = _where(encoder_config, modality)
    core_class = _get(encoder_config, "core_class")
    if core_class is not None:
        if modality == "low_dim":
            raise ConfigError(f"config key '{where}.core_class' must be null: low_dim observations are used as "
                              "they are (flattened)")
        check_component(CORES, core_class, _get(encoder_config, "core_kwargs"), f"{where}.core_class",
                        f"{where}.core_kwargs", ("input_shape", "where"))
    for name, kwargs, class_key, kwargs_key in _randomizer_specs(encoder_config, where):
        check_component(RANDOMIZERS, name, kwargs, class_key, kwargs_key, ("input_shape",))


def check_observation_encoders(obs_config) -> None:
    """Check the encoder config of every modality that lists observation keys in any group (obs, goal, ...)
    of an observation section (`config.observation`, or each of `config.observation_sections()`)."""
    modalities = obs_config.modalities
    names = modalities if isinstance(modalities, Mapping) else [f.name for f in dataclasses.fields(modalities)]
    groups = [_get(modalities, name) for name in names]
    for modality in MODALITY_ENCODERS:
        if any(_get(group, modality) for group in groups):
            check_encoder_config(modality, _get(obs_config.encoder, modality))


def build_obs_key_encoder(modality: str, shape: tuple[int, ...], encoder_config) -> ObsKeyEncoder:
    """An ObsKeyEncoder for one key of `modality` with per-step `shape` (e.g. (H, W, C) for rgb)."""
    check_encoder_config(modality, encoder_config)
    where = _where(encoder_config, modality)
    if modality in IMAGE_MODALITIES:
        to_float = ImageToFloat()
        core_shape = (1, *shape) if len(shape) == 2 else (shape[2], shape[0], shape[1])  # (C, H, W)
    elif modality == "scan":
        to_float = ScanToFloat()
        core_shape = (1, shape[0]) if len(shape) == 1 else (shape[1], shape[0])  # (C, L)
    else:
        to_float, core_shape = nn.Identity(), tuple(shape)
    randomizers = []
    for name, kwargs, class_key, kwargs_key in _randomizer_specs(encoder_config, where):
        randomizer = build_component(RANDOMIZERS, name, kwargs, class_key, kwargs_key, input_shape=core_shape)
        randomizers.append(randomizer)
        core_shape = randomizer.output_shape_in(core_shape)
    core_class = _get(encoder_config, "core_class")
    if core_class is None:
        core = FlattenEncoder(core_shape)
    else:
        core = build_component(CORES, core_class, _get(encoder_config, "core_kwargs"), f"{where}.core_class",
                               f"{where}.core_kwargs", input_shape=core_shape, where=f"{where}.core_kwargs")
    return ObsKeyEncoder(to_float, randomizers, core)


def _build_low_dim(shape: tuple[int, ...], encoder_config: Mapping | None) -> nn.Module:
    if _get(encoder_config, "obs_randomizer_class") is None and _get(encoder_config, "core_class") is None:
        return FlattenEncoder(shape)
    return build_obs_key_encoder("low_dim", shape, encoder_config)


def _builder(modality: str) -> Callable[[tuple[int, ...], object], nn.Module]:
    return lambda shape, encoder_config: build_obs_key_encoder(modality, tuple(shape), encoder_config)


def _build_language(shape: tuple[int, ...], encoder_config) -> nn.Module:
    """An instruction's bag of words (V,) -> (D,) learned embedding; encoder_config: observation.language."""
    return LanguageEncoder(int(shape[0]), int(_get(encoder_config, "embedding_dim", 32)))


EncoderBuilder = Callable[[tuple[int, ...], Mapping | None], nn.Module]

MODALITY_ENCODERS: dict[str, EncoderBuilder] = {
    "low_dim": _build_low_dim,
    "rgb": _builder("rgb"),
    "depth": _builder("depth"),
    "scan": _builder("scan"),
    "language": _build_language,  # the LANG key of language-conditioned runs (observation.language)
}


class ObservationEncoder(nn.Module):
    """Encodes each key with its modality's encoder and concatenates the features in sorted key order.

    Args:
        obs_shapes: {key: per-step shape}, e.g. {"observation": (25,), "agentview_image": (84, 84, 3)}.
        obs_modalities: {key: modality name}; keys missing here default to "low_dim".
        encoder_configs: {modality: config section or dict} passed to the modality's builder.

    forward(obs) takes {key: (*lead, *shape)} and returns (*lead, output_dim): any leading dims
    (batch, time) are flattened for the encoders and restored afterwards.

    FiLM (encoder_configs["language"].conditioning == "film", with a "language" key): the other keys' features
    f (N, F) are modulated by the instruction's embedding e (N, D) instead of being concatenated with it:
    [scale, shift] = film(e) (a Linear D -> 2F, split in halves), out = f * (1 + scale) + shift, (N, F), so
    output_dim is F. film starts at zero weights and bias: at initialisation the output is f (the identity).
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
        #: the language key whose embedding modulates the other features (FiLM), or None (concatenated)
        self.film_key = None
        self.film = None
        if _get(encoder_configs.get("language"), "conditioning", "concat") == "film":
            self.film_key = next((k for k in self.obs_shapes if obs_modalities.get(k) == "language"), None)
        if self.film_key is not None:
            self.output_dim -= self.encoders[self.film_key].output_dim  # F: the modulated features only
            if self.output_dim == 0:
                raise ConfigError("observation.language.conditioning='film' scales and shifts the other observation "
                                  "features, but the instruction is the only input; fix: add observation keys or "
                                  "use conditioning='concat'")
            self.film = nn.Linear(self.encoders[self.film_key].output_dim, 2 * self.output_dim)  # D -> 2F
            nn.init.zeros_(self.film.weight)
            nn.init.zeros_(self.film.bias)

    def forward(self, obs: Mapping[str, torch.Tensor]) -> torch.Tensor:
        features = []
        lead_shape = None
        embedding = None
        for key, shape in self.obs_shapes.items():
            x = obs[key]
            lead_shape = x.shape[: x.dim() - len(shape)]
            flat = x if len(lead_shape) == 1 else x.reshape(-1, *shape)  # (N, *shape), N = prod(lead)
            if key == self.film_key:
                embedding = self.encoders[key](flat)  # (N, D)
            else:
                features.append(self.encoders[key](flat))  # (N, D_key)
        out = features[0] if len(features) == 1 else torch.cat(features, dim=-1)  # (N, F)
        if embedding is not None:
            scale, shift = self.film(embedding).chunk(2, dim=-1)  # (N, F) each
            out = out * (1 + scale) + shift
        return out if len(lead_shape) == 1 else out.reshape(*lead_shape, self.output_dim)  # (*lead, F)
