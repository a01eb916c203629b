"""Losses and parameter updates of SAC, TD3, PPO and A2C on tiny problems."""

import math

import numpy as np
import pytest
import torch
from torch.distributions import Independent, Normal, TransformedDistribution
from torch.distributions.transforms import TanhTransform

from robokit.algo import algo_factory
from robokit.algo.ppo import (GaussianClippedSurrogate, clipped_surrogate_loss, compute_gae,
                              surrogate_clip_bounds)
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


def gaussian_log_prob(x: torch.Tensor, mean: torch.Tensor, log_std: torch.Tensor) -> torch.Tensor:
    """log N(x; mean, exp(log_std)^2) summed over the last dim, written out: (..., A) -> (...)."""
    z = (x - mean) * torch.exp(-log_std)
    return -(0.5 * z.pow(2) + log_std + 0.5 * math.log(2 * math.pi)).sum(-1)


def test_fused_gaussian_surrogate_matches_the_composed_loss_and_its_gradients():
    g = torch.Generator().manual_seed(0)
    B, A = 16, 3
    mean = torch.randn(B, A, generator=g, dtype=torch.float64, requires_grad=True)
    log_std = (0.3 * torch.randn(A, generator=g, dtype=torch.float64)).requires_grad_()
    actions = mean.detach() + 0.5 * torch.randn(B, A, generator=g, dtype=torch.float64)
    old = gaussian_log_prob(actions, mean.detach(), log_std.detach()) + 0.3 * torch.randn(B, generator=g,
                                                                                           dtype=torch.float64)
    advantages = torch.randn(B, generator=g, dtype=torch.float64)
    low, high = surrogate_clip_bounds(advantages, 0.2)
    fused, log_ratio = GaussianClippedSurrogate.apply(mean, log_std, actions, old, advantages, low, high)
    ratio = torch.exp(gaussian_log_prob(actions, mean, log_std) - old)
    assert 0 < ((ratio - 1).abs() > 0.2).sum() < B  # some rows clipped, some not
    composed = clipped_surrogate_loss(ratio, advantages, 0.2)
    torch.testing.assert_close(fused, composed)
    torch.testing.assert_close(log_ratio, torch.log(ratio).detach())
    grads = torch.autograd.grad(fused, (mean, log_std))
    expected = torch.autograd.grad(composed, (mean, log_std))
    for got, want in zip(grads, expected):
        torch.testing.assert_close(got, want)
    assert torch.autograd.gradcheck(lambda m, s: GaussianClippedSurrogate.apply(m, s, actions, old, advantages, low,
                                                                                 high)[0], (mean, log_std))


def _actor_critic(encoders_with_parameters: bool, critic_layer_dims=(16, 16)) -> GaussianActorCritic:
    torch.manual_seed(0)
    if encoders_with_parameters:  # a 1-D conv core per encoder: the actor and critic must keep their own
        shapes, modalities = {"scan": (64,)}, {"scan": "scan"}
        configs = {"scan": {"core_class": "ScanCore", "core_kwargs": {"feature_dimension": 8}}}
    else:
        shapes, modalities, configs = {"flat": (OBS_DIM,)}, {}, {}
    make = lambda: ObsGoalEncoder(shapes, None, modalities, configs)
    return GaussianActorCritic(make(), make(), AC_DIM, (16, 16), critic_layer_dims)


@pytest.mark.parametrize("encoders_with_parameters, critic_layer_dims, paired", [
    (False, (16, 16), True), (True, (16, 16), True), (False, (32,), False)])
