"""Command-line overrides: `KEY.PATH=VALUE` strings applied to a config with the same checks as loading."""

import json
from collections.abc import Iterable
from copy import deepcopy
from typing import Any

from robokit.config.section import Section
from robokit.config.typecheck import accepts_str
from robokit.errors import ConfigError

OVERRIDE_FORM = "expected KEY=VALUE, e.g. train.batch_size=256 or experiment.name=run1"


def parse_override(text: str) -> tuple[list[str], str, Any]:
    """Split `"a.b=VALUE"` into (["a", "b"], raw text, value parsed as JSON or else the raw text)."""
    key, sep, raw = text.partition("=")
    parts = key.strip().split(".")
    if not sep or not all(parts):
        raise ConfigError(f"bad override {text!r}: {OVERRIDE_FORM}")
    try:
        value = json.loads(raw)
    except ValueError:
        value = raw
    return parts, raw, value


def apply_overrides(config: Section, overrides: Iterable[str], validate: bool = True) -> Section:
    """Apply overrides in order, then `validate()`; on any error `config` is left unchanged.

    Values are JSON when they parse (`true`, `256`, `[1,2]`, `null`, `{"a": 1}`), else plain strings;
    a string field keeps the raw text (`experiment.name=123` sets the name "123").
    """
    trial = deepcopy(config)
    for text in overrides:
        parts, raw, value = parse_override(text)
        annotation = _leaf_annotation(trial, parts)
        if isinstance(value, (bool, int, float)) and annotation is not None and accepts_str(annotation):
            value = raw
        nested: Any = value
        for part in reversed(parts):
            nested = {part: nested}
        trial.update_from_dict(nested)
    if validate:
        trial.validate()
    for name in config._specs:
        setattr(config, name, getattr(trial, name))
    return config


def _leaf_annotation(section: Section, parts: list[str]) -> Any | None:
    """The annotation of the plain-data field at `parts`, or None when the path does not end at one."""
    for i, part in enumerate(parts):
        spec = section._specs.get(part)
        if spec is None:
            return None
        if spec.section_type is None:
            return spec.annotation if i == len(parts) - 1 else None
        section = getattr(section, part)
    return None
