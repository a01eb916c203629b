"""Observation randomizers (data augmentation) that wrap an encoder core, as in robomimic.

A randomizer's `forward_in` acts on the core's input (float images (N, C, H, W), or any (N, ...) for noise);
at training it may return `num_samples` randomised copies of each input, (N * S, ...), and its
`forward_out` then averages the core's features over the copies, (N * S, D) -> (N, D). At evaluation
(`module.eval()`) it is deterministic: crops are centred, colour jitter and noise are off.
Several randomizers chain: forward_in in the listed order, forward_out in reverse.
`RANDOMIZERS` is the name table configs choose from (`obs_randomizer_class`).
"""

import torch
from torch import nn

from robokit.models.vision import coordinate_grid


class Randomizer(nn.Module):
    """Base class: identity at evaluation; subclasses implement `_forward_in` (training) and may override
    `_forward_in_eval` and `output_shape_in` (the shape the core sees)."""

    num_samples = 1  # randomised copies per input at training

    def output_shape_in(self, input_shape) -> tuple[int, ...]:
        return tuple(input_shape)

    def forward_in(self, x: torch.Tensor) -> torch.Tensor:
        """(N, ...) -> (N * num_samples, ...) at training, (N, ...) at evaluation."""
        return self._forward_in(x) if self.training else self._forward_in_eval(x)

    def forward_out(self, features: torch.Tensor) -> torch.Tensor:
        """(N * num_samples, D) -> (N, D): the mean over each input's copies (training only)."""
        if not self.training or self.num_samples == 1:
            return features
        return features.reshape(-1, self.num_samples, *features.shape[1:]).mean(dim=1)  # (N, D)

    def _forward_in(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def _forward_in_eval(self, x: torch.Tensor) -> torch.Tensor:
        return x

    def _copies(self, x: torch.Tensor) -> torch.Tensor:
        return x.repeat_interleave(self.num_samples, dim=0)  # (N * S, ...): copies of input i are contiguous


class CropRandomizer(Randomizer):
    """Random crops of (crop_height, crop_width) at training, the centre crop at evaluation.

    (N, C, H, W) -> (N * num_crops, C', crop_height, crop_width), C' = C + 2 with pos_enc, which appends each
    cropped pixel's (x, y) position in the full image (in [-1, 1]) as two channels.
    """

    def __init__(self, input_shape, crop_height: int = 76, crop_width: int = 76, num_crops: int = 1,
                 pos_enc: bool = False):
        super().__init__()
        if len(input_shape) != 3:
            raise ValueError(f"CropRandomizer needs (C, H, W) inputs, got shape {tuple(input_shape)}")
        self.channels, self.height, self.width = input_shape
        if not (0 < crop_height <= self.height and 0 < crop_width <= self.width):
            raise ValueError(f"crop {crop_height}x{crop_width} does not fit in {self.height}x{self.width} images; "
                             "set crop_height/crop_width to at most the image size")
        if num_crops < 1:
            raise ValueError(f"num_crops must be >= 1, got {num_crops}")
        self.crop_height, self.crop_width = crop_height, crop_width
        self.num_samples = num_crops
        self.pos_enc = pos_enc

    def output_shape_in(self, input_shape) -> tuple[int, int, int]:
        return (self.channels + 2 * self.pos_enc, self.crop_height, self.crop_width)

    def _forward_in(self, x: torch.Tensor) -> torch.Tensor:
        x = self._with_positions(self._copies(x))  # (M, C', H, W), M = N * num_crops
        m = x.shape[0]
        top = torch.randint(0, self.height - self.crop_height + 1, (m,), device=x.device)
        left = torch.randint(0, self.width - self.crop_width + 1, (m,), device=x.device)
        return self._crop(x, top, left)

    def _forward_in_eval(self, x: torch.Tensor) -> torch.Tensor:
        x = self._with_positions(x)
        top = x.new_full((x.shape[0],), (self.height - self.crop_height) // 2, dtype=torch.long)
        left = x.new_full((x.shape[0],), (self.width - self.crop_width) // 2, dtype=torch.long)
        return self._crop(x, top, left)

    def _with_positions(self, x: torch.Tensor) -> torch.Tensor:
        if not self.pos_enc:
            return x
        grid = coordinate_grid(self.height, self.width, x.device).to(x.dtype)  # (2, H, W)
        return torch.cat([x, grid.expand(x.shape[0], -1, -1, -1)], dim=1)  # (M, C + 2, H, W)

    def _crop(self, x: torch.Tensor, top: torch.Tensor, left: torch.Tensor) -> torch.Tensor:
        """Per-sample crops at (top, left), each (M,): one gather, no Python loop."""
        rows = top[:, None] + torch.arange(self.crop_height, device=x.device)  # (M, ch)
        cols = left[:, None] + torch.arange(self.crop_width, device=x.device)  # (M, cw)
        sample = torch.arange(x.shape[0], device=x.device)[:, None, None]  # (M, 1, 1)
        crops = x.permute(0, 2, 3, 1)[sample, rows[:, :, None], cols[:, None, :]]  # (M, ch, cw, C)
        return crops.permute(0, 3, 1, 2).contiguous()  # (M, C, ch, cw)


def _factor_range(value, name: str, centre: float) -> tuple[float, float] | None:
    """A jitter strength v -> (centre - v, centre + v) (clipped at 0 for factors); [lo, hi] as given; 0/None off."""
    if value is None or value == 0:
        return None
    if isinstance(value, (int, float)):
        if value < 0:
            raise ValueError(f"{name} must be >= 0, got {value}")
        lo = centre - value if centre == 0 else max(0.0, centre - value)
        return (lo, centre + value)
    lo, hi = value
    if lo > hi:
        raise ValueError(f"{name} range [{lo}, {hi}] has min > max")
    return (float(lo), float(hi))


def _gray(x: torch.Tensor) -> torch.Tensor:
    """(N, 3, H, W) RGB -> (N, 1, H, W) luma (ITU-R 601)."""
    return (0.299 * x[:, 0:1] + 0.587 * x[:, 1:2] + 0.114 * x[:, 2:3])


def _shift_hue(x: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
    """Rotate the hue of RGB images (N, 3, H, W) in [0, 1] by shift (N,) turns (via HSV)."""
    r, g, b = x[:, 0], x[:, 1], x[:, 2]  # (N, H, W)
    value, _ = x.max(dim=1)
    chroma = value - x.min(dim=1).values
    safe = torch.where(chroma > 0, chroma, torch.ones_like(chroma))
    hue = torch.where(value == r, ((g - b) / safe) % 6,
                      torch.where(value == g, (b - r) / safe + 2, (r - g) / safe + 4)) / 6  # (N, H, W) in [0, 1)
    hue = torch.where(chroma > 0, hue, torch.zeros_like(hue))
    hue = (hue + shift[:, None, None]) % 1.0
    k = (torch.tensor([5.0, 3.0, 1.0], device=x.device)[None, :, None, None] + hue[:, None] * 6) % 6  # (N, 3, H, W)
    return value[:, None] - chroma[:, None] * torch.clamp(torch.minimum(k, 4 - k), 0, 1)


class ColorRandomizer(Randomizer):
    """Colour jitter of float RGB images (N, 3, H, W) in [0, 1] at training, per image, in a random order.

    brightness, contrast, saturation: a strength v draws a factor from [max(0, 1 - v), 1 + v], or give
    [min, max]; hue: v draws a rotation from [-v, v] turns (v <= 0.5), or give [min, max]; 0 or null: off.
    Images with other than 3 channels get brightness and contrast only.
    """

    def __init__(self, input_shape, brightness=0.3, contrast=0.3, saturation=0.3, hue=0.3, num_samples: int = 1):
        super().__init__()
        self.channels = input_shape[0]
        self.ranges = {
            "brightness": _factor_range(brightness, "brightness", 1.0),
            "contrast": _factor_range(contrast, "contrast", 1.0),
            "saturation": _factor_range(saturation, "saturation", 1.0) if self.channels == 3 else None,
            "hue": _factor_range(hue, "hue", 0.0) if self.channels == 3 else None,
        }
        if num_samples < 1:
            raise ValueError(f"num_samples must be >= 1, got {num_samples}")
        self.num_samples = num_samples

    def _forward_in(self, x: torch.Tensor) -> torch.Tensor:
        x = self._copies(x)  # (M, C, H, W)
        m = x.shape[0]
        for i in torch.randperm(len(self.ranges)).tolist():
            name, bounds = list(self.ranges.items())[i]
            if bounds is None:
                continue
            factor = torch.empty(m, device=x.device).uniform_(*bounds)  # (M,)
            f = factor[:, None, None, None]
            if name == "brightness":
                x = x * f
            elif name == "contrast":
                mean = (_gray(x) if self.channels == 3 else x).mean(dim=(1, 2, 3), keepdim=True)  # (M, 1, 1, 1)
                x = (x - mean) * f + mean
            elif name == "saturation":
                gray = _gray(x)
                x = (x - gray) * f + gray
            else:
                x = _shift_hue(x.clamp(0, 1), factor)
            x = x.clamp(0, 1)
        return x


class GaussianNoiseRandomizer(Randomizer):
    """Adds N(noise_mean, noise_std^2) noise at training (any input shape), clamped to limits=[min, max] if given."""

    def __init__(self, input_shape, noise_mean: float = 0.0, noise_std: float = 0.3, limits=None,
                 num_samples: int = 1):
        super().__init__()
        if noise_std < 0:
            raise ValueError(f"noise_std must be >= 0, got {noise_std}")
        if num_samples < 1:
            raise ValueError(f"num_samples must be >= 1, got {num_samples}")
        self.noise_mean, self.noise_std, self.limits = noise_mean, noise_std, limits
        self.num_samples = num_samples

    def _forward_in(self, x: torch.Tensor) -> torch.Tensor:
        x = self._copies(x)
        x = x + torch.randn_like(x) * self.noise_std + self.noise_mean
        return x.clamp(*self.limits) if self.limits is not None else x


RANDOMIZERS: dict[str, type] = {
    "CropRandomizer": CropRandomizer,
    "ColorRandomizer": ColorRandomizer,
    "GaussianNoiseRandomizer": GaussianNoiseRandomizer,
}
