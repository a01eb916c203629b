"""BCQ, CQL, IQL and TD3-BC variants: train on a real mixed-quality dataset, checkpoint, reload, act in FetchReach."""

import math

import numpy as np
import pytest
import torch

from offline_helpers import build_algo, make_config, save_and_reload, train_steps
from robokit.train.rollouts import rollout_with_stats

VARIANTS = {
    "bcq": ("bcq", [], "BCQ"),
    "bcq_actor_nstep": ("bcq", ["algo.actor.enabled=true", "algo.n_step=3", "train.seq_length=3"], "BCQ"),
    "bcq_gmm": ("bcq", ["algo.action_sampler.vae.enabled=false", "algo.action_sampler.gmm.enabled=true"], "BCQ_GMM"),
    "bcq_distributional": ("bcq", ["algo.critic.distributional.enabled=true", "algo.critic.value_bounds=[-50, 0]",
                                   "algo.critic.distributional.num_atoms=11"], "BCQ_Distributional"),
    "cql_lagrange": ("cql", [], "CQL"),
    "cql_fixed_weights": ("cql", ["algo.critic.target_q_gap=null", "algo.actor.target_entropy=null",
                                  "algo.critic.num_action_samples=3", "algo.critic.deterministic_backup=false",
                                  "algo.actor.bc_start_steps=2"], "CQL"),
    "iql": ("iql", [], "IQL"),
    "iql_gmm_binary": ("iql", ["algo.actor.net.type=gmm", "algo.adv.filter_type=binary"], "IQL"),
    "td3_bc": ("td3_bc", ["algo.actor.update_freq=1"], "TD3_BC"),
}


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_variant_trains_checkpoints_reloads_and_acts(variant, mixed_reach_dataset, reach_env, tmp_path):
    algo_name, overrides, class_name = VARIANTS[variant]
    config = make_config(algo_name, *overrides)
    algo, dataset = build_algo(config, mixed_reach_dataset)
    assert type(algo).__name__ == class_name
    before = {k: v.clone() for k, v in algo.nets.state_dict().items()}

    logs = train_steps(algo, dataset, n=3)
    assert math.isfinite(logs["Loss"])
    changed = [k for k, v in algo.nets.state_dict().items() if not torch.equal(v, before[k])]
    assert any(k.startswith("critic.") for k in changed), "critics did not train"
    assert any(k.startswith("critic_target.") for k in changed), "targets did not move"

    policy, ckpt = save_and_reload(algo, config, dataset, tmp_path / "model.pth")
    assert ckpt["algo_name"] == algo_name and type(policy.policy).__name__ == class_name
    for key, value in policy.policy.nets.state_dict().items():
        torch.testing.assert_close(value, algo.nets.state_dict()[key], rtol=0, atol=0)

    stats = rollout_with_stats(policy, reach_env, n=1, horizon=4, seed=0, progress=False)
    assert 1 <= stats["Horizon"] <= 4
    action = policy(reach_env.reset(seed=1))
    assert action.shape == (4,) and np.all(np.abs(action) <= 1.0 + 1e-6)

    obs = {k: torch.zeros(5, *shape) for k, shape in policy.policy.obs_shapes.items()}
    values = policy.policy.get_state_value(obs)
    q_values = policy.policy.get_state_action_value(obs, torch.zeros(5, 4))
    assert values.shape == q_values.shape == (5,)


def test_validation_step_leaves_weights_alone(mixed_reach_dataset):
    config = make_config("iql")
    algo, dataset = build_algo(config, mixed_reach_dataset)
    from robokit.train.offline import batch_stream

    batch = algo.process_batch_for_training(next(batch_stream(dataset, 8, 0, 0)))
    before = {k: v.clone() for k, v in algo.nets.state_dict().items()}
    algo.set_eval()
    info = algo.train_on_batch(batch, epoch=1, validate=True)
    assert math.isfinite(float(info["Loss"]))
    assert all(torch.equal(v, before[k]) for k, v in algo.nets.state_dict().items())


def test_staged_training_skips_the_critic_before_its_start_epoch(mixed_reach_dataset):
    config = make_config("td3_bc", "algo.optim_params.critic.start_epoch=5")
    algo, dataset = build_algo(config, mixed_reach_dataset)
    critic_before = {k: v.clone() for k, v in algo.nets["critic"].state_dict().items()}
    train_steps(algo, dataset, n=2)  # epoch 1 < start_epoch 5
    assert all(torch.equal(v, critic_before[k]) for k, v in algo.nets["critic"].state_dict().items())


def test_cql_tunes_its_weights(mixed_reach_dataset):
    config = make_config("cql")
    algo, dataset = build_algo(config, mixed_reach_dataset)
    entropy, cql = algo.entropy_weight().detach().item(), algo.cql_weight().detach().item()
    logs = train_steps(algo, dataset, n=3)
    assert algo.entropy_weight().detach().item() != entropy and algo.cql_weight().detach().item() != cql
    assert {"Entropy_Weight", "Critic/CQL_Weight", "Critic/Critic1_CQL_Penalty"} <= set(logs)
    assert sorted(algo.optimizers) == ["actor", "cql", "critic", "entropy"]
