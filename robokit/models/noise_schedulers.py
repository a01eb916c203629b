"""Diffusion noise schedules and samplers: DDPM (Ho et al. 2020) and DDIM (Song et al. 2021), in plain torch.

The numbers follow diffusers' `DDPMScheduler` / `DDIMScheduler` (which robomimic v0.5's Diffusion Policy calls)
with their defaults ("leading" timestep spacing, DDPM variance "fixed_small", DDIM eta = 0), so configs
written for robomimic behave the same; tests/models/test_noise_schedulers.py compares them with diffusers.

    schedule = DDPM(num_train_timesteps=100, beta_schedule="squaredcos_cap_v2", clip_sample=True)
    noisy = schedule.add_noise(x0, noise, t)                   # training: x_t from x_0, (B,) timesteps
    target = schedule.training_target(x0, noise, t)            # what the network predicts (prediction_type)
    x = torch.randn(B, T, A)
    for t, prev_t in schedule.inference_steps(n):              # sampling
        x = schedule.step(model(x, t), t, prev_t, x)

Betas are computed in float64 and stored, like diffusers, as float32: alphas_cumprod[t] = prod_{s<=t}(1 - beta_s).
"""

from __future__ import annotations

import math

import torch

BETA_SCHEDULES = ("linear", "scaled_linear", "squaredcos_cap_v2")
PREDICTION_TYPES = ("epsilon", "sample", "v_prediction")


def make_betas(num_train_timesteps: int, beta_schedule: str, beta_start: float = 1e-4,
               beta_end: float = 0.02) -> torch.Tensor:
    """(T,) float32 betas. "squaredcos_cap_v2" is the cosine schedule of Nichol & Dhariwal (2021):
    alpha_bar(s) = cos((s + 0.008) / 1.008 * pi / 2)^2, beta_i = min(1 - alpha_bar((i+1)/T) / alpha_bar(i/T), 0.999)."""
    n = int(num_train_timesteps)
    if beta_schedule == "linear":
        return torch.linspace(beta_start, beta_end, n, dtype=torch.float32)
    if beta_schedule == "scaled_linear":
        return torch.linspace(beta_start ** 0.5, beta_end ** 0.5, n, dtype=torch.float32) ** 2
    if beta_schedule == "squaredcos_cap_v2":
        def alpha_bar(s: float) -> float:
            return math.cos((s + 0.008) / 1.008 * math.pi / 2) ** 2

        betas = [min(1 - alpha_bar((i + 1) / n) / alpha_bar(i / n), 0.999) for i in range(n)]
        return torch.tensor(betas, dtype=torch.float32)
    raise ValueError(f"unknown beta_schedule {beta_schedule!r}; expected one of {', '.join(BETA_SCHEDULES)}")


