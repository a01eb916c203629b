"""`BaseConfig`: the whole config of a run, and the base class every algorithm config derives from.

An algorithm adds its config by subclassing `BaseConfig` (no decorator needed), setting `ALGO_NAME`
(which registers the class) and re-declaring the `algo` field with its own section type:

    class MyAlgoSection(AlgoConfig):
        temperature: float = param(1.0, "softmax temperature", minimum=0.0)

    class MyConfig(BaseConfig):
        ALGO_NAME = "my_algo"
        algo: MyAlgoSection = param(MyAlgoSection(), "my_algo settings")

        def check(self):  # optional: checks that span sections
            super().check()
            ...

Sections add their own checks by overriding `check()`; `config.validate()` runs them all.
"""

import json
from pathlib import Path
from typing import Any, ClassVar

from robokit.config.ema_config import EMAConfig
from robokit.config.experiment import ExperimentConfig
from robokit.config.observation import MODALITIES, OBS_GROUPS, ObservationConfig
from robokit.config.registry import register_config
from robokit.config.section import Section, param
from robokit.config.train import TrainConfig
from robokit.config.unsupported import BASE_UNSUPPORTED_KEYS, UnsupportedKey, strip_unsupported_keys
from robokit.errors import ConfigError


class AlgoConfig(Section):
    """Base of every algorithm's `algo` section: each algorithm declares its own fields; all share `ema`."""

    ema: EMAConfig = param(EMAConfig(), "exponential moving average of the weights (evaluation and deployment)")


class MetaConfig(Section):
    """Hyperparameter-sweep bookkeeping, filled in by scripts/hyperparam_helper.py."""

    hp_base_config_file: str | None = param(None, "base config file of the sweep")
    hp_keys: list[str] = param([], "short names of the swept hyperparameters")
    hp_values: list[Any] = param([], "values of the swept hyperparameters, in the order of hp_keys")

    def check(self) -> None:
        if len(self.hp_keys) != len(self.hp_values):
            raise ConfigError(
                f"{self.key_path('hp_keys')} and {self.key_path('hp_values')} must have the same "
                f"length, got {len(self.hp_keys)} and {len(self.hp_values)}"
            )


