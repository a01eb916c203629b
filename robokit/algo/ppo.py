"""The on-policy actor-critic family: PPO (Schulman et al. 2017) and A2C (Mnih et al. 2016).

Both collect a rollout of `n_steps` x `num_envs` steps, estimate advantages with GAE(lambda) and update a
Gaussian policy and a value network with one optimiser on
    loss = policy_loss - ent_coef * entropy + vf_coef * value_loss.
PPO: `update_epochs` passes of shuffled minibatches (`train.batch_size`) on the clipped surrogate
    policy_loss = -mean(min(ratio * A, clip(ratio, 1 - eps, 1 + eps) * A)),  ratio = pi(a|s) / pi_old(a|s),
    optional value clipping around the old values and early stopping on the approximate KL.
A2C: one gradient step on the whole rollout with policy_loss = -mean(A * log pi(a|s)).

Truncation and termination differ in the advantages: delta_t = r_t + gamma * (1 - terminated_t) * V(s'_t) - V(s_t)
with s'_t the true next observation (the final one when the episode ended), and the GAE recursion is cut at
every episode end (terminated or truncated).
"""

import numpy as np
import torch
import torch.nn.functional as F

from robokit.algo.online_base import Exploration, OnPolicyAlgo
from robokit.algo.registry import register_algo_factory_func
from robokit.models.rl_policies import GaussianActorCritic
from robokit.utils import batch_keys as K

ADVANTAGES, RETURNS, LOG_PROBS, VALUES = "advantages", "returns", "log_probs", "values"


@register_algo_factory_func("ppo")
def ppo_config_to_class(algo_config):
    """PPO; value clipping and KL early stopping are config (`clip_range_vf`, `target_kl`)."""
    return PPO, {}


@register_algo_factory_func("a2c")
def a2c_config_to_class(algo_config):
    """A2C: the same networks and advantages as PPO, one plain policy-gradient step per rollout."""
    return A2C, {}


def compute_gae(rewards, values, next_values, terminated, dones, discount: float, gae_lambda: float):
    """GAE(lambda) advantages and returns (= advantages + values) from (T, N) numpy arrays.

    next_values[t]: V of the observation after step t (the final observation where an episode ended);
    terminated[t]: no bootstrapping from it; dones[t]: the episode ended (terminated or truncated) at t.
    """
    advantages = np.zeros_like(rewards, dtype=np.float32)
    last = np.zeros(rewards.shape[1:], dtype=np.float32)  # (N,)
    for t in reversed(range(rewards.shape[0])):
        delta = rewards[t] + discount * (1.0 - terminated[t]) * next_values[t] - values[t]
        last = delta + discount * gae_lambda * (1.0 - dones[t]) * last
        advantages[t] = last
    return advantages, advantages + values


def clipped_surrogate_loss(ratio: torch.Tensor, advantages: torch.Tensor, clip_range: float) -> torch.Tensor:
    """PPO's policy loss -mean(min(ratio * A, clip(ratio, 1 - eps, 1 + eps) * A)); ratio, A (B,)."""
    unclipped = ratio * advantages
    clipped = ratio.clamp(1.0 - clip_range, 1.0 + clip_range) * advantages
    return -torch.min(unclipped, clipped).mean()


