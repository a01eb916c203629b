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

import math

import numpy as np
import torch
import torch.nn.functional as F

from robokit.algo.online_base import Exploration, OnPolicyAlgo
from robokit.algo.registry import register_algo_factory_func
from robokit.data.rollout_storage import next_state_values
from robokit.models.rl_policies import GaussianActorCritic
from robokit.utils import batch_keys as K

ADVANTAGES, RETURNS, LOG_PROBS, VALUES = "advantages", "returns", "log_probs", "values"
EVALUATION_CHUNK = 4096  # rows per batched pass of the behaviour policy over a rollout


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
    clipped = ratio.clamp(1.0 - clip_range, 1.0 + clip_range)
    return -torch.min(ratio * advantages, clipped * advantages).mean()


def normalize_minibatch_advantages(advantages: torch.Tensor, minibatch: int) -> torch.Tensor:
    """Every consecutive chunk of `minibatch` rows of (S,) advantages shifted and scaled to mean 0, std 1
    (the last, shorter chunk too; a chunk of one row is left as it is)."""
    chunks = []
    full = advantages.shape[0] // minibatch * minibatch
    if minibatch > 1 and full:
        chunks.append(_standardize(advantages[:full].view(-1, minibatch)).reshape(-1))  # all full chunks at once
    elif full:
        chunks.append(advantages[:full])
    rest = advantages[full:]
    chunks.append(_standardize(rest.view(1, -1)).reshape(-1) if rest.shape[0] > 1 else rest)
    return torch.cat(chunks)


def _standardize(x: torch.Tensor) -> torch.Tensor:
    """Rows of (C, M) to mean 0, std 1."""
    return (x - x.mean(1, keepdim=True)) / (x.std(1, keepdim=True) + 1e-8)


