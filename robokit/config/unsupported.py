"""robomimic config keys that robokit knows but does not support, and the check that reports them.

A robomimic config can hold keys robokit has no field for. Rather than calling them "unknown" (they are
not typos), loading reports all of them at once. A key whose value is a no-op in robomimic (e.g.
`experiment.rollout.batched: false`) is accepted and dropped.
"""

from copy import deepcopy
from typing import Any, NamedTuple

from robokit.errors import ConfigError

_ANY = object()  # marks a key that is a no-op whatever its value
_NEVER = object()  # marks a key that is never a no-op


class UnsupportedKey(NamedTuple):
    """A robomimic key robokit does not support; `noop` is the value that may be dropped silently (or a
    predicate that says whether a value is a no-op)."""

    key: str
    hint: str = ""
    noop: Any = _NEVER


NUM_ENVS_HINT = "evaluation envs are set by experiment.rollout.num_envs"


def _disabled_section(value: Any) -> bool:
    """A robomimic section that is off: `{}` (v0.5's bc_transformer template) or `{"enabled": false, ...}`."""
    return isinstance(value, dict) and value.get("enabled", False) is False

#: keys of robomimic's BaseConfig that robokit does not support
BASE_UNSUPPORTED_KEYS: tuple[UnsupportedKey, ...] = (
    UnsupportedKey("experiment.mse", noop=_disabled_section),
    UnsupportedKey("experiment.rollout.batched", NUM_ENVS_HINT, noop=False),
    UnsupportedKey("experiment.rollout.num_batch_envs", NUM_ENVS_HINT, noop=_ANY),
)


def strip_unsupported_keys(d: dict, table: tuple[UnsupportedKey, ...]) -> dict:
    """Return a copy of `d` without no-op robomimic keys; raise ConfigError listing unsupported ones."""
    d = deepcopy(d)
    found = []
    for entry in table:
        *parents, leaf = entry.key.split(".")
        node = d
        for part in parents:
            node = node.get(part) if isinstance(node, dict) else None
        if not isinstance(node, dict) or leaf not in node:
            continue
        value = node[leaf]
        if callable(entry.noop):
            noop = entry.noop(value)
        else:
            noop = entry.noop is _ANY or (type(value) is type(entry.noop) and value == entry.noop)
        if noop:
            del node[leaf]
        else:
            found.append(entry)
    if found:
        hints = sorted({e.hint for e in found if e.hint})
        raise ConfigError(
            "robomimic keys not supported by robokit yet: "
            + ", ".join(e.key for e in found)
            + " (remove them from the config"
            + "".join(f"; {h}" for h in hints)
            + ")"
        )
    return d
