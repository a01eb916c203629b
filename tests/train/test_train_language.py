"""Language-conditioned training end to end (issue 19): a run on robokit/PlanarArmLang-v0 demos with
observation.language.enabled trains, saves its vocabulary, reloads as a policy whose actions depend on the
instruction, rolls out with each episode's instruction; the refusals are one line (exit 2 through the scripts)."""

import json
from pathlib import Path

import numpy as np
import pytest

from robokit import policy_from_checkpoint
from robokit.algo import algo_factory
from robokit.config import config_factory
from robokit.data.hdf5_format import demo_langs
from robokit.errors import ConfigError
from robokit.train.checkpoint import load_checkpoint
from robokit.utils import batch_keys as K
from script_runner import assert_one_line_error, run_script

REPO = Path(__file__).parents[2]
ENV_ID = "robokit/PlanarArmLang-v0"
OBS_KEYS = ["joint_pos", "joint_vel", "fingertip", "to_targets"]


@pytest.fixture(scope="module")
def lang_dataset(tmp_path_factory):
    out = tmp_path_factory.mktemp("lang") / "lang.hdf5"
    run_script("generate_dataset.py", "--env", ENV_ID, "--n-demos", 12, "--out", out, check=True)
    return out


def write_config(path, language=True, **algo):
    config = {"algo_name": "bc", "experiment": {"name": "lang", "validate": False, "render_video": False,
                                                 "rollout": {"n": 3, "horizon": 5, "num_envs": 3}},
              "train": {"batch_size": 16, "hdf5_normalize_obs": True},
              "observation": {"modalities": {"obs": {"low_dim": OBS_KEYS}}, "language": {"enabled": language}},
              "algo": {"actor_layer_dims": [32], **algo}}
    path.write_text(json.dumps(config))
    return path


def train(config, dataset, out):
    return run_script("train.py", "--config", config, "--dataset", dataset, "--output", out, "--debug",
                      "--no-progress", cwd=REPO)


@pytest.fixture(scope="module")
def lang_run(lang_dataset, tmp_path_factory):
    out = tmp_path_factory.mktemp("runs")
    result = train(write_config(out / "c.json"), lang_dataset, out)
    assert result.returncode == 0, result.stderr
    return next((out / "lang").iterdir())


def test_run_saves_the_vocabulary_and_rolls_out_with_instructions(lang_run):
    ckpt = load_checkpoint(lang_run / "models" / "last.pth")
    words = ckpt["language"]["words"]
    assert words[0] == "<unk>" and {"red", "green", "blue", "reach", "target"} <= set(words)
    assert ckpt["shape_metadata"]["all_shapes"][K.LANG] == [len(words)]
    assert "success" in (lang_run / "logs" / "log.txt").read_text()  # rollouts ran with each env's instruction


def test_reloaded_policy_acts_on_the_instruction(lang_run):
    policy, _ = policy_from_checkpoint(lang_run / "models" / "last.pth")
    assert policy.needs_lang
    obs = {"joint_pos": np.zeros(3), "joint_vel": np.zeros(3), "fingertip": np.array([0.6, 0.0]),
           "to_targets": np.array([-0.3, 0.3, -0.2, 0.0, -0.3, -0.3])}
    policy.start_episode()
    red, blue = policy(obs, lang="reach the red target"), policy(obs, lang="reach the blue target")
    assert red.shape == (3,) and not np.allclose(red, blue, atol=1e-4)
    policy.start_episode()
    batch = {k: np.stack([v, v]) for k, v in obs.items()}
    both = policy(batch, lang=["reach the red target", "reach the blue target"])  # one instruction per env
    np.testing.assert_allclose(both, np.stack([red, blue]), atol=1e-5)
    with pytest.raises(ConfigError, match="language-conditioned: call it as policy"):
        policy(obs)
    with pytest.raises(ConfigError, match="a list of 2 strings"):
        policy(batch, lang=["reach the red target"])


