"""Image and scan encoders built from config sections: uint8 HWC in, features out; config errors name keys."""

import json
from pathlib import Path

import pytest
import torch

from robokit.config import BCConfig, apply_overrides, config_from_dict
from robokit.errors import ConfigError
from robokit.models.obs_encoder import MODALITY_ENCODERS, ObservationEncoder, check_observation_encoders

TEMPLATES = Path(__file__).resolve().parents[1] / "config" / "robomimic_templates"


def small_rgb_config(*overrides):
    config = BCConfig()
    apply_overrides(config, [
        'observation.modalities.obs.rgb=["cam_image"]',
        "observation.encoder.rgb.core_kwargs.backbone_class=ShallowConv",
        "observation.encoder.rgb.core_kwargs.pool_kwargs.num_kp=8",
        "observation.encoder.rgb.core_kwargs.feature_dimension=16",
        *overrides,
    ])
    return config


def test_rgb_encoder_takes_uint8_hwc_with_leading_dims():
    config = small_rgb_config()
    encoder = ObservationEncoder({"cam_image": (24, 24, 3), "pos": (3,)}, {"cam_image": "rgb"},
                                 {"rgb": config.observation.encoder.rgb})
    obs = {"cam_image": torch.randint(0, 256, (2, 5, 24, 24, 3), dtype=torch.uint8), "pos": torch.zeros(2, 5, 3)}
    out = encoder(obs)
    assert out.shape == (2, 5, 16 + 3) and encoder.output_dim == 19
    assert out.dtype == torch.float32


def test_uint8_images_are_scaled_once_to_unit_range():
    encoder = MODALITY_ENCODERS["rgb"]((4, 4, 3), {"core_class": None})  # no core: the float CHW pixels
    x = torch.full((1, 4, 4, 3), 255, dtype=torch.uint8)
    x[0, 0, 1] = torch.tensor([0, 51, 102], dtype=torch.uint8)
    out = encoder(x).reshape(3, 4, 4)  # (C, H, W)
    assert torch.allclose(out[:, 0, 1], torch.tensor([0.0, 0.2, 0.4]))
    assert out.max() == 1.0 and encoder.output_dim == 48


def test_randomizer_chain_from_lists_and_train_eval_behaviour():
    config = small_rgb_config(
        'observation.encoder.rgb.obs_randomizer_class=["CropRandomizer", "ColorRandomizer"]',
        'observation.encoder.rgb.obs_randomizer_kwargs=[{"crop_height": 20, "crop_width": 20, "num_crops": 2}, '
        '{"hue": 0.0, "num_samples": 3}]',
    )
    encoder = MODALITY_ENCODERS["rgb"]((24, 24, 3), config.observation.encoder.rgb)
    crop, colour = encoder.randomizers
    assert (crop.num_samples, colour.num_samples) == (2, 3) and colour.ranges["hue"] is None
    assert encoder.core.input_shape == (3, 20, 20)
    x = torch.randint(0, 256, (4, 24, 24, 3), dtype=torch.uint8)
    assert encoder(x).shape == (4, 16)
    encoder.eval()
    assert torch.equal(encoder(x), encoder(x))


def test_one_kwargs_dict_is_shared_by_a_list_of_randomizers():
    encoder = MODALITY_ENCODERS["rgb"]((24, 24, 3), {
        "core_class": None,
        "obs_randomizer_class": ["CropRandomizer", "GaussianNoiseRandomizer"],
        "obs_randomizer_kwargs": {"crop_height": 16, "crop_width": 16, "noise_std": 0.01},
    })
    assert encoder.output_dim == 3 * 16 * 16
    assert encoder.randomizers[1].noise_std == 0.01