class PPO(OnPolicyAlgo):
    """Proximal Policy Optimisation with the clipped objective; see the module docstring."""

    def _create_networks(self) -> None:
        cfg = self.algo_config
        self.nets["policy"] = GaussianActorCritic(
            self._make_encoder(), self._make_encoder(), self.ac_dim, cfg.actor_layer_dims, cfg.critic_layer_dims,
            activation=cfg.activation, log_std_init=cfg.log_std_init, ortho_init=cfg.ortho_init,
        )

    def batches_per_rollout(self, rollout_size: int) -> int:
        """`train_on_batch` calls per rollout of `rollout_size` transitions (at most: `target_kl` may stop early)."""
        minibatch = min(self.global_config.train.batch_size, rollout_size)
        return self.algo_config.update_epochs * math.ceil(rollout_size / minibatch)

    # ----- acting -----
    def explore(self, obs: dict) -> Exploration:
        """Sampled (unclipped) actions (N, A); their log-probs and values come later, for the whole rollout."""
        with torch.inference_mode():
            return Exploration(self.nets["policy"].sample(obs))

    def get_action(self, obs_dict: dict, goal_dict: dict | None = None) -> torch.Tensor:
        """Deterministic action: the policy mean clipped to [-1, 1], (B, A)."""
        self._check_eval()
        with torch.no_grad():
            return self.nets["policy"].policy(obs_dict)[0].clamp(-1.0, 1.0)

    def get_state_value(self, obs_dict: dict, goal_dict: dict | None = None) -> torch.Tensor:
        with torch.inference_mode():
            return self.nets["policy"].value(obs_dict)

    # ----- learning -----
    def prepare_rollout(self, rollout: dict) -> dict:
        """(T, N) numpy rollout -> flat (T*N) tensors with log-probs, values, GAE advantages and returns.

        rollout: obs {k: (T, N, *shape)}, actions (T, N, A), rewards, terminated and dones (T, N), last_obs
        {k: (N, *shape)} (after the last step), final_obs {k: (M, *shape)} and final_index (M,) of the episodes
        that ended (see RolloutStorage). The behaviour policy's log-probs and values are computed here, in
        batches of EVALUATION_CHUNK rows: the policy has not changed since it collected the rollout.
        """
        cfg = self.algo_config
        T, N = rollout[K.REWARDS].shape
        to_tensor = lambda x: torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)).to(self.device)
        flat = lambda x: to_tensor(x.reshape(T * N, *x.shape[2:]))
        obs = {k: flat(v) for k, v in rollout[K.OBS].items()}  # (T*N, *shape)
        actions = flat(rollout[K.ACTIONS])  # (T*N, A)
        policy = self.nets["policy"]
        with torch.no_grad():
            chunks = [policy.evaluate(_slice(obs, i, i + EVALUATION_CHUNK), actions[i : i + EVALUATION_CHUNK])
                      for i in range(0, T * N, EVALUATION_CHUNK)]
            log_probs, values = (torch.cat(parts) for parts in zip(*chunks))  # (T*N,) each
            last_values = policy.value({k: to_tensor(v) for k, v in rollout["last_obs"].items()})  # (N,)
            final_index = rollout["final_index"]
            final_values = (policy.value({k: to_tensor(v) for k, v in rollout["final_obs"].items()})
                            if len(final_index) else torch.zeros(0))  # (M,)
        values_np = values.float().cpu().numpy().reshape(T, N)
        next_values = next_state_values(values_np, last_values.float().cpu().numpy(), final_index,
                                        final_values.float().cpu().numpy())
        advantages, returns = compute_gae(rollout[K.REWARDS], values_np, next_values, rollout["terminated"],
                                          rollout[K.DONES], cfg.discount, cfg.gae_lambda)
        return {
            K.OBS: obs,
            K.ACTIONS: actions,
            LOG_PROBS: log_probs.float(),
            VALUES: values.float(),
            ADVANTAGES: to_tensor(advantages.reshape(-1)),
            RETURNS: to_tensor(returns.reshape(-1)),
        }

    def _policy_loss(self, mean: torch.Tensor, batch: dict) -> tuple[torch.Tensor, torch.Tensor]:
        """The policy's loss and the detached log-ratios log pi(a|s) - log pi_old(a|s) (B,), from the policy's
        means (B, A) on the batch."""
        log_ratio = self.nets["policy"].log_prob(batch[K.ACTIONS], mean) - batch[LOG_PROBS]  # (B,)
        loss = clipped_surrogate_loss(log_ratio.exp(), batch[ADVANTAGES], self.algo_config.clip_range)
        return loss, log_ratio.detach()

    def _value_loss(self, values: torch.Tensor, batch: dict) -> torch.Tensor:
        clip = getattr(self.algo_config, "clip_range_vf", None)
        if clip is None:
            return F.mse_loss(values, batch[RETURNS])
        old = batch[VALUES]
        clipped = old + (values - old).clamp(-clip, clip)
        return torch.max((values - batch[RETURNS]) ** 2, (clipped - batch[RETURNS]) ** 2).mean()

    def train_on_batch(self, batch: dict, epoch: int, validate: bool = False) -> dict:
        """One gradient step on a (mini)batch of `prepare_rollout` output; returns detached info.

        The batch's advantages are used as they are: `train_on_rollout` normalises them per minibatch. The
        info holds the losses only when `log_diagnostics` is on, the approximate KL also when `target_kl` needs it.
        """
        cfg, policy = self.algo_config, self.nets["policy"]
        with torch.set_grad_enabled(not validate):
            mean, values = policy(batch[K.OBS])  # (B, A), (B,)
            policy_loss, log_ratio = self._policy_loss(mean, batch)
            value_loss = self._value_loss(values, batch)
            loss = policy_loss + cfg.vf_coef * value_loss
            if cfg.ent_coef:
                loss = loss - cfg.ent_coef * policy.entropy()
            grad_norm = None if validate else self.backprop("policy", loss)
        info = {}
        if self.log_diagnostics or getattr(cfg, "target_kl", None) is not None:
            with torch.no_grad():
                ratio = log_ratio.exp()
                info["Approx_KL"] = ((ratio - 1.0) - log_ratio).mean()  # low-variance KL(old || new) estimate
        if self.log_diagnostics:
            info.update(Loss=loss.detach(), Policy_Loss=policy_loss.detach(), Value_Loss=value_loss.detach())
            with torch.no_grad():
                clip_range = getattr(cfg, "clip_range", math.inf)
                info["Clip_Fraction"] = ((ratio - 1.0).abs() > clip_range).float().mean()
            if grad_norm is not None:
                info["Grad_Norms"] = grad_norm
        return info

    def train_on_rollout(self, rollout: dict, epoch: int) -> dict:
        """`update_epochs` passes of shuffled minibatches; stops early past 1.5 * target_kl. Returns the means of
        the logged minibatches' statistics (every `experiment.logging.stats_every_n_steps`-th minibatch)."""
        cfg = self.algo_config
        batch = self.prepare_rollout(rollout)
        size = batch[ADVANTAGES].shape[0]
        minibatch = min(self.global_config.train.batch_size, size)
        stats_every = self.global_config.experiment.logging.stats_every_n_steps
        infos, steps, log_diagnostics = [], 0, self.log_diagnostics
        try:
            for _ in range(cfg.update_epochs):
                shuffled = _index(batch, torch.randperm(size, device=self.device))  # one gather per tensor
                if cfg.normalize_advantage:
                    shuffled[ADVANTAGES] = normalize_minibatch_advantages(shuffled[ADVANTAGES], minibatch)
                epoch_kls = []
                for start in range(0, size, minibatch):
                    self.set_log_diagnostics(steps % stats_every == 0)
                    info = self.train_on_batch(_slice(shuffled, start, start + minibatch), epoch)
                    steps += 1
                    if self.log_diagnostics:
                        infos.append(info)
                    if "Approx_KL" in info:
                        epoch_kls.append(info["Approx_KL"])
                if cfg.target_kl is not None and float(torch.stack(epoch_kls).mean()) > 1.5 * cfg.target_kl:
                    break
        finally:
            self.set_log_diagnostics(log_diagnostics)
        return self._summarise(infos, batch, steps)

    def _summarise(self, infos: list[dict], batch: dict, steps: int) -> dict:
        summary = {k: float(torch.stack([info[k] for info in infos]).mean()) for k in infos[0]} if infos else {}
        returns, values = batch[RETURNS], batch[VALUES]
        summary["Explained_Variance"] = float(1.0 - (returns - values).var() / returns.var().clamp_min(1e-8))
        policy = self.nets["policy"]
        summary["Log_Std"] = float(policy.log_std.detach().mean())
        summary["Entropy"] = float(policy.entropy().detach())
        summary["Gradient_Steps"] = float(steps)
        return summary


