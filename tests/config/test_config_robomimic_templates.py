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
    d["experiment"]["mse"] = {"enabled": False, "every_n_epochs": 50}
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
    c = config_from_dict(d)
    assert "batched" not in c.to_dict()["experiment"]["rollout"]
    d["algo"]["language_conditioned"] = True
    with pytest.raises(ConfigError, match="algo.language_conditioned .*language conditioning"):
        config_from_dict(d)