def test_actor_critic_trunks_match_separate_networks(encoders_with_parameters, critic_layer_dims, paired):
    net = _actor_critic(encoders_with_parameters, critic_layer_dims)
    assert hasattr(net, "trunks") == paired
    assert (net.critic_encoder is None) == (not encoders_with_parameters)  # parameter-free encoders run once
    key, shape = ("scan", (64,)) if encoders_with_parameters else ("flat", (OBS_DIM,))
    obs = {key: torch.randn(5, *shape)}
    mean, values = net(obs)
    assert mean.shape == (5, AC_DIM) and values.shape == (5,)
    # member by member, the paired trunks are the two MLPs they replace
    actor_x = net.actor_encoder(obs)
    critic_x = actor_x if net.critic_encoder is None else net.critic_encoder(obs)
    if paired:
        def member(i, x):
            for weight, bias in zip(net.trunks.weights, net.trunks.biases):
                x = torch.tanh(x @ weight[i] + bias[i])
            return x
        actor_h, critic_h = member(0, actor_x), member(1, critic_x)
    else:
        actor_h, critic_h = net.actor(actor_x), net.critic(critic_x)
    torch.testing.assert_close(mean, net.mean(actor_h))
    torch.testing.assert_close(values, net.value_head(critic_h).squeeze(-1))
    (mean.sum() + values.sum()).backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in net.parameters() if p is not net.log_std)


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


def steps_both_ways(name: str, overrides: list[str], steps: int = 6, precision: str = "off"):
    """The same gradient steps (same batches and noise) with hand-written backward passes and with autograd."""
    from robokit.train.precision import gradient_step_precision

    algos = [make_algo(name, f"train.manual_backward={flag}", *overrides) for flag in ("true", "false")]
    assert algos[0]._passes is not None and algos[1]._passes is None
    infos = []
    for algo in algos:
        for step in range(steps):
            torch.manual_seed(step)
            with gradient_step_precision(precision, torch.device("cpu")):
                info = algo.train_on_batch(replay_batch(seed=step, dones=float(step % 2)), epoch=1)
        infos.append(info)
    return algos, infos


def assert_same_steps(by_hand, autograd, info_hand: dict, info_auto: dict) -> None:
    """Every logged value and both Adam moments (which accumulate every step's gradients) of the two paths within
    1e-4; parameters within one learning rate: Adam moves an element whose gradient was a rounding error away
    from zero by up to a learning rate in either direction, so bits of rounding there become 1e-4 changes."""
    for key, value in info_auto.items():
        torch.testing.assert_close(torch.as_tensor(info_hand[key]), torch.as_tensor(value), rtol=1e-4, atol=1e-5)
    for name, optimizer in autograd.optimizers.items():
        [param_auto], [param_hand] = (algo.optimizers[name].param_groups[0]["params"] for algo in (autograd, by_hand))
        state_auto, state_hand = optimizer.state[param_auto], by_hand.optimizers[name].state[param_hand]
        assert state_auto.keys() == state_hand.keys()
        for moment in ("exp_avg", "exp_avg_sq") if state_auto else ():  # none for a fixed alpha
            want = state_auto[moment]
            torch.testing.assert_close(state_hand[moment], want, rtol=1e-4, atol=1e-4 * float(want.abs().max()))
    largest_learning_rate = max(opt.param_groups[0]["lr"] for opt in autograd.optimizers.values())
    for key, value in autograd.nets.state_dict().items():  # targets follow their networks
        torch.testing.assert_close(by_hand.nets.state_dict()[key], value, rtol=1e-4, atol=largest_learning_rate)


@pytest.mark.parametrize("overrides", [
    [],
    ["algo.critic.use_huber=true", "algo.alpha.auto=false", "algo.alpha.init=0.3"],
    ["algo.critic.ensemble.n=3", "algo.critic.max_gradient_norm=0.5", "algo.actor.layer_dims=[32, 16, 8]",
     "algo.actor.log_std_max=-1.0", "algo.target_update_interval=2"],
    ["algo.actor.log_prob_epsilon=0"],  # the exact tanh correction
    ["algo.actor.log_prob_epsilon=0.01"],  # a large epsilon, where its slope differs visibly
])
def test_sac_step_by_hand_is_autograds_step(overrides):
    (by_hand, autograd), (info_hand, info_auto) = steps_both_ways("sac", overrides)
    assert info_hand.keys() == info_auto.keys()
    assert_same_steps(by_hand, autograd, info_hand, info_auto)


