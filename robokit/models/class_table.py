"""Network parts chosen by name in a config: constant tables `{class name: class}`, built with checked kwargs.

`build_component(table, name, kwargs, where, **fixed)` returns `table[name](**fixed, **kwargs)` after checking
the name and the keywords. An unknown name is a ConfigError listing the valid ones. A keyword the class does
not take is dropped when another class of the same table takes it (robomimic's configs carry, e.g., a
ResNet's `pretrained` into a ShallowConv, or crop sizes next to a null randomizer) and is a ConfigError
naming the class's keywords otherwise. `fixed` keywords (shapes, channels) come from the network, not the user.

A class with nested parts (VisualCore's backbone and pool) defines `check_nested(kwargs, where)`, so that
`check_component` can check a whole config before any shape is known (i.e. before a dataset is loaded).
"""

import difflib
import inspect
from collections.abc import Mapping

from robokit.errors import ConfigError


def resolve_class(table: Mapping[str, type], name, where: str) -> type:
    """`table[name]`, or a ConfigError naming `where`, the valid names and the closest one."""
    if isinstance(name, str) and name in table:
        return table[name]
    message = f"config key '{where}' is {name!r}, which is not one of {', '.join(sorted(table))}"
    close = difflib.get_close_matches(str(name), list(table), n=1)
    if close:
        message += f"; did you mean {close[0]!r}?"
    raise ConfigError(message)


def _accepted(cls: type) -> tuple[set[str], bool]:
    """(keyword names of cls.__init__, whether it takes **kwargs)."""
    params = list(inspect.signature(cls.__init__).parameters.values())[1:]  # drop self
    names = {p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
    return names, any(p.kind == p.VAR_KEYWORD for p in params)


def check_kwargs(table: Mapping[str, type], cls: type, kwargs: Mapping | None, where: str,
                 fixed: tuple[str, ...] = ()) -> dict:
    """The keywords of `kwargs` that `cls` takes (see the module docstring for what is dropped or refused)."""
    if kwargs is None:
        return {}
    if not isinstance(kwargs, Mapping):
        raise ConfigError(f"config key '{where}' must be a dict of keyword arguments, got {kwargs!r}")
    names, takes_any = _accepted(cls)
    elsewhere = set().union(*(_accepted(other)[0] for other in table.values()))
    kept = {}
    for key, value in kwargs.items():
        if key in fixed:
            raise ConfigError(f"config key '{where}.{key}' is set by robokit from the data; remove it")
        if key in names or takes_any:
            kept[key] = value
        elif key not in elsewhere:
            valid = ", ".join(sorted(names - set(fixed))) or "none"
            raise ConfigError(f"config key '{where}.{key}' is not an argument of {cls.__name__} "
                              f"(its arguments: {valid})")
    return kept


def check_component(table: Mapping[str, type], name, kwargs: Mapping | None, where_class: str,
                    where_kwargs: str, fixed: tuple[str, ...] = ()) -> tuple[type, dict]:
    """Check a (class name, kwargs) pair and its nested parts; returns (class, the kwargs it takes)."""
    cls = resolve_class(table, name, where_class)
    kept = check_kwargs(table, cls, kwargs, where_kwargs, fixed)
    check_nested = getattr(cls, "check_nested", None)
    if check_nested is not None:
        check_nested(kept, where_kwargs)
    return cls, kept


def build_component(table: Mapping[str, type], name, kwargs: Mapping | None, where_class: str,
                    where_kwargs: str, **fixed):
    """`table[name](**fixed, **kwargs)` with the checks of `check_component`."""
    cls, kept = check_component(table, name, kwargs, where_class, where_kwargs, tuple(fixed))
    try:
        return cls(**fixed, **kept)
    except ConfigError:
        raise
    except (ValueError, TypeError) as exc:  # a value the class rejects (e.g. a crop larger than the image)
        raise ConfigError(f"config key '{where_kwargs}': {cls.__name__}: {exc}") from None
