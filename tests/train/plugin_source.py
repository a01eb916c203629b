"""The source of a small plugin algorithm that tests write outside the repository (tests/train)."""

#: a whole algorithm in one file, outside the repository: BC with an MLP, under the name @name@
PLUGIN = '''
import torch
import torch.nn.functional as F

from robokit.algo import PolicyAlgo, register_algo_factory_func
from robokit.config import AlgoConfig, BaseConfig, OptimizerConfig, Section, param
from robokit.models import MLP
from robokit.utils import batch_keys as K
from robokit.utils.tensors import to_device


class Optim(Section):
    """Optimisers."""

    policy: OptimizerConfig = param(OptimizerConfig(), "optimiser of the policy")


class Algo(AlgoConfig):
    """config.algo of @name@."""

    optim_params: Optim = param(Optim(), "optimisers")
    hidden: list[int] = param([16], "hidden layer sizes")


class Config(BaseConfig):
    """An MLP policy from outside robokit."""

    ALGO_NAME = "@name@"
    algo: Algo = param(Algo(), "algorithm settings")


class Net(torch.nn.Module):
    def __init__(self, encoder, ac_dim, hidden):
        super().__init__()
        self.encoder, self.head = encoder, MLP(encoder.output_dim, ac_dim, hidden)

    def forward(self, obs):
        return torch.tanh(self.head(self.encoder(obs)))  # (B, A)


class PluginBC(PolicyAlgo):
    def _create_networks(self):
        self.nets["policy"] = Net(self._make_encoder(), self.ac_dim, self.algo_config.hidden)

    def process_batch_for_training(self, batch):
        return to_device({K.OBS: {k: batch[K.OBS][k][:, 0] for k in self.obs_shapes},
                          K.ACTIONS: batch[K.ACTIONS][:, 0]}, self.device)  # (B, *shape), (B, A)

    def train_on_batch(self, batch, epoch, validate=False):
        with torch.set_grad_enabled(not validate):
            loss = F.mse_loss(self.nets["policy"](batch[K.OBS]), batch[K.ACTIONS])
            if not validate:
                self.backprop("policy", loss)
        return {"loss": loss.detach()}

    def log_info(self, info):
        return {**super().log_info(info), "Loss": info["loss"].item()}

    def get_action(self, obs_dict, goal_dict=None):
        with torch.no_grad():
            return self.nets["policy"](obs_dict)  # (B, A)


@register_algo_factory_func("@name@")
def algo_config_to_class(algo_config):
    return PluginBC, {}
'''
