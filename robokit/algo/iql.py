"""Implicit Q-learning (Kostrikov et al. 2021): in-sample value learning and advantage-weighted regression.

Three losses, none of which queries an action outside the dataset:
    V:  expectile regression of V(s) toward min_i Q_target_i(s, a)      (tau = algo.vf_quantile)
    Q:  TD regression toward r + (1 - done) * gamma * V(s')
    pi: -w * log pi(a | s) with w = exp((Q(s, a) - V(s)) / beta), clipped
"""

import torch

from robokit.algo.registry import register_algo_factory_func
from robokit.algo.value_utils import TDAlgo, inside_tanh_range, make_stochastic_actor, td_loss
from robokit.models.value_nets import ValueNetwork
from robokit.utils import batch_keys as K

MAX_WEIGHT = 100.0


@register_algo_factory_func("iql")
def algo_config_to_class(algo_config):
    return IQL, {}


def expectile_loss(v_pred: torch.Tensor, q_target: torch.Tensor, quantile: float) -> torch.Tensor:
    """Asymmetric L2: mean(|quantile - 1[V > Q]| * (V - Q)^2); under-estimates weigh `quantile` (B,) -> ()."""
    diff = v_pred - q_target.detach()
    weight = torch.where(diff > 0, 1.0 - quantile, quantile)
    return (weight * diff.pow(2)).mean()


class IQL(TDAlgo):
    """IQL with a Gaussian or GMM actor."""

    # ----- networks -----
    def _create_networks(self) -> None:
        cfg = self.algo_config
        self.nets["actor"] = make_stochastic_actor(self._make_encoder(), self.ac_dim, cfg.actor)
        self.nets["critic"] = self._make_critics(cfg.critic)
        self.nets["vf"] = ValueNetwork(self._make_encoder(), cfg.critic.layer_dims)
        self._create_target_networks()

    # ----- training -----
    def advantage_weights(self, adv: torch.Tensor) -> torch.Tensor:
        """(B,) advantages -> (B,) non-negative sample weights of the actor's log-likelihood."""
        cfg = self.algo_config.adv
        if cfg.clip_adv_value is not None:
            adv = adv.clamp(max=cfg.clip_adv_value)
        weights = torch.exp(adv / cfg.beta) if cfg.filter_type == "exp" else (adv > 0).to(adv.dtype)
        return weights.clamp(max=MAX_WEIGHT) if cfg.use_final_clip else weights

    def train_on_batch(self, batch: dict, epoch: int, validate: bool = False) -> dict:
        cfg = self.algo_config
        obs, goal, actions = batch[K.OBS], batch.get(K.GOAL_OBS), batch[K.ACTIONS]
        with torch.set_grad_enabled(not validate):
            # Q: TD toward the value of the next state
            with torch.no_grad():
                q_targets = self.bootstrap(batch, self.nets["vf"](batch[K.NEXT_OBS], goal))  # (B,)
            qs = self.nets["critic"](obs, actions, goal)  # (K, B)
            critic_losses = [td_loss(q, q_targets, cfg.critic.use_huber) for q in qs]
            # V: expectile of the target critics' Q at dataset actions
            with torch.no_grad():
                q_data = self.nets["critic_target"](obs, actions, goal).min(dim=0).values  # (B,)
            v = self.nets["vf"](obs, goal)  # (B,)
            vf_loss = expectile_loss(v, q_data, cfg.vf_quantile)
            # pi: advantage-weighted log-likelihood of dataset actions
            weights = self.advantage_weights((q_data - v).detach())  # (B,)
            dataset_actions = inside_tanh_range(actions, cfg.actor.net.common.use_tanh)
            log_prob = self.nets["actor"](obs, goal).log_prob(dataset_actions)  # (B,)
            actor_loss = -(weights * log_prob).mean()

            info = {f"Critic/Critic{i + 1}_Loss": loss.detach() for i, loss in enumerate(critic_losses)}
            info.update({"VF/Loss": vf_loss.detach(), "Actor/Loss": actor_loss.detach(),
                         "Actor/Log_Prob": log_prob.mean().detach(), "Critic/Q_Targets": q_targets.mean(),
                         "VF/V_Pred": v.mean().detach(), "Adv/Weight_Mean": weights.mean(),
                         "Adv/Weight_Max": weights.max()})
            if not validate:
                info["Critic/Grad_Norms"] = self.backprop("critic", torch.stack(critic_losses).sum(),
                                                          max_grad_norm=cfg.critic.max_gradient_norm)
                self.update_targets(cfg.target_tau)
                info["VF/Grad_Norms"] = self.backprop("vf", vf_loss, max_grad_norm=cfg.critic.max_gradient_norm)
                info["Actor/Grad_Norms"] = self.backprop("actor", actor_loss,
                                                         max_grad_norm=cfg.actor.max_gradient_norm)
        info["Loss"] = sum(critic_losses).detach() + vf_loss.detach() + actor_loss.detach()
        return info

    # ----- deployment -----
    def get_action(self, obs_dict: dict, goal_dict: dict | None = None) -> torch.Tensor:
        """obs {k: (B, *shape)} -> actions (B, A) (near the mode when low_noise_eval)."""
        self._check_eval()
        with torch.no_grad():
            return self.nets["actor"](obs_dict, goal_dict).sample()

    def get_state_value(self, obs_dict: dict, goal_dict: dict | None = None) -> torch.Tensor:
        """V(s): (B,)."""
        with torch.no_grad():
            return self.nets["vf"](obs_dict, goal_dict)

    def get_state_action_value(self, obs_dict: dict, actions: torch.Tensor, goal_dict: dict | None = None):
        """min over the ensemble of Q(s, a): (B,)."""
        with torch.no_grad():
            return self.nets["critic"](obs_dict, actions, goal_dict).min(dim=0).values
