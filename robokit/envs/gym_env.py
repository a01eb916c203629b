"""`GymEnv`: any gymnasium environment behind the `EnvBase` interface."""

from __future__ import annotations

import contextlib
import io
import os
import platform
import warnings
from typing import Any

import gymnasium
import numpy as np

from robokit.envs.base import GYM_TYPE, EnvBase, to_json_safe
from robokit.envs.cameras import DEFAULT_CAMERA, camera_hw, check_obs_slices, depth_key, depth_to_uint8, image_key
from robokit.errors import UserError

# Headless machines: MuJoCo picks its OpenGL backend when it first renders; EGL needs no display.
if platform.system() == "Linux" and not os.environ.get("DISPLAY"):
    os.environ.setdefault("MUJOCO_GL", "egl")

FLAT_OBS_KEY = "flat"  # robomimic's key for a non-dict (Box) observation
_robotics_registered: bool | None = None


def register_robotics_envs() -> bool:
    """Register the gymnasium-robotics environments (Fetch, ...) once; False when it is not installed."""
    global _robotics_registered
    if _robotics_registered is None:
        try:
            # Its import prints a notice about Adroit envs to stderr: keep that off the user's terminal.
            with warnings.catch_warnings(), contextlib.redirect_stderr(io.StringIO()):
                warnings.simplefilter("ignore")
                import gymnasium_robotics
            gymnasium.register_envs(gymnasium_robotics)
            _robotics_registered = True
        except ImportError:
            _robotics_registered = False
    return _robotics_registered


def is_registered(env_name: str) -> bool:
    """Whether `gymnasium.make(env_name)` can find the id (registers gymnasium-robotics if needed)."""
    if env_name in gymnasium.registry:
        return True
    register_robotics_envs()
    return env_name in gymnasium.registry


def _obs_dtype(dtype: np.dtype) -> np.dtype:
    """Floating observations are stored as float32; others (uint8 images, ints) keep their dtype."""
    return np.dtype(np.float32) if np.issubdtype(dtype, np.floating) else np.dtype(dtype)


class _MujocoFrameRenderer:
    """Offscreen frames of a MuJoCo model at any size, from the env's default camera, shadows off."""

    def __init__(self, env):
        import mujoco

        self._mujoco = mujoco
        self._env = env  # the unwrapped gymnasium env: has .model and .data
        self._renderers: dict[tuple[int, int], Any] = {}
        self._camera = self._default_camera()

    def _default_camera(self):
        mujoco = self._mujoco
        camera = mujoco.MjvCamera()
        mujoco.mjv_defaultFreeCamera(self._env.model, camera)
        gym_renderer = getattr(self._env, "mujoco_renderer", None)
        camera_id = getattr(gym_renderer, "camera_id", -1)
        if camera_id is not None and camera_id >= 0:
            camera.type = mujoco.mjtCamera.mjCAMERA_FIXED
            camera.fixedcamid = camera_id
            return camera
        for key, value in (getattr(gym_renderer, "default_cam_config", None) or {}).items():
            if isinstance(value, np.ndarray):
                getattr(camera, key)[:] = value
            else:
                setattr(camera, key, value)
        return camera

    def _renderer(self, height: int, width: int):
        key = (height, width)
        if key not in self._renderers:
            model = self._env.model
            model.vis.global_.offwidth = max(model.vis.global_.offwidth, width)
            model.vis.global_.offheight = max(model.vis.global_.offheight, height)
            renderer = self._mujoco.Renderer(model, height=height, width=width)
            flags = renderer.scene.flags
            flags[self._mujoco.mjtRndFlag.mjRND_SHADOW] = 0
            flags[self._mujoco.mjtRndFlag.mjRND_REFLECTION] = 0
            self._renderers[key] = renderer
        return self._renderers[key]

    def camera_names(self) -> list[str]:
        """Names of the model's cameras."""
        return [self._env.model.camera(i).name for i in range(self._env.model.ncam)]

    def _named_camera(self, name: str):
        camera_id = self._mujoco.mj_name2id(self._env.model, self._mujoco.mjtObj.mjOBJ_CAMERA, name)
        if camera_id < 0:
            raise UserError(f"no camera named {name!r} (cameras: {', '.join([DEFAULT_CAMERA, *self.camera_names()])})")
        return camera_id

    def render(self, height: int, width: int, camera: str | None = None, depth: bool = False):
        """(H, W, 3) uint8 RGB; with depth=True also (H, W) float32 metres: returns (rgb, depth)."""
        render_callback = getattr(self._env, "_render_callback", None)
        if render_callback is not None:  # gymnasium-robotics moves goal markers here
            render_callback()
        renderer = self._renderer(height, width)
        view = self._camera if camera in (None, DEFAULT_CAMERA) else self._named_camera(camera)
        renderer.update_scene(self._env.data, camera=view)
        rgb = renderer.render()
        if not depth:
            return rgb
        renderer.enable_depth_rendering()
        try:
            return rgb, renderer.render()
        finally:
            renderer.disable_depth_rendering()

    def close(self) -> None:
        for renderer in self._renderers.values():
            renderer.close()
        self._renderers.clear()


