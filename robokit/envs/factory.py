"""Build environments from a dataset's `env_args` or from a gymnasium id."""

from __future__ import annotations

import difflib

import gymnasium

from robokit.envs.base import GYM_TYPE, ROBOSUITE_TYPE, EnvBase
from robokit.envs.gym_env import GymEnv, is_registered, register_robotics_envs
from robokit.errors import UserError

REFERENCE_TASKS = ("FetchReach-v4", "FetchPush-v4", "FetchPickAndPlace-v4", "robokit/ObstacleReach-v0")
ROBOSUITE_EXTRA_HINT = ('install the robosuite extra: `pip install -e ".[robosuite]"` (robosuite 1.5.2, '
                        'mujoco 3.9.0, numpy<2), or `make setup-robosuite` for .venv-robosuite')
SIM_EXTRA_HINT = "install the simulators with `pip install 'robokit[sim]'` (mujoco, gymnasium-robotics)"


def create_env(
    env_args: dict, render_offscreen: bool = False, env_name: str | None = None, **kwarg_overrides
) -> EnvBase:
    """Rebuild the environment a dataset was collected in.

    `env_args` is the dataset's `data.attrs["env_args"]` (`env_name`, `type`, `env_kwargs`);
    `env_name` replaces its env id and `kwarg_overrides` update its `env_kwargs`.
    """
    if not isinstance(env_args, dict):
        raise UserError(f"env_args must be a dict with env_name/type/env_kwargs, got {type(env_args).__name__}")
    env_type = env_args.get("type", GYM_TYPE)
    if env_type not in (GYM_TYPE, ROBOSUITE_TYPE):
        raise UserError(f"unsupported env_args type {env_type!r}; robokit runs gymnasium (type {GYM_TYPE}) and "
                        f"robosuite (type {ROBOSUITE_TYPE}) environments")
    name = env_name or env_args.get("env_name")
    if not name:
        raise UserError("env_args has no 'env_name'; pass env_name= to choose the environment")
    env_kwargs = dict(env_args.get("env_kwargs") or {})
    env_kwargs.update(kwarg_overrides)
    if env_type == ROBOSUITE_TYPE:
        return create_robosuite_env(name, render_offscreen=render_offscreen, **env_kwargs)
    return create_env_from_name(name, render_offscreen=render_offscreen, **env_kwargs)


def create_robosuite_env(env_name: str, render_offscreen: bool = False, **env_kwargs) -> EnvBase:
    """`RobosuiteEnv(env_name, **env_kwargs)` (robomimic's env type 1), with a one-line `UserError` when the
    robosuite extra is not installed."""
    try:
        from robokit.envs.robosuite_env import RobosuiteEnv, import_robosuite

        import_robosuite()
    except ImportError as exc:
        raise UserError(f"{env_name} is a robosuite environment (env_args type {ROBOSUITE_TYPE}) but robosuite "
                        f"cannot be imported ({exc}); {ROBOSUITE_EXTRA_HINT}") from None
    return RobosuiteEnv(env_name, render_offscreen=render_offscreen, **env_kwargs)


def create_envs(env_args: dict, num_envs: int, mode: str = "sync", render_offscreen: bool = False,
                env_name: str | None = None) -> list[EnvBase]:
    """`num_envs` copies of `create_env(env_args, ...)` for batched evaluation; mode "async" puts each in its own
    process (`SubprocessEnv`), so they step in parallel. On any failure the envs made so far are closed."""
    from robokit.envs.subprocess_env import SubprocessEnv

    if mode not in ("sync", "async"):
        raise UserError(f"unknown vector env mode {mode!r}; use 'sync' or 'async'")
    env_args = dict(env_args, env_name=env_name or env_args.get("env_name"))
    envs: list[EnvBase] = []
    try:
        for _ in range(num_envs):
            if mode == "async" and num_envs > 1:  # start every process first: they build their envs together
                envs.append(SubprocessEnv(env_args, render_offscreen, wait=False))
            else:
                envs.append(create_env(env_args, render_offscreen=render_offscreen))
        for env in envs:
            if isinstance(env, SubprocessEnv):
                env.wait_ready()
    except BaseException:
        for env in envs:
            env.close()
        raise
    return envs


def create_env_from_name(env_name: str, render_offscreen: bool = False, **env_kwargs) -> EnvBase:
    """`GymEnv(env_name, **env_kwargs)`, with a one-line `UserError` for unknown ids and bad kwargs."""
    if not is_registered(env_name):
        raise UserError(_unknown_env_message(env_name))
    try:
        return GymEnv(env_name, render_offscreen=render_offscreen, **env_kwargs)
    except gymnasium.error.DependencyNotInstalled as exc:
        raise UserError(f"{env_name} cannot start: {exc}; {SIM_EXTRA_HINT}") from exc
    except TypeError as exc:
        if "argument" not in str(exc):
            raise
        raise UserError(f"bad env_kwargs for {env_name}: {exc}") from exc


def _unknown_env_message(env_name: str) -> str:
    message = f"unknown environment '{env_name}'"
    close = difflib.get_close_matches(env_name, list(gymnasium.registry), n=3, cutoff=0.6)
    if close:
        message += f"; did you mean {', '.join(close)}?"
    message += f" (robokit's reference tasks: {', '.join(REFERENCE_TASKS)})"
    if not register_robotics_envs():
        message += f"; gymnasium-robotics is not installed: {SIM_EXTRA_HINT}"
    return message
