"""robomimic's own config templates load with the right values; unsupported robomimic keys are reported."""

import json
from pathlib import Path

import pytest

from robokit.config import BCConfig, config_from_dict, load_config
from robokit.errors import ConfigError

TEMPLATES = Path(__file__).parent / "robomimic_templates"


def template(name):
    return json.loads((TEMPLATES / name).read_text())


def test_bc_template_loads():
    c = load_config(TEMPLATES / "bc.json")
    assert isinstance(c, BCConfig)
    assert c.experiment.validate is True
    assert c.train.output_dir == "../bc_trained_models"
    assert c.train.hdf5_load_next_obs is False
    assert c.observation.modalities.obs.low_dim == [
        "robot0_eef_pos",
        "robot0_eef_quat",
        "robot0_gripper_qpos",
        "object",
    ]
    assert c.observation.encoder.rgb.core_kwargs["pool_kwargs"]["num_kp"] == 32
    assert c.observation.encoder.scan.core_kwargs["conv_kwargs"]["stride"] == [4, 2, 1]
    # keys the template leaves out keep robokit's defaults
    assert c.experiment.logging.log_wandb is False
    assert c.algo.optim_params.policy.learning_rate.scheduler_type == "multistep"
    assert c.algo.transformer.enabled is False


def test_bc_transformer_template_loads():
    c = load_config(TEMPLATES / "bc_transformer.json")
    assert c.algo.transformer.enabled is True
    assert c.train.frame_stack == 10 == c.algo.transformer.context_length
    assert c.algo.gmm.enabled is True
    assert c.algo.actor_layer_dims == []
    assert c.train.dataset_keys == ["actions"]
    policy = c.algo.optim_params.policy
    assert policy.optimizer_type == "adamw"
    assert policy.learning_rate.scheduler_type == "linear" and policy.learning_rate.epoch_schedule == [100]
    assert policy.regularization.L2 == 0.01
    assert c.observation.encoder.rgb.obs_randomizer_class == "CropRandomizer"
    assert c.experiment.save.every_n_epochs == 200


def test_unsupported_robomimic_keys_are_listed():
    d = template("bc.json")
    d["experiment"]["mse"] = {"enabled": True, "every_n_epochs": 50}
    d["experiment"]["rollout"]["batched"] = True
    with pytest.raises(ConfigError) as info:
        config_from_dict(d)
    message = str(info.value)
    assert message.startswith(
        "robomimic keys not supported by robokit yet: experiment.mse, "
        "experiment.rollout.batched (remove them from the config"
    )
    assert "experiment.rollout.num_envs" in message


def test_noop_robomimic_keys_are_accepted():
    d = template("bc_transformer.json")
    d["experiment"]["rollout"].update({"batched": False, "num_batch_envs": 5})
    d["algo"]["language_conditioned"] = False
    d["experiment"]["mse"] = {"enabled": False, "every_n_epochs": 50}  # off: a no-op (v0.5's template has {})
    c = config_from_dict(d)
    assert "mse" not in c.to_dict()["experiment"]
    assert "batched" not in c.to_dict()["experiment"]["rollout"]
    d["algo"]["language_conditioned"] = True
    with pytest.raises(ConfigError, match="algo.language_conditioned .*language conditioning"):
        config_from_dict(d)


def test_diffusion_policy_template_loads_with_every_key():
    c = load_config(TEMPLATES / "diffusion_policy.json")
    assert c.algo_name == "diffusion_policy"
    h = c.algo.horizon
    assert (h.observation_horizon, h.action_horizon, h.prediction_horizon) == (2, 8, 16)
    assert (c.train.frame_stack, c.train.seq_length) == (2, 16)  # set by hand in the file, equal to the window
    assert c.algo.unet.enabled and c.algo.unet.down_dims == [256, 512, 1024] and c.algo.unet.kernel_size == 5
    assert c.algo.unet.n_groups == 8 and c.algo.unet.diffusion_step_embed_dim == 256
    assert c.algo.ema.enabled and c.algo.ema.power == 0.75
    assert c.algo.ddpm.enabled and not c.algo.ddim.enabled and c.algo.ddpm.beta_schedule == "squaredcos_cap_v2"
    assert c.algo.ddim.num_inference_timesteps == 10 and c.algo.ddim.set_alpha_to_one
    lr = c.algo.optim_params.policy.learning_rate
    assert lr.step_every_batch and lr.scheduler_type == "cosine" and lr.warmup_steps == 500 and lr.num_cycles == 0.5
    assert c.algo.optim_params.policy.optimizer_type == "adamw"
    assert c.algo.optim_params.policy.regularization.L2 == 1e-6
    # the template's action normalisation null means diffusion_policy's own: min-max to [-1, 1]
    assert c.train.action_config["actions"]["normalization"] == "min_max"


