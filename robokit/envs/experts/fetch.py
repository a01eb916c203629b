"""Scripted experts for the gymnasium-robotics Fetch tasks (Reach, Push, PickAndPlace).

Fetch actions are `(dx, dy, dz, gripper)` in [-1, 1]; the position part moves the gripper's mocap target
by up to `MAX_STEP` metres per step. Every expert is a proportional controller on positions read from
the observation, so its action is a smooth, deterministic function of the observation.

Observation layout (gymnasium_robotics/envs/fetch/fetch_env.py), `obs["observation"]` of the object
tasks: [0:3] gripper position, [3:6] object position, [6:9] object - gripper, [9:11] finger joint
positions (0 closed, 0.05 open), then object rotation and velocities.
"""

from __future__ import annotations

import numpy as np

from robokit.envs.experts.base import Expert

MAX_STEP = 0.05  # metres per unit of action


def _position_action(displacement: np.ndarray) -> np.ndarray:
    """A wanted gripper displacement (metres) in action units, scaled down as a whole (not clipped per axis,
    which would bend the direction) so that every component lies in [-1, 1]."""
    action = displacement / MAX_STEP
    return action / max(1.0, float(np.abs(action).max()))


def _move_toward(delta: np.ndarray, gain: float) -> np.ndarray:
    """Proportional position command toward a point `delta` metres away."""
    return _position_action(gain * delta)


class FetchReachExpert(Expert):
    """Move the gripper straight to the goal."""

    gain = 1.0

    def clean_action(self, obs):
        delta = obs["desired_goal"] - obs["achieved_goal"]
        return np.concatenate([_move_toward(delta, self.gain), [0.0]])


class FetchPushExpert(Expert):
    """Push the block along the line from the block to the goal (the gripper is blocked closed).

    The gripper goes to a point behind the block on that line (lifting over the block when it starts
    on the wrong side), descends, then pushes toward the goal while a proportional term keeps it on
    the line through the block's current position, which corrects the block's lateral drift.
    """

    contact = 0.045  # block half-width + finger half-width: gripper-to-block distance while pushing
    approach = 0.065  # how far behind the block the gripper lines up before descending
    hover = 0.06  # height above the block's centre that clears it
    line_tolerance = 0.02  # sideways offset from the push line up to which the gripper counts as behind
    push_height_tolerance = 0.015  # how far above the block's centre the gripper may be and still push
    follow_through = 0.02  # aim the gripper this far past the point where the block would reach the goal
    gain = 2.0
    lateral_gain = 3.0

    def clean_action(self, obs):
        o = obs["observation"]
        grip, block, goal = o[0:3], o[3:6], obs["desired_goal"]
        to_goal = goal[:2] - block[:2]
        distance = np.linalg.norm(to_goal)
        direction = to_goal / max(distance, 1e-6)  # unit push direction (xy)
        rel = grip[:2] - block[:2]
        along = rel @ direction  # < 0: gripper behind the block
        lateral = rel - along * direction
        behind = along < -(self.contact - 0.01) and np.linalg.norm(lateral) < self.line_tolerance
        low = grip[2] < block[2] + self.push_height_tolerance
        lined_up = block[:2] - self.approach * direction
        if behind and low:
            # Push: advance toward the goal along the line, pull back onto the line sideways.
            target_along = distance - self.contact + self.follow_through
            xy = self.gain * (target_along - along) * direction - self.lateral_gain * lateral
            z_target = block[2]
        elif behind:
            # Lined up above the push height: descend in place.
            xy = self.gain * (lined_up - grip[:2])
            z_target = block[2]
        else:
            # Go to the lined-up point, over the block unless already on its far side from the goal.
            safe_side = along < -(self.contact + 0.01)
            clear = grip[2] > block[2] + self.hover - 0.02
            z_target = block[2] if safe_side else block[2] + self.hover
            xy = self.gain * (lined_up - grip[:2]) if (safe_side or clear) else np.zeros(2)
        dz = z_target - grip[2]
        return np.concatenate([_position_action(np.append(xy, self.gain * dz)), [-1.0]])


class FetchPickAndPlaceExpert(Expert):
    """Grasp the block from above with open fingers, close, carry it to the goal (which may be in the air)."""

    gain = 2.0
    grasp_tolerance = 0.02  # gripper-to-block distance at which the fingers close
    closed_on_block = 0.055  # sum of finger joint positions below which the fingers hold the block (open: 0.1)
    funnel_slope = 1.5  # height above the block per metre of horizontal distance while approaching

    def clean_action(self, obs):
        o = obs["observation"]
        grip, block, fingers, goal = o[0:3], o[3:6], o[9:11], obs["desired_goal"]
        rel = block - grip
        near = np.linalg.norm(rel) < self.grasp_tolerance
        if near and fingers.sum() < self.closed_on_block:  # holding it: carry the block to the goal
            delta = goal - block
            return np.concatenate([_move_toward(delta, self.gain), [-1.0]])
        if near:  # close the fingers while centring on the block
            return np.concatenate([_move_toward(rel, self.gain), [-1.0]])
        # Approach from above: the closer horizontally, the lower, so the open fingers straddle the block.
        horizontal = np.linalg.norm(rel[:2])
        target = block + np.array([0.0, 0.0, min(0.08, self.funnel_slope * horizontal)])
        return np.concatenate([_move_toward(target - grip, self.gain), [1.0]])
