"""The scripted-expert interface and the Fetch observation layout the experts read."""

from __future__ import annotations

import abc

import numpy as np


class Expert(abc.ABC):
    """A scripted policy: pure numpy, reads only the observation dict, returns actions in [-1, 1].

    `noise_std` > 0 adds clipped Gaussian noise to every action (for mixed-quality datasets);
    the noise comes from `rng`, so a seeded generator makes the noisy expert reproducible.
    """

    action_dim: int = 4
    mode: str | None = None  # multimodal experts: the way chosen for the current episode (set by reset())

    def __init__(self, noise_std: float = 0.0, rng: np.random.Generator | None = None):
        if noise_std < 0:
            raise ValueError(f"noise_std must be >= 0, got {noise_std}")
        self.noise_std = float(noise_std)
        self.rng = rng if rng is not None else np.random.default_rng()

    def reset(self) -> None:
        """Called at the start of every episode."""

    def set_instruction(self, lang: str | None) -> None:
        """The episode's language instruction (`env.get_lang()`), given after `reset`; experts of language
        tasks read which goal it names, the others ignore it."""

    def act(self, obs: dict[str, np.ndarray]) -> np.ndarray:
        """The action for `obs`: the expert's clean action plus optional noise, clipped to [-1, 1]."""
        action = np.asarray(self.clean_action(obs), dtype=np.float64)
        if self.noise_std > 0:
            action = action + self.rng.normal(0.0, self.noise_std, size=action.shape)
        return np.clip(action, -1.0, 1.0).astype(np.float32)  # (action_dim,)

    @abc.abstractmethod
    def clean_action(self, obs: dict[str, np.ndarray]) -> np.ndarray:
        """The noise-free action for `obs`, shape (action_dim,)."""
