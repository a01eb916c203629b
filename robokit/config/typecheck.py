"""Check a plain value against a field annotation; errors name the key, the expected type and the value.

Supported annotations: bool, int, float, str, dict, Any, list[T] / tuple[T, ...], Optional[T] (or T | None)
and Literal[...] (a closed set of choices). Section-typed fields are handled by `robokit.config.section`.
"""

import difflib
import json
import math
import types
from typing import Any, Literal, Union, get_args, get_origin

from robokit.errors import ConfigError

NoneType = type(None)


def show(value: Any) -> str:
    """A value as the user wrote it in JSON (`true`, `null`, `"abc"`), with Python's repr as a fallback."""
    try:
        return json.dumps(value)
    except (TypeError, ValueError):
        return repr(value)


def split_optional(annotation: Any) -> tuple[bool, Any]:
    """`Optional[X]` -> (True, X); anything else -> (False, annotation). Besides Optional, a union may be one
    type or a few named choices (`int | Literal["auto"]`, see `split_choices`)."""
    if get_origin(annotation) in (Union, types.UnionType):
        args = get_args(annotation)
        rest = [a for a in args if a is not NoneType]
        if len(rest) != len(args):
            if len(rest) == 1:
                return True, rest[0]
            annotation = Union[tuple(rest)]
        if split_choices(annotation) is None:
            raise TypeError(f"unsupported config annotation {annotation!r}: only Optional[X] and X | Literal[...]")
        return len(rest) != len(args), annotation
    return False, annotation


def split_choices(annotation: Any) -> tuple[tuple, Any] | None:
    """`X | Literal[c, ...]` -> ((c, ...), X); None for any other annotation."""
    if get_origin(annotation) not in (Union, types.UnionType):
        return None
    args = get_args(annotation)
    literals = [a for a in args if get_origin(a) is Literal]
    others = [a for a in args if get_origin(a) is not Literal]
    if len(literals) != 1 or len(others) != 1:
        return None
    return get_args(literals[0]), others[0]


def type_name(annotation: Any) -> str:
    """Human-readable name of an annotation: `int`, `list[int]`, `str or null`, `one of "a", "b"`."""
    optional, inner = split_optional(annotation)
    origin, args = get_origin(inner), get_args(inner)
    if origin is Literal:
        choices = list(args) + ([None] if optional else [])
        return "one of " + ", ".join(show(c) for c in choices)
    if split_choices(inner) is not None:
        choices, other = split_choices(inner)
        name = f"{type_name(other)} or {', '.join(show(c) for c in choices)}"
        return f"{name} or null" if optional else name
    if inner is Any:
        name = "JSON value"
    elif origin in (list, tuple) or inner in (list, tuple):
        name = f"list[{type_name(args[0])}]" if args else "list"
    elif origin is dict or inner is dict:
        name = "dict"
    else:
        name = getattr(inner, "__name__", repr(inner))
    return f"{name} or null" if optional else name


def accepts_str(annotation: Any) -> bool:
    """Whether a free-text string is a valid value (used to keep `name=123` a string in overrides)."""
    _, inner = split_optional(annotation)
    return inner is str or inner is Any


def check_value(value: Any, annotation: Any, key: str) -> Any:
    """Return `value` converted for storage (int -> float, tuple -> list, copies of containers).

    Raises ConfigError naming `key` when the value does not fit the annotation.
    """
    optional, inner = split_optional(annotation)
    if value is None:
        if optional or inner is Any:
            return None
        raise _type_error(key, annotation, value)
    origin, args = get_origin(inner), get_args(inner)
    if origin is Literal:
        return _check_choice(value, args, optional, key)
    if split_choices(inner) is not None:
        choices, other = split_choices(inner)
        if any(type(value) is type(c) and value == c for c in choices):
            return value
        try:
            return check_value(value, other, key)
        except ConfigError:
            raise _type_error(key, annotation, value) from None
    if inner is Any:
        return _check_json(value, key)
    if inner is bool:
        if isinstance(value, bool):
            return value
    elif inner is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif inner is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if not math.isfinite(value):
                raise ConfigError(f"config key '{key}' must be a finite number, got {show(value)}")
            return float(value)
    elif inner is str:
        if isinstance(value, str):
            return value
    elif origin in (list, tuple) or inner in (list, tuple):
        if isinstance(value, (list, tuple)):
            item = args[0] if args else Any
            return [check_value(v, item, f"{key}[{i}]") for i, v in enumerate(value)]
    elif origin is dict or inner is dict:
        if isinstance(value, dict):
            return _check_json(value, key)
    else:
        raise TypeError(f"unsupported config annotation {annotation!r} for '{key}'")
    raise _type_error(key, annotation, value)


def check_range(value: Any, key: str, minimum: float | None, maximum: float | None) -> None:
    """Raise ConfigError when a number lies outside [minimum, maximum] (None values are not checked)."""
    if value is None or isinstance(value, (str, bool)):  # a named choice such as "auto" has no range
        return
    if minimum is not None and value < minimum:
        raise ConfigError(f"config key '{key}' must be >= {minimum}, got {show(value)}")
    if maximum is not None and value > maximum:
        raise ConfigError(f"config key '{key}' must be <= {maximum}, got {show(value)}")


def _type_error(key: str, annotation: Any, value: Any) -> ConfigError:
    given = "null" if value is None else f"{show(value)} ({type(value).__name__})"
    return ConfigError(f"config key '{key}' expects {type_name(annotation)}, got {given}")


def _check_choice(value: Any, choices: tuple, optional: bool, key: str) -> Any:
    if any(type(value) is type(c) and value == c for c in choices):
        return value
    allowed = list(choices) + ([None] if optional else [])
    message = f"config key '{key}' must be one of {', '.join(show(c) for c in allowed)}; got {show(value)}"
    if isinstance(value, str):
        close = difflib.get_close_matches(value, [c for c in choices if isinstance(c, str)], n=1)
        if close:
            message += f"; did you mean {show(close[0])}?"
    raise ConfigError(message)


def _check_json(value: Any, key: str) -> Any:
    """Free-form data must be JSON-safe (str keys, plain scalars); returns a deep copy."""

    def walk(v: Any, path: str) -> None:
        if isinstance(v, dict):
            for k, item in v.items():
                if not isinstance(k, str):
                    raise ConfigError(f"config key '{path}' has a non-string key {k!r}; JSON keys are strings")
                walk(item, f"{path}.{k}")
        elif isinstance(v, (list, tuple)):
            for i, item in enumerate(v):
                walk(item, f"{path}[{i}]")
        elif isinstance(v, float) and not math.isfinite(v):
            raise ConfigError(f"config key '{path}' must be a finite number, got {v!r}")
        elif not (v is None or isinstance(v, (str, int, float, bool))):
            raise ConfigError(f"config key '{path}' holds {v!r} ({type(v).__name__}), which is not JSON data")

    walk(value, key)
    return json.loads(json.dumps(value))
