"""`config.observation`: which observation keys the networks see, by modality, and how each is encoded."""

from robokit.config.section import Section, param
from robokit.errors import ConfigError

MODALITIES = ("low_dim", "rgb", "depth", "scan")
OBS_GROUPS = ("obs", "goal")


class ModalityKeysConfig(Section):
    """Observation keys of one group (obs or goal), by modality."""

    low_dim: list[str] = param([], "flat vector observations (positions, velocities, goals)")
    rgb: list[str] = param([], "colour images, (H, W, 3) uint8 in the dataset")
    depth: list[str] = param([], "depth images, (H, W, 1)")
    scan: list[str] = param([], "1-D range scans")


class ModalitiesConfig(Section):
    """Observation keys fed to the policy (obs) and to condition it on a goal (goal)."""

    obs: ModalityKeysConfig = param(
        ModalityKeysConfig(low_dim=["observation", "desired_goal"]), "observation keys the policy sees"
    )
    goal: ModalityKeysConfig = param(ModalityKeysConfig(), "goal observation keys (need train.goal_mode)")


class EncoderConfig(Section):
    """Encoder of one modality: a core network and an optional randomiser (data augmentation)."""

    core_class: str | None = param(None, "encoder network class (null: use the raw, flattened input)")
    core_kwargs: dict = param({}, "keyword arguments of core_class")
    obs_randomizer_class: str | None = param(None, "augmentation class, e.g. CropRandomizer (null: none)")
    obs_randomizer_kwargs: dict = param({}, "keyword arguments of obs_randomizer_class")


class EncodersConfig(Section):
    """One encoder per modality."""

    low_dim: EncoderConfig = param(EncoderConfig(), "encoder of low_dim observations")
    rgb: EncoderConfig = param(EncoderConfig(core_class="VisualCore"), "encoder of rgb observations")
    depth: EncoderConfig = param(EncoderConfig(core_class="VisualCore"), "encoder of depth observations")
    scan: EncoderConfig = param(EncoderConfig(core_class="ScanCore"), "encoder of scan observations")


class ObservationConfig(Section):
    """Observation keys and their encoders."""

    modalities: ModalitiesConfig = param(ModalitiesConfig(), "observation keys by group and modality")
    encoder: EncodersConfig = param(EncodersConfig(), "encoders by modality")

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