class PPO(OnPolicyAlgo):
    """Proximal Policy Optimisation with the clipped objective; see the module docstring."""

    def _create_networks(self) -> None:
        cfg = self.algo_config
        self.nets["policy"] = GaussianActorCritic(
            self._make_encoder(), self._make_encoder(), self.ac_dim, cfg.actor_layer_dims, cfg.critic_layer_dims,
            activation=cfg.activation, log_std_init=cfg.log_std_init, ortho_init=cfg.ortho_init,
        )

    # ----- acting -----
    def explore(self, obs: dict) -> Exploration:
        """Sampled (unclipped) actions (N, A), their log-probs (N,) and values (N,)."""
        with torch.no_grad():
            return Exploration(*self.nets["policy"].sample(obs))

    def get_action(self, obs_dict: dict, goal_dict: dict | None = None) -> torch.Tensor:
        """Deterministic action: the policy mean clipped to [-1, 1], (B, A)."""
        with torch.no_grad():
            return self.nets["policy"].policy(obs_dict)[0].clamp(-1.0, 1.0)

    def get_state_value(self, obs_dict: dict, goal_dict: dict | None = None) -> torch.Tensor:
        with torch.no_grad():
            return self.nets["policy"].value(obs_dict)

    # ----- learning -----
    def prepare_rollout(self, rollout: dict) -> dict:
        """(T, N) numpy rollout -> flat (T*N) tensors with GAE advantages and returns, on the device.

        rollout: obs {k: (T, N, *shape)}, actions (T, N, A), log_probs, values, rewards, terminated, dones and
        next_values, all (T, N).
        """
        cfg = self.algo_config
        advantages, returns = compute_gae(
            rollout[K.REWARDS], rollout[VALUES], rollout["next_values"], rollout["terminated"], rollout[K.DONES],
            cfg.discount, cfg.gae_lambda,
        )
        flat = lambda x: torch.from_numpy(np.ascontiguousarray(x.reshape(-1, *x.shape[2:]))).to(self.device)
        return {
            K.OBS: {k: flat(v) for k, v in rollout[K.OBS].items()},  # (T*N, *shape)
            K.ACTIONS: flat(rollout[K.ACTIONS]),  # (T*N, A)
            LOG_PROBS: flat(rollout[LOG_PROBS]),
            VALUES: flat(rollout[VALUES]),
            ADVANTAGES: flat(advantages),
            RETURNS: flat(returns),
        }

    def _policy_loss(self, log_probs: torch.Tensor, ratio: torch.Tensor, advantages: torch.Tensor) -> torch.Tensor:
        return clipped_surrogate_loss(ratio, advantages, self.algo_config.clip_range)

    def _value_loss(self, values: torch.Tensor, batch: dict) -> torch.Tensor:
        clip = getattr(self.algo_config, "clip_range_vf", None)
        if clip is None:
            return F.mse_loss(values, batch[RETURNS])
        old = batch[VALUES]
        clipped = old + (values - old).clamp(-clip, clip)
        return torch.max((values - batch[RETURNS]) ** 2, (clipped - batch[RETURNS]) ** 2).mean()

    def train_on_batch(self, batch: dict, epoch: int, validate: bool = False) -> dict:
        """One gradient step on a (mini)batch of `prepare_rollout` output; returns detached info."""
        cfg = self.algo_config
        with torch.set_grad_enabled(not validate):
            log_probs, entropy, values = self.nets["policy"].evaluate(batch[K.OBS], batch[K.ACTIONS])  # (B,) each
            advantages = batch[ADVANTAGES]
            if cfg.normalize_advantage and advantages.shape[0] > 1:
                advantages = (advantages - advantages.mean()) / (advantages.std() + 1e-8)
            log_ratio = log_probs - batch[LOG_PROBS]
            ratio = log_ratio.exp()
            policy_loss = self._policy_loss(log_probs, ratio, advantages)
            value_loss = self._value_loss(values, batch)
            entropy_mean = entropy.mean()
            loss = policy_loss - cfg.ent_coef * entropy_mean + cfg.vf_coef * value_loss
            grad_norm = None if validate else self.backprop("policy", loss)
        with torch.no_grad():
            approx_kl = ((ratio - 1.0) - log_ratio).mean()  # low-variance KL(old || new) estimate
            clip_fraction = ((ratio - 1.0).abs() > getattr(cfg, "clip_range", float("inf"))).float().mean()
        info = {
            "Loss": loss.detach(),
            "Policy_Loss": policy_loss.detach(),
            "Value_Loss": value_loss.detach(),
            "Entropy": entropy_mean.detach(),
            "Approx_KL": approx_kl,
            "Clip_Fraction": clip_fraction,
        }
        if grad_norm is not None:
            info["Grad_Norms"] = grad_norm
        return info

    def train_on_rollout(self, rollout: dict, epoch: int) -> dict:
        """`update_epochs` passes of shuffled minibatches; stops early past 1.5 * target_kl. Returns means."""
        cfg = self.algo_config
        batch = self.prepare_rollout(rollout)
        size = batch[ADVANTAGES].shape[0]
        minibatch = min(self.global_config.train.batch_size, size)
        infos = []
        for _ in range(cfg.update_epochs):
            order = torch.randperm(size, device=self.device)
            epoch_kls = []
            for start in range(0, size, minibatch):
                idx = order[start : start + minibatch]
                info = self.train_on_batch(_index(batch, idx), epoch)
                infos.append(info)
                epoch_kls.append(info["Approx_KL"])
            if cfg.target_kl is not None and float(torch.stack(epoch_kls).mean()) > 1.5 * cfg.target_kl:
                break
        return self._summarise(infos, batch)

    def _summarise(self, infos: list[dict], batch: dict) -> dict:
        summary = {k: float(torch.stack([info[k] for info in infos]).mean()) for k in infos[0]}
        returns, values = batch[RETURNS], batch[VALUES]
        summary["Explained_Variance"] = float(1.0 - (returns - values).var() / returns.var().clamp_min(1e-8))
        summary["Log_Std"] = float(self.nets["policy"].log_std.detach().mean())
        summary["Gradient_Steps"] = float(len(infos))
        return summary


class A2C(PPO):
    """Advantage actor-critic: one step on the whole rollout with the plain policy-gradient loss."""

    def _policy_loss(self, log_probs: torch.Tensor, ratio: torch.Tensor, advantages: torch.Tensor) -> torch.Tensor:
        return -(advantages * log_probs).mean()

    def train_on_rollout(self, rollout: dict, epoch: int) -> dict:
        batch = self.prepare_rollout(rollout)
        return self._summarise([self.train_on_batch(batch, epoch)], batch)


def _index(batch: dict, idx: torch.Tensor) -> dict:
    """Rows `idx` of every tensor in a (nested) flat batch."""
    return {k: _index(v, idx) if isinstance(v, dict) else v[idx] for k, v in batch.items()}
