"""`RobosuiteEnv`: robomimic's robosuite environments (env_args type 1) behind `EnvBase`.

Needs the extra: `pip install -e ".[robosuite]"` (robosuite 1.5.2, mujoco 3.9.0, numpy < 2).

    from robokit.envs import create_env
    from robokit.envs.robosuite_env import robomimic_env_args

    env_args = robomimic_env_args("Lift", camera_names=["agentview", "robot0_eye_in_hand"], camera_size=84)
    env = create_env(env_args)                  # or create_env(dataset's / checkpoint's env_args)
    obs = env.reset(seed=0)                     # {key: np.ndarray} under robomimic's key names
    obs, reward, terminated, truncated, info = env.step(action)   # Panda + OSC_POSE: action (7,) in [-1, 1]
    env.is_success()                            # the task's _check_success() after the last step / reset_to
    state = env.get_state()                     # robomimic's flattened MuJoCo state [time, qpos, qvel], float64
    xml = env.get_model_xml()                   # this episode's MJCF: a demo's attrs["model_file"]
    ep_meta = env.get_ep_meta()                 # JSON string: a demo's attrs["ep_meta"] (robosuite >= 1.5)
    obs = env.reset_to({"model": xml, "states": state})  # playback: reload the model, then the state
    obs = env.set_state(state)                  # the state only, in the current model
    frame = env.render(256, 256, camera="agentview")      # (H, W, 3) uint8, right side up
    env.serialize()                             # robomimic env_args {env_name, env_version, type: 1, env_kwargs}
    env.base_env                                # the robosuite env itself (sim, robots, objects, _check_success)

Conventions (those of robomimic's EnvRobosuite):
- Observation keys: every robosuite key of a robot ("robot0_eef_pos", "robot0_eef_quat", "robot0_gripper_qpos",
  "robot0_joint_pos", "robot0_joint_vel", ...; joint_pos and eef_vel observables are switched on) except its
  "proprio-state", plus "robot0_eef_vel_lin" / "robot0_eef_vel_ang" (robomimic's v0.5 datasets have them,
  robosuite 1.5.2 does not: the hand body's velocity); "object" (the task's "object-state"); camera images "<camera>_image" ("agentview_image",
  "robot0_eye_in_hand_image"), (H, W, 3) uint8 flipped right side up as robomimic stores them in its HDF5
  files; with camera_depths, "<camera>_depth" (H, W, 1) float32 metres. Low-dim observations are float32.
- Camera observations are rendered when env_kwargs["use_camera_obs"] is true (robomimic's image datasets), from
  "camera_names" at "camera_heights" x "camera_widths".
- robosuite never ends an episode itself (robomimic sets ignore_done): `terminated` is always False and
  `truncated` is True at the env's `horizon` (robosuite's default 1000, `max_episode_steps`).
- `reset(seed)` seeds robosuite's generator (object placement, object sizes, robot init noise), so a seed gives
  the same initial state every time.
- controller_configs: robosuite 1.5's composite config ({"type": "BASIC", "body_parts": {"right": {...}}}), as
  robomimic v0.5 datasets store it; robosuite 1.4's single part config ({"type": "OSC_POSE", ...}) is converted to
  it (and serialized in the new form); no controller_configs means the robot's default (OSC_POSE for Panda).
"""

from __future__ import annotations

import contextlib
import copy
import difflib
import io
import json
import logging
import warnings

import gymnasium
import numpy as np

from robokit.envs.base import ROBOSUITE_TYPE, EnvBase, to_json_safe
from robokit.envs.cameras import DEFAULT_CAMERA
from robokit.errors import UserError

DEFAULT_RENDER_CAMERA = "agentview"

# robosuite's import-time notices that say nothing to a robokit user (private macro file, optional packages)
_QUIET_PREFIXES = ("No private macro file", "It is recommended to use a private macro file", "To setup, run:",
                   "Could not import robosuite_models", "Could not load the mink-based whole-body IK")


