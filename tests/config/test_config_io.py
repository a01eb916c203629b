"""dump / load_config / config_from_dict round trips and file errors."""

import json

import pytest

from robokit.config import apply_overrides, config_factory, config_from_dict, load_config
from robokit.errors import ConfigError


def test_dump_load_round_trip(tmp_path):
    c = config_factory("bc")
    apply_overrides(
        c,
        [
            "algo.transformer.enabled=true",
            "train.frame_stack=10",
            "algo.vae.kl_weight=3",
            "experiment.save.epochs=[5, 10]",
            "algo.rnn.kwargs.dropout=0.1",
        ],
    )
    path = tmp_path / "sub" / "config.json"
    c.dump(path)
    text = path.read_text()
    assert text.startswith('{\n    "algo_name": "bc",\n    "experiment": {')
    loaded = load_config(path)
    assert loaded == c
    assert loaded.to_dict() == c.to_dict() == json.loads(text)


def test_to_dict_is_plain_json_data():
    d = config_factory("bc").to_dict()
    assert json.loads(json.dumps(d)) == d
    assert d["algo_name"] == "bc"
    assert d["algo"]["optim_params"]["policy"]["learning_rate"]["epoch_schedule"] == []


def test_missing_file(tmp_path):
    path = tmp_path / "nope.json"
    with pytest.raises(ConfigError, match=f"config file not found: {path}"):
        load_config(path)


def test_invalid_json_reports_position(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text('{\n    "algo_name": "bc",\n    "train": {"batch_size": 10,}\n}\n')
    with pytest.raises(ConfigError, match=rf"{path}: invalid JSON at line 3 column \d+"):
        load_config(path)


def test_content_errors_name_the_file(tmp_path):
    path = tmp_path / "c.json"
    path.write_text(json.dumps({"algo_name": "bc", "train": {"batch_sise": 1}}))
    with pytest.raises(ConfigError, match=rf"{path}: unknown config key 'train.batch_sise'"):
        load_config(path)


def test_config_from_dict_needs_algo_name():
    with pytest.raises(ConfigError, match=r"no \"algo_name\" key; add one of: .*bc"):
        config_from_dict({"train": {}})
    with pytest.raises(ConfigError, match="must be a JSON object"):
        config_from_dict([1, 2])


def test_algo_name_mismatch():
    with pytest.raises(ConfigError, match=r"config has algo_name 'bcq' but is loaded as a 'bc' config"):
        config_factory("bc", {"algo_name": "bcq"})


def test_str_is_json():
    c = config_factory("bc")
    assert json.loads(str(c)) == c.to_dict()
