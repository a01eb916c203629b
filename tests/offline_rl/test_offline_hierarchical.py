"""GL predicts subgoals of the right shape; HBC and IRIS train, checkpoint, reload and act in FetchReach."""

import math

import numpy as np
import pytest
import torch

from offline_helpers import build_algo, make_config, save_and_reload, train_steps
from robokit.algo.gl import SUBGOALS
from robokit.train.offline import batch_stream
from robokit.train.rollouts import rollout_with_stats
from robokit.utils import batch_keys as K


@pytest.mark.parametrize("overrides, class_name", [([], "GL_VAE"), (["algo.vae.enabled=false"], "GL")])
def test_gl_trains_and_predicts_subgoals(overrides, class_name, mixed_reach_dataset, tmp_path):
    config = make_config("gl", *overrides)
    algo, dataset = build_algo(config, mixed_reach_dataset)
    assert type(algo).__name__ == class_name and dict(algo.subgoal_shapes) == {"observation": (10,)}

    raw = next(batch_stream(dataset, 8, 0, 0))
    batch = algo.process_batch_for_training(raw)  # subgoal = the observation subgoal_horizon = 3 steps ahead
    torch.testing.assert_close(batch[SUBGOALS]["observation"], raw[K.NEXT_OBS]["observation"][:, 2])
    before = {k: v.clone() for k, v in algo.nets.state_dict().items()}
    logs = train_steps(algo, dataset, n=3)
    assert math.isfinite(logs["Loss"]) and any(not torch.equal(v, before[k]) for k, v in algo.nets.state_dict().items())

    policy, _ = save_and_reload(algo, config, dataset, tmp_path / "gl.pth")
    gl = policy.policy
    obs = {k: torch.randn(5, *shape) for k, shape in gl.obs_shapes.items()}
    assert gl.get_subgoal_predictions(obs)["observation"].shape == (5, 10)
    samples = gl.sample_subgoals(obs, num_samples=7)["observation"]
    assert samples.shape == (5, 7, 10)
    assert torch.isfinite(samples).all()
    with pytest.raises(NotImplementedError, match="does not act"):
        gl.get_action(obs)


HIERARCHIES = {
    "hbc_separate": ("hbc", [], "GL_VAE"),
    "hbc_cascade_deterministic": ("hbc", ["algo.mode=cascade", "algo.planner.vae.enabled=false"], "GL"),
    "hbc_latent_random_subgoals": ("hbc", ["algo.latent_subgoal.enabled=true", "algo.actor_use_random_subgoals=true",
                                           "algo.latent_subgoal.prior_correction.enabled=true",
                                           "algo.latent_subgoal.prior_correction.num_samples=4"], "GL_VAE"),
    "iris": ("iris", [], "ValuePlanner"),
}


@pytest.mark.parametrize("variant", list(HIERARCHIES))
def test_hierarchy_trains_checkpoints_reloads_and_acts(variant, mixed_reach_dataset, reach_env, tmp_path):
    algo_name, overrides, planner_name = HIERARCHIES[variant]
    config = make_config(algo_name, *overrides)
    algo, dataset = build_algo(config, mixed_reach_dataset)
    assert type(algo.planner).__name__ == planner_name and type(algo.actor).__name__ == "BC_RNN"
    before = {k: v.clone() for k, v in algo.nets.state_dict().items()}
    logs = train_steps(algo, dataset, n=2)
    assert math.isfinite(logs["Loss"]) and {"Planner/Loss", "Actor/Loss"} <= set(logs)
    for part in ("planner.", "actor."):
        assert any(not torch.equal(v, before[k]) for k, v in algo.nets.state_dict().items() if k.startswith(part))

    policy, ckpt = save_and_reload(algo, config, dataset, tmp_path / "model.pth")
    assert type(policy.policy).__name__ == algo_name.upper()
    assert any(k.startswith("planner.") for k in ckpt["model"]) and any(k.startswith("actor.") for k in ckpt["model"])
    stats = rollout_with_stats(policy, reach_env, n=1, horizon=5, seed=0, progress=False)
    assert 1 <= stats["Horizon"] <= 5
    subgoal = policy.policy.current_subgoal
    expected = (16,) if "latent" in variant else (10,)  # the VAE latent (latent_dim 16), or the observation
    assert [tuple(v.shape[1:]) for v in subgoal.values()] == [expected]
    assert np.all(np.abs(policy(reach_env.reset(seed=2))) <= 1.0 + 1e-6)


def test_iris_value_planner_picks_the_highest_valued_proposal(mixed_reach_dataset):
    config = make_config("iris", "algo.value_planner.num_samples=6")
    algo, dataset = build_algo(config, mixed_reach_dataset)
    algo.set_eval()
    planner = algo.planner
    obs = {k: torch.randn(3, *shape) for k, shape in planner.obs_shapes.items()}
    torch.manual_seed(0)
    proposals = planner.sample_subgoals(obs, num_samples=6)["observation"]  # (3, 6, 10)
    values = planner.get_state_value({"observation": proposals.reshape(18, 10)}).reshape(3, 6)
    torch.manual_seed(0)
    best = planner.get_subgoal_predictions(obs)["observation"]  # same samples: same seed
    torch.testing.assert_close(best, proposals[torch.arange(3), values.argmax(dim=1)])


@pytest.mark.parametrize("variant", ["hbc_separate", "iris"])
def test_data_parallel_gradient_sync_reaches_every_part(variant, mixed_reach_dataset):
    """Under torchrun the loop sets `algo.gradient_sync`; a composed algorithm hands it to every part (and part of
    a part), so each of their gradient steps is averaged across ranks."""
    algo_name, overrides, _ = HIERARCHIES[variant]
    algo, dataset = build_algo(make_config(algo_name, *overrides), mixed_reach_dataset)
    synced = []
    algo.gradient_sync = lambda grads: synced.append(sum(g.numel() for g in grads))
    train_steps(algo, dataset, n=1)
    assert len(synced) >= 2 and all(n > 0 for n in synced)  # planner's and actor's steps at least