def test_sac_step_by_hand_in_bf16_stays_close_to_autocast():
    (by_hand, autograd), (info_hand, info_auto) = steps_both_ways("sac", [], precision="bf16")
    for key in ("Critic_Loss", "Actor_Loss", "Entropy"):
        assert float(info_hand[key]) == pytest.approx(float(info_auto[key]), rel=0.02, abs=0.02)
    for key, value in autograd.nets.state_dict().items():
        if value.is_floating_point():
            assert float((by_hand.nets.state_dict()[key] - value).abs().max()) < 0.01


@pytest.mark.parametrize("overrides", [
    ["algo.actor.update_freq=2"],
    ["algo.critic.ensemble.n=1", "algo.actor.update_freq=1", "algo.actor.noise_std=0", "algo.critic.use_huber=true",
     "algo.actor.max_gradient_norm=0.1", "algo.critic.layer_dims=[16]"],
])
def test_td3_step_by_hand_is_autograds_step(overrides):
    (by_hand, autograd), (info_hand, info_auto) = steps_both_ways("td3", overrides)
    assert info_hand.keys() == info_auto.keys() and "Actor_Loss" in info_auto
    assert_same_steps(by_hand, autograd, info_hand, info_auto)


@pytest.mark.parametrize("name, logged_only", [
    ("sac", {"Critic_Loss", "Actor_Loss", "Alpha_Loss", "Q_Mean", "Entropy", "Critic/Grad_Norms", "Actor/Grad_Norms"}),
    ("td3", {"Critic_Loss", "Actor_Loss", "Q_Mean", "Critic/Grad_Norms", "Actor/Grad_Norms"}),
])
def test_step_by_hand_computes_logged_values_only_when_asked(name, logged_only):
    """Off the logged steps the losses are not computed; the updates are the same either way."""
    algos = [make_algo(name, "algo.actor.update_freq=1" if name == "td3" else "algo.alpha.auto=true")
             for _ in range(2)]
    algos[1].set_log_diagnostics(False)
    infos = []
    for algo in algos:
        assert algo._passes is not None
        for step in range(3):
            torch.manual_seed(step)
            info = algo.train_on_batch(replay_batch(seed=step), epoch=1)
        infos.append({k: v for k, v in info.items() if v is not None})
    assert logged_only <= infos[0].keys()
    assert not logged_only & infos[1].keys()
    if name == "sac":
        assert float(infos[1]["Alpha"]) == float(infos[0]["Alpha"])
    for key, value in algos[0].nets.state_dict().items():
        assert torch.equal(algos[1].nets.state_dict()[key], value), key


def test_networks_that_are_not_plain_relu_mlps_run_on_autograd():
    from robokit.algo.online_base import critic_passes
    from robokit.models.value_nets import ActionValueNetwork

    def critic(**kwargs):
        return ActionValueNetwork(ObsGoalEncoder({"flat": (OBS_DIM,)}, **kwargs), AC_DIM, [8])

    assert critic_passes([critic(), critic()]) is not None
    assert critic_passes([critic(goal_shapes={"goal": (2,)})]) is None
    assert critic_passes([ActionValueNetwork(ObsGoalEncoder({"flat": (OBS_DIM,)}), AC_DIM, [8], (-1, 1))]) is None
    assert make_algo("sac", "algo.critic.layer_dims=[]")._passes is None
    assert make_algo("sac", "train.manual_backward=false")._passes is None
    assert make_algo("td3", "algo.actor.layer_dims=[]")._passes is None


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
    smoothed = algo.target_actions(obs)
    assert explored.abs().max() <= 1.0 and smoothed.abs().max() <= 1.0
    assert not torch.allclose(explored, algo.get_action(obs))
    assert smoothed.sub(algo.nets["actor_target"](obs)).abs().max() <= algo.algo_config.actor.noise_clip + 1e-6


def test_ddpg_variant_is_td3_with_one_critic():
    algo = make_algo("td3", "algo.critic.ensemble.n=1", "algo.actor.update_freq=1", "algo.actor.noise_std=0.0")
    assert type(algo).__name__ == "TD3" and len(algo.nets["critic"]) == 1
    before = params(algo.nets["actor"])
    algo.train_on_batch(replay_batch(), epoch=1)
    assert changed(before, algo.nets["actor"])
    assert math.isfinite(algo.train_on_batch(replay_batch(), epoch=1)["Critic_Loss"].item())