def test_run_trained_agent_takes_lang(lang_run):
    agent = lang_run / "models" / "last.pth"
    result = run_script("run_trained_agent.py", "--agent", agent, "--n_rollouts", 2, "--horizon", 3,
                        "--num_envs", 2, "--lang", "reach the green target", "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1])["Num_Episodes"] == 2
    no_lang_env = run_script("run_trained_agent.py", "--agent", agent, "--n_rollouts", 1, "--horizon", 3,
                             "--env", "robokit/PlanarArm3-v0")
    assert no_lang_env.returncode == 2  # PlanarArm3 lacks to_targets: refused in one line
    assert len(no_lang_env.stderr.strip().splitlines()) == 1


def env_instructions(env_id, seeds):
    """What the env poses in the episodes seeded `seeds` (EnvBase.get_lang() after reset)."""
    from robokit.envs import create_env
    from robokit.envs.base import GYM_TYPE

    env = create_env({"env_name": env_id, "type": GYM_TYPE, "env_kwargs": {}})
    try:
        return [(env.reset(seed=s), env.get_lang())[1] for s in seeds]
    finally:
        env.close()


def test_rollout_dataset_keeps_each_episodes_instruction_and_trains_again(lang_run, tmp_path):
    """run_trained_agent --dataset_path writes each episode's instruction as its demo's 'lang' (episode i is
    seeded 5 + i; 3 episodes in 2 envs, so one env starts a second episode), and a language run trains on it."""
    rollouts = tmp_path / "rollouts.hdf5"
    result = run_script("run_trained_agent.py", "--agent", lang_run / "models" / "last.pth", "--n_rollouts", 3,
                        "--horizon", 4, "--num_envs", 2, "--seed", 5, "--dataset_path", rollouts)
    assert result.returncode == 0, result.stderr
    expected = env_instructions(ENV_ID, [5, 6, 7])
    assert len(set(expected)) > 1  # the episodes ask for different things
    assert demo_langs(rollouts, ["demo_0", "demo_1", "demo_2"]) == expected
    again = train(write_config(tmp_path / "c.json"), rollouts, tmp_path / "again")
    assert again.returncode == 0, again.stderr
    words = load_checkpoint(next((tmp_path / "again" / "lang").iterdir()) / "models" / "last.pth")["language"]["words"]
    assert {w for text in expected for w in text.split()} <= set(words)


def test_rollout_dataset_of_lang_flag_records_that_instruction(lang_run, tmp_path):
    rollouts = tmp_path / "rollouts.hdf5"
    result = run_script("run_trained_agent.py", "--agent", lang_run / "models" / "last.pth", "--n_rollouts", 2,
                        "--horizon", 3, "--lang", "reach the green target", "--dataset_path", rollouts)
    assert result.returncode == 0, result.stderr
    assert demo_langs(rollouts) == ["reach the green target"] * 2  # what the policy acted on


@pytest.fixture(scope="module")
def arm_only_lang_run(lang_dataset, tmp_path_factory):
    """A language policy that sees only the arm (no target keys), so PlanarArm3-v0's observations fit it."""
    out = tmp_path_factory.mktemp("arm_only")
    config = json.loads(write_config(out / "c.json").read_text())
    config["observation"]["modalities"]["obs"]["low_dim"] = ["joint_pos", "joint_vel", "fingertip"]
    (out / "c.json").write_text(json.dumps(config))
    result = train(out / "c.json", lang_dataset, out)
    assert result.returncode == 0, result.stderr
    return next((out / "lang").iterdir()) / "models" / "last.pth"


def test_language_policy_in_an_env_without_instructions(arm_only_lang_run, tmp_path):
    """PlanarArm3-v0 has every observation key the policy takes but poses no instruction: one line, exit 2;
    with --lang it runs, and a non-language env's rollouts get that instruction, the only one there is."""
    refused = run_script("run_trained_agent.py", "--agent", arm_only_lang_run, "--n_rollouts", 1, "--horizon", 3,
                         "--env", "robokit/PlanarArm3-v0")
    assert_one_line_error(refused, "language-conditioned", "PlanarArm3-v0 poses no instruction", "--lang")
    rollouts = tmp_path / "rollouts.hdf5"
    given = run_script("run_trained_agent.py", "--agent", arm_only_lang_run, "--n_rollouts", 2, "--horizon", 3,
                       "--env", "robokit/PlanarArm3-v0", "--lang", "reach the red target", "--json",
                       "--dataset_path", rollouts)
    assert given.returncode == 0, given.stderr
    assert json.loads(given.stdout.strip().splitlines()[-1])["Num_Episodes"] == 2
    assert demo_langs(rollouts) == ["reach the red target"] * 2


def test_non_language_policy_records_the_envs_instruction(lang_dataset, tmp_path):
    assert train(write_config(tmp_path / "c.json", language=False), lang_dataset, tmp_path).returncode == 0
    agent = next((tmp_path / "lang").iterdir()) / "models" / "last.pth"
    in_lang_env = tmp_path / "lang_env.hdf5"
    assert run_script("run_trained_agent.py", "--agent", agent, "--n_rollouts", 2, "--horizon", 3,
                      "--dataset_path", in_lang_env).returncode == 0
    assert demo_langs(in_lang_env) == env_instructions(ENV_ID, [0, 1])


def test_language_on_without_instructions_is_one_line(tmp_path):
    data = tmp_path / "plain.hdf5"
    run_script("generate_dataset.py", "--env", "robokit/PlanarArm3-v0", "--n-demos", 3, "--out", data, check=True)
    config = tmp_path / "c.json"
    config.write_text(json.dumps({"algo_name": "bc", "experiment": {"name": "x", "validate": False},
                                  "observation": {"modalities": {"obs": {"low_dim": ["joint_pos", "to_target"]}},
                                                  "language": {"enabled": True}}}))
    assert_one_line_error(train(config, data, tmp_path / "out"), "observation.language.enabled needs an instruction",
                          "3 of 3 demos have none", "'lang' attribute")
    assert not (tmp_path / "out").exists()


def test_validation_demos_without_instruction_get_the_same_refusal(tmp_path):
    """attach_language checks nothing itself: SequenceDataset.set_language's one check covers the validation set."""
    from robokit.data import DatasetWriter, SequenceDataset
    from robokit.errors import DatasetError
    from robokit.train.offline import attach_language

    path = tmp_path / "d.hdf5"
    with DatasetWriter(path, env_args={"env_name": ENV_ID, "type": 2, "env_kwargs": {}}) as writer:
        for lang in ("reach the red target", "reach the blue target", None):
            writer.add_episode(obs={"step": np.zeros((3, 1))}, actions=np.zeros((3, 2)), rewards=np.zeros(3),
                               dones=np.array([0, 0, 1]), lang=lang)
        writer.set_mask("train", ["demo_0", "demo_1"])
        writer.set_mask("valid", ["demo_2"])
    config = config_factory("bc")
    config.observation.language.enabled = True
    train_ds, valid_ds = (SequenceDataset(path, obs_keys=["step"], filter_by_attribute=k) for k in ("train", "valid"))
    with pytest.raises(DatasetError, match=r"\(filter key 'valid'\): observation.language.enabled needs an "
                                           r"instruction for every demo, but 1 of 1 demos have none \(e.g. demo_2\)"):
        attach_language(config, train_ds, valid_ds)
    assert attach_language(config, train_ds).words[1:] == ["blue", "reach", "red", "target", "the"]


def test_lang_for_a_policy_without_language_is_one_line(lang_dataset, tmp_path):
    assert train(write_config(tmp_path / "c.json", language=False), lang_dataset, tmp_path).returncode == 0
    agent = next((tmp_path / "lang").iterdir()) / "models" / "last.pth"
    result = run_script("run_trained_agent.py", "--agent", agent, "--n_rollouts", 1, "--lang", "reach the red target")
    assert_one_line_error(result, "--lang", "trained without language instructions")


@pytest.mark.parametrize("algo_name", ["bc", "act", "diffusion_policy"])
def test_every_algorithm_gets_the_instruction_as_an_input(algo_name):
    """No per-algorithm code: the observation encoder has a LanguageEncoder whenever the section is on."""
    config = config_factory(algo_name)
    config.observation.modalities.obs.low_dim = ["pos"]
    config.observation.language.enabled = True
    config.observation.language.embedding_dim = 5
    algo = algo_factory(algo_name, config, obs_key_shapes={"pos": (2,), K.LANG: (7,)}, ac_dim=2, device="cpu")
    assert algo.obs_shapes[K.LANG] == (7,)
    weights = [p for name, p in algo.nets.named_parameters() if name.endswith(f"encoders.{K.LANG}.weight")]
    assert [tuple(w.shape) for w in weights][:1] == [(7, 5)]


@pytest.mark.parametrize("conditioning", ["concat", "film"])
def test_training_steps_learn_the_word_embeddings(lang_dataset, conditioning):
    """A few BC steps on batches with obs[LANG]: the loss falls and the colour words' embeddings move (with FiLM
    too: its zero-initialised layer passes them gradient from the second step on)."""
    import torch

    from robokit.data import SequenceDataset
    from robokit.data.language import Vocabulary

    torch.manual_seed(0)
    ds = SequenceDataset(lang_dataset, obs_keys=OBS_KEYS, hdf5_normalize_obs=True)
    vocab = Vocabulary.from_instructions(ds.demo_langs)
    ds.set_language(vocab)
    config = config_factory("bc")
    config.observation.modalities.obs.low_dim = OBS_KEYS
    config.observation.language.enabled = True
    config.observation.language.conditioning = conditioning
    algo = algo_factory("bc", config, obs_key_shapes=ds.obs_key_shapes, ac_dim=ds.action_dim, device="cpu")
    weight = next(p for name, p in algo.nets.named_parameters() if name.endswith(f"encoders.{K.LANG}.weight"))
    before = weight.detach().clone()
    batch = ds.get_batch(np.arange(min(len(ds), 64)))
    losses = [algo.train_on_batch(algo.process_batch_for_training(batch), epoch=0)["losses"]["action_loss"].item() for _ in range(20)]
    assert losses[-1] < losses[0]
    moved = (weight.detach() - before).abs().sum(dim=1)  # (V,) per word
    assert all(moved[vocab.index[w]] > 0 for w in ("red", "green", "blue"))
    assert moved[0] == 0  # <unk> never occurs in the training instructions: no gradient


def test_film_scales_and_shifts_the_other_features_as_documented():
    """ObservationEncoder with conditioning 'film': out = f * (1 + scale) + shift, [scale, shift] = film(e)."""
    import torch

    from robokit.models.obs_encoder import ObservationEncoder

    torch.manual_seed(0)
    shapes = {"pos": (3,), "vel": (2,), K.LANG: (4,)}
    encoder = ObservationEncoder(shapes, {K.LANG: "language"},
                                 {"language": {"embedding_dim": 6, "conditioning": "film"}})
    assert encoder.output_dim == 5 and encoder.film.in_features == 6 and encoder.film.out_features == 10
    obs = {"pos": torch.randn(7, 3), "vel": torch.randn(7, 2), K.LANG: torch.rand(7, 4)}
    f = torch.cat([obs["pos"], obs["vel"]], dim=-1)  # (N, F) the other keys, sorted
    torch.testing.assert_close(encoder(obs), f)  # zero-initialised: the identity
    with torch.no_grad():
        encoder.film.weight.normal_()
        encoder.film.bias.normal_()
    e = obs[K.LANG] @ encoder.encoders[K.LANG].weight  # (N, D) mean of the word embeddings
    film = e @ encoder.film.weight.T + encoder.film.bias  # (N, 2F)
    scale, shift = film[:, :5], film[:, 5:]
    torch.testing.assert_close(encoder(obs), f * (1 + scale) + shift)
    lead = {k: v.reshape(7, 1, *v.shape[1:]) for k, v in obs.items()}  # (B, T, ...) as in sequence batches
    torch.testing.assert_close(encoder(lead), (f * (1 + scale) + shift).reshape(7, 1, 5))
    concat = ObservationEncoder(shapes, {K.LANG: "language"}, {"language": {"embedding_dim": 6}})
    assert concat.output_dim == 11 and concat.film is None
    with pytest.raises(ConfigError, match="the instruction is the only input"):
        ObservationEncoder({K.LANG: (4,)}, {K.LANG: "language"}, {"language": {"conditioning": "film"}})


def test_unknown_conditioning_is_a_config_error():
    from robokit.config import apply_overrides

    config = config_factory("bc")
    with pytest.raises(ConfigError, match="observation.language.conditioning' must be one of 'concat', 'film'"):
        apply_overrides(config, ["observation.language.conditioning=gate"])
        config.check()


def test_film_run_reloads_and_acts_on_the_instruction(lang_dataset, tmp_path):
    result = run_script("train.py", "--config", write_config(tmp_path / "c.json"), "--dataset", lang_dataset,
                        "--output", tmp_path, "--debug", "--no-progress", "--set",
                        "observation.language.conditioning=film", cwd=REPO)
    assert result.returncode == 0, result.stderr
    policy, ckpt = policy_from_checkpoint(next((tmp_path / "lang").iterdir()) / "models" / "last.pth")
    assert ckpt["config"]["observation"]["language"]["conditioning"] == "film"
    assert any(name.endswith("film.weight") for name in ckpt["model"])
    obs = {"joint_pos": np.zeros(3), "joint_vel": np.zeros(3), "fingertip": np.array([0.6, 0.0]),
           "to_targets": np.array([-0.3, 0.3, -0.2, 0.0, -0.3, -0.3])}
    policy.start_episode()
    red = policy(obs, lang="reach the red target")
    policy.start_episode()
    assert not np.allclose(red, policy(obs, lang="reach the blue target"), atol=1e-4)


def test_online_rl_refuses_language_conditioning():
    from robokit.train.online import check_online_config

    config = config_factory("sac")
    config.experiment.env = "Pendulum-v1"
    config.observation.language.enabled = True
    with pytest.raises(ConfigError, match="observation.language.enabled conditions on the demos' instructions"):
        check_online_config(config)
