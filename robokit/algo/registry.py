"""Algorithm registry: a name -> its `algo_config_to_class` factory function.

Each algorithm family's module registers its factory with `@register_algo_factory_func("name")`; the
factory reads `config.algo` and returns `(AlgoClass, extra_kwargs)`.
"""

from typing import Callable

from robokit.errors import ConfigError

REGISTERED_ALGO_FACTORY_FUNCS: dict[str, Callable] = {}


def register_algo_factory_func(algo_name: str) -> Callable[[Callable], Callable]:
    """Decorator registering `algo_config_to_class` for `algo_name`; a name can be registered once."""

    def decorator(factory_func: Callable) -> Callable:
        if algo_name in REGISTERED_ALGO_FACTORY_FUNCS:
            raise ValueError(f"algorithm {algo_name!r} is already registered; choose another name")
        REGISTERED_ALGO_FACTORY_FUNCS[algo_name] = factory_func
        return factory_func

    return decorator


def registered_algo_names() -> list[str]:
    return sorted(REGISTERED_ALGO_FACTORY_FUNCS)


def algo_name_to_factory_func(algo_name: str) -> Callable:
    """The registered factory for `algo_name`; an unknown name lists the registered ones."""
    if algo_name not in REGISTERED_ALGO_FACTORY_FUNCS:
        raise ConfigError(f"unknown algorithm {algo_name!r}; registered: {', '.join(registered_algo_names())}")
    return REGISTERED_ALGO_FACTORY_FUNCS[algo_name]


def algo_class_for_config(config) -> tuple[type, dict]:
    """Resolve `(AlgoClass, kwargs)` for a full config without building anything (fails early on bad combos)."""
    return algo_name_to_factory_func(config.algo_name)(config.algo)


def algo_factory(algo_name: str, config, obs_key_shapes: dict, ac_dim: int, device):
    """Build the Algo for `config`: `obs_key_shapes` maps obs keys to per-step shapes, `ac_dim` the action size."""
    algo_name_to_factory_func(algo_name)  # an unknown name lists the registered ones
    if algo_name != config.algo_name:
        raise ConfigError(f"algo_factory got algo_name {algo_name!r} but a config for {config.algo_name!r}")
    algo_cls, algo_kwargs = algo_class_for_config(config)
    return algo_cls(
        algo_config=config.algo,
        obs_config=config.observation,
        global_config=config,
        obs_key_shapes=obs_key_shapes,
        ac_dim=ac_dim,
        device=device,
        **algo_kwargs,
    )
