"""Online RL configs: templates, cross-field checks, debug overrides and the exported JSON Schema."""

import json
from pathlib import Path

import pytest

from robokit.config import apply_overrides, config_factory, get_config_class, load_config
from robokit.config.online import OnlineConfig
from robokit.errors import ConfigError
from robokit.train.dispatch import is_online

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
ONLINE = ["sac", "td3", "ppo", "a2c"]


@pytest.mark.parametrize("name", [*ONLINE, "ddpg"])
def test_templates_load_as_online_configs(name):
    config = load_config(CONFIGS / f"{name}.json")
    assert isinstance(config, OnlineConfig) and is_online(config)
    assert config.experiment.env is None and config.experiment.validate is False
    assert config.observation.modalities.obs.low_dim == []  # every key of the env's observation


def test_ddpg_template_is_a_td3_variant():
    config = load_config(CONFIGS / "ddpg.json")
    assert config.algo_name == "td3" and config.algo.critic.ensemble.n == 1
    assert config.algo.actor.update_freq == 1 and config.algo.actor.noise_std == 0.0


def test_bc_is_not_online():
    assert not is_online(config_factory("bc"))


@pytest.mark.parametrize("name", ONLINE)
def test_debug_overrides_are_valid(name):
    config = config_factory(name)
    apply_overrides(config, type(config).DEBUG_OVERRIDES)
    assert config.train.num_env_steps <= 256


def test_epochs_are_counted_in_env_steps():
    config = config_factory("sac")
    apply_overrides(config, ["train.num_env_steps=2500", "train.epoch_env_steps=1000"])
    assert config.train.num_epochs == 3


@pytest.mark.parametrize("overrides, message", [
    (["train.batch_size=4096"], "exceeds the rollout of algo.n_steps \\* train.num_envs = 2048"),
    (["experiment.validate=true"], "experiment.validate=false"),
    (['observation.modalities.goal.low_dim=["desired_goal"]'], "goal observations"),
    (["algo.clip_range=-0.1"], "must be >= 0.0"),
    (["train.vector_env=threads"], 'one of "sync", "async"'),
])
def test_impossible_ppo_configs_are_rejected(overrides, message):
    with pytest.raises(ConfigError, match=message):
        apply_overrides(config_factory("ppo"), overrides)


def test_impossible_sac_configs_are_rejected():
    with pytest.raises(ConfigError, match="log_std_min"):
        apply_overrides(config_factory("sac"), ["algo.actor.log_std_min=3"])
    with pytest.raises(ConfigError, match="algo.discount.*<= 1.0"):
        apply_overrides(config_factory("sac"), ["algo.discount=1.5"])
    with pytest.raises(ConfigError, match="did you mean 'algo.utd_ratio'"):
        apply_overrides(config_factory("sac"), ["algo.utd_ration=2"])


# ----- JSON Schema -----
def conforms(value, schema: dict, path: str = "") -> list[str]:
    """A small JSON Schema checker (the keywords the config schemas use): the problems found."""
    problems = []
    if "const" in schema and value != schema["const"]:
        problems.append(f"{path}: expected {schema['const']!r}")
    if "enum" in schema and value not in schema["enum"]:
        problems.append(f"{path}: {value!r} not in {schema['enum']}")
    kinds = schema.get("type")
    if kinds is not None:
        kinds = kinds if isinstance(kinds, list) else [kinds]
        python = {"boolean": bool, "integer": int, "number": (int, float), "string": str, "array": list,
                  "object": dict, "null": type(None)}
        ok = any(isinstance(value, python[k]) and not (k in ("integer", "number") and isinstance(value, bool))
                 for k in kinds)
        if not ok:
            return problems + [f"{path}: {value!r} is not {kinds}"]
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"]:
            problems.append(f"{path}: {value} < {schema['minimum']}")
        if "maximum" in schema and value > schema["maximum"]:
            problems.append(f"{path}: {value} > {schema['maximum']}")
    if isinstance(value, dict) and "properties" in schema:
        for key, item in value.items():
            if key not in schema["properties"]:
                if schema.get("additionalProperties") is False:
                    problems.append(f"{path}.{key}: not allowed")
                continue
            problems += conforms(item, schema["properties"][key], f"{path}.{key}")
    if isinstance(value, list) and "items" in schema:
        for i, item in enumerate(value):
            problems += conforms(item, schema["items"], f"{path}[{i}]")
    return problems


@pytest.mark.parametrize("name", ONLINE)
def test_json_schema_describes_the_config(name):
    cls = get_config_class(name)
    schema = cls.json_schema()
    json.dumps(schema)  # plain JSON
    assert schema["$schema"].startswith("https://json-schema.org/") and schema["additionalProperties"] is False
    train = schema["properties"]["train"]["properties"]
    assert train["num_env_steps"]["type"] == "integer" and train["num_env_steps"]["minimum"] == 1
    assert train["vector_env"]["enum"] == ["sync", "async"]
    assert train["experience_path"]["type"] == ["string", "null"]
    assert "description" in train["normalize_obs"]
    algo = schema["properties"]["algo"]["properties"]
    assert algo["discount"]["maximum"] == 1.0 and algo["discount"]["default"] == 0.99
    # the template validates, and typical mistakes do not
    template = json.loads((CONFIGS / f"{name}.json").read_text())
    assert conforms(template, schema) == []
    bad = json.loads(json.dumps(template))
    bad["algo"]["discount"] = 2.0
    bad["train"]["num_envs"] = "4"
    bad["train"]["typo"] = 1
    assert len(conforms(bad, schema)) == 3


def test_bc_config_exports_a_schema_too():
    schema = get_config_class("bc").json_schema()
    assert schema["properties"]["algo_name"]["const"] == "bc"
    assert conforms(json.loads((CONFIGS / "bc.json").read_text()), schema) == []


def test_removed_manual_backward_key_is_an_unknown_key_that_says_what_happened(tmp_path):
    """`train.manual_backward` (hand-written SAC/TD3 gradients) is gone: an override or a config file that still
    sets it is a ConfigError naming the key and what to do."""
    message = r"unknown config key 'train.manual_backward': it was removed \(SAC and TD3 now always compute"
    with pytest.raises(ConfigError, match=message):
        apply_overrides(config_factory("sac"), ["train.manual_backward=false"])
    old = json.loads((CONFIGS / "td3.json").read_text())
    old["train"]["manual_backward"] = True
    path = tmp_path / "old_td3.json"
    path.write_text(json.dumps(old))
    with pytest.raises(ConfigError, match=message):
        load_config(path)
    with pytest.raises(ConfigError, match="did you mean 'train.num_envs'"):  # other typos keep their suggestion
        apply_overrides(config_factory("sac"), ["train.num_env=2"])