@pytest.mark.parametrize("override, message", [
    ("observation.encoder.rgb.core_class=VisualCoer",
     ("'observation.encoder.rgb.core_class' is 'VisualCoer', which is not one of ScanCore, VisualCore; "
      "did you mean 'VisualCore'?")),
    ("observation.encoder.rgb.core_kwargs.pool_class=Softmax", "not one of SpatialMeanPool, SpatialSoftmax"),
    ('observation.encoder.rgb.obs_randomizer_class=["CropRandomizer", "Blur"]',
     ("'observation.encoder.rgb.obs_randomizer_class[1]' is 'Blur', which is not one of ColorRandomizer, "
      "CropRandomizer, GaussianNoiseRandomizer")),
    ("observation.encoder.rgb.core_kwargs.backbone_kwargs.width=3",
     "'observation.encoder.rgb.core_kwargs.backbone_kwargs.width' is not an argument of ShallowConv"),
    ("observation.encoder.rgb.core_kwargs.feature_dim=3",
     "'observation.encoder.rgb.core_kwargs.feature_dim' is not an argument of VisualCore"),
])
def test_unknown_names_and_arguments_are_config_errors_before_any_shape(override, message):
    config = small_rgb_config(override)
    with pytest.raises(ConfigError) as info:
        check_observation_encoders(config.observation)
    assert message in str(info.value)


def test_arguments_of_other_classes_in_the_table_are_dropped():
    # robomimic's defaults carry the ResNet's `pretrained` and crop sizes next to other choices
    config = small_rgb_config('observation.encoder.rgb.obs_randomizer_class="GaussianNoiseRandomizer"',
                              'observation.encoder.rgb.obs_randomizer_kwargs={"crop_height": 20}')
    assert config.observation.encoder.rgb.core_kwargs["backbone_kwargs"]["pretrained"] is False
    check_observation_encoders(config.observation)
    assert MODALITY_ENCODERS["rgb"]((24, 24, 3), config.observation.encoder.rgb).output_dim == 16


def test_randomizer_config_types_are_checked_in_the_config():
    with pytest.raises(ConfigError, match="obs_randomizer_class' must be null, a class name or a list"):
        small_rgb_config("observation.encoder.rgb.obs_randomizer_class=[1, 2]")
    with pytest.raises(ConfigError, match="must be a list of as many class names"):
        small_rgb_config('observation.encoder.rgb.obs_randomizer_kwargs=[{}, {}]')
    config = small_rgb_config('observation.encoder.rgb.obs_randomizer_kwargs={"crop_height": 20}',
                              "observation.encoder.rgb.obs_randomizer_kwargs.crop_width=18")
    assert config.observation.encoder.rgb.obs_randomizer_kwargs == {"crop_height": 20, "crop_width": 18}


def test_robomimic_image_template_builds_its_encoder():
    d = json.loads((TEMPLATES / "bc.json").read_text())
    d["observation"]["modalities"]["obs"]["rgb"] = ["agentview_image"]
    d["observation"]["encoder"]["rgb"]["obs_randomizer_class"] = "CropRandomizer"
    config = config_from_dict(d)
    check_observation_encoders(config.observation)
    encoder = MODALITY_ENCODERS["rgb"]((84, 84, 3), config.observation.encoder.rgb)
    assert encoder.core.input_shape == (3, 76, 76) and encoder.output_dim == 64
    encoder.eval()
    assert encoder(torch.zeros(2, 84, 84, 3, dtype=torch.uint8)).shape == (2, 64)


def test_depth_and_scan_encoders():
    depth = MODALITY_ENCODERS["depth"]((16, 16, 1), {
        "core_class": "VisualCore",
        "core_kwargs": {"backbone_class": "ShallowConv", "pool_class": "SpatialMeanPool", "feature_dimension": None},
    })
    assert depth(torch.zeros(3, 16, 16, 1, dtype=torch.uint8)).shape == (3, 32) == (3, depth.output_dim)
    scan = MODALITY_ENCODERS["scan"]((64,), {"core_class": "ScanCore", "core_kwargs": {"feature_dimension": 10}})
    assert scan(torch.rand(5, 64)).shape == (5, 10)
    pooled = MODALITY_ENCODERS["scan"]((64, 2), {"core_class": "ScanCore", "core_kwargs": {
        "pool_class": "SpatialSoftmax", "pool_kwargs": {"num_kp": 4}}})
    assert pooled(torch.rand(5, 64, 2)).shape == (5, 8)
