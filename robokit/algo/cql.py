"""Conservative Q-learning, CQL(H) on a SAC actor-critic (Kumar et al. 2020).

Critic loss = TD error + cql_weight * (min_q_weight * penalty - target_q_gap), with the penalty
    logsumexp over sampled actions of Q(s, a) (importance-weighted)  -  Q(s, a_data).
Sampled actions are uniform in [-1, 1]^A and the current policy's at s and s'. With `critic.target_q_gap` >= 0
the CQL weight is a Lagrange multiplier tuned to keep the penalty near the gap; with `actor.target_entropy`
not null the entropy weight is tuned toward that entropy (SAC).
"""

import math

import torch
from torch import nn

from robokit.algo.registry import register_algo_factory_func
from robokit.algo.value_utils import TDAlgo, inside_tanh_range, make_stochastic_actor, td_loss, tile
from robokit.errors import ConfigError
from robokit.utils import batch_keys as K


@register_algo_factory_func("cql")
def algo_config_to_class(algo_config):
    if algo_config.actor.net.type != "gaussian":
        raise ConfigError(f'CQL supports algo.actor.net.type="gaussian" only, got "{algo_config.actor.net.type}"')
    return CQL, {}


def cql_penalty(q_data: torch.Tensor, q_rand: torch.Tensor, q_curr: torch.Tensor, q_next: torch.Tensor,
                log_prob_curr: torch.Tensor, log_prob_next: torch.Tensor, ac_dim: int) -> torch.Tensor:
    """CQL(H) penalty, averaged over the batch: mean_b[logsumexp_j(Q_j - log p_j)] - mean_b[Q(s, a_data)].

    q_data (B,); q_rand, q_curr, q_next (B, N): Q at N uniform actions and N policy actions at s and s'
    (all evaluated at s); log_prob_curr / log_prob_next (B, N) their log-densities (uniform: (1/2)^A).
    """
    log_uniform = ac_dim * math.log(0.5)
    q_cat = torch.cat([q_rand - log_uniform, q_next - log_prob_next, q_curr - log_prob_curr], dim=1)  # (B, 3N)
    return torch.logsumexp(q_cat, dim=1).mean() - q_data.mean()


class LogScalar(nn.Module):
    """A learned scalar kept in log space (entropy or CQL weight): `forward()` -> exp(log_value), (1,)."""

    def __init__(self, init: float = 1.0):
        super().__init__()
        self.log_value = nn.Parameter(torch.tensor([math.log(init)]))

    def forward(self) -> torch.Tensor:
        return self.log_value.exp()


