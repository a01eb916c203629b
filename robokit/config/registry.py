"""Registry of config classes by algorithm name, and `config_factory` to build one.

Config classes register themselves: any `BaseConfig` subclass that sets `ALGO_NAME` in its own body
is added here when the class is created (see `BaseConfig.__init_subclass__`).
"""

import difflib

from robokit.errors import ConfigError

#: algorithm name -> config class
REGISTERED_CONFIGS: dict[str, type] = {}


def register_config(cls: type) -> type:
    """Add `cls` under `cls.ALGO_NAME`; a name registered twice is a ConfigError."""
    name = cls.ALGO_NAME
    if not isinstance(name, str) or not name:
        raise ConfigError(f"{cls.__qualname__}.ALGO_NAME must be a non-empty string, got {name!r}")
    previous = REGISTERED_CONFIGS.get(name)
    if previous is not None:
        raise ConfigError(
            f"config name '{name}' is already registered by {previous.__module__}.{previous.__qualname__}; "
            f"give {cls.__qualname__} a different ALGO_NAME"
        )
    REGISTERED_CONFIGS[name] = cls
    return cls


def registered_config_names() -> list[str]:
    """Sorted names of all registered config classes."""
    return sorted(REGISTERED_CONFIGS)


def get_config_class(algo_name: str) -> type:
    """The config class registered as `algo_name`; unknown names raise ConfigError listing the known ones."""
    cls = REGISTERED_CONFIGS.get(algo_name) if isinstance(algo_name, str) else None
    if cls is None:
        message = f"unknown algo name {algo_name!r}"
        close = difflib.get_close_matches(str(algo_name), list(REGISTERED_CONFIGS), n=1)
        if close:
            message += f"; did you mean '{close[0]}'?"
        raise ConfigError(message + f" (registered: {', '.join(registered_config_names()) or 'none'})")
    return cls


def config_factory(algo_name: str, dic: dict | None = None, validate: bool = True):
    """A new config for `algo_name`: defaults, then `dic` merged strictly over them, then `validate()`.

    A `dic["algo_name"]` that disagrees with `algo_name` is a ConfigError.
    """
    config = get_config_class(algo_name)()
    if dic is not None:
        config.update_from_dict(dic)
    if validate:
        config.validate()
    return config