def _robosuite_log_filter(record: logging.LogRecord) -> bool:
    if record.levelno < logging.WARNING:  # "Loading controller configuration from ..." on every env
        return False
    return not str(record.msg).startswith(_QUIET_PREFIXES)


def import_robosuite():
    """`import robosuite` with its notices filtered; raises ImportError when robosuite is not installed."""
    logging.getLogger("robosuite_logs").addFilter(_robosuite_log_filter)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import robosuite
    return robosuite


def robomimic_controller_config(robot: str = "Panda") -> dict:
    """The robot's default composite controller config (Panda: OSC_POSE, delta actions), as robomimic v0.5 stores it."""
    return import_robosuite().load_composite_controller_config(robot=robot)


def robomimic_env_args(env_name: str, robots=("Panda",), camera_names=(), camera_size=84,
                       reward_shaping: bool = False, controller_configs: dict | None = None, **env_kwargs) -> dict:
    """env_args of a robomimic v0.5 (robosuite 1.5) dataset for `env_name` ("Lift", "PickPlaceCan", ...).

    With camera_names the env renders "<camera>_image" observations of camera_size (int or (height, width)).
    Extra keyword arguments are robosuite env kwargs (e.g. horizon, control_freq).
    """
    robosuite = import_robosuite()
    robots = [robots] if isinstance(robots, str) else list(robots)
    height, width = (camera_size, camera_size) if np.isscalar(camera_size) else tuple(camera_size)
    cameras = list(camera_names)
    kwargs = {
        "has_renderer": False,
        "has_offscreen_renderer": bool(cameras),
        "ignore_done": True,
        "use_object_obs": True,
        "use_camera_obs": bool(cameras),
        "control_freq": 20,
        "controller_configs": controller_configs or robomimic_controller_config(robots[0]),
        "robots": robots,
        "camera_depths": False,
        "camera_heights": int(height),
        "camera_widths": int(width),
        "reward_shaping": bool(reward_shaping),
        "camera_names": cameras or [DEFAULT_RENDER_CAMERA],
    }
    kwargs.update(env_kwargs)
    return {"env_name": env_name, "env_version": robosuite.__version__, "type": ROBOSUITE_TYPE, "env_kwargs": kwargs}


def _composite_controller_configs(controller_configs, robots: list[str]):
    """robosuite 1.4 part configs ({"type": "OSC_POSE", ...}, or one per robot) -> robosuite 1.5 composite configs."""
    from robosuite.controllers.composite.composite_controller_factory import (
        is_part_controller_config,
        refactor_composite_controller_config,
    )

    if controller_configs is None:
        return None

    def convert(config: dict, robot: str) -> dict:
        if not isinstance(config, dict):
            raise UserError(f"controller_configs must be a dict (or one per robot), got {type(config).__name__}")
        if is_part_controller_config(config):
            return refactor_composite_controller_config(copy.deepcopy(config), robot, ["right"])
        return copy.deepcopy(config)

    if isinstance(controller_configs, (list, tuple)):
        return [convert(c, r) for c, r in zip(controller_configs, robots)]
    return convert(controller_configs, robots[0] if robots else "Panda")