class CQL(TDAlgo):
    """CQL with automatic entropy tuning and an optional Lagrange-tuned CQL weight."""

    # ----- networks -----
    @property
    def tune_entropy(self) -> bool:
        return self.algo_config.actor.target_entropy is not None

    @property
    def tune_cql_weight(self) -> bool:
        gap = self.algo_config.critic.target_q_gap
        return gap is not None and gap >= 0

    def _create_networks(self) -> None:
        self.nets["actor"] = make_stochastic_actor(self._make_encoder(), self.ac_dim, self.algo_config.actor)
        self.nets["critic"] = self._make_critics(self.algo_config.critic)
        if self.tune_entropy:
            self.nets["log_entropy_weight"] = LogScalar(1.0)
        if self.tune_cql_weight:
            self.nets["log_cql_weight"] = LogScalar(1.0)
        self._create_target_networks()
        self._num_train_steps = 0
        target = self.algo_config.actor.target_entropy
        self.target_entropy = -float(self.ac_dim) if target == "default" else target

    def _create_optimizers(self) -> None:
        """Actor and critic from optim_params; the entropy / CQL weights use the actor's / critic's learning rate."""
        super()._create_optimizers()
        lrs = self.algo_config.optim_params
        if self.tune_entropy:
            self.optimizers["entropy"] = torch.optim.Adam(self.nets["log_entropy_weight"].parameters(),
                                                          lr=lrs.actor.learning_rate.initial)
        if self.tune_cql_weight:
            self.optimizers["cql"] = torch.optim.Adam(self.nets["log_cql_weight"].parameters(),
                                                      lr=lrs.critic.learning_rate.initial)

    def entropy_weight(self) -> torch.Tensor:
        return self.nets["log_entropy_weight"]() if self.tune_entropy else torch.ones(1, device=self.device)

    def cql_weight(self) -> torch.Tensor:
        if self.tune_cql_weight:
            return self.nets["log_cql_weight"]().clamp(0.0, 1e6)
        return torch.full((1,), self.algo_config.critic.cql_weight, device=self.device)

    # ----- training -----
    def _sample(self, dist, n: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Reparameterised actions and their log-probs: (B, A), (B,) or, with n, (n, B, A), (n, B)."""
        actions = dist.rsample() if n is None else dist.rsample((n,))
        return actions, dist.log_prob(actions)

    def _q_many(self, critics, obs: dict, actions: torch.Tensor, goal: dict | None) -> torch.Tensor:
        """Q of N actions per state: actions (N, B, A) -> (K, B, N)."""
        n, b = actions.shape[:2]
        flat = actions.transpose(0, 1).reshape(b * n, -1)  # (B * N, A), sample-major like `tile`
        return critics(tile(obs, n), flat, tile(goal, n)).reshape(-1, b, n)

    def _actor_step(self, batch: dict, validate: bool, info: dict) -> None:
        obs, goal = batch[K.OBS], batch.get(K.GOAL_OBS)
        dist = self.nets["actor"](obs, goal)
        actions, log_prob = self._sample(dist)  # (B, A), (B,)
        alpha = self.entropy_weight().detach()
        if self._num_train_steps < self.algo_config.actor.bc_start_steps:
            dataset_actions = inside_tanh_range(batch[K.ACTIONS], self.algo_config.actor.net.common.use_tanh)
            baseline = dist.log_prob(dataset_actions)  # behaviour cloning warm-up
        else:
            baseline = self.nets["critic"](obs, actions, goal).min(dim=0).values  # (B,)
        actor_loss = (alpha * log_prob - baseline).mean()
        info["Actor/Loss"], info["Entropy_Weight"] = actor_loss.detach(), alpha.squeeze()
        if self.tune_entropy:
            log_alpha = self.nets["log_entropy_weight"].log_value
            entropy_loss = -(log_alpha * (log_prob + self.target_entropy).detach()).mean()
            info["Entropy_Weight_Loss"] = entropy_loss.detach()
        if validate:
            return
        self._num_train_steps += 1
        if self.tune_entropy:
            self.backprop("entropy", entropy_loss)
        info["Actor/Grad_Norms"] = self.backprop("actor", actor_loss,
                                                 max_grad_norm=self.algo_config.actor.max_gradient_norm)

    def _td_targets(self, batch: dict, next_dist) -> torch.Tensor:
        cfg = self.algo_config.critic
        next_obs, goal = batch[K.NEXT_OBS], batch.get(K.GOAL_OBS)
        with torch.no_grad():
            if cfg.num_action_samples > 1:  # back up the max over sampled next actions
                actions = next_dist.sample((cfg.num_action_samples,))  # (N, B, A)
                next_q = self._q_many(self.nets["critic_target"], next_obs, actions, goal).max(dim=2).values  # (K, B)
                next_q = next_q.min(dim=0).values
            else:
                actions, log_prob = self._sample(next_dist)
                next_q = self.nets["critic_target"](next_obs, actions, goal).min(dim=0).values  # (B,)
                if not cfg.deterministic_backup:
                    next_q = next_q - self.entropy_weight() * log_prob
            return self.bootstrap(batch, next_q)

    def _critic_step(self, batch: dict, validate: bool, info: dict) -> None:
        cfg = self.algo_config.critic
        obs, goal, next_obs = batch[K.OBS], batch.get(K.GOAL_OBS), batch[K.NEXT_OBS]
        q_data = self.nets["critic"](obs, batch[K.ACTIONS], goal)  # (K, B)
        curr_dist, next_dist = self.nets["actor"](obs, goal), self.nets["actor"](next_obs, goal)
        q_targets = self._td_targets(batch, next_dist)  # (B,)

        n, b = cfg.num_random_actions, q_data.shape[1]
        with torch.no_grad():
            random_actions = torch.empty(n, b, self.ac_dim, device=self.device).uniform_(-1.0, 1.0)
            curr_actions, curr_log_prob = self._sample(curr_dist, n)  # (N, B, A), (N, B)
            next_actions, next_log_prob = self._sample(next_dist, n)
        critics = self.nets["critic"]
        q_rand, q_curr, q_next = (self._q_many(critics, obs, a, goal)  # each (K, B, N)
                                  for a in (random_actions, curr_actions, next_actions))
        weight = self.cql_weight()  # (1,)
        gap = cfg.target_q_gap if self.tune_cql_weight else 0.0
        penalties, critic_losses = [], []
        for i in range(q_data.shape[0]):
            penalty = cql_penalty(q_data[i], q_rand[i], q_curr[i], q_next[i], curr_log_prob.T, next_log_prob.T,
                                  self.ac_dim)
            td = td_loss(q_data[i], q_targets, cfg.use_huber)
            penalties.append(cfg.min_q_weight * penalty - gap)
            critic_losses.append(td + weight.detach().squeeze() * penalties[-1])
            info[f"Critic/Critic{i + 1}_Loss"] = critic_losses[-1].detach()
            info[f"Critic/Critic{i + 1}_CQL_Penalty"] = penalty.detach()
        info["Critic/Q_Targets"], info["Critic/CQL_Weight"] = q_targets.mean(), weight.detach().squeeze()
        if validate:
            return
        if self.tune_cql_weight:  # dual ascent: the weight grows while the penalty exceeds the gap
            weight_loss = -(weight.squeeze() * torch.stack(penalties).detach()).mean()
            info["Critic/CQL_Weight_Loss"] = weight_loss.detach()
            self.backprop("cql", weight_loss)
        info["Critic/Grad_Norms"] = self.backprop("critic", torch.stack(critic_losses).sum(),
                                                  max_grad_norm=cfg.max_gradient_norm)
        self.update_targets(self.algo_config.target_tau)

    def train_on_batch(self, batch: dict, epoch: int, validate: bool = False) -> dict:
        info = {}
        with torch.set_grad_enabled(not validate):
            self._actor_step(batch, validate, info)
            self._critic_step(batch, validate, info)
        critic_loss = sum(v for k, v in info.items() if k.startswith("Critic/Critic") and k.endswith("_Loss"))
        info["Loss"] = info["Actor/Loss"] + critic_loss
        return info

    # ----- deployment -----
    def get_action(self, obs_dict: dict, goal_dict: dict | None = None) -> torch.Tensor:
        """obs {k: (B, *shape)} -> actions (B, A) (near the mode when low_noise_eval)."""
        self._check_eval()
        with torch.no_grad():
            return self.nets["actor"](obs_dict, goal_dict).sample()

    def get_state_value(self, obs_dict: dict, goal_dict: dict | None = None) -> torch.Tensor:
        """min over the ensemble of Q(s, pi(s)): (B,)."""
        with torch.no_grad():
            actions = self.nets["actor"](obs_dict, goal_dict).sample()
            return self.nets["critic"](obs_dict, actions, goal_dict).min(dim=0).values

    def get_state_action_value(self, obs_dict: dict, actions: torch.Tensor, goal_dict: dict | None = None):
        """Q1(s, a): (B,)."""
        with torch.no_grad():
            return self.nets["critic"][0](obs_dict, actions, goal_dict)
