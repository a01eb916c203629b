"""ACT (action chunking with transformers): shapes, the loss terms, the masked L1, every decoder layer, state
round-trips, config errors, and the whole pipeline: scripts/train.py on a generated FetchPush dataset, a
checkpoint, policy_from_checkpoint, and rollouts in the real environment, alone and in a vector env."""

from pathlib import Path

import numpy as np
import pytest
import torch
from script_runner import run_script

from robokit import policy_from_checkpoint
from robokit.algo import algo_factory
from robokit.algo.act import ACT, kl_to_standard_normal, masked_l1
from robokit.algo.chunking import ChunkSpec
from robokit.algo.registry import algo_class_for_config
from robokit.config import apply_overrides, config_factory, load_config
from robokit.envs import create_env, create_envs
from robokit.errors import ConfigError
from robokit.models.act import sinusoidal_positions_2d
from robokit.train.rollouts import rollout_with_stats
from robokit.utils import batch_keys as K

REPO = Path(__file__).resolve().parents[2]
CHUNK = 5
TINY = [f"algo.chunk_size={CHUNK}", "algo.n_action_steps=3", f"train.seq_length={CHUNK}", "algo.dim_model=16",
        "algo.n_heads=2", "algo.dim_feedforward=32", "algo.n_encoder_layers=1", "algo.n_decoder_layers=2",
        "algo.n_vae_encoder_layers=1", "algo.latent_dim=4"]
SHAPES = {"observation": (25,), "desired_goal": (3,)}
AC_DIM = 4


@pytest.fixture(autouse=True)
def one_torch_thread(one_torch_thread):  # tiny transformers: one thread is faster than two on busy cores
    yield


def act_config(*overrides):
    config = config_factory("act")
    apply_overrides(config, [*TINY, *overrides])
    return config


def make_algo(*overrides, seed: int = 0, shapes=SHAPES) -> ACT:
    torch.manual_seed(seed)
    return algo_factory("act", act_config(*overrides), shapes, AC_DIM, "cpu")


def make_batch(batch_size: int = 6, seed: int = 0, shapes=SHAPES, n_real=None) -> dict:
    """A dataset-style batch: obs (B, k, ...), actions (B, k, A), pad_mask (B, k); sample i has n_real[i] real steps."""
    g = torch.Generator().manual_seed(seed)
    obs = {k: torch.randn(batch_size, CHUNK, *s, generator=g) for k, s in shapes.items()}
    actions = torch.randn(batch_size, CHUNK, AC_DIM, generator=g)
    n_real = [CHUNK] * batch_size if n_real is None else n_real
    mask = torch.arange(CHUNK)[None, :] < torch.tensor(n_real)[:, None]
    return {K.OBS: obs, K.ACTIONS: actions, K.PAD_MASK: mask}


# ----- the network -----
def test_chunk_shape_chunk_spec_and_data_window():
    algo = make_algo()
    algo.set_eval()
    batch = algo.process_batch_for_training(make_batch())
    assert batch[K.ACTIONS].shape == (6, CHUNK, AC_DIM) and batch[K.OBS]["observation"].shape == (6, 25)
    chunk = algo.get_action(batch[K.OBS])
    assert chunk.shape == (6, CHUNK, AC_DIM) and torch.isfinite(chunk).all()
    assert algo.chunk_spec == ChunkSpec(action_horizon=3, temporal_ensemble_coeff=None)
    assert algo.global_config.algo.data_window() == {"frame_stack": 1, "seq_length": CHUNK}
    ensembling = make_algo("algo.n_action_steps=1", "algo.temporal_ensemble_coeff=0.01")
    assert ensembling.chunk_spec == ChunkSpec(1, 0.01)
    assert algo_class_for_config(act_config())[0] is ACT
    whole_chunk = act_config("algo.n_action_steps=null")  # null: the whole chunk, or 1 when ensembling
    assert whole_chunk.algo.action_horizon == CHUNK
    apply_overrides(whole_chunk, ["algo.temporal_ensemble_coeff=0.01"])
    assert whole_chunk.algo.action_horizon == 1
    # 2 low-dim keys -> one proprio token; + the latent token
    assert algo.nets["policy"].n_tokens == 2


