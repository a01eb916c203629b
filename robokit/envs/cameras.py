"""Camera observations and observation slices that `GymEnv` adds to an environment's own observations.

Camera `<name>` adds the observation keys
    "<name>_image"   (H, W, 3) uint8 RGB
    "<name>_depth"   (H, W, 1) uint8 distance from the camera in centimetres, 255 = 2.55 m or farther
                     (only with camera_depth=True)
`<name>` is a camera of the MuJoCo model (FetchPush: head_camera_rgb, gripper_camera_rgb,
external_camera_0) or "default", the env's own viewer camera (what `render()` shows).

An observation slice `{"robot0_eef_pos": ["observation", 0, 3]}` adds key "robot0_eef_pos" = obs["observation"][0:3]
(e.g. the robot's proprioception without the object's state, for a policy that sees the object in images).
"""

from __future__ import annotations

import numpy as np

from robokit.errors import UserError

DEFAULT_CAMERA = "default"
DEPTH_UNITS_PER_METRE = 100.0  # uint8 depth: 1 unit = 1 cm


def image_key(camera: str) -> str:
    """Observation key of a camera's RGB image."""
    return f"{camera}_image"


def depth_key(camera: str) -> str:
    """Observation key of a camera's depth image."""
    return f"{camera}_depth"


def camera_hw(camera_size) -> tuple[int, int]:
    """`84` or `[84, 96]` -> (height, width)."""
    size = [camera_size] * 2 if isinstance(camera_size, (int, np.integer)) else list(camera_size)
    if len(size) != 2 or not all(isinstance(s, (int, np.integer)) and s > 0 for s in size):
        raise UserError(f"camera_size must be a positive int or [height, width], got {camera_size!r}")
    return int(size[0]), int(size[1])


def depth_to_uint8(depth_m: np.ndarray) -> np.ndarray:
    """(H, W) metres -> (H, W, 1) uint8 centimetres, saturating at 255 (2.55 m)."""
    return np.clip(np.rint(depth_m * DEPTH_UNITS_PER_METRE), 0, 255).astype(np.uint8)[..., None]


def check_obs_slices(obs_slices: dict, space) -> dict[str, tuple[str, int, int]]:
    """{name: [source key, start, stop]} checked against a Dict space of 1-D Boxes -> {name: (key, start, stop)}."""
    checked = {}
    for name, spec in obs_slices.items():
        if name in space.spaces:
            raise UserError(f"obs_slices key {name!r} is already an observation key; choose another name")
        if not (isinstance(spec, (list, tuple)) and len(spec) == 3):
            raise UserError(f"obs_slices[{name!r}] must be [source_key, start, stop], got {spec!r}")
        key, start, stop = spec
        if key not in space.spaces or len(space[key].shape) != 1:
            flat = [k for k, s in space.spaces.items() if len(s.shape) == 1]
            raise UserError(f"obs_slices[{name!r}]: source {key!r} is not a flat observation key "
                            f"(flat keys: {', '.join(flat)})")
        if not (isinstance(start, int) and isinstance(stop, int) and 0 <= start < stop <= space[key].shape[0]):
            raise UserError(f"obs_slices[{name!r}]: [{start}, {stop}) is not a non-empty range inside "
                            f"{key!r} of size {space[key].shape[0]}")
        checked[name] = (key, start, stop)
    return checked