class GymEnv(EnvBase):
    """A gymnasium environment, made with `gymnasium.make(env_name, **env_kwargs)`.

    Dict observation spaces keep their keys (Fetch: "observation", "achieved_goal", "desired_goal");
    a Box observation becomes `{"flat": obs}`. Floating observations are float32.
    MuJoCo environments render offscreen at any size through `mujoco.Renderer`; others through
    gymnasium's `render_mode="rgb_array"`, which `render_offscreen=True` turns on.

    Camera observations (see robokit.envs.cameras for the keys and units):
        camera_names: cameras rendered into every observation as "<camera>_image", (H, W, 3) uint8;
            a model camera's name or "default" (the viewer camera; the only one of non-MuJoCo envs).
        camera_size: image size, an int or [height, width].
        camera_depth: also "<camera>_depth", (H, W, 1) uint8 centimetres (MuJoCo envs).
        obs_slices: {new key: [source key, start, stop]} adds slices of flat observations.
    These are part of `serialize()`'s env_kwargs, so `create_env(env_args)` rebuilds the same observations.
    """

    def __init__(self, env_name: str, render_offscreen: bool = False, camera_names: list[str] | None = None,
                 camera_size=84, camera_depth: bool = False, obs_slices: dict | None = None, **env_kwargs):
        self.name = env_name
        self._env_kwargs = dict(env_kwargs)
        self.camera_names = list(camera_names or [])
        self.camera_size = camera_hw(camera_size)
        self.camera_depth = bool(camera_depth)
        if self.camera_names:
            self._env_kwargs.update(camera_names=self.camera_names, camera_size=camera_size,
                                    camera_depth=self.camera_depth)
        if obs_slices:
            self._env_kwargs["obs_slices"] = obs_slices
        is_registered(env_name)  # makes gymnasium-robotics ids known to gymnasium.make
        make_kwargs = dict(env_kwargs)
        if render_offscreen or self.camera_names:
            make_kwargs.setdefault("render_mode", "rgb_array")
        self._env = gymnasium.make(env_name, **make_kwargs)
        self._is_dict_obs = isinstance(self._env.observation_space, gymnasium.spaces.Dict)
        self._frame_renderer: _MujocoFrameRenderer | None = None
        if (render_offscreen or self.camera_names) and self._is_mujoco:
            self._frame_renderer = _MujocoFrameRenderer(self._env.unwrapped)
        self._check_cameras()
        self._observation_space = self._make_observation_space()
        self._obs_slices = check_obs_slices(obs_slices or {}, self._observation_space)
        self._add_extra_spaces()
        self._last_info: dict = {}

    # ----- spaces -----

    def _make_observation_space(self) -> gymnasium.spaces.Dict:
        space = self._env.observation_space
        named = dict(space.spaces) if self._is_dict_obs else {FLAT_OBS_KEY: space}
        boxes = {}
        for key, sub in named.items():
            dtype = _obs_dtype(sub.dtype)
            if isinstance(sub, gymnasium.spaces.Box):
                boxes[key] = gymnasium.spaces.Box(sub.low.astype(dtype), sub.high.astype(dtype), dtype=dtype)
            else:
                boxes[key] = sub
        return gymnasium.spaces.Dict(boxes)

    def _check_cameras(self) -> None:
        if not self.camera_names:
            return
        if self._frame_renderer is None:
            others = [c for c in self.camera_names if c != DEFAULT_CAMERA]
            if others or self.camera_depth:
                raise UserError(f"{self.name} is not a MuJoCo env: its only camera is {DEFAULT_CAMERA!r}, "
                                "without depth")
            return
        known = self._frame_renderer.camera_names()
        unknown = [c for c in self.camera_names if c != DEFAULT_CAMERA and c not in known]
        if unknown:
            raise UserError(f"{self.name} has no camera {unknown[0]!r}; its cameras: "
                            f"{', '.join([DEFAULT_CAMERA, *known])}")

    def _add_extra_spaces(self) -> None:
        """Spaces of the camera and slice observations, after the env's own keys."""
        spaces = dict(self._observation_space.spaces)
        height, width = self.camera_size
        for camera in self.camera_names:
            spaces[image_key(camera)] = gymnasium.spaces.Box(0, 255, (height, width, 3), dtype=np.uint8)
            if self.camera_depth:
                spaces[depth_key(camera)] = gymnasium.spaces.Box(0, 255, (height, width, 1), dtype=np.uint8)
        for name, (key, start, stop) in self._obs_slices.items():
            source = spaces[key]
            spaces[name] = gymnasium.spaces.Box(source.low[start:stop], source.high[start:stop], dtype=source.dtype)
        self._observation_space = gymnasium.spaces.Dict(spaces)

    @property
    def observation_space(self) -> gymnasium.spaces.Dict:
        return self._observation_space

    @property
    def action_space(self):
        return self._env.action_space

    @property
    def max_episode_steps(self) -> int | None:
        spec = self._env.spec
        return None if spec is None else spec.max_episode_steps

    @property
    def unwrapped(self):
        """The raw gymnasium environment (for debugging and env-specific tools)."""
        return self._env.unwrapped

    @property
    def _is_mujoco(self) -> bool:
        raw = self._env.unwrapped
        return type(getattr(raw, "model", None)).__name__ == "MjModel" and hasattr(raw, "data")

    # ----- episodes -----

    def _convert_obs(self, obs) -> dict[str, np.ndarray]:
        named = obs if self._is_dict_obs else {FLAT_OBS_KEY: obs}
        converted = {
            key: np.asarray(value, dtype=self._observation_space[key].dtype)
            for key, value in named.items()
        }
        for name, (key, start, stop) in self._obs_slices.items():
            converted[name] = converted[key][start:stop].copy()
        converted.update(self._camera_obs())
        return converted

    def _camera_obs(self) -> dict[str, np.ndarray]:
        """{"<camera>_image": (H, W, 3) uint8, ["<camera>_depth": (H, W, 1) uint8]} of the current state."""
        out = {}
        height, width = self.camera_size
        for camera in self.camera_names:
            if self._frame_renderer is None:  # non-MuJoCo: gymnasium's own rgb_array frame
                out[image_key(camera)] = self.render(height, width)
            elif self.camera_depth:
                rgb, depth = self._frame_renderer.render(height, width, camera, depth=True)
                out[image_key(camera)], out[depth_key(camera)] = rgb, depth_to_uint8(depth)
            else:
                out[image_key(camera)] = self._frame_renderer.render(height, width, camera)
        return out

    def reset(self, seed: int | None = None) -> dict[str, np.ndarray]:
        obs, _ = self._env.reset(seed=seed)
        self._last_info = {}
        return self._convert_obs(obs)

    def step(self, action: np.ndarray):
        action = np.asarray(action, dtype=self.action_space.dtype).reshape(self.action_space.shape)
        obs, reward, terminated, truncated, info = self._env.step(action)
        self._last_info = info
        return self._convert_obs(obs), float(reward), bool(terminated), bool(truncated), info

    def is_success(self) -> bool:
        return bool(self._last_info.get("is_success", False))

    # ----- simulator state -----

    def get_lang(self) -> str | None:
        """The task's `instruction` attribute for this episode (set by its reset), or None."""
        return getattr(self._env.unwrapped, "instruction", None)

    def get_state(self) -> np.ndarray:
        raw = self._env.unwrapped
        if self._is_mujoco:
            return np.concatenate([[raw.data.time], raw.data.qpos, raw.data.qvel]).astype(np.float64)
        state = getattr(raw, "state", None)
        return np.zeros(0) if state is None else np.asarray(state, dtype=np.float64).ravel()

    def set_state(self, state: np.ndarray) -> dict[str, np.ndarray]:
        """Restore `[time, qpos, qvel]` of a MuJoCo env; the task's goal (Fetch) is not part of it."""
        if not self._is_mujoco:
            return super().set_state(state)
        import mujoco

        raw = self._env.unwrapped
        nq, nv = raw.model.nq, raw.model.nv
        state = np.asarray(state, dtype=np.float64)
        if state.shape != (1 + nq + nv,):
            raise ValueError(f"{self.name} state must have shape ({1 + nq + nv},), got {state.shape}")
        raw.data.time = state[0]
        raw.data.qpos[:] = state[1 : 1 + nq]
        raw.data.qvel[:] = state[1 + nq :]
        mujoco.mj_forward(raw.model, raw.data)
        obs = raw._get_obs() if hasattr(raw, "_get_obs") else None
        return {} if obs is None else self._convert_obs(obs)

    # ----- rendering -----

    def render(self, height: int = 256, width: int = 256, camera: str | None = None) -> np.ndarray:
        """(height, width, 3) uint8 frame; MuJoCo envs take any size and a named model `camera`."""
        if self._is_mujoco:
            if self._frame_renderer is None:
                self._frame_renderer = _MujocoFrameRenderer(self._env.unwrapped)
            return self._frame_renderer.render(height, width, camera)
        if camera is not None:
            raise ValueError(f"{self.name} is not a MuJoCo env: it has no named cameras")
        if self._env.render_mode != "rgb_array":
            raise RuntimeError(f"{self.name} renders only when created with render_offscreen=True")
        return _resize_nearest(np.asarray(self._env.render(), dtype=np.uint8), height, width)

    def render_depth(self, height: int = 256, width: int = 256, camera: str | None = None) -> np.ndarray:
        """(height, width, 1) uint8 depth in centimetres (see robokit.envs.cameras) of a MuJoCo env's camera."""
        if not self._is_mujoco:
            raise UserError(f"{self.name} is not a MuJoCo env: it renders no depth")
        if self._frame_renderer is None:
            self._frame_renderer = _MujocoFrameRenderer(self._env.unwrapped)
        _, depth = self._frame_renderer.render(height, width, camera, depth=True)
        return depth_to_uint8(depth)

    # ----- bookkeeping -----

    def serialize(self) -> dict:
        return {"env_name": self.name, "type": GYM_TYPE, "env_kwargs": to_json_safe(self._env_kwargs)}

    def close(self) -> None:
        if self._frame_renderer is not None:
            self._frame_renderer.close()
            self._frame_renderer = None
        self._env.close()


def _resize_nearest(frame: np.ndarray, height: int, width: int) -> np.ndarray:
    """Nearest-neighbour resize of an (H, W, 3) frame (no extra dependency)."""
    if frame.shape[:2] == (height, width):
        return frame
    rows = np.arange(height) * frame.shape[0] // height
    cols = np.arange(width) * frame.shape[1] // width
    return frame[rows][:, cols]