def test_inference_uses_z_zero_and_ignores_actions():
    algo = make_algo()
    algo.set_eval()
    obs = algo.process_batch_for_training(make_batch())[K.OBS]
    with torch.no_grad():
        zero_z, mu, _ = algo.nets["policy"](obs)
    assert mu is None
    torch.testing.assert_close(algo.get_action(obs), zero_z)


def test_kl_term_is_the_closed_form_kl_to_the_unit_gaussian():
    mu, logvar = torch.randn(7, 4), torch.randn(7, 4)
    posterior = torch.distributions.Normal(mu, torch.exp(0.5 * logvar))
    prior = torch.distributions.Normal(torch.zeros(4), torch.ones(4))
    expected = torch.distributions.kl_divergence(posterior, prior).sum(-1)
    torch.testing.assert_close(kl_to_standard_normal(mu, logvar), expected)
    assert kl_to_standard_normal(torch.zeros(3, 4), torch.zeros(3, 4)).abs().max() == 0

    algo = make_algo("algo.kl_weight=2.5")
    algo.set_eval()  # z = mu, no dropout: a deterministic loss
    batch = algo.process_batch_for_training(make_batch())
    info = algo.train_on_batch(batch, epoch=1, validate=True)["losses"]
    with torch.no_grad():
        proprio = algo.nets["policy"].proprio(batch[K.OBS])
        mu, logvar = algo.nets["policy"].encode_style(proprio, batch[K.ACTIONS], batch[K.PAD_MASK])
    torch.testing.assert_close(info["kl_loss"], kl_to_standard_normal(mu, logvar).mean())
    torch.testing.assert_close(info["action_loss"], info["l1_loss"] + 2.5 * info["kl_loss"])

    no_vae = make_algo("algo.use_vae=false")
    no_vae.set_eval()
    info = no_vae.train_on_batch(no_vae.process_batch_for_training(make_batch()), epoch=1, validate=True)["losses"]
    assert "kl_loss" not in info and torch.equal(info["action_loss"], info["l1_loss"])
    assert no_vae.nets["policy"].style_encoder is None


def test_masked_l1_is_the_mean_over_real_steps():
    pred, target = torch.zeros(2, 3, 2), torch.tensor([[[1.0, 3.0], [2.0, 2.0], [100.0, 100.0]],
                                                       [[4.0, 0.0], [50.0, 50.0], [50.0, 50.0]]])
    mask = torch.tensor([[True, True, False], [True, False, False]])
    assert masked_l1(pred, target, mask).item() == pytest.approx((2.0 + 2.0 + 2.0) / 3)
    assert masked_l1(pred, target, None).item() == pytest.approx(target.abs().mean().item())


@pytest.mark.parametrize("mode", ["eval", "train"])
def test_changing_a_padded_action_leaves_the_loss_unchanged(mode):
    algo = make_algo()
    algo.set_eval() if mode == "eval" else algo.set_train()
    batch = algo.process_batch_for_training(make_batch(n_real=[5, 2, 3, 5, 1, 4]))

    def loss(b):
        torch.manual_seed(123)  # the same z noise and dropout masks in train mode
        with torch.no_grad():
            return algo._compute_losses(algo._forward_training(b), b)

    base = loss(batch)
    padded = {**batch, K.ACTIONS: batch[K.ACTIONS].clone()}
    padded[K.ACTIONS][1, 2:] += 1000.0  # sample 1 has 2 real steps
    padded[K.ACTIONS][4, 1:] = -7.0
    changed = loss(padded)
    for name in ("l1_loss", "kl_loss", "action_loss"):
        assert torch.equal(base[name], changed[name]), name
    real = {**batch, K.ACTIONS: batch[K.ACTIONS].clone()}
    real[K.ACTIONS][1, 1] += 1.0  # a real step counts
    assert not torch.equal(loss(real)["l1_loss"], base["l1_loss"])


