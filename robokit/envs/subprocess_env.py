"""An environment running in its own process, so that several step in parallel on several CPU cores.

`SubprocessEnv(env_args)` builds the env with `create_env` in a child process and forwards the `EnvBase`
calls to it over a pipe. Besides the blocking `step`, it has `step_async(action)` / `step_wait()`: a caller
with K such envs sends K actions, then collects K results, and the K simulators (and their cameras) work at
the same time. `is_success()` is answered from the last step, without a round trip.
"""

from __future__ import annotations

import multiprocessing as mp
import traceback

import numpy as np

from robokit.envs.base import EnvBase
from robokit.errors import UserError


def _worker(conn, env_args: dict, render_offscreen: bool) -> None:
    """The child: build the env, then answer (method, args) requests until "close"."""
    from robokit.envs.factory import create_env

    try:
        env = create_env(env_args, render_offscreen=render_offscreen)
    except BaseException as exc:  # report a bad env id / kwargs to the parent as the parent would have seen it
        conn.send(("error", exc if isinstance(exc, UserError) else RuntimeError(traceback.format_exc())))
        conn.close()
        return
    conn.send(("ok", {"name": env.name, "action_space": env.action_space, "observation_space": env.observation_space,
                      "max_episode_steps": env.max_episode_steps, "env_args": env.serialize()}))
    try:
        while True:
            method, args = conn.recv()
            if method == "close":
                break
            try:
                if method == "step":
                    obs, reward, terminated, truncated, info = env.step(*args)
                    result = (obs, reward, terminated, truncated, _picklable(info), env.is_success())
                else:
                    result = getattr(env, method)(*args)
                conn.send(("ok", result))
            except Exception:  # the env's own error: re-raised in the parent with the child's traceback
                conn.send(("error", RuntimeError(f"{method} failed in the env process:\n{traceback.format_exc()}")))
    except (EOFError, KeyboardInterrupt):
        pass
    finally:
        env.close()
        conn.close()


def _picklable(info: dict) -> dict:
    """The plain entries of a step's info dict (numbers, strings, arrays)."""
    return {k: v for k, v in info.items() if isinstance(v, (bool, int, float, str, np.ndarray, np.generic))}


class SubprocessEnv(EnvBase):
    """`create_env(env_args, render_offscreen)` in a child process (start method "spawn": no simulator or
    OpenGL state is inherited)."""

    def __init__(self, env_args: dict, render_offscreen: bool = False, wait: bool = True):
        """wait=False returns as soon as the process starts (to start several at once); call `wait_ready()`
        before using the env."""
        ctx = mp.get_context("spawn")
        self._conn, child = ctx.Pipe()
        self._process = ctx.Process(target=_worker, args=(child, env_args, render_offscreen), daemon=True)
        self._process.start()
        child.close()
        self._closed = False
        self._waiting = False
        self._success = False
        self.name = env_args.get("env_name", "?")
        if wait:
            self.wait_ready()

    def wait_ready(self) -> "SubprocessEnv":
        """Wait until the child has built the env; its construction error (e.g. an unknown env id) is raised here."""
        if hasattr(self, "_env_args"):
            return self
        try:
            meta = self._receive()
        except BaseException:
            self.close()
            raise
        self.name = meta["name"]
        self._action_space, self._observation_space = meta["action_space"], meta["observation_space"]
        self._max_episode_steps, self._env_args = meta["max_episode_steps"], meta["env_args"]
        return self

    # ----- the pipe -----
    def _receive(self):
        try:
            status, payload = self._conn.recv()
        except EOFError:
            self.close()
            raise RuntimeError(f"the env process exited unexpectedly (exit code {self._process.exitcode})") from None
        if status == "error":
            raise payload
        return payload

    def _call(self, method: str, *args):
        if self._waiting:
            raise RuntimeError("step_async() is pending: call step_wait() first")
        self._conn.send((method, args))
        return self._receive()

    # ----- EnvBase -----
    def reset(self, seed: int | None = None) -> dict[str, np.ndarray]:
        self._success = False
        return self._call("reset", seed)

    def step_async(self, action: np.ndarray) -> None:
        """Send `action`; the child steps while the caller does other work (e.g. steps other envs)."""
        if self._waiting:
            raise RuntimeError("step_async() is pending: call step_wait() first")
        self._conn.send(("step", (np.asarray(action),)))
        self._waiting = True

    def step_wait(self):
        """The result of the pending `step_async`: (obs, reward, terminated, truncated, info)."""
        if not self._waiting:
            raise RuntimeError("step_wait() without step_async()")
        self._waiting = False
        obs, reward, terminated, truncated, info, self._success = self._receive()
        return obs, reward, terminated, truncated, info

    def step(self, action: np.ndarray):
        self.step_async(action)
        return self.step_wait()

    def is_success(self) -> bool:
        return bool(self._success)

    def render(self, height: int = 256, width: int = 256) -> np.ndarray:
        return self._call("render", height, width)

    def get_lang(self) -> str | None:
        return self._call("get_lang")

    def get_state(self) -> np.ndarray:
        return self._call("get_state")

    def set_state(self, state: np.ndarray) -> dict[str, np.ndarray]:
        return self._call("set_state", state)

    def serialize(self) -> dict:
        return dict(self._env_args)

    @property
    def action_space(self):
        return self._action_space

    @property
    def observation_space(self):
        return self._observation_space

    @property
    def max_episode_steps(self) -> int | None:
        return self._max_episode_steps

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            if self._process.is_alive():
                if self._waiting:
                    self._conn.recv()
                self._conn.send(("close", ()))
        except (BrokenPipeError, EOFError, OSError):
            pass
        self._conn.close()
        self._process.join(timeout=10)
        if self._process.is_alive():
            self._process.kill()
            self._process.join()

    def __del__(self):
        if not getattr(self, "_closed", True):
            self.close()
