"""Scripted experts for robosuite's Lift, PickPlaceCan and NutAssemblySquare with a Panda arm (issue 22).

Actions are robomimic's for robosuite 1.5: the BASIC composite controller with an OSC_POSE arm, 7-D
`(dx, dy, dz, dax, day, daz, gripper)` in [-1, 1]. The first three move the end-effector goal by up to 5 cm
(`POS_SCALE`), the next three rotate it by an axis-angle of up to 0.5 rad (`ROT_SCALE`), both in the robot's
base frame (axes parallel to the world's in these tasks); gripper -1 opens, +1 closes. OSC lags behind its goal:
a full-scale position action moves the hand about 1 cm in one 20 Hz step, so every expert is a proportional
controller (`POS_GAIN`, `ROT_GAIN`) that re-reads the observation each step rather than a planned trajectory.

The experts read only robomimic's observation keys:

    robot0_eef_pos       (3,) hand (grip site) position, metres, world frame
    robot0_eef_quat      (4,) hand orientation, quaternion (x, y, z, w); pointing down is about diag(1, -1, -1)
    robot0_gripper_qpos  (2,) finger joints: +-0.039 open, +-0.007 closed on nothing
    object               robosuite's "object-state", flattened; the object's position sits at `OBJECT_SLICES`
                         (robosuite 1.5.2's order; a robosuite key such as "cube_pos" is used instead when present)

Every decision is a function of the current observation (no phase counter): an expert that drops its object
goes back for it. Successful episodes end at the task's first successful step (`run_expert_episode`).
"""

from __future__ import annotations

import numpy as np

from robokit.envs.experts.base import Expert

POS_SCALE = 0.05  # metres of end-effector goal per unit of position action (OSC_POSE output_max)
ROT_SCALE = 0.5  # radians of goal rotation per unit of rotation action
POS_GAIN = 30.0  # action units per metre of position error (full speed beyond 3.3 cm)
ROT_GAIN = 4.0  # action units per radian of orientation error
DOWN = np.diag([1.0, -1.0, -1.0])  # hand orientation pointing straight down, fingers closing along world y

# Where the object's position lies in robosuite 1.5.2's "object-state" (robomimic's "object"), with the named key
# robosuite itself returns: Lift = [cube_pos, cube_quat, gripper_to_cube_pos];
# PickPlaceCan = [Can_to_robot0_eef_pos, Can_to_robot0_eef_quat, Can_pos, Can_quat].
# NutAssemblySquare = [SquareNut_to_robot0_eef_pos, SquareNut_to_robot0_eef_quat, SquareNut_pos, SquareNut_quat].
OBJECT_SLICES = {"Lift": ("cube_pos", slice(0, 3), "cube_quat", slice(3, 7)),
                 "PickPlaceCan": ("Can_pos", slice(7, 10), "Can_quat", slice(10, 14)),
                 "NutAssemblySquare": ("SquareNut_pos", slice(7, 10), "SquareNut_quat", slice(10, 14))}

# PickPlaceCan's goal: the can's quadrant of the second bin (robosuite's defaults bin2_pos=(0.1, 0.28, 0.8),
# bin size 0.39 x 0.49): success is the can's centre inside x in (0.1, 0.295), y in (0.28, 0.525), z in (0.8, 0.9),
# with the hand more than 4.2 cm away. The quadrant's centre (0.1975, 0.4025) is 0.86 m from the Panda's base at
# (-0.56, 0): out of reach with the hand pointing down, so the expert aims at a point 5-6 cm inside its near corner.
CAN_TARGET_XY = np.array([0.15, 0.34])
CAN_BIN_LOW = np.array([0.1, 0.28])
CAN_BIN_HIGH = np.array([0.295, 0.525])
CAN_BIN_TOP_Z = 0.9

# NutAssemblySquare's square peg (pegs_arena.xml): a 3.2 cm square box centred at (0.23, 0.1, 0.85), 20 cm tall, its
# faces along the world axes; the nut's square hole is 4.55 cm wide.
SQUARE_PEG_XY = np.array([0.23, 0.1])
SQUARE_PEG_TOP_Z = 0.95