def test_every_decoder_layer_changes_the_output():
    algo = make_algo("algo.n_decoder_layers=3")
    algo.set_eval()
    obs = algo.process_batch_for_training(make_batch())[K.OBS]
    layers = algo.nets["policy"].decoder.layers
    assert len(layers) == 3
    before = algo.get_action(obs)
    for i in (0, len(layers) - 1):  # the original ACT code would ignore every layer after the first
        with torch.no_grad():
            saved = layers[i].linear2.weight.clone()
            layers[i].linear2.weight.add_(torch.randn_like(saved) * 0.5)
        assert not torch.allclose(algo.get_action(obs), before), f"decoder layer {i} has no effect"
        with torch.no_grad():
            layers[i].linear2.weight.copy_(saved)
        torch.testing.assert_close(algo.get_action(obs), before)


def test_loss_falls_on_a_tiny_batch():
    algo = make_algo("algo.optim_params.policy.learning_rate.initial=0.001", "algo.dropout=0.0")
    batch = algo.process_batch_for_training(make_batch(batch_size=8, n_real=[5, 5, 3, 5, 2, 5, 4, 5]))
    before = [p.detach().clone() for p in algo.nets.parameters()]
    algo.set_train()
    losses = [algo.log_info(algo.train_on_batch(batch, epoch=1)) for _ in range(60)]
    first, last = losses[0], losses[-1]
    # seeds 0-2: L1 falls to 0.61-0.66 of its first value, the total (KL weighted 10) to 0.04-0.06
    assert last["L1_Loss"] < 0.75 * first["L1_Loss"] and last["Loss"] < 0.1 * first["Loss"], (first, last)
    assert {"Loss", "L1_Loss", "KL_Loss", "Policy_Grad_Norms"} <= set(last)
    changed = [not torch.equal(a, b) for a, b in zip(before, algo.nets.parameters())]
    assert all(changed)  # style encoder, transformer, queries, head: every parameter is trained


def test_serialize_deserialize_gives_the_same_actions():
    algo = make_algo(seed=0)
    algo.set_train()
    batch = algo.process_batch_for_training(make_batch())
    for _ in range(3):
        algo.train_on_batch(batch, epoch=1)
    other = make_algo(seed=1)
    algo.set_eval(), other.set_eval()
    assert not torch.allclose(algo.get_action(batch[K.OBS]), other.get_action(batch[K.OBS]))
    other.deserialize(algo.serialize())
    torch.testing.assert_close(other.get_action(batch[K.OBS]), algo.get_action(batch[K.OBS]), rtol=0, atol=0)


def test_camera_tokens_one_set_per_camera():
    shapes = {"robot0_eef_pos": (3,), "cam0_image": (32, 32, 3), "cam1_image": (24, 24, 3)}
    overrides = ['observation.modalities.obs.low_dim=["robot0_eef_pos"]',
                 'observation.modalities.obs.rgb=["cam0_image", "cam1_image"]',
                 "observation.encoder.rgb.core_kwargs.backbone_class=ResNetConv",
                 'observation.encoder.rgb.core_kwargs.backbone_kwargs={"channels": [4, 8]}']
    algo = make_algo(*overrides, shapes=shapes)
    cameras = algo.nets["policy"].cameras
    # ResNetConv with 2 layers: H' = ceil(H / 8); 32 -> 4x4, 24 -> 3x3 feature maps
    assert cameras["cam0_image"].n_tokens == 16 and cameras["cam1_image"].n_tokens == 9
    assert algo.nets["policy"].n_tokens == 2 + 16 + 9
    rng = np.random.default_rng(0)
    obs = {k: torch.from_numpy(rng.integers(0, 256, (3, *s), dtype=np.uint8)) if len(s) == 3 else torch.randn(3, *s)
           for k, s in shapes.items()}
    algo.set_eval()
    chunk = algo.get_action(obs)
    assert chunk.shape == (3, CHUNK, AC_DIM)
    other = {**obs, "cam1_image": torch.flip(obs["cam1_image"], dims=[0])}  # the second camera changes
    assert not torch.allclose(algo.get_action(other)[0], chunk[0])
    # the two cameras' position codes differ even where their grids coincide
    assert not torch.allclose(cameras["cam0_image"].positions()[0], cameras["cam1_image"].positions()[0])

    pooled = make_algo(*overrides, "observation.encoder.rgb.core_kwargs.pool_class=SpatialSoftmax",
                       'observation.encoder.rgb.core_kwargs.pool_kwargs={"num_kp": 6}', shapes=shapes)
    assert pooled.nets["policy"].cameras["cam0_image"].n_tokens == 6  # one token per keypoint
    flat = make_algo(*overrides, "observation.encoder.rgb.core_kwargs.flatten=true",
                     "observation.encoder.rgb.core_kwargs.feature_dimension=12", shapes=shapes)
    assert flat.nets["policy"].cameras["cam0_image"].n_tokens == 1
    flat.set_eval()
    assert flat.get_action(obs).shape == (3, CHUNK, AC_DIM)