class BaseConfig(Section):
    """A run's config: experiment, train, algo, observation and meta sections."""

    #: registry name of the algorithm; setting it in a subclass body registers that subclass
    ALGO_NAME: ClassVar[str | None] = None
    #: named template variants written to configs/<name>.json: name -> list of override strings
    TEMPLATE_VARIANTS: ClassVar[dict[str, list[str]]] = {}
    #: overrides applied by `--debug`, offline and online alike: a tiny version of the whole run (2 epochs of 3
    #: steps, 2 short rollouts, a checkpoint each epoch); OnlineConfig counts env steps instead
    DEBUG_OVERRIDES: ClassVar[list[str]] = [
        "experiment.epoch_every_n_steps=3", "experiment.validation_epoch_every_n_steps=3",
        "experiment.save.every_n_epochs=1", "experiment.rollout.n=2", "experiment.rollout.horizon=10",
        "experiment.rollout.rate=1", "experiment.rollout.warmstart=0", "train.num_epochs=2",
    ]
    #: robomimic keys this config recognises but does not support (see robokit.config.unsupported)
    UNSUPPORTED_KEYS: ClassVar[tuple[UnsupportedKey, ...]] = BASE_UNSUPPORTED_KEYS

    experiment: ExperimentConfig = param(ExperimentConfig(), "run name, logging, saving and evaluation")
    train: TrainConfig = param(TrainConfig(), "dataset, data loading and training loop")
    algo: AlgoConfig = param(AlgoConfig(), "algorithm settings (each algorithm re-declares this section)")
    observation: ObservationConfig = param(ObservationConfig(), "observation keys and encoders")
    meta: MetaConfig = param(MetaConfig(), "hyperparameter-sweep bookkeeping")

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "ALGO_NAME" in cls.__dict__:
            register_config(cls)

    def __post_init__(self) -> None:
        if type(self).ALGO_NAME is None:
            raise TypeError(f"{type(self).__name__} has no ALGO_NAME; instantiate a registered config class")

    @property
    def algo_name(self) -> str:
        """The registered algorithm name (`ALGO_NAME`)."""
        return type(self).ALGO_NAME

    # ----------------------------------------------------------------- loading and export

    def update_from_dict(self, d: dict, path: str | None = None) -> "BaseConfig":
        """Strictly merge a whole config dict (as read from JSON) over this config.

        `d["algo_name"]`, when present, must match; robomimic keys robokit does not support are reported
        together (see `UNSUPPORTED_KEYS`).
        """
        if not isinstance(d, dict):
            return super().update_from_dict(d, path)
        d = dict(d)
        name = d.pop("algo_name", self.algo_name)
        if name != self.algo_name:
            raise ConfigError(
                f"config has algo_name {name!r} but is loaded as a {self.algo_name!r} config; "
                f'fix "algo_name" or load it with config_factory({name!r}, ...)'
            )
        return super().update_from_dict(strip_unsupported_keys(d, self.UNSUPPORTED_KEYS), path)

    def to_dict(self) -> dict:
        """Plain JSON-safe data, starting with `"algo_name"`."""
        return {"algo_name": self.algo_name, **super().to_dict()}

    @classmethod
    def json_schema(cls) -> dict:
        """JSON Schema of the whole config, `algo_name` included (see robokit.config.schema)."""
        from robokit.config.schema import config_schema

        return config_schema(cls)

    def to_json(self) -> str:
        """Pretty JSON text (indent 4, trailing newline), as written by `dump`."""
        return json.dumps(self.to_dict(), indent=4) + "\n"

    def dump(self, path: "str | Path") -> None:
        """Write the config as pretty JSON; `load_config(path)` reads it back."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.to_json(), encoding="utf-8")

    def __str__(self) -> str:
        return self.to_json()

    # ----------------------------------------------------------------- checks

    def validate(self) -> None:
        """Check every field and section, then the combinations that span sections (`check`)."""
        self.check_all()

    def check(self) -> None:
        """Cross-section checks; algorithm configs extend this (calling `super().check()`)."""
        self.apply_data_window()
        if self.use_goals and self.train.goal_mode is None:
            raise ConfigError(
                "observation.modalities.goal lists goal keys but train.goal_mode is null, so no "
                'goals would be loaded; set train.goal_mode="last" or empty the goal lists'
            )

    def apply_data_window(self) -> None:
        """Make `train.frame_stack` / `train.seq_length` follow the algorithm's data window.

        An algo section may define `data_window() -> {"frame_stack": To, "seq_length": Tp}` (the observation
        and prediction horizons its samples need), and `data_window_sources() -> {train key: "algo key=value"}`
        for the messages. A train key left at its default takes the window's value; one set explicitly to
        another value is a ConfigError naming both keys. An explicit value equal to the window (a saved config,
        robomimic's template) counts as following it: a later override of the horizons moves it along.
        """
        data_window = getattr(self.algo, "data_window", None)
        if not callable(data_window):
            return
        window = data_window()
        for key, value in window.items():
            if key not in ("frame_stack", "seq_length"):
                raise ConfigError(f"{type(self.algo).__name__}.data_window() returned an unknown key {key!r}; "
                                  "expected frame_stack and seq_length")
            current = getattr(self.train, key)
            if not self.train.is_explicit(key) or current == value:  # an equal value follows the window from now on
                self.train.fill_default(key, value)
            else:
                sources = getattr(self.algo, "data_window_sources", None)
                source = (sources() if callable(sources) else {}).get(key, self.algo.key_path())
                train_key = self.train.key_path(key)
                raise ConfigError(
                    f"{train_key}={current} contradicts {source}, which needs {train_key}={value}; remove "
                    f"{train_key} from the config (it follows the algorithm) or set it to {value}"
                )

    # ----------------------------------------------------------------- observation helpers

    def obs_keys_by_modality(self, group: str = "obs") -> dict[str, list[str]]:
        """`{"low_dim": [...], "rgb": [...], "depth": [...], "scan": [...]}` for the obs or goal group."""
        if group not in OBS_GROUPS:
            raise ConfigError(f"unknown observation group {group!r}; expected one of {', '.join(OBS_GROUPS)}")
        keys = getattr(self.observation.modalities, group)
        return {modality: list(getattr(keys, modality)) for modality in MODALITIES}

    @property
    def all_obs_keys(self) -> list[str]:
        """Sorted union of the observation keys over all modalities of the obs and goal groups."""
        return sorted({k for group in OBS_GROUPS for keys in self.obs_keys_by_modality(group).values() for k in keys})

    @property
    def use_goals(self) -> bool:
        """Whether the policy is goal-conditioned (any goal keys listed)."""
        return any(self.obs_keys_by_modality("goal").values())

    def observation_sections(self) -> list[ObservationConfig]:
        """Every observation section (modalities + encoders) of the config: one, except for hierarchical
        algorithms whose parts each have their own (HBC: observation.planner and observation.actor)."""
        return [self.observation]
