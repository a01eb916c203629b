"""Build configs from JSON data or files (`config.dump(path)` writes them)."""

import json
from pathlib import Path

from robokit.config.registry import config_factory, registered_config_names
from robokit.config.typecheck import show
from robokit.errors import ConfigError


def config_from_dict(d: dict, validate: bool = True):
    """The config described by a whole config dict; its `"algo_name"` picks the config class."""
    if not isinstance(d, dict):
        raise ConfigError(f"a config must be a JSON object, got {show(d)}")
    if "algo_name" not in d:
        raise ConfigError(f'config has no "algo_name" key; add one of: {", ".join(registered_config_names())}')
    return config_factory(d["algo_name"], d, validate=validate)


def _object_without_duplicate_keys(pairs: list[tuple[str, object]]) -> dict:
    """A JSON object as a dict; a key given twice is a ConfigError (json's default keeps the last silently)."""
    obj: dict = {}
    for key, value in pairs:
        if key in obj:
            others = [k for k in obj if k != key][:4]
            context = f" (in the object with {', '.join(others)})" if others else ""
            raise ConfigError(f'key "{key}" appears twice{context}; fix: keep one of them')
        obj[key] = value
    return obj


def load_config(path: "str | Path", validate: bool = True):
    """Read a JSON config file; problems raise ConfigError naming the file (and the JSON error position)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path} is not UTF-8 text (byte 0x{exc.object[exc.start]:02x} at offset {exc.start}); "
                          "fix: save the config as UTF-8") from None
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from None
    try:
        data = json.loads(text, object_pairs_hook=_object_without_duplicate_keys)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path}: invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from None
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    try:
        return config_from_dict(data, validate=validate)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None