class RobosuiteEnv(EnvBase):
    """`robosuite.make(env_name, **env_kwargs)` with robomimic's observation, state and playback conventions
    (see the module docstring). `render_offscreen=True` adds an offscreen renderer for `render()`."""

    def __init__(self, env_name: str, render_offscreen: bool = False, **env_kwargs):
        robosuite = import_robosuite()
        self.name = env_name
        self._version = robosuite.__version__
        if env_name not in robosuite.ALL_ENVIRONMENTS:
            close = difflib.get_close_matches(env_name, sorted(robosuite.ALL_ENVIRONMENTS), n=3, cutoff=0.5)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            raise UserError(f"unknown robosuite environment {env_name!r}{hint} "
                            f"(robosuite's: {', '.join(sorted(robosuite.ALL_ENVIRONMENTS))})")
        kwargs = copy.deepcopy(env_kwargs)
        kwargs.pop("env_name", None)  # robomimic's create_env_from_metadata writes it into env_kwargs
        kwargs.pop("lang", None)
        robots = kwargs.get("robots", ["Panda"])
        robots = [robots] if isinstance(robots, str) else list(robots)
        if "controller_configs" in kwargs:
            kwargs["controller_configs"] = _composite_controller_configs(kwargs["controller_configs"], robots)
        kwargs["has_renderer"] = False  # offscreen only (headless machines)
        kwargs.setdefault("ignore_done", True)
        kwargs.setdefault("use_object_obs", True)
        if render_offscreen or kwargs.get("use_camera_obs", False):
            kwargs["has_offscreen_renderer"] = True
        kwargs.setdefault("use_camera_obs", False)
        if not kwargs.get("use_camera_obs"):
            kwargs.setdefault("has_offscreen_renderer", False)
        self._init_kwargs = kwargs
        try:
            self._env = robosuite.make(env_name, **copy.deepcopy(kwargs))
        except TypeError as exc:
            if "argument" not in str(exc):
                raise
            raise UserError(f"bad env_kwargs for robosuite {env_name}: {exc}") from exc
        for name in self._env.observation_names:  # robomimic's wrapper switches these on
            if "joint_pos" in name or "eef_vel" in name:
                self._env.modify_observable(observable_name=name, attribute="active", modifier=True)
        self._prefixes = tuple(robot.robot_model.naming_prefix for robot in self._env.robots)
        self._success = False
        self._steps = 0
        self._observation_space = self._make_observation_space(self._observe(force=True))
        low, high = self._env.action_spec
        self._action_space = gymnasium.spaces.Box(np.asarray(low, np.float32), np.asarray(high, np.float32),
                                                  dtype=np.float32)

    # ----- observations -----

    def _convert(self, raw: dict) -> dict[str, np.ndarray]:
        out: dict[str, np.ndarray] = {}
        for key, value in raw.items():
            if key.endswith("_image"):
                out[key] = np.ascontiguousarray(np.asarray(value)[::-1], dtype=np.uint8)
            elif key.endswith("_depth"):
                depth = np.asarray(value)[::-1]
                out[key] = self._real_depth(depth if depth.ndim == 3 else depth[..., None])
            elif key == "object-state":
                out["object"] = np.asarray(value, dtype=np.float32)
            elif key.startswith(self._prefixes) and not key.endswith("proprio-state"):
                out[key] = np.asarray(value, dtype=np.float32)
        out.update(self._eef_velocities(out))
        return out

    def _eef_velocities(self, obs: dict) -> dict[str, np.ndarray]:
        """"robot0_eef_vel_lin" / "robot0_eef_vel_ang" (3,): the hand body's world-frame linear (m/s) and angular
        (rad/s) velocity, as robosuite <= 1.4 observed them and robomimic's v0.5 datasets store them; robosuite
        1.5.2 has no such observables, so they are read from the simulator here."""
        out = {}
        data = self._env.sim.data
        for robot in self._env.robots:
            pf, names = robot.robot_model.naming_prefix, robot.robot_model.eef_name
            names = names if isinstance(names, dict) else {"right": names}
            for arm, body in names.items():
                arm_pf = pf if len(names) == 1 else f"{pf}{arm}_"
                if f"{arm_pf}eef_vel_lin" not in obs:
                    out[f"{arm_pf}eef_vel_lin"] = np.array(data.get_body_xvelp(body), dtype=np.float32)
                if f"{arm_pf}eef_vel_ang" not in obs:
                    out[f"{arm_pf}eef_vel_ang"] = np.array(data.get_body_xvelr(body), dtype=np.float32)
        return out

    def _real_depth(self, depth: np.ndarray) -> np.ndarray:
        """MuJoCo's normalised depth buffer -> metres, (H, W, 1) float32 (robosuite's camera_utils formula)."""
        model = self._env.sim.model
        extent = model.stat.extent
        far, near = model.vis.map.zfar * extent, model.vis.map.znear * extent
        return (near / (1.0 - depth * (1.0 - near / far))).astype(np.float32)

    def _observe(self, force: bool = True) -> dict[str, np.ndarray]:
        return self._convert(self._env._get_observations(force_update=force))

    @staticmethod
    def _make_observation_space(obs: dict[str, np.ndarray]) -> gymnasium.spaces.Dict:
        spaces = {}
        for key, value in obs.items():
            if value.dtype == np.uint8:
                spaces[key] = gymnasium.spaces.Box(0, 255, value.shape, dtype=np.uint8)
            else:
                spaces[key] = gymnasium.spaces.Box(-np.inf, np.inf, value.shape, dtype=value.dtype)
        return gymnasium.spaces.Dict(spaces)

    @property
    def observation_space(self) -> gymnasium.spaces.Dict:
        return self._observation_space

    @property
    def action_space(self) -> gymnasium.spaces.Box:
        return self._action_space

    @property
    def max_episode_steps(self) -> int:
        return int(self._env.horizon)

    @property
    def base_env(self):
        """The robosuite environment (`.sim`, `.robots`, task objects, `_check_success()`)."""
        return self._env

    @property
    def camera_names(self) -> list[str]:
        """Cameras of the observations (env_kwargs["camera_names"]) when use_camera_obs is on, else []."""
        if not self._init_kwargs.get("use_camera_obs"):
            return []
        names = self._init_kwargs.get("camera_names", [DEFAULT_RENDER_CAMERA])
        return [names] if isinstance(names, str) else list(names)

    # ----- episodes -----

    def reset(self, seed: int | None = None) -> dict[str, np.ndarray]:
        if seed is not None:  # every sampler of the task holds this one generator: reseed it in place
            self._env.rng.bit_generator.state = np.random.default_rng(seed).bit_generator.state
        if hasattr(self._env, "unset_ep_meta"):
            self._env.unset_ep_meta()
        self._success, self._steps = False, 0
        return self._convert(self._env.reset())

    def step(self, action: np.ndarray):
        action = np.asarray(action, dtype=np.float64).reshape(self._action_space.shape)
        raw, reward, done, info = self._env.step(action)
        self._steps += 1
        self._success = self._check_success()
        info = dict(info, is_success=self._success)
        truncated = bool(done) or self._steps >= self.max_episode_steps
        return self._convert(raw), float(reward), False, truncated, info

    def _check_success(self) -> bool:
        success = self._env._check_success()
        if isinstance(success, dict):  # robomimic's {"task": bool, ...}
            success = success["task"]
        return bool(success)

    def is_success(self) -> bool:
        return self._success

    # ----- simulator state -----

    def get_state(self) -> np.ndarray:
        """robomimic's "states": MuJoCo's flattened [time, qpos, qvel], float64."""
        return np.array(self._env.sim.get_state().flatten(), dtype=np.float64)

    def get_model_xml(self) -> str:
        """The MJCF model of the current episode (robomimic's demo attribute "model_file")."""
        return self._env.sim.model.get_xml()

    def get_ep_meta(self) -> str:
        """The episode metadata as a JSON string (robomimic's demo attribute "ep_meta"; "{}" for most tasks)."""
        get = getattr(self._env, "get_ep_meta", None)
        return json.dumps(get() if get is not None else {}, indent=4)

    def set_state(self, state: np.ndarray) -> dict[str, np.ndarray]:
        """Restore a `get_state()` vector in the current model and return the observation there."""
        state = np.asarray(state, dtype=np.float64)
        expected = 1 + self._env.sim.model.nq + self._env.sim.model.nv
        if state.shape != (expected,):
            raise ValueError(f"{self.name} state must have shape ({expected},), got {state.shape} (a state of "
                             "another model? reset_to({'model': model_file, 'states': state}) loads its model)")
        self._env.sim.set_state_from_flattened(state)
        self._env.sim.forward()
        self._success = self._check_success()
        return self._observe()

    def reset_to(self, state: dict) -> dict[str, np.ndarray] | None:
        """robomimic's `reset_to`: {"model": MJCF string (a demo's model_file), "states": flat state, "ep_meta":
        JSON string}, each optional. Returns the observation when "states" was given, else None."""
        if "model" in state:
            ep_meta = state.get("ep_meta")
            if hasattr(self._env, "set_ep_meta"):
                self._env.set_ep_meta(json.loads(ep_meta) if ep_meta else {})
            self._env.reset()  # a hard reset first: reset_from_xml_string alone does not reload the model
            self._env.reset_from_xml_string(self._env.edit_model_xml(_as_str(state["model"])))
            self._env.sim.reset()
            self._steps = 0
            self._success = False
        if "states" not in state:
            return None
        obs = self.set_state(state["states"])
        if "model" in state:  # an episode's first state: its controllers start from it, as at the recorded reset
            self._restart_controllers()
            obs = self._observe()
        return obs

    def _restart_controllers(self) -> None:
        """Reload each robot's controllers at the current joint positions, as robosuite's reset does after placing
        the robot: OSC's nullspace target is the episode's initial joint configuration, so that actions replayed
        from a restored first state repeat the recorded states (robomimic's reset_to keeps the configuration of
        the model's own reset instead, and replayed actions drift)."""
        data = self._env.sim.data
        for robot in self._env.robots:
            nominal = robot.init_qpos
            robot.init_qpos = np.array(data.qpos[robot._ref_joint_pos_indexes])
            try:
                robot.reset(deterministic=True)  # deterministic: sets nothing but the arm joints, to where they are
            finally:
                robot.init_qpos = nominal
        self._env.sim.forward()

    # ----- rendering -----

    def render(self, height: int = 256, width: int = 256, camera: str | None = None) -> np.ndarray:
        """(height, width, 3) uint8 from a model camera (default: robomimic's, the first of camera_names sorted,
        else "agentview"), right side up."""
        if camera in (None, DEFAULT_CAMERA):
            names = self._init_kwargs.get("camera_names") or [DEFAULT_RENDER_CAMERA]
            camera = min([names] if isinstance(names, str) else names)  # robomimic: the first sorted
        if camera not in self._env.sim.model.camera_names:
            raise UserError(f"{self.name} has no camera {camera!r}; its cameras: "
                            f"{', '.join(self._env.sim.model.camera_names)}")
        if self._env.sim._render_context_offscreen is None:  # made without an offscreen renderer: add one
            self._add_offscreen_renderer()
        frame = self._env.sim.render(height=height, width=width, camera_name=camera)
        return np.ascontiguousarray(frame[::-1], dtype=np.uint8)

    def _add_offscreen_renderer(self) -> None:
        """What robosuite's reset does with has_offscreen_renderer=True, for this sim and (the flag) later ones."""
        from robosuite.utils.binding_utils import MjRenderContextOffscreen

        env = self._env
        env.has_offscreen_renderer = True
        context = MjRenderContextOffscreen(env.sim, device_id=env.render_gpu_device_id)  # registers itself
        context.vopt.geomgroup[0] = 1 if env.render_collision_mesh else 0
        context.vopt.geomgroup[1] = 1 if env.render_visual_mesh else 0

    # ----- bookkeeping -----

    def serialize(self) -> dict:
        """robomimic's env_args: {"env_name", "env_version", "type": 1, "env_kwargs"} (JSON-safe)."""
        return {"env_name": self.name, "env_version": self._version, "type": ROBOSUITE_TYPE,
                "env_kwargs": to_json_safe(copy.deepcopy(self._init_kwargs))}

    def close(self) -> None:
        env = getattr(self, "_env", None)
        if env is not None:
            with contextlib.suppress(Exception), contextlib.redirect_stderr(io.StringIO()):
                env.close()
            self._env = None


def _as_str(value) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)