class NoiseSchedule:
    """The forward (noising) process shared by DDPM and DDIM, and the conversion of a network output into the
    predicted clean sample x_0 and noise epsilon.

    Args:
        num_train_timesteps: T, diffusion steps of training (timesteps 0 .. T-1).
        beta_schedule: one of BETA_SCHEDULES.
        clip_sample: clamp the predicted x_0 to [-clip_sample_range, clip_sample_range] while sampling (the data
            must then be normalised into that range: min-max actions in [-1, 1]).
        prediction_type: what the network outputs: "epsilon" (the noise), "sample" (x_0) or "v_prediction".
    """

    def __init__(self, num_train_timesteps: int = 100, beta_schedule: str = "squaredcos_cap_v2",
                 clip_sample: bool = True, prediction_type: str = "epsilon", beta_start: float = 1e-4,
                 beta_end: float = 0.02, clip_sample_range: float = 1.0):
        if prediction_type not in PREDICTION_TYPES:
            raise ValueError(f"unknown prediction_type {prediction_type!r}; expected one of {PREDICTION_TYPES}")
        self.num_train_timesteps = int(num_train_timesteps)
        self.clip_sample = bool(clip_sample)
        self.clip_sample_range = float(clip_sample_range)
        self.prediction_type = prediction_type
        self.betas = make_betas(num_train_timesteps, beta_schedule, beta_start, beta_end)  # (T,)
        self.alphas_cumprod = torch.cumprod(1.0 - self.betas, dim=0)  # (T,) float32
        self._alpha_bar = self.alphas_cumprod.tolist()  # python floats, for the per-step scalars

    # ----- training -----
    def _coefficients(self, timesteps: torch.Tensor, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """sqrt(alpha_bar_t), sqrt(1 - alpha_bar_t) for (B,) timesteps, shaped (B, 1, ...) to broadcast with `like`."""
        alpha_bar = self.alphas_cumprod.to(like.device)[timesteps].to(like.dtype)  # (B,)
        shape = (-1,) + (1,) * (like.dim() - 1)
        return alpha_bar.sqrt().view(shape), (1.0 - alpha_bar).sqrt().view(shape)

    def add_noise(self, x0: torch.Tensor, noise: torch.Tensor, timesteps: torch.Tensor) -> torch.Tensor:
        """x_t = sqrt(alpha_bar_t) x_0 + sqrt(1 - alpha_bar_t) noise; x0, noise (B, ...), timesteps (B,) long."""
        a, s = self._coefficients(timesteps, x0)
        return a * x0 + s * noise

    def training_target(self, x0: torch.Tensor, noise: torch.Tensor, timesteps: torch.Tensor) -> torch.Tensor:
        """What the network is trained to output at x_t: the noise, x_0, or v = sqrt(ab) noise - sqrt(1-ab) x_0."""
        if self.prediction_type == "epsilon":
            return noise
        if self.prediction_type == "sample":
            return x0
        a, s = self._coefficients(timesteps, x0)
        return a * noise - s * x0

    # ----- sampling -----
    def alpha_bar(self, t: int) -> float:
        """alpha_bar at timestep t; 1 for t < 0 (the clean end of the chain)."""
        return self._alpha_bar[t] if t >= 0 else 1.0

    def inference_timesteps(self, num_inference_steps: int, steps_offset: int = 0) -> list[int]:
        """Descending timesteps of sampling: 0, r, 2r, ... (r = T // n) reversed, plus steps_offset ("leading")."""
        n = int(num_inference_steps)
        if not 1 <= n <= self.num_train_timesteps:
            raise ValueError(f"num_inference_steps must be in [1, {self.num_train_timesteps}], got {n}")
        ratio = self.num_train_timesteps // n
        return [i * ratio + steps_offset for i in reversed(range(n))]

    def inference_steps(self, num_inference_steps: int) -> list[tuple[int, int]]:
        """(t, previous t) pairs of sampling, previous t = -1 at the last step."""
        ts = self.inference_timesteps(num_inference_steps)
        return list(zip(ts, ts[1:] + [-1]))

    def predict_original(self, model_output: torch.Tensor, t: int, sample: torch.Tensor,
                         clip: bool | None = None) -> torch.Tensor:
        """x_0 predicted from the network output at x_t = `sample` (clamped when clip_sample, unless clip=False)."""
        alpha_bar = self.alpha_bar(t)
        if self.prediction_type == "epsilon":
            x0 = (sample - (1.0 - alpha_bar) ** 0.5 * model_output) / alpha_bar ** 0.5
        elif self.prediction_type == "sample":
            x0 = model_output
        else:
            x0 = alpha_bar ** 0.5 * sample - (1.0 - alpha_bar) ** 0.5 * model_output
        if self.clip_sample if clip is None else clip:
            x0 = x0.clamp(-self.clip_sample_range, self.clip_sample_range)
        return x0


class DDPM(NoiseSchedule):
    """Ancestral sampling of DDPM: x_{t'} ~ N(mu(x_t, x_0), sigma_t^2) with sigma_t^2 = (1 - ab_t') / (1 - ab_t) beta
    ("fixed_small"), where t' is the previous inference timestep and beta = 1 - ab_t / ab_t'."""

    def step(self, model_output: torch.Tensor, t: int, prev_t: int, sample: torch.Tensor,
             generator: torch.Generator | None = None, noise: torch.Tensor | None = None) -> torch.Tensor:
        """x_{prev_t} from x_t = `sample` (B, ...) and the network output at t; `noise` (or `generator`) for the
        sampling noise (none is added at t = 0)."""
        ab_t, ab_prev = self.alpha_bar(t), self.alpha_bar(prev_t)
        alpha_t = ab_t / ab_prev
        beta_t = 1.0 - alpha_t
        x0 = self.predict_original(model_output, t, sample)
        x0_coeff = ab_prev ** 0.5 * beta_t / (1.0 - ab_t)
        sample_coeff = alpha_t ** 0.5 * (1.0 - ab_prev) / (1.0 - ab_t)
        prev = x0_coeff * x0 + sample_coeff * sample  # the posterior mean
        if t > 0:
            variance = max((1.0 - ab_prev) / (1.0 - ab_t) * beta_t, 1e-20)
            if noise is None:
                noise = torch.randn(sample.shape, generator=generator, device=sample.device, dtype=sample.dtype)
            prev = prev + variance ** 0.5 * noise
        return prev


class DDIM(NoiseSchedule):
    """Deterministic DDIM sampling (eta = 0): x_{t'} = sqrt(ab_t') x_0 + sqrt(1 - ab_t') eps.

    set_alpha_to_one: the last step lands on alpha_bar = 1 (a clean sample) instead of alpha_bar_0.
    steps_offset: added to every inference timestep (diffusers' steps_offset).
    """

    def __init__(self, *args, set_alpha_to_one: bool = True, steps_offset: int = 0, **kwargs):
        super().__init__(*args, **kwargs)
        self.set_alpha_to_one = bool(set_alpha_to_one)
        self.steps_offset = int(steps_offset)
        self.final_alpha_bar = 1.0 if self.set_alpha_to_one else self._alpha_bar[0]

    def inference_timesteps(self, num_inference_steps: int, steps_offset: int | None = None) -> list[int]:
        offset = self.steps_offset if steps_offset is None else steps_offset
        ts = super().inference_timesteps(num_inference_steps, offset)
        if ts[0] >= self.num_train_timesteps:
            raise ValueError(f"steps_offset={offset} puts the first timestep at {ts[0]}, past the "
                             f"{self.num_train_timesteps} training timesteps")
        return ts

    def inference_steps(self, num_inference_steps: int) -> list[tuple[int, int]]:
        """(t, t - T // n) pairs: as diffusers, the previous timestep is one stride back (-k < 0: the final alpha)."""
        ratio = self.num_train_timesteps // int(num_inference_steps)
        return [(t, t - ratio) for t in self.inference_timesteps(num_inference_steps)]

    def step(self, model_output: torch.Tensor, t: int, prev_t: int, sample: torch.Tensor,
             generator: torch.Generator | None = None, noise: torch.Tensor | None = None) -> torch.Tensor:
        ab_t = self.alpha_bar(t)
        ab_prev = self._alpha_bar[prev_t] if prev_t >= 0 else self.final_alpha_bar
        x0 = self.predict_original(model_output, t, sample)
        if self.prediction_type == "epsilon":  # the noise the network saw, from its output before clipping x_0
            eps = model_output
        elif self.prediction_type == "sample":
            eps = (sample - ab_t ** 0.5 * model_output) / (1.0 - ab_t) ** 0.5
        else:
            eps = ab_t ** 0.5 * model_output + (1.0 - ab_t) ** 0.5 * sample
        return ab_prev ** 0.5 * x0 + (1.0 - ab_prev) ** 0.5 * eps


__all__ = ["DDPM", "DDIM", "NoiseSchedule", "make_betas", "BETA_SCHEDULES", "PREDICTION_TYPES"]
