"""Snapshots of a running gymnasium environment, so an online run can resume mid-episode exactly.

A snapshot holds the environment's random generator, the time-limit counter, and its simulator state: MuJoCo's
full integration state (`mj_getState`, warm-start included, so the next steps repeat bit for bit) and the
state arrays of classic-control and goal-based tasks (`state`, `goal`, `last_u`). It is plain data and tensors,
so it lives in a checkpoint that loads with `weights_only=True`. An environment whose state robokit cannot read
raises a UserError naming it.
"""

import gymnasium
import numpy as np
import torch

from robokit.errors import UserError

STATE_ATTRIBUTES = ("state", "goal", "last_u")  # classic control (state, last_u), goal-based tasks (goal)


def _time_limit(env: gymnasium.Env):
    while isinstance(env, gymnasium.Wrapper):
        if isinstance(env, gymnasium.wrappers.TimeLimit):
            return env
        env = env.env
    return None


def _mujoco(unwrapped):
    model, data = getattr(unwrapped, "model", None), getattr(unwrapped, "data", None)
    if model is None or data is None or type(model).__module__.split(".")[0] != "mujoco":
        return None
    import mujoco

    return mujoco, model, data


def env_snapshot(env: gymnasium.Env) -> dict:
    """The state of `env` (a gymnasium env with its wrappers) as plain data and tensors."""
    unwrapped = env.unwrapped
    snap: dict = {"np_random": unwrapped.np_random.bit_generator.state}
    limit = _time_limit(env)
    if limit is not None:
        snap["elapsed_steps"] = int(limit._elapsed_steps)
    physics = _mujoco(unwrapped)
    if physics is not None:
        mujoco, model, data = physics
        spec = mujoco.mjtState.mjSTATE_INTEGRATION
        state = np.empty(mujoco.mj_stateSize(model, spec))
        mujoco.mj_getState(model, data, state, spec)
        snap["mujoco"] = torch.from_numpy(state)
    arrays = {name: getattr(unwrapped, name) for name in STATE_ATTRIBUTES if hasattr(unwrapped, name)}
    snap["arrays"] = {name: None if value is None else torch.from_numpy(np.array(value, copy=True))
                      for name, value in arrays.items()}
    if physics is None and not snap["arrays"]:
        raise UserError(f"cannot snapshot {env.spec.id if env.spec else type(unwrapped).__name__}: robokit reads the "
                        "state of MuJoCo and classic-control environments only; fix: start a new run instead of "
                        "resuming")
    return snap


def restore_env(env: gymnasium.Env, snap: dict) -> None:
    """Put `env` back into the state `env_snapshot` read (the env must have been reset once)."""
    unwrapped = env.unwrapped
    unwrapped.np_random.bit_generator.state = snap["np_random"]
    limit = _time_limit(env)
    if limit is not None and "elapsed_steps" in snap:
        limit._elapsed_steps = snap["elapsed_steps"]
    if "mujoco" in snap:
        mujoco, model, data = _mujoco(unwrapped)
        mujoco.mj_setState(model, data, snap["mujoco"].numpy(), mujoco.mjtState.mjSTATE_INTEGRATION)
        mujoco.mj_forward(model, data)
    for name, value in snap["arrays"].items():
        setattr(unwrapped, name, None if value is None else value.numpy().copy())
