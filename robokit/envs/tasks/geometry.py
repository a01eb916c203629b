"""The layout of robokit/ObstacleReach-v0, shared by the environment, its scripted expert and the tests.

Plain constants (no MuJoCo import), so the expert and the registry can use them without the `sim` extra.
The MJCF file `assets/obstacle_reach.xml` has the same walls; a test checks that the two agree.

    y
    0.5  +--------------------------------------+
         |                  (G)                 |   goal centre (0, 0.4)
         |                                      |
    0.0  |                  /\\                  |   the chevron: two 2 cm thick walls from its mouth
         |                 /  \\                 |   corners (-0.1, -0.21) and (0.1, -0.21) up to its
         |                /    \\                |   apex (0, 0), open toward the start
   -0.21 |               /      \\               |
         |                                      |
   -0.4  |                  ..                  |   agent centre x in [-0.02, 0.02], y in [-0.42, -0.38]
   -0.5  +--------------------------------------+
        -0.5                                   0.5  x

The straight path from the start to the goal runs into the chevron's mouth; a disc pushed straight ahead
slides along a wall to the apex and stays there, since only moving back would free it. The agent must pass the
chevron on the left or on the right, two equally long ways; demonstrations that take either one, 50/50, are
multimodal, and the mean of the two ways' actions is the straight path into the trap.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

Segment = tuple[float, float, float, float]  # (x1, y1, x2, y2): a wall's centre line


@dataclass(frozen=True)
class ObstacleReachGeometry:
    """Sizes (metres) and reset regions of the obstacle-reach arena."""

    arena_half_size: float = 0.5  # the walls' inner faces are at x, y = +-0.5
    walls: tuple[Segment, ...] = (
        (-0.1, -0.21, 0.0, 0.0),  # left wall: mouth corner to apex
        (0.1, -0.21, 0.0, 0.0),  # right wall
    )
    wall_half_thickness: float = 0.01
    wall_overhang: float = 0.008  # each wall box reaches this far past its segment's ends (closes the apex)
    agent_radius: float = 0.03
    goal_radius: float = 0.05  # success: agent centre within this distance of the goal centre
    start_x: tuple[float, float] = (-0.02, 0.02)  # uniform reset ranges of the agent's centre
    start_y: tuple[float, float] = (-0.42, -0.38)
    goal_x: tuple[float, float] = (0.0, 0.0)  # reset ranges of the goal's centre (fixed)
    goal_y: tuple[float, float] = (0.4, 0.4)
    max_speed: float = 0.5  # m/s per axis at |action| = 1 (the actuators' gear)
    control_dt: float = 0.1  # seconds per env step (timestep 0.01 x frame_skip 10)

    @property
    def obstacle_half_width(self) -> float:
        """Half the chevron's extent in x, thickness included."""
        return max(max(abs(x1), abs(x2)) for x1, _, x2, _ in self.walls) + self.wall_half_thickness

    def wall_boxes(self) -> list[tuple[float, float, float, float]]:
        """Each wall as an MJCF box: (centre x, centre y, half length, angle of its long axis in radians)."""
        boxes = []
        for x1, y1, x2, y2 in self.walls:
            half_length = math.hypot(x2 - x1, y2 - y1) / 2 + self.wall_overhang
            boxes.append(((x1 + x2) / 2, (y1 + y2) / 2, half_length, math.atan2(y2 - y1, x2 - x1)))
        return boxes

    def clearance(self, x: float, y: float) -> float:
        """Distance from the rim of an agent centred at (x, y) to the nearest wall (< 0: overlapping).

        Walls are treated as their centre lines thickened by `wall_half_thickness` (rounded ends), which is
        within the overhang of the boxes MuJoCo simulates.
        """
        gaps = []
        for x1, y1, x2, y2 in self.walls:
            dx, dy = x2 - x1, y2 - y1
            t = min(1.0, max(0.0, ((x - x1) * dx + (y - y1) * dy) / (dx * dx + dy * dy)))
            gaps.append(math.hypot(x - (x1 + t * dx), y - (y1 + t * dy)))
        return min(gaps) - self.wall_half_thickness - self.agent_radius


OBSTACLE_REACH = ObstacleReachGeometry()