def quat_to_matrix(quat: np.ndarray) -> np.ndarray:
    """Rotation matrix (3, 3) of a unit quaternion (x, y, z, w), robosuite's order."""
    x, y, z, w = np.asarray(quat, dtype=np.float64) / max(float(np.linalg.norm(quat)), 1e-12)
    return np.array([
        [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
        [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
        [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
    ])


def rotation_to_axis_angle(rotation: np.ndarray) -> np.ndarray:
    """Axis-angle vector (3,) of a rotation matrix (its angle in [0, pi] times its unit axis)."""
    cos = np.clip((np.trace(rotation) - 1.0) / 2.0, -1.0, 1.0)
    angle = float(np.arccos(cos))
    if angle < 1e-6:
        return np.zeros(3)
    axis = np.array([rotation[2, 1] - rotation[1, 2], rotation[0, 2] - rotation[2, 0], rotation[1, 0] - rotation[0, 1]])
    if np.pi - angle < 1e-3:  # near a half turn the antisymmetric part vanishes: R = 2 n n^T - I gives the axis
        column = (rotation + np.eye(3))[:, int(np.argmax(np.diag(rotation)))]
        unit = column / np.linalg.norm(column)
        return angle * (unit if unit @ axis >= 0 else -unit)
    return angle * axis / np.linalg.norm(axis)


def yaw_rotation(yaw: float) -> np.ndarray:
    """Rotation (3, 3) by `yaw` radians about the world z axis."""
    c, s = np.cos(yaw), np.sin(yaw)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def hand_yaw(hand: np.ndarray) -> float:
    """The yaw of a (roughly downward) hand's or an upright object's orientation (3, 3): the angle of its x axis
    in the world's xy plane."""
    return float(np.arctan2(hand[1, 0], hand[0, 0]))


def nearest_equivalent_yaw(base_yaw: float, current_yaw: float, symmetry: float) -> float:
    """Of the yaws `base_yaw + k * symmetry` (k integer), the one closest to `current_yaw`."""
    return base_yaw + float(np.round((current_yaw - base_yaw) / symmetry)) * symmetry


def grasp_yaw(object_quat: np.ndarray, current_yaw: float, symmetry: float) -> float:
    """The hand yaw that lines the fingers up with a face of the object (faces every `symmetry` radians about z),
    the one of those closest to `current_yaw` (so the choice does not flip between two equivalent grasps)."""
    return nearest_equivalent_yaw(hand_yaw(quat_to_matrix(object_quat)), current_yaw, symmetry)


def arm_action(hand_pos: np.ndarray, hand_rot: np.ndarray, target_pos: np.ndarray, target_rot: np.ndarray,
               gripper: float, max_speed: float = 1.0) -> np.ndarray:
    """OSC_POSE action (7,) toward a target pose: position part scaled as a whole (the direction is kept) to at
    most `max_speed`, rotation part toward `target_rot` (world-frame axis-angle of target @ current^T)."""
    position = POS_GAIN * (np.asarray(target_pos) - hand_pos)
    position = position * min(1.0, max_speed / max(float(np.abs(position).max()), 1e-12))
    rotation = ROT_GAIN * rotation_to_axis_angle(target_rot @ hand_rot.T)
    rotation = rotation / max(1.0, float(np.abs(rotation).max()))
    return np.concatenate([position, rotation, [gripper]])


class _RobosuiteExpert(Expert):
    """Shared reading of robomimic's observation keys for the robosuite experts."""

    action_dim = 7
    task = ""

    def object_pose(self, obs) -> tuple[np.ndarray, np.ndarray]:
        """The object's position (3,) and quaternion (4,) from the observation."""
        pos_key, pos_slice, quat_key, quat_slice = OBJECT_SLICES[self.task]
        if pos_key in obs:
            return np.asarray(obs[pos_key], np.float64), np.asarray(obs[quat_key], np.float64)
        state = obs["object"] if "object" in obs else obs["object-state"]
        state = np.asarray(state, np.float64)
        return state[pos_slice], state[quat_slice]

    @staticmethod
    def hand(obs) -> tuple[np.ndarray, np.ndarray, float]:
        """Hand position (3,), orientation (3, 3) and finger gap (metres between the two finger joints)."""
        fingers = np.asarray(obs["robot0_gripper_qpos"], np.float64)
        return (np.asarray(obs["robot0_eef_pos"], np.float64), quat_to_matrix(obs["robot0_eef_quat"]),
                float(fingers[0] - fingers[1]))


class _GraspMixin:
    """Approach an object from above with open fingers, line the fingers up with it and close on it."""

    xy_tolerance = 0.01  # horizontal hand-to-object distance within which the hand descends the last part
    z_tolerance = 0.012  # height of the hand above its grasp point within which the fingers close
    yaw_tolerance = 0.1  # radians of yaw error within which the hand descends below the hover height
    hover = 0.08  # height above the grasp point the hand approaches at
    funnel_slope = 2.0  # extra height per metre of horizontal distance while approaching
    open_gap = 0.07  # finger gap at which the fingers count as open enough to descend over the object

    def grasp_action(self, hand_pos, hand_rot, gap, grasp_point, target_rot) -> np.ndarray:
        rel = grasp_point - hand_pos
        horizontal = float(np.linalg.norm(rel[:2]))
        yaw_error = abs(rotation_to_axis_angle(target_rot @ hand_rot.T)[2])
        at_grasp = horizontal < self.xy_tolerance and -rel[2] < self.z_tolerance
        if at_grasp and yaw_error < 2 * self.yaw_tolerance:  # close the fingers, holding the hand there
            return arm_action(hand_pos, hand_rot, grasp_point, target_rot, gripper=1.0)
        height = min(self.hover, self.funnel_slope * horizontal)
        if yaw_error > self.yaw_tolerance or gap < self.open_gap:
            height = max(height, self.hover / 2)  # turn the wrist and open the fingers before the last part
        target = grasp_point + np.array([0.0, 0.0, height])
        return arm_action(hand_pos, hand_rot, target, target_rot, gripper=-1.0)


class LiftExpert(_GraspMixin, _RobosuiteExpert):
    """Lift: grasp the cube from above with the fingers across two of its faces, close, lift it.

    Robosuite counts Lift solved once the cube's centre is 4 cm above the table (z > 0.84 m); the expert lifts it
    toward `lift_height` and the episode ends at the first successful step.
    """

    task = "Lift"
    hold_gap = 0.05  # finger gap below which the closed fingers hold the 4-4.4 cm cube (open 0.079, empty 0.014)
    empty_gap = 0.025  # below this the fingers closed on nothing
    lift_height = 0.1  # how far above its grasp point the cube is raised

    def clean_action(self, obs):
        hand_pos, hand_rot, gap = self.hand(obs)
        cube_pos, cube_quat = self.object_pose(obs)
        yaw = grasp_yaw(cube_quat, hand_yaw(hand_rot), np.pi / 2)
        target_rot = yaw_rotation(yaw) @ DOWN
        rel = cube_pos - hand_pos
        holding = np.linalg.norm(rel) < 0.03 and self.empty_gap < gap < self.hold_gap
        if holding:  # carry the cube straight up, fingers closed
            target = cube_pos + np.array([0.0, 0.0, self.lift_height])
            return arm_action(hand_pos, hand_rot, target, target_rot, gripper=1.0, max_speed=0.6)
        return self.grasp_action(hand_pos, hand_rot, gap, cube_pos, target_rot)


class PickPlaceCanExpert(_GraspMixin, _RobosuiteExpert):
    """PickPlaceCan: grasp the can (a cylinder, any yaw), lift it over the bins' walls, carry it above its quadrant
    of the second bin, lower it and open, then move the hand up and away (success needs the hand 4.2 cm off)."""

    task = "PickPlaceCan"
    hold_gap = 0.06  # finger gap below which the closed fingers hold the can (0.049-0.054 measured; open 0.079)
    empty_gap = 0.025
    carry_z = 1.02  # hand height while carrying: the can's bottom clears the bins' walls
    release_z = 0.89  # hand height at which the fingers open: the can's bottom about 2 cm above the bin's floor
    retreat_z = 1.05
    grasp_offset = 0.01  # grasp this far above the can's centre

    def clean_action(self, obs):
        hand_pos, hand_rot, gap = self.hand(obs)
        can_pos, _ = self.object_pose(obs)
        target_rot = yaw_rotation(0.0) @ DOWN
        in_bin = bool(np.all(can_pos[:2] > CAN_BIN_LOW) and np.all(can_pos[:2] < CAN_BIN_HIGH))
        rel = can_pos - hand_pos
        holding = np.linalg.norm(rel) < 0.04 and self.empty_gap < gap < self.hold_gap
        if in_bin and not holding:  # over its quadrant and let go: open and back off upward
            return arm_action(hand_pos, hand_rot, np.append(hand_pos[:2], self.retreat_z), target_rot, gripper=-1.0)
        if holding:
            to_target = CAN_TARGET_XY - hand_pos[:2]
            if np.linalg.norm(to_target) < 0.02:  # above the quadrant: lower the can, then open (the branch above)
                target = np.append(CAN_TARGET_XY, self.release_z)
                gripper = -1.0 if hand_pos[2] < self.release_z + 0.01 else 1.0
                return arm_action(hand_pos, hand_rot, target, target_rot, gripper=gripper, max_speed=0.6)
            if hand_pos[2] < self.carry_z - 0.03:  # up first, over the walls
                target = np.append(hand_pos[:2] + 0.2 * to_target, self.carry_z)
            else:
                target = np.append(CAN_TARGET_XY, self.carry_z)
            return arm_action(hand_pos, hand_rot, target, target_rot, gripper=1.0, max_speed=0.8)
        grasp_point = can_pos + np.array([0.0, 0.0, self.grasp_offset])
        return self.grasp_action(hand_pos, hand_rot, gap, grasp_point, target_rot)


class NutAssemblySquareExpert(_GraspMixin, _RobosuiteExpert):
    """NutAssemblySquare: grasp the square nut by its handle (fingers across it), lift it above the square peg's
    top, carry it over the peg with the nut turned to the peg's faces (any quarter turn: the hole is square), lower
    it around the peg, open and move up (robosuite counts the nut placed once its centre is within 3 cm of the peg
    in x and y, below 0.87 m, with the hand more than 4.2 cm from it).

    While carrying, the expert steers the nut, not the hand: the hand moves by the nut centre's error and turns by
    the nut's yaw error, so a nut that slipped or turned in the fingers is still brought over the peg.
    """

    task = "NutAssemblySquare"
    grasp_offset = 0.062  # grasp point from the nut's centre along its x axis: on the handle (0.029-0.079 out,
    # square-nut.xml), 8 mm beyond its centre so that the finger pads stay clear of the ring (0.044 out)
    hold_gap = 0.045  # finger gap below which the closed fingers hold the 3.2 cm wide handle (open 0.079)
    empty_gap = 0.02  # below this the fingers closed on nothing
    carry_z = 1.0  # nut height while carrying: its bottom 4 cm above the peg's top (0.95 m)
    align_xy = 0.004  # nut-centre distance from the peg's axis within which the nut is lowered
    align_yaw = 0.05  # radians of nut yaw error within which the nut is lowered
    release_z = 0.92  # nut height at which the fingers open: its bottom 4 cm down the peg
    retreat_z = 1.05

    def clean_action(self, obs):
        hand_pos, hand_rot, gap = self.hand(obs)
        nut_pos, nut_quat = self.object_pose(obs)
        nut_rot = quat_to_matrix(nut_quat)
        grasp_point = nut_pos + self.grasp_offset * nut_rot[:, 0]  # (3,) on the handle
        to_peg = SQUARE_PEG_XY - nut_pos[:2]
        holding = np.linalg.norm(grasp_point - hand_pos) < 0.03 and self.empty_gap < gap < self.hold_gap
        on_peg = np.linalg.norm(to_peg) < 0.02 and nut_pos[2] < SQUARE_PEG_TOP_Z
        if on_peg and not holding:  # around the peg and let go: open and back off upward
            return arm_action(hand_pos, hand_rot, np.append(hand_pos[:2], self.retreat_z),
                              yaw_rotation(hand_yaw(hand_rot)) @ DOWN, gripper=-1.0)
        if holding:
            nut_yaw = hand_yaw(nut_rot)
            yaw_error = self.placing_yaw_error(nut_yaw)
            target_rot = yaw_rotation(hand_yaw(hand_rot) + yaw_error) @ DOWN
            aligned = np.linalg.norm(to_peg) < self.align_xy and abs(yaw_error) < self.align_yaw
            if on_peg or (aligned and nut_pos[2] > SQUARE_PEG_TOP_Z):  # lower it around the peg, then open
                target_nut = np.append(SQUARE_PEG_XY, self.release_z - 0.02)
                gripper = -1.0 if nut_pos[2] < self.release_z else 1.0
                return arm_action(hand_pos, hand_rot, hand_pos + target_nut - nut_pos, target_rot, gripper=gripper,
                                  max_speed=0.4)
            if nut_pos[2] < self.carry_z - 0.03:  # up first, above the peg's top
                target_nut = np.append(nut_pos[:2] + 0.2 * to_peg, self.carry_z)
            else:
                target_nut = np.append(SQUARE_PEG_XY, self.carry_z)
            return arm_action(hand_pos, hand_rot, hand_pos + target_nut - nut_pos, target_rot, gripper=1.0,
                              max_speed=0.8)
        target_rot = yaw_rotation(grasp_yaw(nut_quat, hand_yaw(hand_rot), np.pi)) @ DOWN  # fingers across the handle
        return self.grasp_action(hand_pos, hand_rot, gap, grasp_point, target_rot)

    @staticmethod
    def placing_yaw_error(nut_yaw: float) -> float:
        """The turn (radians) that lines the nut's hole up with the peg's faces (world axes), to the nearest quarter
        turn that leaves the handle pointing toward the robot (-x) or sideways: with the handle pointing away (+x)
        the hand would be 6 cm farther out than sideways, beyond the Panda's reach above the peg."""
        errors = [(yaw - nut_yaw + np.pi) % (2 * np.pi) - np.pi for yaw in (np.pi / 2, np.pi, -np.pi / 2)]
        return float(min(errors, key=abs))


ROBOSUITE_EXPERTS: dict[str, type[Expert]] = {"Lift": LiftExpert, "PickPlaceCan": PickPlaceCanExpert,
                                              "NutAssemblySquare": NutAssemblySquareExpert}
