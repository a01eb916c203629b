"""Named items (`robokit.data.embodiment.Embodiment`) of the tasks whose observation layouts robokit knows.

`scripts/generate_dataset.py` stores them in the dataset (`data.attrs["robokit_embodiment"]`), so a policy can
read joints and cameras by name. Covered:

    Fetch{Reach,Push,PickAndPlace,Slide}[Dense]-v*   robot "fetch"
        actions (4)            custom gripper_dx/dy/dz (mocap displacement), gripper_open_amounts "gripper"
        obs/observation        gymnasium_robotics/envs/fetch/fetch_env.py: grip_pos (end_effector_poses
                               grip_x/y/z), [object position, relative position], finger joint positions
                               (joint_positions r_/l_gripper_finger_joint), [object rotation and velocities],
                               grip velocity (custom), finger joint velocities (joint_velocities)
        obs/achieved_goal, obs/desired_goal (3)   custom
    robokit/ObstacleReach-v0   robot "disc": actions (2) custom vx, vy; obs/observation joint_positions
                               agent_x, agent_y; obs/agent_vel joint_velocities; the goals custom
    robokit/PlanarArm{n}-v0    robot "planar_arm_<n>" (n = 3, 4, 5): actions (n) joint_velocities joint_1 ..
                               joint_n (velocity commands); obs/joint_pos joint_positions, obs/joint_vel
                               joint_velocities (the same joint names), obs/fingertip end_effector_poses
                               fingertip_x, fingertip_y, obs/target custom target_x, target_y,
                               obs/to_target custom to_target_x, to_target_y
    any of them: "<camera>_image" rgb_images [camera], "<camera>_depth" depth_images [camera], and obs slices
    (env_kwargs["obs_slices"]) named after their source columns.

Keys whose shape differs from the known layout are left unnamed rather than named wrongly.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from robokit.data.embodiment import DataType, Embodiment, Segment

_FETCH_RE = re.compile(r"^Fetch(Reach|Push|PickAndPlace|Slide)(Dense)?-v\d+$")
_PLANAR_ARM_RE = re.compile(r"^(?:robokit/)?PlanarArm(\d+)-v\d+$")
_XYZ = ("x", "y", "z")
_FINGERS = ("r_gripper_finger_joint", "l_gripper_finger_joint")


def _seg(data_type: DataType, *names: str) -> Segment:
    return Segment(data_type, tuple(names))


def _xyz(prefix: str) -> tuple[str, ...]:
    return tuple(f"{prefix}_{a}" for a in _XYZ)


def _fetch(task: str) -> tuple[str, tuple[Segment, ...], dict[str, tuple[Segment, ...]]]:
    custom, eef = DataType.CUSTOM, DataType.END_EFFECTOR_POSES
    observation = [_seg(eef, *_xyz("grip"))]
    if task != "Reach":
        observation += [_seg(custom, *_xyz("object"), *_xyz("object_rel"))]
    observation += [_seg(DataType.JOINT_POSITIONS, *_FINGERS)]
    if task != "Reach":
        observation += [_seg(custom, *_xyz("object_rot"), *_xyz("object_velp"), *_xyz("object_velr"))]
    observation += [_seg(custom, *_xyz("grip_velp")), _seg(DataType.JOINT_VELOCITIES, *_FINGERS)]
    actions = (_seg(custom, *_xyz("gripper_d")), _seg(DataType.GRIPPER_OPEN_AMOUNTS, "gripper"))
    obs = {"observation": tuple(observation), "achieved_goal": (_seg(custom, *_xyz("achieved_goal")),),
           "desired_goal": (_seg(custom, *_xyz("desired_goal")),)}
    return "fetch", actions, obs


def _obstacle_reach() -> tuple[str, tuple[Segment, ...], dict[str, tuple[Segment, ...]]]:
    custom = DataType.CUSTOM
    obs = {"observation": (_seg(DataType.JOINT_POSITIONS, "agent_x", "agent_y"),),
           "agent_vel": (_seg(DataType.JOINT_VELOCITIES, "agent_x", "agent_y"),),
           "achieved_goal": (_seg(custom, "achieved_goal_x", "achieved_goal_y"),),
           "desired_goal": (_seg(custom, "desired_goal_x", "desired_goal_y"),)}
    return "disc", (_seg(custom, "vx", "vy"),), obs


def _planar_arm(n_links: int) -> tuple[str, tuple[Segment, ...], dict[str, tuple[Segment, ...]]]:
    joints = tuple(f"joint_{i + 1}" for i in range(n_links))
    obs = {"joint_pos": (_seg(DataType.JOINT_POSITIONS, *joints),),
           "joint_vel": (_seg(DataType.JOINT_VELOCITIES, *joints),),
           "fingertip": (_seg(DataType.END_EFFECTOR_POSES, "fingertip_x", "fingertip_y"),),
           "target": (_seg(DataType.CUSTOM, "target_x", "target_y"),),
           "to_target": (_seg(DataType.CUSTOM, "to_target_x", "to_target_y"),)}
    return f"planar_arm_{n_links}", (_seg(DataType.JOINT_VELOCITIES, *joints),), obs


def known_layout(env_name: str):
    """(robot, action segments, {obs key: segments}) of a known task, or None."""
    match = _FETCH_RE.match(env_name)
    if match:
        return _fetch(match.group(1))
    match = _PLANAR_ARM_RE.match(env_name)
    if match:
        return _planar_arm(int(match.group(1)))
    if env_name.split("/")[-1].startswith("ObstacleReach-v"):
        return _obstacle_reach()
    return None


def _width(segs) -> int:
    return sum(len(s.names) for s in segs)


def embodiment_for_env(env_name: str, obs_shapes: Mapping[str, tuple], action_shape: tuple,
                       env_kwargs: Mapping | None = None) -> Embodiment | None:
    """The Embodiment of a dataset recorded in `env_name` with these per-step shapes, or None for a task whose
    layout robokit does not know. obs_shapes {key: per-step shape}, action_shape (A,), env_kwargs: the env's
    kwargs (camera_names, camera_depth, obs_slices) as in the dataset's env_args."""
    layout = known_layout(env_name)
    if layout is None:
        return None
    robot, actions, known = layout
    env_kwargs = env_kwargs or {}
    obs = {k: segs for k, segs in known.items() if tuple(obs_shapes.get(k, ())) == (_width(segs),)}
    for camera in env_kwargs.get("camera_names") or ():
        for key, dt in ((f"{camera}_image", DataType.RGB_IMAGES), (f"{camera}_depth", DataType.DEPTH_IMAGES)):
            if key in obs_shapes:
                obs[key] = (_seg(dt, camera),)
    for name, (source, start, stop) in (env_kwargs.get("obs_slices") or {}).items():
        if source in obs and tuple(obs_shapes.get(name, ())) == (stop - start,):
            obs[name] = _slice(obs[source], start, stop)
    if tuple(action_shape) != (_width(actions),):
        actions = ()
    return Embodiment(robot, actions, obs)


def _slice(segs: tuple[Segment, ...], start: int, stop: int) -> tuple[Segment, ...]:
    """The segments of columns [start, stop) of an array named by `segs`."""
    out, col = [], 0
    for seg in segs:
        lo, hi = max(start - col, 0), min(stop - col, len(seg.names))
        if lo < hi:
            out.append(Segment(seg.data_type, seg.names[lo:hi]))
        col += len(seg.names)
    return tuple(out)
