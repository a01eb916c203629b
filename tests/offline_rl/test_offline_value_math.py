"""The value pieces against hand-computed numbers: target updates, n-step returns, CQL penalty, expectile loss, C51."""

import math

import pytest
import torch

from robokit.algo.cql import cql_penalty
from robokit.algo.iql import expectile_loss
from robokit.algo.value_utils import DISCOUNTS, ensemble_target, n_step_transitions
from robokit.errors import ConfigError
from robokit.models.value_nets import project_onto_atoms
from robokit.utils import batch_keys as K


def test_targets_move_by_tau_in_a_training_step(mixed_reach_dataset):
    from offline_helpers import build_algo, make_config, train_steps

    config = make_config("iql", "algo.target_tau=0.25")
    algo, dataset = build_algo(config, mixed_reach_dataset)
    old_target = {k: v.clone() for k, v in algo.nets["critic_target"].state_dict().items()}
    train_steps(algo, dataset, n=1)
    for key, new in algo.nets["critic"].state_dict().items():
        torch.testing.assert_close(algo.nets["critic_target"].state_dict()[key], 0.75 * old_target[key] + 0.25 * new,
                                   rtol=0, atol=1e-7)


def _window(rewards, dones, pad_mask):
    rewards, dones, pad_mask = (torch.tensor(x, dtype=torch.float32) for x in (rewards, dones, pad_mask))
    b, t = rewards.shape
    obs = torch.arange(b * t, dtype=torch.float32).reshape(b, t, 1)  # obs value = 100 * row + step
    obs = obs + 100 * torch.arange(b).reshape(b, 1, 1) - torch.arange(b).reshape(b, 1, 1) * t
    return {K.OBS: {"x": obs}, K.NEXT_OBS: {"x": obs + 1}, K.ACTIONS: torch.zeros(b, t, 2), K.REWARDS: rewards,
            K.DONES: dones, K.PAD_MASK: pad_mask.bool()}


def test_n_step_returns_stop_at_dones_and_episode_ends():
    g = 0.9
    batch = _window(
        rewards=[[1.0, 2.0, 3.0], [1.0, 2.0, 3.0], [1.0, 2.0, 2.0]],
        dones=[[0, 0, 0], [0, 1, 0], [0, 0, 0]],
        pad_mask=[[1, 1, 1], [1, 1, 1], [1, 1, 0]],  # row 2: the episode ends after two steps (truncated)
    )
    out = n_step_transitions(batch, ["x"], [], n_step=3, discount=g)
    torch.testing.assert_close(out[K.REWARDS], torch.tensor([1 + 2 * g + 3 * g**2, 1 + 2 * g, 1 + 2 * g]))
    torch.testing.assert_close(out[K.DONES], torch.tensor([0.0, 1.0, 0.0]))
    torch.testing.assert_close(out[DISCOUNTS], torch.tensor([g**3, g**2, g**2]))
    # bootstrap from the observation after the last step used: window step 2, 1, 1
    torch.testing.assert_close(out[K.NEXT_OBS]["x"][:, 0], torch.tensor([3.0, 102.0, 202.0]))
    torch.testing.assert_close(out[K.OBS]["x"][:, 0], torch.tensor([0.0, 100.0, 200.0]))


def test_one_step_transitions_and_infinite_horizon():
    batch = _window(rewards=[[-1.0, 5.0], [2.0, 5.0]], dones=[[0, 0], [1, 0]], pad_mask=[[1, 1], [1, 1]])
    out = n_step_transitions(batch, ["x"], [], n_step=1, discount=0.5, infinite_horizon=True)
    torch.testing.assert_close(out[K.REWARDS], torch.tensor([-1.0, 2.0 / (1 - 0.5)]))  # terminal reward scaled
    torch.testing.assert_close(out[DISCOUNTS], torch.tensor([0.5, 0.5]))
    with pytest.raises(ConfigError, match="train.seq_length >= 3"):
        n_step_transitions(batch, ["x"], [], n_step=3, discount=0.5)


def test_cql_penalty_matches_hand_computation():
    q_data = torch.tensor([1.0, -2.0])
    q_rand = torch.tensor([[0.5], [0.0]])
    q_curr = torch.tensor([[1.5], [-1.0]])
    q_next = torch.tensor([[0.0], [2.0]])
    lp_curr = torch.tensor([[-1.0], [0.5]])
    lp_next = torch.tensor([[0.2], [-0.3]])
    A = 2
    log_u = A * math.log(0.5)
    rows = [
        [0.5 - log_u, 0.0 - 0.2, 1.5 + 1.0],
        [0.0 - log_u, 2.0 + 0.3, -1.0 - 0.5],
    ]
    lse = [math.log(sum(math.exp(v) for v in row)) for row in rows]
    expected = (lse[0] + lse[1]) / 2 - (1.0 - 2.0) / 2
    got = cql_penalty(q_data, q_rand, q_curr, q_next, lp_curr, lp_next, ac_dim=A)
    assert got.item() == pytest.approx(expected, rel=1e-6)


def test_expectile_loss_matches_hand_computation():
    v = torch.tensor([1.0, 0.0, 2.0])
    q = torch.tensor([0.0, 1.0, 2.0])
    tau = 0.8
    # v - q = [1, -1, 0]: over-estimate weighs 1 - tau, under-estimate tau
    expected = ((1 - tau) * 1.0 + tau * 1.0 + 0.0) / 3
    assert expectile_loss(v, q, tau).item() == pytest.approx(expected)
    assert expectile_loss(v, q, 0.5).item() == pytest.approx(0.5 * torch.mean((v - q) ** 2).item())


def test_ensemble_target_mixes_min_and_max():
    qs = torch.tensor([[1.0, 4.0], [3.0, 2.0]])  # (K=2, B=2)
    torch.testing.assert_close(ensemble_target(qs, 1.0), torch.tensor([1.0, 2.0]))
    torch.testing.assert_close(ensemble_target(qs, 0.75), torch.tensor([0.75 * 1 + 0.25 * 3, 0.75 * 2 + 0.25 * 4]))


def test_c51_projection_splits_mass_between_neighbouring_atoms():
    atoms = torch.tensor([0.0, 1.0, 2.0, 3.0])
    values = torch.tensor([[0.25, 1.0, 2.5, 7.0]])  # 7 is clipped to the top atom
    probs = torch.tensor([[0.4, 0.3, 0.2, 0.1]])
    projected = project_onto_atoms(values, probs, atoms)
    expected = torch.tensor([[0.4 * 0.75, 0.4 * 0.25 + 0.3, 0.2 * 0.5, 0.2 * 0.5 + 0.1]])
    torch.testing.assert_close(projected, expected)
    torch.testing.assert_close(projected.sum(), torch.tensor(1.0))
