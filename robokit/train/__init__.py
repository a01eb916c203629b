"""Training and evaluation: the offline loop, rollouts, checkpoints and logging."""

from robokit.train.checkpoint import (
    env_from_checkpoint,
    load_checkpoint,
    policy_from_checkpoint,
    save_checkpoint,
)

__all__ = ["policy_from_checkpoint", "env_from_checkpoint", "load_checkpoint", "save_checkpoint"]
