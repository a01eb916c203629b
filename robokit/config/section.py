"""Typed config sections: dataclasses with strict, merging JSON loading and checked attribute assignment.

A section is a class deriving from `Section`; it becomes a (keyword-only) dataclass automatically.
Every field is declared with `param(default, help, ...)`:

    class RolloutConfig(Section):
        enabled: bool = param(True, "run evaluation rollouts during training")
        n: int = param(50, "number of rollouts per evaluation", minimum=1)

Nested sections are fields whose type is a `Section` subclass (default: a prototype instance, which is
deep-copied for every new object). Free-form data are `dict` fields.

Assignments are type-checked (`section.n = "x"` raises ConfigError naming the full key). Rules that involve
several fields go in a `check()` override, which `check_all()` runs after the nested sections' checks.
"""

import difflib
from collections.abc import Iterator
from copy import deepcopy
from dataclasses import MISSING, dataclass, field, fields
from typing import Any, ClassVar, NamedTuple, dataclass_transform, get_type_hints

from robokit.config.typecheck import check_range, check_value, show, type_name
from robokit.errors import ConfigError


def param(default: Any, help: str, *, minimum: float | None = None, maximum: float | None = None) -> Any:
    """Declare a config field: its default, a one-line help text and optional numeric bounds."""
    metadata = {"help": help, "minimum": minimum, "maximum": maximum}
    if isinstance(default, (list, dict, Section)):
        return field(default_factory=lambda: deepcopy(default), metadata=metadata)
    return field(default=default, metadata=metadata)


class FieldSpec(NamedTuple):
    """What a section knows about one of its fields."""

    name: str
    annotation: Any
    help: str
    minimum: float | None
    maximum: float | None

    @property
    def section_type(self) -> type | None:
        """The nested `Section` class, or None for a plain-data field."""
        a = self.annotation
        return a if isinstance(a, type) and issubclass(a, Section) else None

    @property
    def is_free_dict(self) -> bool:
        return self.annotation is dict or getattr(self.annotation, "__origin__", None) is dict


class ParamInfo(NamedTuple):
    """One documented leaf of a config tree (see `iter_params`)."""

    key: str
    type_name: str
    value: Any
    help: str


