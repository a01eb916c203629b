"""Language as a data type of robot data specs (#19): when train.input_robot_data_spec lists language for a robot,
a demo without an instruction (or of a robot whose spec lists no language) gets a zero instruction input and False
in OBS_MASK["language"] (B, 1) (obs key "language_mask" as an input) instead of a refusal; without language in the
spec, a demo without an instruction is still refused. Hand-made files: uni's demos have instructions, duo's none."""

import json

import numpy as np
import pytest
import torch

from robokit import policy_from_checkpoint
from robokit.config import apply_overrides, config_factory
from robokit.data import hdf5_format as fmt
from robokit.data.embodiment import Embodiment, layout_for_data
from robokit.data.language import Vocabulary
from robokit.data.sequence_dataset import SequenceDataset
from robokit.errors import ConfigError, DatasetError
from robokit.utils import batch_keys as K

ENV_ARGS = {"env_name": "PointReach-v0", "type": 4, "env_kwargs": {}}
JOINTS = {"uni": ["j1"], "duo": ["j1", "j2"]}
INPUT = {"uni": {"joint_positions": ["p"], "language": ["instruction"]}, "duo": {"joint_positions": ["p"]}}
KEYS = ["joint_positions", "language_mask"]


def write_robot(path, robot, langs):
    """One demo per entry of `langs` (None: no instruction), 3 steps each, obs/pos = t."""
    embodiment = Embodiment(robot, [{"data_type": "joint_velocities", "names": JOINTS[robot]}],
                            {"pos": [{"data_type": "joint_positions", "names": ["p"]}]})
    with fmt.DatasetWriter(path, env_args=ENV_ARGS, embodiment=embodiment) as writer:
        for lang in langs:
            t = np.arange(3, dtype=np.float32)
            writer.add_episode(obs={"pos": t[:, None]}, next_obs={"pos": t[:, None] + 1},
                               actions=np.ones((3, len(JOINTS[robot])), np.float32) * t[:, None],
                               rewards=np.zeros(3), dones=(t == 2).astype(float), lang=lang)
        writer.set_mask("train", writer.demo_names)
    return path


@pytest.fixture(scope="module")
def merged(tmp_path_factory):
    root = tmp_path_factory.mktemp("lang_pad")
    uni = write_robot(root / "uni.hdf5", "uni", ["reach red", None, "reach blue"])  # demo_1 has no instruction
    duo = write_robot(root / "duo.hdf5", "duo", [None, None])
    path = root / "both.hdf5"
    fmt.merge_datasets([uni, duo], path)
    return path


def _dataset(path, spec=INPUT, keys=KEYS):
    embodiments = list(fmt.read_embodiments(path).values())
    return SequenceDataset(path, keys, obs_layout=layout_for_data(spec, embodiments),
                           action_layout=layout_for_data({}, embodiments, actions=True))


def test_demos_without_an_instruction_get_a_masked_zero_language_slot(merged):
    ds = _dataset(merged)
    vocabulary = Vocabulary.from_instructions(["reach red", "reach blue"])
    ds.set_language(vocabulary)
    # samples: 3 per demo; demos 0-2 are uni's (demo_1 without instruction), 3-4 duo's
    batch = ds.get_batch(np.array([0, 3, 6, 9, 12]))
    real = torch.tensor([[True], [False], [True], [False], [False]])
    assert torch.equal(batch[K.OBS_MASK]["language"], real)  # (B, 1)
    assert torch.equal(batch[K.OBS]["language_mask"][:, 0], real.float())  # the same as an input
    lang = batch[K.OBS][K.LANG][:, 0]  # (B, V)
    expected = torch.from_numpy(vocabulary.bag_of_words(["reach red", "", "reach blue", "", ""]))
    assert torch.equal(lang, expected) and (lang[~real[:, 0]] == 0).all()
    assert "language_mask" not in (ds.get_obs_normalization_stats() or {})


def test_without_language_in_the_spec_a_missing_instruction_is_refused(merged):
    ds = _dataset(merged, {r: {"joint_positions": ["p"]} for r in ("uni", "duo")}, ["joint_positions"])
    with pytest.raises(DatasetError, match="needs an instruction for every demo, but 3 of 5 demos have none"):
        ds.set_language(Vocabulary.from_instructions(["reach red"]))


def test_one_language_item_per_robot_and_no_cameras_in_the_spec(merged):
    with pytest.raises(DatasetError, match="several language items"):
        _dataset(merged, dict(INPUT, uni={"joint_positions": ["p"], "language": ["a", "b"]}))
    with pytest.raises(DatasetError, match="cameras are not chosen there"):
        _dataset(merged, dict(INPUT, uni={"joint_positions": ["p"], "rgb_images": ["wrist"]}))


def _train(data, root, language=True):
    """BC for a few steps on `data`: a file, or a list of files (train.data)."""
    from robokit.train.offline import train

    config = config_factory("bc")
    apply_overrides(config, [f"train.input_robot_data_spec={json.dumps(INPUT)}",
                             f"observation.modalities.obs.low_dim={json.dumps(KEYS)}",
                             f"observation.language.enabled={json.dumps(language)}",
                             "algo.actor_layer_dims=[8]", "train.num_epochs=1", "experiment.epoch_every_n_steps=2",
                             "experiment.validate=false", "experiment.rollout.enabled=false", "train.batch_size=4",
                             "experiment.logging.log_tb=false",
                             f"train.data={json.dumps([str(p) for p in data] if isinstance(data, list) else str(data))}"])
    return train(config, output_dir=str(root / "runs"), progress=False) / "models" / "last.pth"


@pytest.mark.parametrize("files", ["merged", "list"])
def test_bc_trains_on_robots_with_and_without_instructions_and_each_acts(merged, files):
    data = merged if files == "merged" else [merged.parent / "uni.hdf5", merged.parent / "duo.hdf5"]
    checkpoint = _train(data, merged.parent)
    obs = {"pos": np.array([1.0], np.float32)}
    uni, _ = policy_from_checkpoint(checkpoint, robot="uni", device="cpu")
    assert uni.needs_lang and uni.robot.reads_language
    assert uni(obs, lang="reach red").shape == (1,)
    with pytest.raises(ConfigError, match="call it as policy"):
        uni(obs)
    duo, _ = policy_from_checkpoint(checkpoint, robot="duo", device="cpu")
    assert not duo.needs_lang and not duo.robot.reads_language
    assert list(duo.robot.obs(obs)["language_mask"]) == [0.0]
    assert duo(obs).shape == (2,) and np.isfinite(duo(obs)).all()
    with pytest.raises(ConfigError, match="robot 'duo' reads no instruction"):
        duo(obs, lang="reach red")


def test_language_in_the_spec_needs_language_enabled(merged):
    with pytest.raises(ConfigError, match="lists language but observation.language.enabled is false"):
        _train(merged, merged.parent, language=False)
