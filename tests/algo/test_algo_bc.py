"""Every BC variant trains on a real dataset, checkpoints, reloads with policy_from_checkpoint and acts in FetchPush."""

import numpy as np
import pytest
import torch

from robokit import policy_from_checkpoint
from robokit.algo.registry import algo_class_for_config
from robokit.config import apply_overrides, config_factory
from robokit.envs import create_env
from robokit.errors import ConfigError
from robokit.train.offline import train
from robokit.train.rollouts import rollout_with_stats

SMALL = ["algo.actor_layer_dims=[32,32]", "algo.rnn.hidden_dim=32", "algo.rnn.num_layers=1",
         "algo.transformer.embed_dim=32", "algo.transformer.num_layers=1", "algo.transformer.num_heads=2",
         "algo.vae.encoder_layer_dims=[32]", "algo.vae.decoder_layer_dims=[32]", "algo.vae.prior_layer_dims=[32]",
         "algo.vae.latent_dim=4"]
RNN = ["algo.rnn.enabled=true", "train.seq_length=4", "algo.rnn.horizon=4"]
TRANSFORMER = ["algo.transformer.enabled=true", "train.frame_stack=3", "algo.transformer.context_length=3"]
VARIANTS = {
    "BC": [],
    "BC_Gaussian": ["algo.gaussian.enabled=true"],
    "BC_GMM": ["algo.gmm.enabled=true"],
    "BC_VAE": ["algo.vae.enabled=true", "algo.vae.prior.learn=true", "algo.vae.prior.use_gmm=true"],
    "BC_RNN": RNN,
    "BC_RNN_GMM": RNN + ["algo.gmm.enabled=true"],
    "BC_Transformer": TRANSFORMER,
    "BC_Transformer_GMM": TRANSFORMER + ["algo.gmm.enabled=true", "algo.transformer.supervise_all_steps=true"],
}


def bc_config(overrides):
    config = config_factory("bc")
    apply_overrides(config, SMALL + overrides + [
        "train.num_epochs=2", "experiment.epoch_every_n_steps=4", "experiment.validation_epoch_every_n_steps=2",
        "train.batch_size=16", "experiment.rollout.enabled=false", "experiment.logging.log_tb=false",
        "train.hdf5_normalize_obs=true", 'train.action_config={"actions": {"normalization": "min_max"}}'])
    return config


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_variant_trains_reloads_and_acts(variant, fetch_push_dataset, tmp_path):
    config = bc_config(VARIANTS[variant])
    assert algo_class_for_config(config)[0].__name__ == variant
    run_dir = train(config, dataset_path=fetch_push_dataset, output_dir=tmp_path, progress=False)

    ckpt_path = run_dir / "models" / "last.pth"
    raw = torch.load(ckpt_path, weights_only=True)  # plain tensors and data only: no pickled objects
    assert raw["algo_name"] == "bc" and raw["train_state"]["epoch"] == 2
    assert raw["action_normalization_stats"]["actions"]["scale"].shape == (4,)

    policy, ckpt = policy_from_checkpoint(ckpt_path=ckpt_path)
    assert type(policy.policy).__name__ == variant
    for key, value in policy.policy.nets.state_dict().items():
        torch.testing.assert_close(value, raw["model"][key])

    env = create_env(ckpt["env_metadata"])
    stats = rollout_with_stats(policy, env, n=1, horizon=12, progress=False, terminate_on_success=False)
    assert stats["Horizon"] == 12
    policy.start_episode()
    action = policy(env.reset(seed=0))
    assert action.shape == (4,) and np.all(np.isfinite(action))
    env.close()


@pytest.mark.parametrize("precision", ["off", "bf16"])
def test_bc_loss_falls_and_parameters_change(fetch_push_dataset, precision):
    from robokit.algo import algo_factory
    from robokit.train.offline import batch_stream, load_datasets, run_epoch

    config = bc_config(["experiment.validate=false", "algo.optim_params.policy.learning_rate.initial=0.003"])
    torch.manual_seed(0)
    train_ds, _ = load_datasets(config, fetch_push_dataset)
    algo = algo_factory("bc", config, train_ds.obs_key_shapes, train_ds.action_dim, "cpu")
    before = [p.detach().clone() for p in algo.nets.parameters()]
    batches = batch_stream(train_ds, 32, num_workers=0, seed=0)
    algo.set_train()
    first = run_epoch(algo, batches, 5, epoch=1, progress=False, precision=precision)["Loss"]
    for epoch in range(2, 8):
        last = run_epoch(algo, batches, 40, epoch=epoch, progress=False, precision=precision)["Loss"]
    assert last < 0.5 * first
    assert all(not torch.equal(a, b) for a, b in zip(before, algo.nets.parameters()))
    assert all(p.dtype == torch.float32 for p in algo.nets.parameters())


@pytest.mark.parametrize("overrides, message", [
    (["algo.rnn.enabled=true", "algo.transformer.enabled=true"], "algo.rnn.enabled and algo.transformer.enabled"),
    (["algo.gmm.enabled=true", "algo.vae.enabled=true"], "algo.gmm.enabled and algo.vae.enabled"),
    (["algo.gaussian.enabled=true", "algo.gmm.enabled=true"], "algo.gaussian.enabled and algo.gmm.enabled"),
    (["algo.vae.enabled=true"] + RNN, "algo.vae.enabled cannot be combined with algo.rnn.enabled"),
    (["algo.gaussian.enabled=true"] + TRANSFORMER, "algo.gaussian.enabled cannot be combined with algo.transformer"),
])
def test_impossible_combinations_are_named(overrides, message):
    config = config_factory("bc")
    apply_overrides(config, overrides, validate=False)  # the factory, not config validation, owns these checks
    with pytest.raises(ConfigError, match=message):
        algo_class_for_config(config)