def test_camera_only_policy_without_low_dim_keys():
    shapes = {"cam0_image": (16, 16, 3)}
    algo = make_algo("observation.modalities.obs.low_dim=[]", 'observation.modalities.obs.rgb=["cam0_image"]',
                     "observation.encoder.rgb.core_kwargs.backbone_class=ShallowConv",
                     'observation.encoder.rgb.core_kwargs.backbone_kwargs={"output_channel": 8}', shapes=shapes)
    images = torch.randint(0, 256, (2, CHUNK, 16, 16, 3), dtype=torch.uint8)
    batch = algo.process_batch_for_training({K.OBS: {"cam0_image": images}, K.ACTIONS: torch.randn(2, CHUNK, AC_DIM),
                                             K.PAD_MASK: torch.ones(2, CHUNK, dtype=torch.bool)})
    algo.set_train()
    info = algo.log_info(algo.train_on_batch(batch, epoch=1))
    assert np.isfinite(info["Loss"]) and algo.nets["policy"].proprio is None


def test_goal_conditioned_act_reads_a_goal_token():
    algo = make_algo('observation.modalities.obs.low_dim=["observation"]',
                     'observation.modalities.goal.low_dim=["desired_goal"]', 'train.goal_mode="last"')
    assert algo.nets["policy"].n_tokens == 3  # latent, proprio, goal
    batch = make_batch()
    batch[K.GOAL_OBS] = {"desired_goal": torch.randn(6, 3)}
    batch = algo.process_batch_for_training(batch)
    assert set(batch[K.OBS]) == {"observation"} and batch[K.GOAL_OBS]["desired_goal"].shape == (6, 3)
    algo.set_train()
    assert np.isfinite(algo.log_info(algo.train_on_batch(batch, epoch=1))["Loss"])
    algo.set_eval()
    chunk = algo.get_action(batch[K.OBS], batch[K.GOAL_OBS])
    assert not torch.allclose(algo.get_action(batch[K.OBS], {"desired_goal": -batch[K.GOAL_OBS]["desired_goal"]}), chunk)
    with pytest.raises(ValueError, match="goal-conditioned"):
        algo.get_action(batch[K.OBS])


def test_sinusoidal_positions_2d_are_distinct_per_cell():
    codes = sinusoidal_positions_2d(3, 4, 16)
    assert codes.shape == (12, 16)
    assert torch.unique(codes, dim=0).shape[0] == 12
    torch.testing.assert_close(codes[1, :8], codes[2, :8])  # same row: same row half
    torch.testing.assert_close(codes[1, 8:], codes[5, 8:])  # same column: same column half


# ----- config errors -----
@pytest.mark.parametrize("overrides, fragments", [
    (["algo.chunk_size=4", "algo.n_action_steps=6"], ["algo.n_action_steps=6", "algo.chunk_size=4"]),
    (["algo.temporal_ensemble_coeff=0.01", "algo.n_action_steps=3"],
     ["algo.temporal_ensemble_coeff=0.01", "algo.n_action_steps=3"]),
    (["algo.dim_model=30", "algo.n_heads=4"], ["algo.dim_model=30", "algo.n_heads=4"]),
    (['observation.modalities.obs.scan=["lidar"]'], ["observation.modalities.obs.scan"]),
    (['observation.modalities.obs.rgb=["cam"]', "observation.encoder.rgb.core_class=null"],
     ["observation.encoder.rgb.core_class"]),
])
def test_bad_configs_are_one_line_config_errors(overrides, fragments):
    with pytest.raises(ConfigError) as error:
        act_config(*overrides)
    message = str(error.value)
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message