@dataclass_transform(kw_only_default=True, field_specifiers=(param, field))
class Section:
    """Base class of all config sections; see the module docstring."""

    _specs: ClassVar[dict[str, FieldSpec]] = {}
    _path = ""  # full dotted key of this section inside its config (not a field)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        dataclass(cls, kw_only=True)
        _record_explicit_assignments_after_init(cls)
        hints = get_type_hints(cls)
        specs = {}
        for f in fields(cls):
            if f.default is MISSING and f.default_factory is MISSING:
                raise TypeError(f"{cls.__name__}.{f.name} needs a default: declare it with param(default, help)")
            if not f.metadata.get("help"):
                raise TypeError(f"{cls.__name__}.{f.name} needs a help text: declare it with param(default, help)")
            specs[f.name] = FieldSpec(
                f.name, hints[f.name], f.metadata["help"], f.metadata.get("minimum"), f.metadata.get("maximum")
            )
        cls._specs = specs

    # ----------------------------------------------------------------- attribute access

    def __setattr__(self, name: str, value: Any) -> None:
        if name.startswith("_"):
            object.__setattr__(self, name, value)
            return
        spec = self._spec(name)
        object.__setattr__(self, name, self._checked(spec, value))
        if spec.section_type is not None:
            value._set_path(self.key_path(name))
        explicit = self.__dict__.get("_explicit")
        if explicit is not None:  # set by a user (a file, an override, code), not by the class defaults
            explicit.add(name)

    def is_explicit(self, name: str) -> bool:
        """Whether field `name` was set after construction (loaded from a file, overridden, assigned), as
        opposed to holding the config class's default; values filled in by `fill_default` do not count."""
        return name in self.__dict__.get("_explicit", ())

    def fill_default(self, name: str, value: Any) -> None:
        """Set field `name` as the config itself would (e.g. from the algorithm's data window): checked like any
        assignment, and counted as a default by `is_explicit` from now on (until the user sets it again)."""
        setattr(self, name, value)
        explicit = self.__dict__.get("_explicit")
        if explicit is not None:
            explicit.discard(name)

    def key_path(self, name: str = "") -> str:
        """Full dotted key of a field of this section (or of the section itself)."""
        if not name:
            return self._path
        return f"{self._path}.{name}" if self._path else name

    def _spec(self, name: str) -> FieldSpec:
        spec = self._specs.get(name)
        if spec is None:
            raise ConfigError(self._unknown_key_message(name))
        return spec

    def _unknown_key_message(self, name: str) -> str:
        message = f"unknown config key '{self.key_path(name)}'"
        close = difflib.get_close_matches(name, list(self._specs), n=1)
        if close:
            return message + f"; did you mean '{self.key_path(close[0])}'?"
        where = f"under '{self._path}'" if self._path else "at the top level"
        return message + f"; valid keys {where}: {', '.join(self._specs)}"

    def _checked(self, spec: FieldSpec, value: Any) -> Any:
        key = self.key_path(spec.name)
        section_type = spec.section_type
        if section_type is not None:
            if isinstance(value, Section) and not isinstance(value, section_type):
                raise ConfigError(
                    f"config key '{key}' expects a {section_type.__name__} section, got a {type(value).__name__}"
                )
            if not isinstance(value, section_type):
                raise ConfigError(f"config key '{key}' expects a section (JSON object), got {show(value)}")
            return value
        value = check_value(value, spec.annotation, key)
        check_range(value, key, spec.minimum, spec.maximum)
        return value

    def _set_path(self, path: str) -> None:
        object.__setattr__(self, "_path", path)
        for name, child in self._children():
            child._set_path(self.key_path(name))

    def _children(self) -> Iterator[tuple[str, "Section"]]:
        for name, spec in self._specs.items():
            if spec.section_type is not None:
                yield name, getattr(self, name)

    # ----------------------------------------------------------------- loading and export

    @classmethod
    def from_dict(cls, d: dict, path: str = "") -> "Section":
        """A new section: defaults, then the keys of `d` merged over them (strictly; see update_from_dict)."""
        section = cls()
        section._set_path(path)
        section.update_from_dict(d)
        return section

    def update_from_dict(self, d: dict, path: str | None = None) -> "Section":
        """Merge `d` over the current values: nested sections and dict fields are merged key by key.

        Unknown keys, wrong types and out-of-range values raise ConfigError naming the full key path.
        Cross-field checks are not run here; call `check_all()` (`validate()` on a config) when all are in.
        """
        if path is not None:
            self._set_path(path)
        if not isinstance(d, dict):
            where = f"config key '{self._path}'" if self._path else "a config"
            raise ConfigError(f"{where} expects a section (JSON object), got {show(d)}")
        for name, value in d.items():
            spec = self._spec(name)
            if spec.section_type is not None and isinstance(value, dict):
                getattr(self, name).update_from_dict(value)
            elif isinstance(value, dict) and (spec.is_free_dict or (spec.annotation is Any and
                                                                     isinstance(getattr(self, name), dict))):
                setattr(self, name, _deep_merge(getattr(self, name), value))
            else:
                setattr(self, name, value)
        return self

    def to_dict(self) -> dict:
        """Plain JSON-safe data (nested dicts and lists), in field order."""
        return {name: _plain(getattr(self, name)) for name in self._specs}

    @classmethod
    def json_schema(cls) -> dict:
        """JSON Schema of this section: field types, help texts, defaults and bounds (see robokit.config.schema)."""
        from robokit.config.schema import section_schema

        return section_schema(cls)

    def check(self) -> None:
        """Hook for this section's own checks (cross-field rules), run by `check_all` after its children.

        Override it to raise ConfigError saying which key to change and how. (It is not called `validate`
        because robomimic has a config key of that name: `experiment.validate`.)
        """

    def check_all(self) -> None:
        """Re-check every field's type and range, run nested sections' checks, then this section's `check`."""
        for name, spec in self._specs.items():
            self._checked(spec, getattr(self, name))
        for _, child in self._children():
            child.check_all()
        self.check()


def _record_explicit_assignments_after_init(cls: type) -> None:
    """Wrap the dataclass __init__ of `cls` so that assignments made after construction are recorded."""
    init = cls.__init__

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        object.__setattr__(self, "_explicit", None)  # the defaults (and constructor arguments) are not recorded
        init(self, *args, **kwargs)
        object.__setattr__(self, "_explicit", set())

    __init__.__doc__, __init__.__wrapped__ = init.__doc__, init
    cls.__init__ = __init__


def iter_params(section: Section) -> Iterator[ParamInfo]:
    """Every leaf field of a config tree with its full key, type name, current value and help text."""
    for name, spec in section._specs.items():
        value = getattr(section, name)
        if spec.section_type is not None:
            yield from iter_params(value)
        else:
            yield ParamInfo(section.key_path(name), type_name(spec.annotation), _plain(value), spec.help)


def _plain(value: Any) -> Any:
    if isinstance(value, Section):
        return value.to_dict()
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def _deep_merge(base: dict, update: dict) -> dict:
    merged = deepcopy(base)
    for key, value in update.items():
        if isinstance(merged.get(key), dict) and isinstance(value, dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = deepcopy(value)
    return merged
