"""Helpers of the offline RL tests: small configs and a train -> checkpoint -> reload loop."""

import torch

# small networks everywhere, so a few gradient steps of every variant take milliseconds
SMALL = {
    "bcq": ["algo.critic.layer_dims=[16]", "algo.action_sampler.vae.encoder_layer_dims=[16]",
            "algo.action_sampler.vae.decoder_layer_dims=[16]", "algo.action_sampler.actor_layer_dims=[16]",
            "algo.actor.layer_dims=[16]", "algo.critic.num_action_samples=3",
            "algo.critic.num_action_samples_rollout=5"],
    "cql": ["algo.critic.layer_dims=[16]", "algo.actor.layer_dims=[16]", "algo.critic.num_random_actions=3"],
    "iql": ["algo.critic.layer_dims=[16]", "algo.actor.layer_dims=[16]"],
    "td3_bc": ["algo.critic.layer_dims=[16]", "algo.actor.layer_dims=[16]"],
    "gl": ["algo.ae.planner_layer_dims=[16]", "algo.vae.encoder_layer_dims=[16]", "algo.vae.decoder_layer_dims=[16]",
           "algo.vae.prior_layer_dims=[16]", "algo.subgoal_horizon=3", "train.seq_length=3"],
}
_ACTOR = ["algo.actor.actor_layer_dims=[16]", "algo.actor.rnn.hidden_dim=8", "algo.actor.rnn.num_layers=1",
          "algo.actor.rnn.horizon=3", "train.seq_length=3", "algo.subgoal_update_interval=2"]


def _nested(overrides: list[str], prefix: str) -> list[str]:
    """The algo.* overrides of one algorithm, moved under `prefix` (e.g. algo.planner.)."""
    return [o.replace("algo.", prefix, 1) for o in overrides if o.startswith("algo.")]


SMALL["hbc"] = _ACTOR + _nested(SMALL["gl"], "algo.planner.")
SMALL["iris"] = (_ACTOR + _nested(SMALL["gl"], "algo.value_planner.planner.")
                 + _nested(SMALL["bcq"], "algo.value_planner.value.") + ["algo.value_planner.num_samples=4"])
QUIET = ["experiment.validate=false", "experiment.rollout.enabled=false", "experiment.logging.log_tb=false",
         "train.batch_size=8"]


def make_config(algo_name: str, *overrides: str):
    from robokit.config import apply_overrides, config_factory

    config = config_factory(algo_name)
    apply_overrides(config, [*QUIET, *SMALL[algo_name], *overrides])
    return config


def build_algo(config, dataset_path):
    """(algo, training dataset) for a config, on the CPU."""
    from robokit.algo import algo_factory
    from robokit.train.offline import load_datasets

    train_ds, _ = load_datasets(config, dataset_path)
    algo = algo_factory(config.algo_name, config, train_ds.obs_key_shapes, train_ds.action_dim, "cpu")
    return algo, train_ds


def train_steps(algo, dataset, n: int = 3, seed: int = 0) -> dict:
    """n gradient steps; returns the mean logged values."""
    from robokit.train.offline import batch_stream, run_epoch

    torch.manual_seed(seed)
    algo.set_train()
    return run_epoch(algo, batch_stream(dataset, 8, 0, seed), n, epoch=1, progress=False)


def save_and_reload(algo, config, dataset, path):
    """Write a checkpoint like the training loop does and reload it with policy_from_checkpoint."""
    from robokit import policy_from_checkpoint
    from robokit.train.checkpoint import build_checkpoint, save_checkpoint

    shape_metadata = {"all_shapes": {k: list(v) for k, v in dataset.obs_key_shapes.items()},
                      "ac_dim": dataset.action_dim, "all_obs_keys": list(config.all_obs_keys)}
    ckpt = build_checkpoint(algo, config, shape_metadata, dataset.env_args, dataset.get_obs_normalization_stats(),
                            dataset.get_action_normalization_stats(), {"epoch": 1})
    save_checkpoint(ckpt, path)
    return policy_from_checkpoint(path, device="cpu")
