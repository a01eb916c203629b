"""Losses and parameter updates of SAC, TD3, PPO and A2C on tiny problems."""

import math

import numpy as np
import pytest
import torch
from torch.distributions import Independent, Normal, TransformedDistribution
from torch.distributions.transforms import TanhTransform

from robokit.algo import algo_factory
from robokit.algo.ppo import clipped_surrogate_loss, compute_gae
from robokit.algo.value_utils import smoothed_target_actions
from robokit.config import apply_overrides, config_factory
from robokit.models.policy_nets import ObsGoalEncoder
from robokit.models.rl_policies import GaussianActorCritic, squashed_gaussian_sample, tanh_log_det_jacobian
from robokit.utils import batch_keys as K

OBS_DIM, AC_DIM = 3, 2


def make_algo(name: str, *overrides: str):
    config = config_factory(name)
    apply_overrides(config, ["observation.modalities.obs.low_dim=[\"flat\"]", *overrides])
    torch.manual_seed(0)
    algo = algo_factory(name, config, {"flat": (OBS_DIM,)}, AC_DIM, "cpu")
    algo.set_train()
    return algo


def replay_batch(batch_size: int = 32, seed: int = 0, dones: float = 0.0) -> dict:
    g = torch.Generator().manual_seed(seed)
    return {
        K.OBS: {"flat": torch.randn(batch_size, OBS_DIM, generator=g)},
        K.NEXT_OBS: {"flat": torch.randn(batch_size, OBS_DIM, generator=g)},
        K.ACTIONS: torch.rand(batch_size, AC_DIM, generator=g) * 2 - 1,
        K.REWARDS: torch.ones(batch_size),
        K.DONES: torch.full((batch_size,), dones),
    }


def params(module) -> list[torch.Tensor]:
    return [p.detach().clone() for p in module.parameters()]


def changed(before, module) -> bool:
    return any(not torch.equal(b, p) for b, p in zip(before, module.parameters()))


# ----- GAE and the PPO objective -----
def test_gae_matches_hand_computed_values():
    rewards = np.array([[1.0], [2.0], [3.0]], np.float32)  # (T=3, N=1)
    values = np.array([[0.5], [1.0], [1.5]], np.float32)
    next_values = np.array([[1.0], [1.5], [2.0]], np.float32)
    zeros = np.zeros_like(rewards)
    adv, returns = compute_gae(rewards, values, next_values, zeros, zeros, discount=0.9, gae_lambda=0.8)
    # delta = [1.4, 2.35, 3.3];  A_t = delta_t + 0.72 * A_{t+1}
    np.testing.assert_allclose(adv[:, 0], [1.4 + 0.72 * (2.35 + 0.72 * 3.3), 2.35 + 0.72 * 3.3, 3.3], rtol=1e-6)
    np.testing.assert_allclose(returns, adv + values)


def test_gae_bootstraps_through_truncation_but_not_termination():
    rewards = np.array([[1.0], [2.0], [3.0]], np.float32)
    values = np.array([[0.5], [1.0], [1.5]], np.float32)
    next_values = np.array([[1.0], [5.0], [2.0]], np.float32)  # V(final obs of the episode ending at t=1) = 5
    ended = np.array([[0.0], [1.0], [0.0]], np.float32)
    truncated, _ = compute_gae(rewards, values, next_values, np.zeros_like(ended), ended, 0.9, 0.8)
    terminated, _ = compute_gae(rewards, values, next_values, ended, ended, 0.9, 0.8)
    np.testing.assert_allclose(truncated[:2, 0], [1.4 + 0.72 * 5.5, 2.0 + 0.9 * 5.0 - 1.0], rtol=1e-6)
    np.testing.assert_allclose(terminated[:2, 0], [1.4 + 0.72 * 1.0, 2.0 - 1.0], rtol=1e-6)
    np.testing.assert_allclose(truncated[2], terminated[2])  # the next episode does not see the previous one


def test_ppo_clipped_objective_values_and_gradients():
    ratio = torch.tensor([0.5, 1.0, 1.5, 1.5], requires_grad=True)
    advantages = torch.tensor([1.0, 1.0, 1.0, -1.0])
    loss = clipped_surrogate_loss(ratio, advantages, clip_range=0.2)
    assert loss.item() == pytest.approx(-(0.5 + 1.0 + 1.2 - 1.5) / 4)
    loss.backward()
    # the clip removes the incentive to push a ratio further out when the advantage is positive
    np.testing.assert_allclose(ratio.grad.numpy(), [-0.25, -0.25, 0.0, 0.25])


