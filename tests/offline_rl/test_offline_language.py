"""Language conditioning for the hierarchical algorithms (issue 19): GL, HBC and IRIS with each part's
observation.<part>.language.enabled train on robokit/PlanarArmLang-v0 demos, checkpoint with the vocabulary,
reload, and every part (planner, value, actor) acts on the instruction; IRIS end to end through the scripts."""

import json
import math

import numpy as np
import pytest
import torch

from offline_helpers import make_config, train_steps
from robokit import policy_from_checkpoint
from robokit.algo import algo_factory
from robokit.envs import create_envs
from robokit.train.checkpoint import build_checkpoint, save_checkpoint
from robokit.train.offline import attach_language, load_datasets
from robokit.train.rollouts import rollout_with_stats
from robokit.utils import batch_keys as K
from script_runner import run_script

ENV_ID = "robokit/PlanarArmLang-v0"
OBS = '["joint_pos", "joint_vel", "fingertip", "to_targets"]'
RED, BLUE = "reach the red target", "reach the blue target"


def _part_obs(prefix: str, subgoal: bool = False) -> list[str]:
    """The overrides of one part's observation section: the arm and targets, language on."""
    keys = [f"{prefix}.modalities.obs.low_dim={OBS}", f"{prefix}.language.enabled=true",
            f"{prefix}.language.embedding_dim=8"]
    return keys + ([f'{prefix}.modalities.subgoal.low_dim=["fingertip"]'] if subgoal else [])


LANGUAGE = {
    "gl": _part_obs("observation", subgoal=True),
    "hbc": _part_obs("observation.planner", subgoal=True) + _part_obs("observation.actor"),
    "iris": (_part_obs("observation.value_planner.planner", subgoal=True) + _part_obs("observation.actor")
             + ['observation.value_planner.value.modalities.obs.low_dim=["fingertip"]',
                "observation.value_planner.value.language.enabled=true",
                "observation.value_planner.value.language.embedding_dim=8"]),
}


@pytest.fixture(scope="module")
def lang_dataset(tmp_path_factory):
    out = tmp_path_factory.mktemp("lang_hier") / "lang.hdf5"
    run_script("generate_dataset.py", "--env", ENV_ID, "--n-demos", 10, "--out", out, check=True)
    return out


@pytest.fixture(scope="module")
def lang_env(lang_dataset):
    from robokit.data import read_env_args

    envs = create_envs(read_env_args(lang_dataset), 2)
    yield envs
    for env in envs:
        env.close()


def train_and_reload(algo_name, dataset, path, overrides=None):
    """A few steps on the language dataset, a checkpoint with the vocabulary as the loop writes it, the policy."""
    config = make_config(algo_name, *(LANGUAGE[algo_name] if overrides is None else overrides),
                         "train.hdf5_normalize_obs=true")
    train_ds, _ = load_datasets(config, dataset)
    vocabulary = attach_language(config, train_ds)
    algo = algo_factory(config.algo_name, config, train_ds.obs_key_shapes, train_ds.action_dim, "cpu")
    before = {k: v.clone() for k, v in algo.nets.state_dict().items()}
    logs = train_steps(algo, train_ds, n=2)
    assert math.isfinite(logs["Loss"])
    lang_weights = [k for k in before if k.endswith(f"encoders.{K.LANG}.weight")]
    assert lang_weights and all(not torch.equal(algo.nets.state_dict()[k], before[k]) for k in lang_weights)
    shape_metadata = {"all_shapes": {k: list(v) for k, v in train_ds.obs_key_shapes.items()},
                      "ac_dim": train_ds.action_dim, "all_obs_keys": list(config.all_obs_keys)}
    ckpt = build_checkpoint(algo, config, shape_metadata, train_ds.env_args, train_ds.get_obs_normalization_stats(),
                            train_ds.get_action_normalization_stats(), {"epoch": 1}, language=vocabulary)
    save_checkpoint(ckpt, path)
    return policy_from_checkpoint(path, device="cpu")


def observation(env, seed=0):
    obs = env.reset(seed=seed)
    return {k: torch.as_tensor(np.asarray(v), dtype=torch.float32)[None] for k, v in obs.items()}


def with_lang(policy, obs, text):
    """obs {k: (1, ...)} plus the instruction's bag of words, as the RolloutPolicy feeds the algorithm."""
    return {**obs, K.LANG: torch.from_numpy(policy.language.bag_of_words([text]))}