class A2C(PPO):
    """Advantage actor-critic: one step on the whole rollout with the plain policy-gradient loss."""

    def _policy_loss(self, mean: torch.Tensor, batch: dict) -> tuple[torch.Tensor, torch.Tensor]:
        log_probs = self.nets["policy"].log_prob(batch[K.ACTIONS], mean)  # (B,)
        return -(batch[ADVANTAGES] * log_probs).mean(), (log_probs - batch[LOG_PROBS]).detach()

    def batches_per_rollout(self, rollout_size: int) -> int:
        """One step on the whole rollout."""
        return 1

    def train_on_rollout(self, rollout: dict, epoch: int) -> dict:
        batch = self.prepare_rollout(rollout)
        if self.algo_config.normalize_advantage:
            batch[ADVANTAGES] = normalize_minibatch_advantages(batch[ADVANTAGES], batch[ADVANTAGES].shape[0])
        return self._summarise([self.train_on_batch(batch, epoch)], batch, steps=1)


def _index(batch: dict, idx: torch.Tensor) -> dict:
    """Rows `idx` of every tensor in a (nested) flat batch."""
    return {k: _index(v, idx) if isinstance(v, dict) else v[idx] for k, v in batch.items()}


def _slice(batch: dict, start: int, stop: int) -> dict:
    """Rows start:stop (views) of every tensor in a (nested) flat batch."""
    return {k: _slice(v, start, stop) if isinstance(v, dict) else v[start:stop] for k, v in batch.items()}