def test_diffusion_policy_template_of_the_v05_tag_contradicts_its_horizons():
    d = template("diffusion_policy.json")
    d["train"].update(frame_stack=1, seq_length=1)  # robomimic v0.5.0's file, before the fix (#251)
    with pytest.raises(ConfigError) as info:
        config_from_dict(d)
    message = str(info.value)
    assert "train.frame_stack=1" in message and "algo.horizon.observation_horizon=2" in message
    assert "\n" not in message
    del d["train"]["frame_stack"], d["train"]["seq_length"]  # left out: they follow the horizons
    c = config_from_dict(d)
    assert (c.train.frame_stack, c.train.seq_length) == (2, 16)


# ----- every template of robomimic v0.5 (GitHub) and 0.3.0 (PyPI), vendored in robomimic_templates/v*/ -----
RELEASES = ("v0.5", "v0.3.0")
RELEASE_TEMPLATES = [TEMPLATES / release / name for release in RELEASES
                     for name in sorted(p.name for p in (TEMPLATES / release).glob("*.json"))]


def test_every_release_template_is_vendored():
    assert sorted(p.name for p in (TEMPLATES / "v0.5").glob("*.json")) == [
        "bc.json", "bc_transformer.json", "bcq.json", "cql.json", "diffusion_policy.json", "gl.json", "hbc.json",
        "iql.json", "iris.json", "td3_bc.json"]
    assert sorted(p.name for p in (TEMPLATES / "v0.3.0").glob("*.json")) == [
        "bc.json", "bcq.json", "cql.json", "gl.json", "hbc.json", "iql.json", "iris.json", "td3_bc.json"]


@pytest.mark.parametrize("path", RELEASE_TEMPLATES, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_release_template_loads_unchanged(path):
    raw = json.loads(path.read_text())
    c = load_config(path)
    c.validate()
    assert c.algo_name == raw["algo_name"]
    # the values the template sets are the config's (derived window lengths aside)
    assert c.train.batch_size == raw["train"]["batch_size"] and c.train.num_epochs == raw["train"]["num_epochs"]
    assert c.experiment.rollout.horizon == raw["experiment"]["rollout"]["horizon"]
    assert c.train.normalize_weights_by_ds_size is raw["train"].get("normalize_weights_by_ds_size", False)
    assert c.train.data is None and c.train.dataset_entries() == []


@pytest.mark.parametrize("release", RELEASES)
def test_gl_template_derives_the_window_from_the_subgoal_horizon(release):
    raw = template(f"{release}/gl.json")
    assert raw["train"]["seq_length"] == 1 and raw["algo"]["subgoal_horizon"] == 10  # robomimic's own values
    c = config_from_dict(raw)
    assert c.train.seq_length == 10  # robomimic's GL reads next_obs[:, subgoal_horizon - 1]: derived, not refused
    assert not c.train.is_explicit("seq_length")
    raw["algo"]["subgoal_horizon"] = 4
    raw["train"]["seq_length"] = 6  # a longer window is kept
    assert config_from_dict(raw).train.seq_length == 6


@pytest.mark.parametrize("name", ["hbc.json", "iris.json"])
def test_hierarchical_templates_accept_the_actor_transformer_section_only_disabled(name):
    d = template(f"v0.5/{name}")
    assert d["algo"]["actor"]["transformer"]["enabled"] is False
    assert config_from_dict(d).algo.actor.transformer.enabled is False
    d["algo"]["actor"]["transformer"]["enabled"] = True
    with pytest.raises(ConfigError, match=r"^algo\.actor\.transformer\.enabled=true: the HBC / IRIS actor .* no "
                                          r"transformer"):
        config_from_dict(d)


def test_v05_bc_transformer_template_has_an_empty_mse_section():
    assert template("v0.5/bc_transformer.json")["experiment"]["mse"] == {}
    c = load_config(TEMPLATES / "v0.5" / "bc_transformer.json")
    assert c.algo.transformer.enabled and c.train.frame_stack == 10