def test_gl_planner_predicts_subgoals_from_the_instruction(lang_dataset, lang_env, tmp_path):
    policy, _ = train_and_reload("gl", lang_dataset, tmp_path / "gl.pth")
    assert policy.needs_lang and K.LANG in policy.policy.obs_shapes
    obs = {k: v for k, v in observation(lang_env[0]).items() if k in policy.policy.obs_shapes}
    torch.manual_seed(0)
    a = policy.policy.get_subgoal_predictions(with_lang(policy, obs, RED))["fingertip"]
    torch.manual_seed(0)
    b = policy.policy.get_subgoal_predictions(with_lang(policy, obs, BLUE))["fingertip"]
    assert a.shape == (1, 2) and not torch.allclose(a, b)  # same prior samples: the instruction moves the subgoal


@pytest.mark.parametrize("algo_name", ["hbc", "iris"])
def test_every_part_acts_on_the_instruction_and_rolls_out(algo_name, lang_dataset, lang_env, tmp_path):
    policy, _ = train_and_reload(algo_name, lang_dataset, tmp_path / f"{algo_name}.pth")
    algo = policy.policy
    assert policy.needs_lang
    assert {name: K.LANG in part.obs_shapes for name, part in algo.parts.items()} == {"planner": True, "actor": True}
    if algo_name == "iris":
        assert K.LANG in algo.planner.value.obs_shapes and K.LANG in algo.planner.planner.obs_shapes

    obs = observation(lang_env[0])
    planner_obs = {k: obs[k] for k in algo.planner.obs_shapes if k != K.LANG}
    torch.manual_seed(0)
    red = algo.planner.get_subgoal_predictions(with_lang(policy, planner_obs, RED))["fingertip"]
    torch.manual_seed(0)
    blue = algo.planner.get_subgoal_predictions(with_lang(policy, planner_obs, BLUE))["fingertip"]
    assert not torch.allclose(red, blue)  # the planner hears it
    actor_obs = {k: obs[k] for k in algo.actor.obs_shapes if k != K.LANG}
    actions = []
    for text in (RED, BLUE):  # the same subgoal, two instructions: the actor hears it too
        algo.actor.reset()
        actions.append(algo.actor.get_action(with_lang(policy, actor_obs, text), {"fingertip": red}))
    assert not torch.allclose(*actions)

    stats = rollout_with_stats(policy, lang_env, n=3, horizon=4, seed=0, progress=False)
    assert stats["Num_Episodes"] == 3 and stats["Horizon"] == 4  # each episode's instruction from its env


def test_iris_trains_and_runs_with_language_through_the_scripts(lang_dataset, tmp_path):
    config = make_config("iris", *LANGUAGE["iris"], "experiment.rollout.enabled=true", "experiment.rollout.n=2",
                         "experiment.rollout.horizon=4", "experiment.name=iris_lang")
    config.dump(tmp_path / "c.json")
    result = run_script("train.py", "--config", tmp_path / "c.json", "--dataset", lang_dataset, "--output",
                        tmp_path / "runs", "--debug", "--no-progress")
    assert result.returncode == 0, result.stderr
    agent = next((tmp_path / "runs" / "iris_lang").iterdir()) / "models" / "last.pth"
    rollouts = tmp_path / "rollouts.hdf5"
    result = run_script("run_trained_agent.py", "--agent", agent, "--n_rollouts", 2, "--horizon", 4, "--json",
                        "--dataset_path", rollouts)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1])["Num_Episodes"] == 2


def test_one_part_with_language_is_enough(lang_dataset, lang_env, tmp_path):
    """IRIS with the instruction for its value network only: the policy needs lang, the other parts never see it."""
    overrides = [o for o in LANGUAGE["iris"] if "language" not in o or ".value." in o]
    policy, _ = train_and_reload("iris", lang_dataset, tmp_path / "iris.pth", overrides)
    algo = policy.policy
    assert policy.needs_lang and K.LANG in algo.planner.value.obs_shapes
    assert K.LANG not in algo.planner.planner.obs_shapes and K.LANG not in algo.actor.obs_shapes
    stats = rollout_with_stats(policy, lang_env, n=2, horizon=3, seed=0, progress=False)
    assert stats["Num_Episodes"] == 2