def test_ppo_value_clipping_takes_the_pessimistic_loss():
    algo = make_algo("ppo", "algo.clip_range_vf=0.5")
    batch = {"values": torch.tensor([1.0]), "returns": torch.tensor([3.0])}
    assert algo._value_loss(torch.tensor([2.0]), batch).item() == pytest.approx(2.25)  # (1.5 - 3)^2 > (2 - 3)^2
    algo = make_algo("ppo")
    assert algo._value_loss(torch.tensor([2.0]), batch).item() == pytest.approx(1.0)


def rollout(T: int, N: int, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    f32 = lambda *shape: rng.standard_normal(shape).astype(np.float32)
    zeros = np.zeros((T, N), np.float32)
    return {K.OBS: {"flat": f32(T, N, OBS_DIM)}, K.ACTIONS: f32(T, N, AC_DIM), K.REWARDS: f32(T, N),
            "terminated": zeros, K.DONES: zeros, "last_obs": {"flat": f32(N, OBS_DIM)},
            "final_obs": {"flat": np.zeros((0, OBS_DIM), np.float32)}, "final_index": np.zeros(0, np.int64)}


def test_ppo_computes_behaviour_log_probs_values_and_bootstraps_from_final_observations():
    ppo = make_algo("ppo", "algo.discount=0.9", "algo.gae_lambda=0.8")
    data = rollout(3, 2)
    data[K.DONES] = np.array([[0, 1], [0, 0], [0, 0]], np.float32)  # env 1 truncated at t=0
    data["final_obs"], data["final_index"] = {"flat": np.full((1, OBS_DIM), 0.5, np.float32)}, np.array([1])
    batch = ppo.prepare_rollout(data)
    policy = ppo.nets["policy"]
    obs = torch.from_numpy(data[K.OBS]["flat"].reshape(6, OBS_DIM))
    with torch.no_grad():
        log_probs, values = policy.evaluate({"flat": obs}, torch.from_numpy(data[K.ACTIONS].reshape(6, AC_DIM)))
        last = policy.value({"flat": torch.from_numpy(data["last_obs"]["flat"])})
        final = policy.value({"flat": torch.from_numpy(data["final_obs"]["flat"])})
    torch.testing.assert_close(batch["log_probs"], log_probs)
    torch.testing.assert_close(batch["values"], values)
    next_values = torch.cat([values[2:], last]).reshape(3, 2).numpy().copy()
    next_values[0, 1] = final.item()  # the truncated episode bootstraps from its final observation
    advantages, returns = compute_gae(data[K.REWARDS], values.reshape(3, 2).numpy(), next_values,
                                      data["terminated"], data[K.DONES], 0.9, 0.8)
    np.testing.assert_allclose(batch["advantages"].numpy(), advantages.reshape(-1), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(batch["returns"].numpy(), returns.reshape(-1), rtol=1e-5, atol=1e-6)


def test_ppo_runs_minibatch_epochs_and_a2c_one_step():
    ppo = make_algo("ppo", "algo.n_steps=16", "algo.update_epochs=3", "train.batch_size=8")
    before = params(ppo.nets["policy"])
    info = ppo.train_on_rollout(rollout(16, 2), epoch=1)
    assert info["Gradient_Steps"] == 3 * 4 and changed(before, ppo.nets["policy"])
    assert {"Policy_Loss", "Value_Loss", "Entropy", "Approx_KL", "Clip_Fraction", "Explained_Variance"} <= set(info)
    a2c = make_algo("a2c")
    assert a2c.train_on_rollout(rollout(5, 2), epoch=1)["Gradient_Steps"] == 1


def test_ppo_stops_early_on_target_kl():
    ppo = make_algo("ppo", "algo.n_steps=16", "algo.update_epochs=5", "train.batch_size=8", "algo.target_kl=1e-9")
    info = ppo.train_on_rollout(rollout(16, 2), epoch=1)
    assert info["Gradient_Steps"] == 4  # the first epoch's minibatches, then the KL stops it


def test_a2c_loss_is_the_policy_gradient():
    a2c = make_algo("a2c")
    mean, actions = torch.zeros(2, AC_DIM), torch.tensor([[0.0, 0.0], [1.0, 1.0]])
    log_probs = a2c.nets["policy"].log_prob(actions, mean)  # log_std 0: log N(0) = -log(2 pi), log N(1) less by 1
    np.testing.assert_allclose(log_probs.detach().numpy(), [-math.log(2 * math.pi), -math.log(2 * math.pi) - 1.0],
                               rtol=1e-6)
    batch = {K.ACTIONS: actions, "advantages": torch.tensor([1.0, 3.0]), "log_probs": log_probs.detach() - 0.5}
    loss, log_ratio = a2c._policy_loss(mean, batch)
    assert loss.item() == pytest.approx(-(log_probs[0] + 3.0 * log_probs[1]).item() / 2)
    torch.testing.assert_close(log_ratio, torch.full((2,), 0.5))


def test_ppo_policy_loss_is_the_clipped_surrogate_of_the_gaussian_ratio():
    """PPO's policy loss and its gradients against the clipped objective written with torch.distributions."""
    ppo = make_algo("ppo", "algo.clip_range=0.2")
    policy = ppo.nets["policy"]
    g = torch.Generator().manual_seed(0)
    B = 16
    with torch.no_grad():
        policy.log_std.copy_(0.3 * torch.randn(AC_DIM, generator=g))
    mean = torch.randn(B, AC_DIM, generator=g, requires_grad=True)
    actions = mean.detach() + 0.5 * torch.randn(B, AC_DIM, generator=g)
    reference = Independent(Normal(mean, policy.log_std.exp()), 1)
    old = reference.log_prob(actions).detach() + 0.3 * torch.randn(B, generator=g)
    advantages = torch.randn(B, generator=g)
    loss, log_ratio = ppo._policy_loss(mean, {K.ACTIONS: actions, "log_probs": old, "advantages": advantages})
    ratio = torch.exp(reference.log_prob(actions) - old)
    assert 0 < ((ratio - 1).abs() > 0.2).sum() < B  # some rows clipped, some not
    expected = -torch.min(ratio * advantages, ratio.clamp(0.8, 1.2) * advantages).mean()
    torch.testing.assert_close(loss, expected)
    torch.testing.assert_close(log_ratio, torch.log(ratio).detach())
    got = torch.autograd.grad(loss, (mean, policy.log_std))
    want = torch.autograd.grad(expected, (mean, policy.log_std))
    for a, b in zip(got, want, strict=True):
        assert b.abs().sum() > 0
        torch.testing.assert_close(a, b)


@pytest.mark.parametrize("encoders_with_parameters", [False, True])
def test_actor_critic_has_separate_networks_of_fixed_layout(encoders_with_parameters):
    """The actor and the critic have their own encoder and trunk whatever their widths: the state-dict keys
    are the same for equal and for different layer sizes, and each part trains only on its own loss."""
    torch.manual_seed(0)
    if encoders_with_parameters:  # a 1-D conv core per encoder
        shapes, modalities = {"scan": (64,)}, {"scan": "scan"}
        configs = {"scan": {"core_class": "ScanCore", "core_kwargs": {"feature_dimension": 8}}}
    else:
        shapes, modalities, configs = {"flat": (OBS_DIM,)}, {}, {}
    make = lambda: ObsGoalEncoder(shapes, None, modalities, configs)
    same, different = (GaussianActorCritic(make(), make(), AC_DIM, (16, 16), dims) for dims in ((16, 16), (32, 8)))
    assert same.state_dict().keys() == different.state_dict().keys()
    key, shape = next(iter(shapes.items()))
    obs = {key: torch.randn(5, *shape)}
    mean, values = different(obs)
    assert mean.shape == (5, AC_DIM) and values.shape == (5,)
    torch.testing.assert_close(mean, different.mean(different.actor(different.actor_encoder(obs))))
    values.sum().backward()  # the value's gradient reaches the critic only
    for name, p in different.named_parameters():
        critic_side = name.startswith(("critic", "value_head"))
        assert (p.grad is not None and p.grad.abs().sum() > 0) == critic_side, name


def test_ppo_deterministic_action_is_the_clipped_mean():
    ppo = make_algo("ppo")
    with torch.no_grad():
        ppo.nets["policy"].mean.bias.fill_(5.0)
    ppo.set_eval()
    action = ppo.get_action({"flat": torch.zeros(4, OBS_DIM)})
    assert action.shape == (4, AC_DIM) and torch.all(action == 1.0)


# ----- SAC -----
def test_squashed_gaussian_sample_matches_torch_distributions():
    """Actions, log-probabilities and their reparameterised gradients against torch.distributions'."""
    mean = torch.randn(5, AC_DIM, dtype=torch.float64, requires_grad=True)
    log_std = (torch.randn(5, AC_DIM, dtype=torch.float64) * 0.5).requires_grad_()
    eps = torch.randn(5, AC_DIM, dtype=torch.float64)
    actions, log_prob, eps_used = squashed_gaussian_sample(mean, log_std, eps)
    u = mean + eps * log_std.exp()
    reference = Independent(TransformedDistribution(Normal(mean, log_std.exp()), [TanhTransform()]), 1)
    expected = reference.log_prob(torch.tanh(u))
    assert eps_used is eps
    torch.testing.assert_close(actions, torch.tanh(u))
    torch.testing.assert_close(log_prob, expected, rtol=1e-6, atol=1e-6)
    weights = torch.randn(5, dtype=torch.float64)  # a loss that mixes rows
    grads = torch.autograd.grad((log_prob * weights).sum() + actions.sum(), (mean, log_std))
    expected_grads = torch.autograd.grad((expected * weights).sum() + torch.tanh(u).sum(), (mean, log_std))
    for got, want in zip(grads, expected_grads, strict=True):
        torch.testing.assert_close(got, want)
    assert squashed_gaussian_sample(mean, log_std)[2].shape == (5, AC_DIM)  # drawn when not given


def test_tanh_correction_in_stable_baselines3s_form():
    u = torch.tensor([[0.3, -2.0, 12.0]])
    a = torch.tanh(u)
    exact, capped = tanh_log_det_jacobian(u), tanh_log_det_jacobian(u, 1e-6)
    assert float(capped) == pytest.approx(float(torch.log(1 - a.pow(2) + 1e-6).sum()))
    unsaturated = float(torch.log(1 - torch.tanh(u[:, :2]).pow(2)).sum())
    assert float(exact) == pytest.approx(unsaturated + 2 * math.log(2) - 24, abs=1e-3)  # log sech^2(12)
    assert float(capped) > float(exact) + 8  # the saturated action: log(1e-6) = -13.8 against about -22.6
    actor_default = make_algo("sac").nets["actor"]
    actor_exact = make_algo("sac", "algo.actor.log_prob_epsilon=0").nets["actor"]
    assert actor_default.log_prob_epsilon == 1e-6 and actor_exact.log_prob_epsilon == 0.0


@pytest.mark.parametrize("target_entropy, direction", [(5.0, 1), (-20.0, -1)])
def test_sac_alpha_moves_toward_the_target_entropy(target_entropy, direction):
    algo = make_algo("sac", f"algo.alpha.target_entropy={target_entropy}",
                     "algo.optim_params.alpha.learning_rate.initial=0.01")
    alpha0 = algo.nets["alpha"]().item()
    for step in range(20):
        info = algo.train_on_batch(replay_batch(seed=step), epoch=1)
    # entropy below the target raises alpha (more exploration), above it lowers alpha
    assert direction * (algo.nets["alpha"]().item() - alpha0) > 0.1 * alpha0
    assert info["Entropy"].item() < 5.0


def test_sac_fixed_alpha_does_not_move_and_all_networks_train():
    algo = make_algo("sac", "algo.alpha.auto=false", "algo.alpha.init=0.2")
    before = {name: params(algo.nets[name]) for name in ("actor", "critic", "critic_target")}
    algo.train_on_batch(replay_batch(), epoch=1)
    assert algo.nets["alpha"]().item() == pytest.approx(0.2)
    assert all(changed(before[name], algo.nets[name]) for name in before)
    assert "Alpha_Loss" not in algo.train_on_batch(replay_batch(), epoch=1)


def test_sac_target_critics_move_by_exactly_tau():
    algo = make_algo("sac", "algo.target_tau=0.25")
    old_target = {k: v.clone() for k, v in algo.nets["critic_target"].state_dict().items()}
    algo.train_on_batch(replay_batch(), epoch=1)
    for key, new in algo.nets["critic"].state_dict().items():
        torch.testing.assert_close(algo.nets["critic_target"].state_dict()[key], 0.75 * old_target[key] + 0.25 * new,
                                   rtol=0, atol=1e-7)


@pytest.mark.parametrize("name", ["sac", "td3"])
def test_off_policy_losses_fall_on_a_fixed_batch(name):
    """Repeated steps on one batch: the critic fits its (moving, slowly) target and the actor raises its Q."""
    algo = make_algo(name, "algo.actor.update_freq=1" if name == "td3" else "algo.alpha.auto=false",
                     *(["algo.alpha.init=0.01"] if name == "sac" else []))
    batch = replay_batch(seed=3)
    first = algo.train_on_batch(batch, epoch=1)
    for _ in range(40):
        last = algo.train_on_batch(batch, epoch=1)
    assert float(last["Critic_Loss"]) < 0.5 * float(first["Critic_Loss"])
    assert float(last["Actor_Loss"]) < float(first["Actor_Loss"])


@pytest.mark.parametrize("name", ["sac", "td3", "ppo"])
def test_acting_needs_evaluation_mode(name):
    algo = make_algo(name)
    obs = {"flat": torch.randn(4, OBS_DIM)}
    with pytest.raises(AssertionError, match="set_eval"):
        algo.get_action(obs)
    algo.set_eval()
    assert algo.get_action(obs).shape == (4, AC_DIM)


def constant_critics(algo, q_value: float, target_value: float) -> None:
    """Every critic outputs q_value and every target critic target_value, whatever the input."""
    for name, value in (("critic", q_value), ("critic_target", target_value)):
        for member in algo.nets[name]:
            last = member.mlp.net[-1]
            torch.nn.init.zeros_(last.weight)
            torch.nn.init.constant_(last.bias, value)


@pytest.mark.parametrize("name", ["sac", "td3"])
def test_td_target_bootstraps_unless_terminated(name):
    overrides = ["algo.alpha.auto=false", "algo.alpha.init=0.0"] if name == "sac" else []
    algo = make_algo(name, "algo.discount=0.9", *overrides)
    constant_critics(algo, q_value=0.0, target_value=10.0)
    n = algo.algo_config.critic.ensemble.n
    running = algo.train_on_batch(replay_batch(dones=0.0), epoch=1, validate=True)["Critic_Loss"]
    terminal = algo.train_on_batch(replay_batch(dones=1.0), epoch=1, validate=True)["Critic_Loss"]
    assert running.item() == pytest.approx(n * (1.0 + 0.9 * 10.0) ** 2)  # y = r + gamma * Q'
    assert terminal.item() == pytest.approx(n * 1.0**2)  # y = r


# ----- TD3 -----
def test_td3_updates_actor_and_targets_only_every_k_steps():
    algo = make_algo("td3", "algo.actor.update_freq=3", "algo.actor.layer_dims=[32]",
                     "algo.critic.layer_dims=[32]")
    actor_updates, target_updates, critic_updates = [], [], []
    for step in range(1, 7):
        before = {name: params(algo.nets[name]) for name in ("actor", "actor_target", "critic")}
        info = algo.train_on_batch(replay_batch(seed=step), epoch=1)
        if changed(before["actor"], algo.nets["actor"]):
            actor_updates.append(step)
            assert "Actor_Loss" in info
        if changed(before["actor_target"], algo.nets["actor_target"]):
            target_updates.append(step)
        critic_updates.append(changed(before["critic"], algo.nets["critic"]))
    assert actor_updates == target_updates == [3, 6]
    assert all(critic_updates)


def test_td3_exploration_noise_and_target_smoothing_stay_in_bounds():
    algo = make_algo("td3", "algo.actor.exploration_noise=5.0", "algo.actor.noise_std=5.0")
    obs = {"flat": torch.randn(64, OBS_DIM)}
    explored = algo.explore(obs).actions
    smoothed = smoothed_target_actions(algo.nets["actor_target"], obs, algo.algo_config.actor)
    assert explored.abs().max() <= 1.0 and smoothed.abs().max() <= 1.0
    algo.set_eval()
    assert not torch.allclose(explored, algo.get_action(obs))
    assert smoothed.sub(algo.nets["actor_target"](obs)).abs().max() <= algo.algo_config.actor.noise_clip + 1e-6


def test_ddpg_variant_is_td3_with_one_critic():
    algo = make_algo("td3", "algo.critic.ensemble.n=1", "algo.actor.update_freq=1", "algo.actor.noise_std=0.0")
    assert type(algo).__name__ == "TD3" and len(algo.nets["critic"]) == 1
    before = params(algo.nets["actor"])
    algo.train_on_batch(replay_batch(), epoch=1)
    assert changed(before, algo.nets["actor"])
    assert math.isfinite(algo.train_on_batch(replay_batch(), epoch=1)["Critic_Loss"].item())
