"""`config.observation`: which observation keys the networks see, by modality, and how each is encoded."""

from typing import Any

from robokit.config.section import Section, param
from robokit.errors import ConfigError

MODALITIES = ("low_dim", "rgb", "depth", "scan")
OBS_GROUPS = ("obs", "goal")


class ModalityKeysConfig(Section):
    """Observation keys of one group (obs or goal), by modality."""

    low_dim: list[str] = param([], "flat vector observations (positions, velocities, goals)")
    rgb: list[str] = param([], "colour images, (H, W, 3) uint8 in the dataset, e.g. external_camera_0_image")
    depth: list[str] = param([], "depth images, (H, W, 1) uint8 in the dataset, e.g. external_camera_0_depth")
    scan: list[str] = param([], "1-D range scans")


class ModalitiesConfig(Section):
    """Observation keys fed to the policy (obs) and to condition it on a goal (goal)."""

    obs: ModalityKeysConfig = param(
        ModalityKeysConfig(low_dim=["observation", "desired_goal"]), "observation keys the policy sees"
    )
    goal: ModalityKeysConfig = param(ModalityKeysConfig(), "goal observation keys (need train.goal_mode)")


class EncoderConfig(Section):
    """Encoder of one modality: a core network and optional randomisers (data augmentation).

    Class names are checked against robokit.models (CORES, BACKBONES, POOLS, RANDOMIZERS) before training.
    obs_randomizer_class is null, one name, or a list of names applied in order; obs_randomizer_kwargs is then
    a dict, or a list of dicts (one per name), or one dict shared by the names (each takes the keys it knows).
    """

    core_class: str | None = param(None, "encoder network class: VisualCore, ScanCore (null: the raw input, flattened)")
    core_kwargs: dict = param({}, "keyword arguments of core_class")
    obs_randomizer_class: Any = param(
        None, "augmentation: null, a class name (CropRandomizer, ColorRandomizer, GaussianNoiseRandomizer) or a list"
    )
    obs_randomizer_kwargs: Any = param({}, "keyword arguments of the randomizer(s): a dict, or a list of dicts")

    def check(self) -> None:
        names, kwargs = self.obs_randomizer_class, self.obs_randomizer_kwargs
        if not (names is None or isinstance(names, str) or
                (isinstance(names, list) and all(isinstance(n, str) for n in names))):
            raise ConfigError(f"config key '{self.key_path('obs_randomizer_class')}' must be null, a class name or "
                              f"a list of class names, got {names!r}")
        if not (isinstance(kwargs, dict) or (isinstance(kwargs, list) and all(isinstance(k, dict) for k in kwargs))):
            raise ConfigError(f"config key '{self.key_path('obs_randomizer_kwargs')}' must be a dict or a list of "
                              f"dicts, got {kwargs!r}")
        if isinstance(kwargs, list) and not (isinstance(names, list) and len(names) == len(kwargs)):
            raise ConfigError(f"config key '{self.key_path('obs_randomizer_kwargs')}' is a list of {len(kwargs)} "
                              f"dicts, so obs_randomizer_class must be a list of as many class names")


# robomimic's default image encoder: ResNet-18 trunk, 32 spatial-softmax keypoints, 64 features
_VISUAL_CORE_KWARGS = {
    "feature_dimension": 64,
    "flatten": True,
    "backbone_class": "ResNet18Conv",
    "backbone_kwargs": {"pretrained": False, "input_coord_conv": False},
    "pool_class": "SpatialSoftmax",
    "pool_kwargs": {"num_kp": 32, "learnable_temperature": False, "temperature": 1.0, "noise_std": 0.0,
                    "output_variance": False},
}


class EncodersConfig(Section):
    """One encoder per modality."""

    low_dim: EncoderConfig = param(EncoderConfig(), "encoder of low_dim observations")
    rgb: EncoderConfig = param(EncoderConfig(core_class="VisualCore", core_kwargs=_VISUAL_CORE_KWARGS),
                               "encoder of rgb observations")
    depth: EncoderConfig = param(EncoderConfig(core_class="VisualCore", core_kwargs=_VISUAL_CORE_KWARGS),
                                 "encoder of depth observations")
    scan: EncoderConfig = param(EncoderConfig(core_class="ScanCore"), "encoder of scan observations")


LANGUAGE_CONDITIONING = ("concat", "film")  # observation.language.conditioning (robokit.models.obs_encoder)


class LanguageConfig(Section):
    """Language conditioning: each demo's instruction (its HDF5 `lang` attribute, else the dataset's train.data
    `lang`) becomes one more observation input, key "lang", for every algorithm. The text encoder needs no
    download: a vocabulary of the training instructions' words (saved in the checkpoint; unknown words are
    <unk>) and the mean of learned word embeddings (robokit.data.language, robokit.models.language)."""

    enabled: bool = param(False, "condition the policy on the demos' language instructions (needs them in the data)")
    embedding_dim: int = param(32, "size of the learned instruction embedding fed to the networks")
    conditioning: str = param("concat", "how the instruction enters the observation encoder: 'concat' (its "
                              "embedding is one more feature) or 'film' (it scales and shifts the other features)")

    def check(self) -> None:
        if isinstance(self.embedding_dim, bool) or self.embedding_dim < 1:
            raise ConfigError(f"config key '{self.key_path('embedding_dim')}' must be a positive integer, "
                              f"got {self.embedding_dim!r}")
        if self.conditioning not in LANGUAGE_CONDITIONING:
            raise ConfigError(f"config key '{self.key_path('conditioning')}' must be one of "
                              f"{', '.join(map(repr, LANGUAGE_CONDITIONING))}, got {self.conditioning!r}")


class ObservationConfig(Section):
    """Observation keys and their encoders."""

    modalities: ModalitiesConfig = param(ModalitiesConfig(), "observation keys by group and modality")
    encoder: EncodersConfig = param(EncodersConfig(), "encoders by modality")
    language: LanguageConfig = param(LanguageConfig(), "language instructions as an input (off by default)")

    def check(self) -> None:
        seen: dict[str, str] = {}  # obs key -> key path of the list it was first found in
        for group in OBS_GROUPS:
            keys = getattr(self.modalities, group)
            for modality in MODALITIES:
                where = keys.key_path(modality)
                for obs_key in getattr(keys, modality):
                    first = seen.setdefault(obs_key, where)
                    if first == where and getattr(keys, modality).count(obs_key) > 1:
                        raise ConfigError(
                            f"observation key '{obs_key}' is listed twice in {where}; remove the duplicate"
                        )
                    if first.rsplit(".", 1)[1] != modality:
                        raise ConfigError(
                            f"observation key '{obs_key}' is listed under two modalities "
                            f"({first} and {where}); list it under one"
                        )
