"""The planar arm family (robokit/PlanarArm{3,4,5}-v0): sizes, reset regions and kinematics, shared by the
environments, their scripted expert and the tests.

Plain numpy (no MuJoCo import), so the expert and the registry can use it without the `sim` extra. The MJCF
files `assets/planar_arm_<n>.xml` have the same links and servos; a test checks that the two agree.

Every arm of the family has the same reach (0.6 m) split into n equal links, turning about z at hinges
`joint_1` .. `joint_n` from a base at the origin, in the horizontal plane (no gravity, no collisions):

    y                                              the fingertip is at
    |        . target (r in [0.2, 0.55])             x = sum_i L cos(q_1 + ... + q_i)
    |      /                                         y = sum_i L sin(q_1 + ... + q_i)
    |   o-/  link 2                                L = 0.6 / n; success: the fingertip within 3 cm of the
    |  /                                           target
    o--------- x   base, joint_1

so one reaching task is posed to robots with 3, 4 and 5 joints: a policy trained on two of them can be asked
to drive the third.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class PlanarArmGeometry:
    """Sizes (metres), servos and reset regions of an n-link planar arm."""

    n_links: int
    reach: float = 0.6  # total length of the links
    success_radius: float = 0.03  # success: fingertip within this distance of the target
    target_radius: tuple[float, float] = (0.25, 0.55)  # targets: radius uniform in this range ...
    target_angle: tuple[float, float] = (-np.pi / 2, np.pi / 2)  # ... and angle (from +x) in this one
    first_joint_range: tuple[float, float] = (-np.pi / 2, np.pi / 2)  # reset: q_1 uniform in this range ...
    other_joint_range: tuple[float, float] = (-1.0, 1.0)  # ... the other joints in this one
    max_joint_speed: float = 2.0  # rad/s at |action| = 1 (the servos' gear is 1 / this)
    servo_kv: float = 40.0  # velocity servo gain: damping kv / max_joint_speed^2 against the links' inertia
    frame_skip: int = 5  # physics steps of 0.01 s per env step
    timestep: float = 0.01

    @property
    def link_length(self) -> float:
        return self.reach / self.n_links

    @property
    def control_dt(self) -> float:
        """Seconds per env step."""
        return self.timestep * self.frame_skip

    @property
    def joint_names(self) -> tuple[str, ...]:
        return tuple(f"joint_{i + 1}" for i in range(self.n_links))

    def fingertip(self, q: np.ndarray) -> np.ndarray:
        """Forward kinematics: joint angles (n,) -> fingertip position (2,)."""
        angles = np.cumsum(np.asarray(q, dtype=np.float64))
        return self.link_length * np.array([np.cos(angles).sum(), np.sin(angles).sum()])

    def jacobian(self, q: np.ndarray) -> np.ndarray:
        """d fingertip / d q, (2, n): column i moves every link from i on about joint i."""
        angles = np.cumsum(np.asarray(q, dtype=np.float64))
        x = self.link_length * np.cos(angles)[::-1].cumsum()[::-1]  # (n,) sum over links j >= i
        y = self.link_length * np.sin(angles)[::-1].cumsum()[::-1]
        return np.stack([-y, x])


PLANAR_ARM_LINKS = (3, 4, 5)
PLANAR_ARMS = {n: PlanarArmGeometry(n) for n in PLANAR_ARM_LINKS}
