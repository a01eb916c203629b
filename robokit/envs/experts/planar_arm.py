"""The scripted expert of robokit/PlanarArm{3,4,5}-v0: damped least-squares inverse kinematics toward the target.

Each step it asks the fingertip to cover `gain` of the remaining way to the target (at most `max_step` metres),
and solves for the joint motion with damped least squares,

    dq = J^T (J J^T + damping^2 I)^-1 dx,      J = d fingertip / d q  (2, n), from the observed joint angles,

which stays bounded near singular poses (a stretched-out arm). dq is sent as a velocity command over the
0.05 s control step, scaled down as a whole (direction kept) when a joint would exceed its 2 rad/s. The same
expert drives any number of links: it reads the arm's size from the number of joint angles it observes.
"""

from __future__ import annotations

import numpy as np

from robokit.envs.experts.base import Expert
from robokit.envs.tasks.planar_arm_geometry import PLANAR_ARMS


class PlanarArmExpert(Expert):
    """Damped least-squares IK toward `obs["target"]`.

    Args:
        n_links: the arm's number of joints (its action dim); None: read it from each observation.
        gain: fraction of the fingertip-to-target vector asked for per step.
        max_step: longest fingertip move asked for per step (metres).
        damping: the damped least-squares lambda (metres).
        noise_std, rng: as for every expert.
    """

    def __init__(self, n_links: int | None = None, gain: float = 0.5, max_step: float = 0.05, damping: float = 0.05,
                 posture: float = 0.5, posture_gain: float = 0.05, noise_std: float = 0.0,
                 rng: np.random.Generator | None = None):
        super().__init__(noise_std=noise_std, rng=rng)
        self.posture, self.posture_gain = float(posture), float(posture_gain)
        if n_links is not None and n_links not in PLANAR_ARMS:
            raise ValueError(f"n_links must be one of {sorted(PLANAR_ARMS)} or None, got {n_links!r}")
        self.action_dim = n_links
        self.gain, self.max_step, self.damping = float(gain), float(max_step), float(damping)

    def clean_action(self, obs):
        q = np.asarray(obs["joint_pos"], dtype=np.float64)
        if len(q) not in PLANAR_ARMS or (self.action_dim is not None and len(q) != self.action_dim):
            raise ValueError(f"observed {len(q)} joint angles; expected {self.action_dim or sorted(PLANAR_ARMS)}")
        geometry = PLANAR_ARMS[len(q)]
        error = np.asarray(obs["target"], dtype=np.float64) - np.asarray(obs["fingertip"], dtype=np.float64)
        step = self.gain * error
        norm = float(np.linalg.norm(step))
        if norm > self.max_step:
            step *= self.max_step / norm
        jac = geometry.jacobian(q)  # (2, n)
        pinv = jac.T @ np.linalg.inv(jac @ jac.T + self.damping**2 * np.eye(2))  # (n, 2) damped pseudo-inverse
        dq = pinv @ step  # (n,) radians this step
        posture = np.zeros_like(q)
        posture[1:] = self.posture_gain * (self.posture - q[1:])  # the joints after the first toward a bend
        dq = dq + (np.eye(len(q)) - pinv @ jac) @ posture  # ... in the arm's null space only
        action = dq / (geometry.max_joint_speed * geometry.control_dt)
        return action / max(1.0, float(np.abs(action).max()))


class PlanarArmLangExpert(PlanarArmExpert):
    """The expert of robokit/PlanarArmLang-v0: PlanarArmExpert toward the target the episode's instruction names
    (`set_instruction`, called by run_expert_episode after each reset), read from obs["targets"]."""

    def __init__(self, **kwargs):
        super().__init__(n_links=3, **kwargs)
        self.goal_index: int | None = None

    def set_instruction(self, lang: str | None) -> None:
        from robokit.envs.tasks.planar_arm_lang import COLOURS, instruction_colour

        if lang is None:
            raise ValueError("PlanarArmLangExpert needs the episode's instruction (env.get_lang())")
        self.goal_index = COLOURS.index(instruction_colour(lang))

    def clean_action(self, obs):
        if self.goal_index is None:
            raise ValueError("PlanarArmLangExpert: call set_instruction(lang) after each reset")
        target = np.asarray(obs["targets"], dtype=np.float64)[2 * self.goal_index:2 * self.goal_index + 2]
        return super().clean_action({"joint_pos": obs["joint_pos"], "fingertip": obs["fingertip"], "target": target})