def test_the_data_window_follows_chunk_size_and_a_contradiction_names_both_keys():
    config = config_factory("act")
    apply_overrides(config, ["algo.chunk_size=7"])
    assert (config.train.seq_length, config.train.frame_stack) == (7, 1)
    for overrides, fragments in ((["algo.chunk_size=7", "train.seq_length=9"], ["train.seq_length=9", "algo.chunk_size=7"]),
                                 (["train.frame_stack=2"], ["train.frame_stack=2", "act"])):
        with pytest.raises(ConfigError) as error:
            apply_overrides(config_factory("act"), overrides)
        assert "\n" not in str(error.value) and all(f in str(error.value) for f in fragments)


def test_bad_horizon_through_train_py_is_one_line_exit_2(fetch_push_dataset, tmp_path):
    result = run_script("train.py", "--algo", "act", "--dataset", fetch_push_dataset, "--output", tmp_path,
                        "--set", "algo.chunk_size=4", "algo.n_action_steps=8", cwd=REPO)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "algo.n_action_steps=8" in lines[0] and "algo.chunk_size=4" in lines[0]


def test_template_variants_load_and_match_their_windows():
    for name in ("act", "act_cpu", "act_image"):
        config = load_config(REPO / "configs" / f"{name}.json")
        assert config.algo_name == "act"
        assert config.train.seq_length == config.algo.chunk_size and config.train.frame_stack == 1
        assert config.train.action_config["actions"]["normalization"] == "gaussian"
        assert config.algo.action_horizon == (100 if name == "act" else 1)  # the CPU templates ensemble


# ----- the whole pipeline -----
SCRIPT_TINY = [*TINY, "algo.temporal_ensemble_coeff=null", "experiment.rollout.num_envs=2", "experiment.render_video=false",
               "experiment.logging.log_tb=false", "train.batch_size=16"]


@pytest.fixture(scope="module")
def act_run(fetch_push_dataset, tmp_path_factory) -> Path:
    """scripts/train.py --debug with a tiny ACT on the FetchPush dataset (rollouts in a 2-env vector env)."""
    out = tmp_path_factory.mktemp("act_runs")
    result = run_script("train.py", "--config", "configs/act_cpu.json", "--dataset", fetch_push_dataset, "--output",
                        out, "--name", "act_dbg", "--debug", "--no-progress", "--set", *SCRIPT_TINY, cwd=REPO,
                        check=True)
    return Path(result.stdout.strip().splitlines()[-1].split("finished: ")[1])


class CountingACT:
    """Counts the chunk predictions of a wrapped ACT (a RolloutPolicy's `.policy`)."""

    def __init__(self, policy):
        self.calls, self.batch_sizes = 0, []
        original = policy.policy.get_action

        def get_action(obs, goal=None):
            self.calls += 1
            self.batch_sizes.append(next(iter(obs.values())).shape[0])
            return original(obs, goal)

        policy.policy.get_action = get_action


def test_train_py_checkpoint_reload_and_act_alone_and_in_a_vector_env(act_run):
    log = (act_run / "logs" / "log.txt").read_text()
    assert "epoch 2/2" in log and "success" in log  # the debug run evaluated in its 2-env vector env
    raw = torch.load(act_run / "models" / "last.pth", weights_only=True)
    assert raw["algo_name"] == "act" and raw["action_normalization_stats"]["actions"]["scale"].shape == (4,)

    policy, ckpt = policy_from_checkpoint(ckpt_path=act_run / "models" / "last.pth", device="cpu")
    assert type(policy.policy).__name__ == "ACT"
    for key, value in policy.policy.nets.state_dict().items():
        torch.testing.assert_close(value, raw["model"][key])
    assert policy.chunk_spec == ChunkSpec(3, None)

    env = create_env(ckpt["env_metadata"])
    counter = CountingACT(policy)
    stats = rollout_with_stats(policy, env, n=1, horizon=7, progress=False, terminate_on_success=False)
    assert stats["Horizon"] == 7
    assert counter.calls == 3  # re-planned at steps 1, 4 and 7: n_action_steps = 3
    policy.start_episode()
    action = policy(env.reset(seed=0))
    assert action.shape == (4,) and np.all(np.isfinite(action))
    env.close()

    envs = create_envs(ckpt["env_metadata"], 2)
    try:
        counter.calls, counter.batch_sizes = 0, []
        stats = rollout_with_stats(policy, envs, n=2, horizon=7, progress=False, terminate_on_success=False)
        assert stats["Num_Episodes"] == 2 and stats["Horizon"] == 7
        assert counter.batch_sizes == [2, 2, 2]  # one batched chunk prediction for both envs, every 3 steps
    finally:
        for e in envs:
            e.close()


