"""Diffusion Policy (DP-C and DP-T): shapes, the masked loss at episode ends, that every config key takes effect,
config errors, and the whole pipeline: scripts/train.py on a generated FetchPush dataset (robomimic's own
template included), a checkpoint with EMA weights, policy_from_checkpoint, rollouts alone and in a vector env."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from script_runner import assert_one_line_error, run_script

from robokit import policy_from_checkpoint
from robokit.algo import algo_factory
from robokit.algo.chunking import ChunkSpec
from robokit.algo.diffusion_policy import DiffusionPolicyTransformer, DiffusionPolicyUNet
from robokit.algo.registry import algo_class_for_config
from robokit.config import apply_overrides, config_factory, load_config
from robokit.envs import create_env, create_envs
from robokit.errors import ConfigError
from robokit.models.noise_schedulers import DDIM, DDPM
from robokit.train.rollouts import rollout_with_stats
from robokit.utils import batch_keys as K

REPO = Path(__file__).resolve().parents[2]
TO, TA, TP = 2, 3, 8
HORIZON = [f"algo.horizon.observation_horizon={TO}", f"algo.horizon.action_horizon={TA}",
           f"algo.horizon.prediction_horizon={TP}"]
TINY_UNET = ["algo.unet.diffusion_step_embed_dim=16", "algo.unet.down_dims=[16, 32]", "algo.unet.kernel_size=3",
             "algo.unet.n_groups=4"]
TINY_TRANSFORMER = ["algo.unet.enabled=false", "algo.transformer.enabled=true", "algo.transformer.n_layer=2",
                    "algo.transformer.n_head=2", "algo.transformer.n_emb=16", "algo.transformer.p_drop_attn=0.0"]
FAST = ["algo.ddpm.num_train_timesteps=20", "algo.ddpm.num_inference_timesteps=20",
        "algo.optim_params.policy.learning_rate.warmup_steps=0", "experiment.epoch_every_n_steps=10",
        "train.num_epochs=10"]
SHAPES = {"observation": (25,), "desired_goal": (3,)}
AC_DIM = 4

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # small networks on a shared 2-core machine


def dp_config(*overrides, transformer=False):
    config = config_factory("diffusion_policy")
    apply_overrides(config, [*HORIZON, *(TINY_TRANSFORMER if transformer else TINY_UNET), *FAST, *overrides])
    return config


def make_algo(*overrides, transformer=False, seed=0, shapes=SHAPES):
    torch.manual_seed(seed)
    return algo_factory("diffusion_policy", dp_config(*overrides, transformer=transformer), shapes, AC_DIM, "cpu")


def make_batch(batch_size=6, seed=0, n_real=None, shapes=SHAPES) -> dict:
    """A dataset-style window: obs (B, To-1+Tp, ...), actions (B, To-1+Tp, A) in [-1, 1], pad_mask."""
    g = torch.Generator().manual_seed(seed)
    t = TO - 1 + TP
    obs = {k: torch.randn(batch_size, t, *s, generator=g) for k, s in shapes.items()}
    actions = torch.rand(batch_size, t, AC_DIM, generator=g) * 2 - 1
    n_real = [t] * batch_size if n_real is None else n_real
    mask = torch.arange(t)[None, :] < torch.tensor(n_real)[:, None]
    return {K.OBS: obs, K.ACTIONS: actions, K.PAD_MASK: mask}


@pytest.mark.parametrize("transformer", [False, True], ids=["DP-C", "DP-T"])
def test_chunk_shapes_spec_window_and_variant(transformer):
    algo = make_algo(transformer=transformer)
    assert isinstance(algo, DiffusionPolicyTransformer if transformer else DiffusionPolicyUNet)
    batch = algo.process_batch_for_training(make_batch())
    assert batch[K.OBS]["observation"].shape == (6, TO, 25) and batch[K.ACTIONS].shape == (6, TP, AC_DIM)
    algo.set_eval()
    chunk = algo.get_action(batch[K.OBS])
    assert chunk.shape == (6, TP - TO + 1, AC_DIM) and torch.isfinite(chunk).all()
    assert chunk.abs().max() <= 1.0  # clip_sample keeps the clean sample in [-1, 1]; DDPM's last step adds no noise
    assert algo.chunk_spec == ChunkSpec(action_horizon=TA)
    assert (algo.global_config.train.frame_stack, algo.global_config.train.seq_length) == (TO, TP)
    full = algo.sample_actions(batch[K.OBS], generator=torch.Generator().manual_seed(3))
    again = algo.sample_actions(batch[K.OBS], generator=torch.Generator().manual_seed(3))
    torch.testing.assert_close(full, again)  # the sampler's randomness is the generator's only
    torch.testing.assert_close(full[:, TO - 1:].shape, chunk.shape)


@pytest.mark.parametrize("transformer", [False, True], ids=["DP-C", "DP-T"])
def test_the_loss_is_the_mean_over_real_steps_only(transformer):
    algo = make_algo(transformer=transformer)
    algo.set_eval()  # no dropout
    raw = make_batch(n_real=[9, 9, 5, 9, 3, 9])
    batch = algo.process_batch_for_training(raw)
    torch.manual_seed(5)
    loss = algo.train_on_batch(batch, 1, validate=True)["losses"]["l2_loss"]
    # the same draws by hand: encoder, noise, timesteps, then the squared error of the real steps only
    policy, actions, mask = algo.nets["policy"], batch[K.ACTIONS], batch[K.PAD_MASK]
    torch.manual_seed(5)
    with torch.no_grad():
        cond = algo._condition(policy["encoder"](batch[K.OBS]))
        noise = torch.randn_like(actions)
        t = torch.randint(0, 20, (6,))
        ab = algo.noise_schedule.alphas_cumprod[t].view(-1, 1, 1)
        prediction = policy["denoiser"](ab.sqrt() * actions + (1 - ab).sqrt() * noise, t, cond)
    per_step = ((prediction - noise) ** 2).mean(-1)  # (B, Tp)
    assert mask.sum().item() == 6 * TP - 3 - 5  # windows with 5 and 3 real steps of To - 1 + Tp = 9
    torch.testing.assert_close(loss, per_step[mask].mean())
    assert not torch.isclose(loss, per_step.mean())
    if transformer:  # causal attention: what the dataset repeats after the episode end cannot reach a real step
        changed = {**raw, K.ACTIONS: raw[K.ACTIONS].clone()}
        changed[K.ACTIONS][~raw[K.PAD_MASK]] = 0.77
        torch.manual_seed(5)
        other = algo.train_on_batch(algo.process_batch_for_training(changed), 1, validate=True)["losses"]["l2_loss"]
        torch.testing.assert_close(other, loss)


@pytest.mark.parametrize("transformer", [False, True], ids=["DP-C", "DP-T"])
def test_loss_falls_and_ema_lags_the_weights(transformer):
    algo = make_algo("algo.optim_params.policy.learning_rate.initial=0.003",
                     "algo.optim_params.policy.learning_rate.scheduler_type=constant", transformer=transformer)
    batch = algo.process_batch_for_training(make_batch(batch_size=16))

    def eval_loss():  # the same 10 noise draws each time
        algo.set_eval()
        torch.manual_seed(1)
        loss = np.mean([algo.train_on_batch(batch, 1, validate=True)["losses"]["l2_loss"].item() for _ in range(10)])
        algo.set_train()
        return loss

    first = eval_loss()
    for _ in range(150):
        algo.train_on_batch(batch, 1)
    # seeds 0-2: DP-C falls to 0.34-0.36 of its first value, DP-T to 0.20-0.30
    assert eval_loss() < 0.5 * first
    assert algo.emas["policy"].step == 150
    raw = algo.nets["policy"].state_dict()
    assert any(not torch.equal(raw[k], v) for k, v in algo.emas["policy"].averaged.items())


def test_every_unet_key_takes_effect():
    base = make_algo()
    unet = base.nets["policy"]["denoiser"]
    assert unet.time_embedding[1].in_features == 16
    assert [level[0].conv1[0].out_channels for level in unet.down] == [16, 32]
    assert unet.down[0][0].conv1[0].kernel_size == (3,) and unet.down[0][0].conv1[1].num_groups == 4
    wider = make_algo("algo.unet.down_dims=[8, 16, 32]", "algo.unet.kernel_size=5", "algo.unet.n_groups=2",
                      "algo.unet.diffusion_step_embed_dim=8")
    unet = wider.nets["policy"]["denoiser"]
    assert [level[0].conv1[0].out_channels for level in unet.down] == [8, 16, 32]
    assert unet.down[0][0].conv1[0].kernel_size == (5,) and unet.down[0][0].conv1[1].num_groups == 2
    assert unet.time_embedding[1].in_features == 8
    # the condition is the flattened features of To observations (+ the timestep embedding)
    assert unet.down[0][0].film[1].in_features == 8 + TO * (25 + 3)


def test_every_transformer_key_takes_effect():
    algo = make_algo("algo.transformer.n_layer=3", "algo.transformer.n_cond_layers=1", transformer=True)
    net = algo.nets["policy"]["denoiser"]
    assert len(net.decoder.layers) == 3 and len(net.cond_encoder.layers) == 1
    assert net.input_emb.out_features == 16 and net.decoder.layers[0].self_attn.num_heads == 2
    assert net.tgt_mask.shape == (TP, TP) and net.memory_mask.shape == (TP, 1 + TO)
    assert net.memory_mask[0].tolist() == [False, False, True]  # action 0 sees the timestep and obs step 0
    open_attn = make_algo("algo.transformer.causal_attn=false", transformer=True).nets["policy"]["denoiser"]
    assert open_attn.tgt_mask is None


def test_sampler_keys_take_effect():
    ddpm = make_algo()
    assert isinstance(ddpm.noise_schedule, DDPM) and len(ddpm._inference_steps) == 20
    ddim = make_algo("algo.ddpm.enabled=false", "algo.ddim.enabled=true", "algo.ddim.num_train_timesteps=30",
                     "algo.ddim.num_inference_timesteps=5", "algo.ddim.steps_offset=1", "algo.ddim.beta_schedule=linear",
                     "algo.ddim.prediction_type=sample", "algo.ddim.set_alpha_to_one=false")
    schedule = ddim.noise_schedule
    assert isinstance(schedule, DDIM) and schedule.num_train_timesteps == 30 and schedule.prediction_type == "sample"
    assert [t for t, _ in ddim._inference_steps] == [25, 19, 13, 7, 1]
    assert schedule.final_alpha_bar == schedule.alpha_bar(0)
    x0, noise, t = torch.ones(2, TP, AC_DIM), torch.zeros(2, TP, AC_DIM), torch.tensor([3, 4])
    torch.testing.assert_close(schedule.training_target(x0, noise, t), x0)  # predicts the sample


@pytest.mark.parametrize("overrides, fragments", [
    (["algo.horizon.action_horizon=9"], ["algo.horizon.action_horizon=9", "algo.horizon.prediction_horizon=8",
                                         "algo.horizon.observation_horizon=2"]),
    (["algo.horizon.prediction_horizon=6", "algo.horizon.action_horizon=2", "algo.unet.down_dims=[8, 16, 32]"],
     ["algo.horizon.prediction_horizon=6", "algo.unet.down_dims"]),
    (["algo.transformer.enabled=true"], ["algo.unet.enabled", "algo.transformer.enabled"]),
    (["algo.ddim.enabled=true"], ["algo.ddpm.enabled", "algo.ddim.enabled"]),
    (['train.action_config={"actions": {"normalization": "gaussian"}}'],
     ["algo.ddpm.clip_sample=true", '"gaussian"']),
    (["train.seq_length=5"], ["train.seq_length=5", "algo.horizon.prediction_horizon=8"]),
    (["algo.unet.n_groups=5"], ["algo.unet.n_groups=5"]),
])
def test_bad_configs_are_one_line_config_errors(overrides, fragments):
    with pytest.raises(ConfigError) as error:
        dp_config(*overrides)
    message = str(error.value)
    assert "\n" not in message and all(f in message for f in fragments), message


def test_gaussian_actions_without_clipping_are_allowed():
    config = dp_config('train.action_config={"actions": {"normalization": "gaussian"}}', "algo.ddpm.clip_sample=false")
    assert config.train.action_config["actions"]["normalization"] == "gaussian"


def test_camera_observations_use_the_shared_encoder_with_group_norm():
    shapes = {"robot0_eef_pos": (3,), "cam_image": (32, 32, 3)}
    algo = make_algo('observation.modalities.obs.low_dim=["robot0_eef_pos"]', 'observation.modalities.obs.rgb=["cam_image"]',
                     "observation.modalities.goal.low_dim=[]",
                     "observation.encoder.rgb.core_kwargs.backbone_class=ResNetConv",
                     'observation.encoder.rgb.core_kwargs.backbone_kwargs={"channels": [16, 32]}', shapes=shapes)
    norms = [type(m).__name__ for m in algo.nets["policy"]["encoder"].modules() if "Norm" in type(m).__name__]
    assert norms and "BatchNorm2d" not in norms and "GroupNorm" in norms
    rng = np.random.default_rng(0)
    obs = {"robot0_eef_pos": torch.randn(3, TO, 3),
           "cam_image": torch.from_numpy(rng.integers(0, 256, (3, TO, 32, 32, 3), dtype=np.uint8))}
    algo.set_eval()
    chunk = algo.get_action(obs)
    assert chunk.shape == (3, TP - TO + 1, AC_DIM)
    algo.set_train()
    batch = {K.OBS: {k: torch.cat([v, v[:, -1:].expand(-1, TP - 1, *v.shape[2:])], 1) for k, v in obs.items()},
             K.ACTIONS: torch.rand(3, TO - 1 + TP, AC_DIM) * 2 - 1}
    info = algo.train_on_batch(algo.process_batch_for_training(batch), 1)
    assert torch.isfinite(info["losses"]["l2_loss"]) and info["policy_grad_norm"] > 0


# ----- the whole pipeline -----
SCRIPT_TINY = [*HORIZON, "algo.ddpm.num_inference_timesteps=10", "experiment.rollout.num_envs=2",
               "experiment.render_video=false", "experiment.logging.log_tb=false", "train.batch_size=16"]


@pytest.fixture(scope="module")
def dp_runs(fetch_push_dataset, tmp_path_factory) -> dict:
    """scripts/train.py --debug of a tiny DP-C and DP-T on the FetchPush dataset (rollouts in a 2-env vector env)."""
    out = tmp_path_factory.mktemp("dp_runs")
    runs = {}
    for name, config, extra in (("dpc", "configs/diffusion_policy_cpu.json", TINY_UNET),
                                ("dpt", "configs/diffusion_policy_transformer_cpu.json", TINY_TRANSFORMER[2:])):
        result = run_script("train.py", "--config", config, "--dataset", fetch_push_dataset, "--output", out,
                            "--name", name, "--debug", "--no-progress", "--set", *SCRIPT_TINY, *extra, cwd=REPO,
                            check=True)
        runs[name] = Path(result.stdout.strip().splitlines()[-1].split("finished: ")[1])
    return runs


class CountingCalls:
    def __init__(self, policy):
        self.batch_sizes = []
        original = policy.policy.get_action

        def get_action(obs, goal=None):
            self.batch_sizes.append(next(iter(obs.values())).shape[0])
            return original(obs, goal)

        policy.policy.get_action = get_action


@pytest.mark.parametrize("name", ["dpc", "dpt"])
def test_train_py_checkpoint_reload_and_act_alone_and_in_a_vector_env(dp_runs, name):
    run = dp_runs[name]
    log = (run / "logs" / "log.txt").read_text()
    assert "epoch 2/2" in log and "success" in log
    raw = torch.load(run / "models" / "last.pth", weights_only=True)
    assert raw["algo_name"] == "diffusion_policy" and raw["ema"]["policy"]["step"] == 6  # 2 debug epochs x 3 steps
    stats = raw["action_normalization_stats"]["actions"]
    assert stats["scale"].shape == (4,)  # min-max: [min, max] -> [-1, 1]
    policy, ckpt = policy_from_checkpoint(ckpt_path=run / "models" / "last.pth", device="cpu")
    assert type(policy.policy).__name__ == ("DiffusionPolicyUNet" if name == "dpc" else "DiffusionPolicyTransformer")
    for key, value in policy.policy.nets["policy"].state_dict().items():  # deployment acts with the EMA weights
        torch.testing.assert_close(value, raw["ema"]["policy"]["weights"][key])
    assert policy.chunk_spec == ChunkSpec(TA) and policy.frame_stack == TO

    env = create_env(ckpt["env_metadata"])
    counter = CountingCalls(policy)
    result = rollout_with_stats(policy, env, n=1, horizon=7, progress=False, terminate_on_success=False)
    assert result["Horizon"] == 7 and len(counter.batch_sizes) == 3  # re-planned at steps 1, 4, 7
    policy.start_episode()
    action = policy(env.reset(seed=0))
    low, high = stats["offset"] - stats["scale"], stats["offset"] + stats["scale"]
    assert action.shape == (4,) and np.all(action >= low.numpy() - 1e-5) and np.all(action <= high.numpy() + 1e-5)
    env.close()

    envs = create_envs(ckpt["env_metadata"], 2)
    try:
        counter.batch_sizes = []
        result = rollout_with_stats(policy, envs, n=3, horizon=5, progress=False, terminate_on_success=False)
        assert result["Num_Episodes"] == 3 and result["Horizon"] == 5
        # episodes 0, 1 together (plans at steps 1, 4); episode 2 starts in env 0 alone at step 6
        assert counter.batch_sizes == [2, 2, 1, 1]
    finally:
        for e in envs:
            e.close()


def test_robomimic_template_trains_with_debug(fetch_push_dataset, tmp_path):
    template = json.loads((REPO / "tests" / "config" / "robomimic_templates" / "diffusion_policy.json").read_text())
    template["observation"]["modalities"]["obs"]["low_dim"] = ["observation", "desired_goal"]  # the dataset's keys
    template["algo"]["unet"].update(down_dims=[32, 64], diffusion_step_embed_dim=32)  # CPU-sized, same layout
    template["algo"]["ddpm"]["num_inference_timesteps"] = 10
    template["experiment"]["rollout"]["horizon"] = 10
    path = tmp_path / "dp.json"
    path.write_text(json.dumps(template))
    assert load_config(path).algo.ema.enabled
    result = run_script("train.py", "--config", path, "--dataset", fetch_push_dataset, "--output", tmp_path,
                        "--debug", "--no-progress", "--set", "experiment.render_video=false", cwd=REPO, check=True)
    run = Path(result.stdout.strip().splitlines()[-1].split("finished: ")[1])
    saved = json.loads((run / "config.json").read_text())
    assert saved["train"]["frame_stack"] == 2 and saved["train"]["seq_length"] == 16
    assert (run / "models" / "last.pth").exists()


def test_bad_horizon_through_train_py_is_one_line_exit_2(fetch_push_dataset, tmp_path):
    result = run_script("train.py", "--algo", "diffusion_policy", "--dataset", fetch_push_dataset, "--output",
                        tmp_path, "--set", "algo.horizon.action_horizon=20", cwd=REPO)
    assert_one_line_error(result, "algo.horizon.action_horizon=20", "algo.horizon.prediction_horizon=16")


def test_template_variants_load():
    for name, cls in (("diffusion_policy", DiffusionPolicyUNet), ("diffusion_policy_cpu", DiffusionPolicyUNet),
                      ("diffusion_policy_image", DiffusionPolicyUNet),
                      ("diffusion_policy_transformer", DiffusionPolicyTransformer),
                      ("diffusion_policy_transformer_cpu", DiffusionPolicyTransformer)):
        config = load_config(REPO / "configs" / f"{name}.json")
        h = config.algo.horizon
        assert (config.train.frame_stack, config.train.seq_length) == (h.observation_horizon, h.prediction_horizon)
        assert algo_class_for_config(config)[0] is cls
