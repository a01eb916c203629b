"""TD3+BC (Fujimoto & Gu 2021): TD3 whose actor loss adds a behaviour-cloning term.

    critic: TD toward r + (1 - done) * gamma * min_i Q_target_i(s', clip(pi_target(s') + clipped noise))
    actor (every `actor.update_freq` critic steps): -lambda * Q1(s, pi(s)) + ||pi(s) - a||^2,
           lambda = alpha / mean|Q1(s, pi(s))|; target networks move on actor steps.
"""

import torch
import torch.nn.functional as F

from robokit.algo.registry import register_algo_factory_func
from robokit.algo.value_utils import DelayedActorMixin, TDAlgo, ensemble_target, smoothed_target_actions, td_loss
from robokit.models.policy_nets import MLPPolicy
from robokit.utils import batch_keys as K


@register_algo_factory_func("td3_bc")
def algo_config_to_class(algo_config):
    return TD3_BC, {}


class TD3_BC(DelayedActorMixin, TDAlgo):
    """TD3+BC with a deterministic tanh actor and an ensemble of critics."""

    TARGET_NETS = ("critic", "actor")

    def _create_networks(self) -> None:
        cfg = self.algo_config
        self.nets["actor"] = MLPPolicy(self._make_encoder(), self.ac_dim, cfg.actor.layer_dims, "deterministic")
        self.nets["critic"] = self._make_critics(cfg.critic)
        self._create_target_networks()
        self._num_critic_steps = 0

    def _td_targets(self, batch: dict) -> torch.Tensor:
        """Target policy smoothing + clipped double Q: (B,)."""
        cfg = self.algo_config
        next_obs, goal = batch[K.NEXT_OBS], batch.get(K.GOAL_OBS)
        with torch.no_grad():
            next_actions = smoothed_target_actions(self.nets["actor_target"], next_obs, cfg.actor, goal)  # (B, A)
            next_q = ensemble_target(self.nets["critic_target"](next_obs, next_actions, goal),
                                     cfg.critic.ensemble.weight)
            return self.bootstrap(batch, next_q)

    def _actor_loss(self, batch: dict, info: dict) -> torch.Tensor:
        obs, goal = batch[K.OBS], batch.get(K.GOAL_OBS)
        actions = self.nets["actor"](obs, goal)  # (B, A)
        q = self.nets["critic"][0](obs, actions, goal)  # (B,)
        lam = self.algo_config.alpha / q.abs().mean().detach().clamp_min(1e-6)
        bc_loss = F.mse_loss(actions, batch[K.ACTIONS])
        info.update({"Actor/BC_Loss": bc_loss.detach(), "Actor/Lambda": lam})
        return -lam * q.mean() + bc_loss

    def train_on_batch(self, batch: dict, epoch: int, validate: bool = False) -> dict:
        cfg = self.algo_config
        info = {}
        with torch.set_grad_enabled(not validate):
            q_targets = self._td_targets(batch)
            qs = self.nets["critic"](batch[K.OBS], batch[K.ACTIONS], batch.get(K.GOAL_OBS))  # (K, B)
            critic_losses = [td_loss(q, q_targets, cfg.critic.use_huber) for q in qs]
            info.update({f"Critic/Critic{i + 1}_Loss": loss.detach() for i, loss in enumerate(critic_losses)})
            info["Critic/Q_Targets"] = q_targets.mean()
            train_critic = not validate and cfg.optim_params.critic.trains_in(epoch)
            if train_critic:
                info["Critic/Grad_Norms"] = self.backprop("critic", torch.stack(critic_losses).sum(),
                                                          max_grad_norm=cfg.critic.max_gradient_norm)
                self._num_critic_steps += 1

            actor_step = validate or self._num_critic_steps % cfg.actor.update_freq == 0
            if actor_step:
                actor_loss = self._actor_loss(batch, info)
                info["Actor/Loss"] = actor_loss.detach()
                if not validate and cfg.optim_params.actor.trains_in(epoch):
                    info["Actor/Grad_Norms"] = self.backprop("actor", actor_loss)
                    self.update_targets(cfg.target_tau)
        info["Loss"] = torch.stack(critic_losses).sum().detach() + info.get("Actor/Loss", 0.0)
        return info

    # ----- deployment -----
    def get_action(self, obs_dict: dict, goal_dict: dict | None = None) -> torch.Tensor:
        """obs {k: (B, *shape)} -> actions (B, A) in [-1, 1]."""
        self._check_eval()
        with torch.no_grad():
            return self.nets["actor"](obs_dict, goal_dict)

    def get_state_value(self, obs_dict: dict, goal_dict: dict | None = None) -> torch.Tensor:
        """Q1(s, pi(s)): (B,)."""
        with torch.no_grad():
            return self.nets["critic"][0](obs_dict, self.nets["actor"](obs_dict, goal_dict), goal_dict)

    def get_state_action_value(self, obs_dict: dict, actions: torch.Tensor, goal_dict: dict | None = None):
        """Q1(s, a): (B,)."""
        with torch.no_grad():
            return self.nets["critic"][0](obs_dict, actions, goal_dict)