def test_queue_actions_are_the_unnormalised_chunk(act_run):
    policy, ckpt = policy_from_checkpoint(ckpt_path=act_run / "models" / "last.pth", device="cpu")
    env = create_env(ckpt["env_metadata"])
    obs = env.reset(seed=1)
    env.close()
    policy.start_episode()
    executed = [policy(obs) for _ in range(3)]  # the same observation: the queue, not the network, moves on
    prepared = policy._prepare(policy._as_dict(obs, policy.policy.obs_shapes, "obs"), policy.policy.obs_shapes, False)
    chunk = policy.policy.get_action(prepared)[0].numpy()  # (k, A) normalised
    stats = ckpt["action_normalization_stats"]["actions"]
    expected = chunk[:3] * stats["scale"].numpy() + stats["offset"].numpy()
    np.testing.assert_allclose(np.stack(executed), expected, rtol=1e-5, atol=1e-6)


def test_temporal_ensembling_policy_acts(act_run):
    ckpt = torch.load(act_run / "models" / "last.pth", weights_only=True)
    ckpt["config"]["algo"]["n_action_steps"] = 1
    ckpt["config"]["algo"]["temporal_ensemble_coeff"] = 0.01
    policy, _ = policy_from_checkpoint(ckpt_dict=ckpt, device="cpu")
    assert policy.chunk_spec == ChunkSpec(1, 0.01)
    env = create_env(ckpt["env_metadata"])
    counter = CountingACT(policy)
    stats = rollout_with_stats(policy, env, n=1, horizon=4, progress=False, terminate_on_success=False)
    env.close()
    assert stats["Horizon"] == 4 and counter.calls == 4  # a new chunk every step


@pytest.mark.slow
def test_act_learns_fetch_push(tmp_path):
    """A width-64 ACT (chunks of 10, 1,200 steps of batch 32, about 90 s) pushes the block in most episodes with
    temporal ensembling (measured: 0.90 of 20 episodes; BC needs about as many steps)."""
    from robokit.train.offline import train

    dataset = tmp_path / "fetch_push_200.hdf5"
    run_script("generate_dataset.py", "--env", "FetchPush-v4", "--n-demos", "200", "--out", dataset, "--seed", "0",
               check=True)
    config = load_config(REPO / "configs" / "act_cpu.json")
    apply_overrides(config, [
        "algo.chunk_size=10", "train.seq_length=10", "algo.dim_model=64", "algo.dim_feedforward=256",
        "algo.latent_dim=8", "train.batch_size=32", "algo.optim_params.policy.learning_rate.initial=0.001",
        "train.num_epochs=12", "experiment.rollout.enabled=false", "experiment.validate=false",
        "experiment.logging.log_tb=false", "experiment.save.every_n_epochs=null"])
    run_dir = train(config, dataset_path=dataset, output_dir=tmp_path, device="cpu", progress=False)
    policy, ckpt = policy_from_checkpoint(ckpt_path=run_dir / "models" / "last.pth", device="cpu")
    assert policy.chunk_spec == ChunkSpec(1, 0.01)
    envs = create_envs(ckpt["env_metadata"], 10)
    try:
        stats = rollout_with_stats(policy, envs, n=20, horizon=50, seed=777, progress=False)
    finally:
        for env in envs:
            env.close()
    assert stats["Success_Rate"] >= 0.7, stats
