#!/usr/bin/env python
"""Speed ratios measured in one run on this machine (never asserted in tests).

train_loop: gradient steps/s of train.py's loop (SequenceDataset sampling + process_batch_for_training +
    train_on_batch + log_info, i.e. `robokit.train.offline.run_epoch`) against a bare PyTorch loop with the same
    network, batch size and optimiser on pre-made tensors. Rounds alternate between them; the median of the
    per-pair ratios is printed with its range, for the default config (training statistics measured every
    `experiment.logging.stats_every_n_steps` steps) and with statistics on every step, as robomimic logs them.

    python scripts/benchmark.py [--steps 200] [--rounds 5] [--batch-size 100]

image_memory: peak RSS of loading a 200-demo dataset of 84x84 RGB images (50 steps each) into SequenceDataset
    with seq_length=10, in a subprocess, minus that of a subprocess that imported the same modules, against
    the bytes of the image arrays (target <= 1.2: images are held once, whatever seq_length and frame_stack);
    also with hdf5_cache_mode="low_dim" (images read per batch).

image_loader: image batches/s of robokit.data.make_dataloader with worker processes (batch 16 x seq_length 10,
    both cache modes) beside the training steps/s of an image BC-RNN on pre-loaded batches, so you see whether
    training is data-bound (loader faster than the model: compute-bound).

    python scripts/benchmark.py --only image_memory image_loader [--image-backbone ResNet18Conv]

offline_rl: training iterations/s (train_on_batch + log_info) of each offline RL / hierarchical algorithm with its
    default config, as a ratio to BC's (default config) on the same batch of the same dataset (same sample
    indices; each algorithm's own window length). Rounds alternate between BC and the algorithm.

    python scripts/benchmark.py --only offline_rl [--offline-algos iql td3_bc] [--offline-steps 20]

evaluation: episodes/s of evaluation rollouts (rollout_with_stats) in FetchPush-v4 with an untrained BC policy,
    one env after another against --eval-envs envs stepped together with one batched policy call per step
    (experiment.rollout.num_envs), in this process and with each env in its own process
    (experiment.rollout.vector_env=async); once on the state and once with an 84x84 camera and a small ResNet.

    python scripts/benchmark.py --only evaluation [--eval-episodes 40] [--eval-envs 10]

scale: the cost of training at scale. The memory monitor: train.py's loop (BC, as train_loop) with the monitor
    reading every experiment.memory.every_n_steps=50 steps against without it (target: under 1%). DDP: gradient
    steps/s of train.py with 2 gloo ranks (torchrun, batch B each) against 1 process with batch 2B, the same global
    batch, read from each run's Train/Steps_per_second (epochs after the first).

    python scripts/benchmark.py --only scale [--scale-epochs 4] [--steps 200]

precision: milliseconds per gradient step of SAC and TD3 (default configs, HalfCheetah-v5's 17-dim observations
    and 6-dim actions, one torch thread, pre-made random batches) in float32 against
    `train.mixed_precision=bf16`, rounds alternating: whether bfloat16 pays on this machine before you turn it on
    (it was 1.7x faster for SAC on one VM, 1.05x on another of the same kind).

    python scripts/benchmark.py --only precision [--precision-algos sac td3] [--precision-steps 300]

chunk_train_loop: gradient steps/s of DP-C (the UNet diffusion policy) and ACT, configs/diffusion_policy_cpu.json
    and configs/act_cpu.json, through train.py's loop (run_epoch, as train_loop for BC; DP-C with its per-step
    learning-rate schedule and EMA) against a bare PyTorch loop of the same network (a copy), batch size and
    optimiser (fused AdamW; DP-C also its warm-up + cosine schedule and weight EMA) on pre-made tensors. Rounds
    alternate; the median of the per-pair ratios is printed with its range (target >= 0.95).

chunk_inference: ms per chunk (`get_action` on a batch of N envs' observations) and per env step (RolloutPolicy
    on batched observations, as evaluation calls it: a chunk serves action_horizon steps, ACT's temporal ensembling
    re-plans every step) of DP-C with DDPM-100 and DDIM-10 sampling and of ACT, for 1 and 10 envs, and the
    10-env / 1-env cost (batched inference: well under 10x).

    python scripts/benchmark.py --only chunk_train_loop chunk_inference [--chunk-steps 40] [--inference-chunks 10]
        [--threads 1] [--json figures.json]

masked_train_loop: gradient steps/s of train.py's loop (run_epoch, as train_loop) for configs/bc_planar_arms.json's
    BC network on the same planar_arm_3 demos (scripts/generate_dataset.py), once through its robot data specs
    (joints padded to planar_arm_4's 4 slots, the joint mask as an input, per-sample action masks in the masked
    losses) and once unpadded (the file's plain obs keys and 3-D actions, no specs). Rounds alternate (and which
    side runs first); the median of the per-pair ratios masked / unpadded is printed with its range (target >= 0.95),
    per second of this process's CPU time (steady while other jobs share the cores) and of wall-clock time.

    python scripts/benchmark.py --only masked_train_loop [--masked-steps 300] [--rounds 5] [--threads 1]
"""

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from robokit.utils.cli import run_script


def synthetic_dataset(path: Path, n_demos: int = 200, length: int = 50, seed: int = 0,
                      with_next_obs: bool = False) -> None:
    """A robomimic-layout file with FetchPush-shaped observations (25 + 3 dims) and 4-D actions
    (and next_obs, the observations shifted by one step, with `with_next_obs`)."""
    from robokit.data import DatasetWriter, split_train_val

    rng = np.random.default_rng(seed)
    env_args = {"env_name": "FetchPush-v4", "type": 2, "env_kwargs": {}}
    with DatasetWriter(path, env_args=env_args) as writer:
        for _ in range(n_demos):
            obs = {"observation": rng.standard_normal((length, 25)).astype(np.float32),
                   "desired_goal": rng.standard_normal((length, 3)).astype(np.float32)}
            next_obs = {k: np.concatenate([v[1:], v[-1:]]) for k, v in obs.items()} if with_next_obs else None
            writer.add_episode(obs, rng.uniform(-1, 1, (length, 4)).astype(np.float32),
                               np.zeros(length, np.float32), np.eye(1, length, length - 1)[0], next_obs=next_obs)
    split_train_val(path, val_ratio=0.1, seed=seed)


def bc_in_training(dataset_path: Path, batch_size: int):
    """(config, dataset, BC algo in train mode, batch stream) as train.py's loop has them."""
    from robokit.config import apply_overrides, config_factory

    config = config_factory("bc")
    apply_overrides(config, [f"train.batch_size={batch_size}", "experiment.validate=false"])
    return algo_in_training(config, dataset_path)


def algo_in_training(config, dataset_path: Path):
    """(config, dataset, algo in train mode, batch stream) for `config`, set up as train.py sets them up."""
    import torch

    from robokit.algo import algo_factory
    from robokit.train.offline import batch_stream, load_datasets, steps_per_epoch
    from robokit.train.precision import set_flush_denormals

    set_flush_denormals(config.train.flush_denormals)
    torch.manual_seed(0)
    train_ds, _ = load_datasets(config, dataset_path)
    algo = algo_factory(config.algo_name, config, train_ds.obs_key_shapes, train_ds.action_dim, "cpu")
    batch_size = config.train.batch_size
    algo.set_steps_per_epoch(steps_per_epoch(config.experiment.epoch_every_n_steps, train_ds, batch_size))
    algo.set_train()
    return config, train_ds, algo, batch_stream(train_ds, batch_size, num_workers=0, seed=0)


def bench_train_loop(dataset_path: Path, steps: int, rounds: int, batch_size: int) -> dict:
    import torch
    from torch import nn

    from robokit.train.offline import run_epoch

    config, train_ds, algo, batches = bc_in_training(dataset_path, batch_size)

    # the bare loop: the same layer sizes (ReLUs in place, as robokit's MLP runs them) and optimiser settings,
    # one pre-made batch
    obs_dim = sum(int(np.prod(s)) for s in train_ds.obs_key_shapes.values())
    dims = [obs_dim, *config.algo.actor_layer_dims]
    layers = []
    for i in range(len(dims) - 1):
        layers += [nn.Linear(dims[i], dims[i + 1]), nn.ReLU(inplace=True)]
    net = nn.Sequential(*layers, nn.Linear(dims[-1], train_ds.action_dim), nn.Tanh())
    # the same optimiser as robokit's: Adam with torch's fused kernel
    optimizer = torch.optim.Adam(net.parameters(), lr=config.algo.optim_params.policy.learning_rate.initial,
                                 fused=True)
    x = torch.randn(batch_size, obs_dim)
    y = torch.rand(batch_size, train_ds.action_dim) * 2 - 1

    def bare(n: int) -> None:
        for _ in range(n):
            loss = nn.functional.mse_loss(net(x), y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()

    default_every = config.experiment.logging.stats_every_n_steps
    variants = {
        "bare": bare,
        "robokit": lambda n: run_epoch(algo, batches, n, epoch=1, progress=False, stats_every=default_every),
        "robokit_every_step": lambda n: run_epoch(algo, batches, n, epoch=1, progress=False, stats_every=1),
    }

    def rate(fn) -> float:
        start = time.perf_counter()
        fn(steps)
        return steps / (time.perf_counter() - start)

    for fn in variants.values():  # warm-up
        fn(20)
    rates = {name: [] for name in variants}
    for _ in range(rounds):
        for name, fn in variants.items():
            rates[name].append(rate(fn))
    result = {"stats_every": default_every}
    for name in variants:
        paired = [r / b for r, b in zip(rates[name], rates["bare"])]  # adjacent runs: robust to speed drift
        result[name] = {"steps_per_s": statistics.median(rates[name]), "ratio": statistics.median(paired),
                        "ratio_min": min(paired), "ratio_max": max(paired)}
    return result


CONFIGS = Path(__file__).resolve().parents[1] / "configs"
# chunk_train_loop / chunk_inference: name -> the CPU-sized config of that policy
CHUNK_POLICIES = {"DP-C": "diffusion_policy_cpu.json", "ACT": "act_cpu.json"}


def chunk_config(name: str, overrides: tuple = ()):
    """The CPU-sized config of `name` (CHUNK_POLICIES) for the synthetic FetchPush-shaped data, no validation."""
    from robokit.config import apply_overrides, load_config

    config = load_config(CONFIGS / CHUNK_POLICIES[name])
    apply_overrides(config, ["experiment.validate=false", *overrides])
    return config


def bare_diffusion_loop(algo, batch_size: int):
    """A plain PyTorch training loop of the DP-C algorithm's network on one pre-made batch: the same encoder and
    UNet (a copy), noise schedule, AdamW (fused), per-step warm-up + cosine learning rate and weight EMA."""
    import copy
    import math

    import torch
    from torch import nn

    cfg, c = algo.algo_config, algo.algo_config.optim_params.policy.learning_rate
    net = copy.deepcopy(algo.nets["policy"])
    encoder, unet = net["encoder"], net["denoiser"]
    optimizer = torch.optim.AdamW(net.parameters(), lr=c.initial,
                                  weight_decay=cfg.optim_params.policy.regularization.L2, fused=True)
    total = algo.run_length()[1]
    warmup = c.warmup_steps
    lr = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: s / warmup if s < warmup else
                                           0.5 * (1 + math.cos(math.pi * (s - warmup) / (total - warmup))))
    params = list(net.parameters())
    ema = [p.detach().clone() for p in params]
    alpha_bar = algo.noise_schedule.alphas_cumprod  # (T,)
    obs = {k: torch.randn(batch_size, algo.n_obs, *shape) for k, shape in algo.obs_shapes.items()}  # (B, To, D)
    actions = torch.rand(batch_size, algo.n_pred, algo.ac_dim) * 2 - 1  # (B, Tp, A)
    step = 0

    def run(n: int) -> None:
        nonlocal step
        for _ in range(n):
            cond = encoder(obs, None).flatten(1)  # (B, To * D)
            noise = torch.randn_like(actions)
            t = torch.randint(0, len(alpha_bar), (batch_size,))
            ab = alpha_bar[t].view(-1, 1, 1)
            loss = nn.functional.mse_loss(unet(ab.sqrt() * actions + (1 - ab).sqrt() * noise, t, cond), noise)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            lr.step()
            decay = min(1 - (1 + step) ** -cfg.ema.power, cfg.ema.max_value) if step else 0.0
            step += 1
            with torch.no_grad():
                for e, p in zip(ema, params):
                    e.lerp_(p, 1 - decay)

    return run


def bare_act_loop(algo, batch_size: int):
    """A plain PyTorch training loop of the ACT algorithm's network (a copy) on one pre-made batch with a pad mask:
    L1 over real steps + kl_weight x KL, AdamW (fused)."""
    import copy

    import torch

    cfg = algo.algo_config
    net = copy.deepcopy(algo.nets["policy"])
    optimizer = torch.optim.AdamW(net.parameters(), lr=cfg.optim_params.policy.learning_rate.initial,
                                  weight_decay=cfg.optim_params.policy.regularization.L2, fused=True)
    obs = {k: torch.randn(batch_size, *shape) for k, shape in algo.obs_shapes.items()}  # (B, D)
    actions = torch.randn(batch_size, cfg.chunk_size, algo.ac_dim)  # (B, k, A)
    real = torch.ones(batch_size, cfg.chunk_size, dtype=torch.bool)  # (B, k)

    def run(n: int) -> None:
        for _ in range(n):
            chunk, mu, logvar = net(obs, None, actions, real)
            l1 = ((chunk - actions).abs() * real.unsqueeze(-1)).sum() / (real.sum() * algo.ac_dim)
            kl = 0.5 * (mu ** 2 + logvar.exp() - 1 - logvar).sum(-1).mean()
            loss = l1 + cfg.kl_weight * kl
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()

    return run


BARE_LOOPS = {"DP-C": bare_diffusion_loop, "ACT": bare_act_loop}


def bench_chunk_train_loop(dataset_path: Path, names: list[str], steps: int, rounds: int) -> dict:
    """Steps/s of train.py's loop (run_epoch, the config's statistics interval and memory monitor) for each chunking
    policy against its bare PyTorch loop; rounds alternate between them (and which side runs first)."""
    return {name: time_chunk_policy(name, dataset_path, steps, rounds) for name in names}


def time_chunk_policy(name: str, dataset_path: Path, steps: int, rounds: int) -> dict:
    from robokit.train.memory import MemoryMonitor
    from robokit.train.offline import run_epoch

    config, _, algo, batches = algo_in_training(chunk_config(name), dataset_path)
    memory = config.experiment.memory
    monitor = MemoryMonitor(memory.max_fraction, memory.every_n_steps)
    every = config.experiment.logging.stats_every_n_steps
    sides = {"bare": BARE_LOOPS[name](algo, config.train.batch_size),
             "robokit": lambda n: run_epoch(algo, batches, n, epoch=1, progress=False, stats_every=every,
                                            monitor=monitor)}

    def rate(side: str) -> float:
        start = time.perf_counter()
        sides[side](steps)
        return steps / (time.perf_counter() - start)

    for run in sides.values():  # warm-up
        run(max(steps // 5, 2))
    rates = {"bare": [], "robokit": []}
    for i in range(rounds):
        for side in (("bare", "robokit") if i % 2 == 0 else ("robokit", "bare")):
            rates[side].append(rate(side))
    paired = [r / b for r, b in zip(rates["robokit"], rates["bare"])]  # adjacent runs: robust to speed drift
    return {"batch_size": config.train.batch_size, "stats_every": every,
            "robokit_steps_per_s": statistics.median(rates["robokit"]),
            "bare_steps_per_s": statistics.median(rates["bare"]),
            "ratio": statistics.median(paired), "ratio_min": min(paired), "ratio_max": max(paired)}


def report_chunk_train_loop(args) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.hdf5"
        synthetic_dataset(path)
        results = bench_chunk_train_loop(path, args.chunk_policies, args.chunk_steps, args.rounds)
    print("chunk_train_loop  steps/s of train.py's loop against a bare PyTorch loop (same network, batch, AdamW):")
    for name, r in results.items():
        print(f"  {name:<5} ({CHUNK_POLICIES[name]}, batch {r['batch_size']}): robokit {r['robokit_steps_per_s']:.1f} "
              f"steps/s, bare {r['bare_steps_per_s']:.1f} steps/s, ratio {r['ratio']:.3f} "
              f"(pairs {r['ratio_min']:.3f}-{r['ratio_max']:.3f}; target >= 0.95)")
    return results


# chunk_inference: label -> (policy, config overrides)
INFERENCE_VARIANTS = {
    "DDPM-100": ("DP-C", ("algo.ddpm.enabled=true", "algo.ddim.enabled=false",
                          "algo.ddpm.num_inference_timesteps=100")),
    "DDIM-10": ("DP-C", ("algo.ddpm.enabled=false", "algo.ddim.enabled=true", "algo.ddim.num_inference_timesteps=10")),
    "ACT": ("ACT", ()),
}


def bench_chunk_inference(labels: list[str], chunks: int, env_counts: tuple = (1, 10)) -> list[dict]:
    """Per chunk: ms of one `get_action` on a batch of N envs' observations (median of `chunks`). Per env step: ms
    of RolloutPolicy calls on N envs' batched observations (as evaluation makes them) over the steps that
    `chunks` chunks serve, re-planning when the queues run empty (ACT's temporal ensembling: every step)."""
    import torch

    from robokit.algo import RolloutPolicy, algo_factory

    obs_shapes, ac_dim = {"observation": (25,), "desired_goal": (3,)}, 4  # FetchPush
    rng = np.random.default_rng(0)
    results = []
    for label in labels:
        name, overrides = INFERENCE_VARIANTS[label]
        config = chunk_config(name, overrides)
        torch.manual_seed(0)
        algo = algo_factory(config.algo_name, config, obs_shapes, ac_dim, "cpu")
        policy = RolloutPolicy(algo)
        spec = policy.chunk_spec
        frames = config.train.frame_stack
        row = {"label": label, "action_horizon": 1 if spec.ensembling else spec.action_horizon}
        for n in env_counts:
            policy.start_episode()
            batch = {k: torch.randn(n, *((frames,) if frames > 1 else ()), *s) for k, s in obs_shapes.items()}
            algo.get_action(batch)  # warm-up
            times = []
            for _ in range(chunks):
                start = time.perf_counter()
                algo.get_action(batch)
                times.append(time.perf_counter() - start)
            env_steps = chunks * row["action_horizon"]
            observations = [{k: rng.standard_normal((n, *s)).astype(np.float32) for k, s in obs_shapes.items()}
                            for _ in range(env_steps)]
            policy(observations[0])  # warm-up (the first call plans)
            policy.start_episode()
            start = time.perf_counter()
            for ob in observations:
                policy(ob)
            row[n] = {"chunk_ms": statistics.median(times) * 1e3,
                      "step_ms": (time.perf_counter() - start) / env_steps * 1e3}
        results.append(row)
    return results


def report_chunk_inference(args) -> list[dict]:
    results = bench_chunk_inference(args.inference_variants, args.inference_chunks)
    print("chunk_inference  ms per chunk (get_action) and per env step (RolloutPolicy, batched obs), untrained "
          "DP-C / ACT of the CPU configs:")
    for r in results:
        one, ten = r[1], r[10]
        serves = f"{r['action_horizon']} step" + ("s" if r["action_horizon"] > 1 else "")
        print(f"  {r['label']:<8} (a chunk serves {serves}): 1 env {one['chunk_ms']:.2f} ms/chunk, "
              f"{one['step_ms']:.2f} ms/step; 10 envs {ten['chunk_ms']:.2f} ms/chunk, {ten['step_ms']:.2f} ms/step; "
              f"10-env / 1-env cost x{ten['chunk_ms'] / one['chunk_ms']:.2f} per chunk, "
              f"x{ten['step_ms'] / one['step_ms']:.2f} per step")
    return results


def planar_arm_dataset(path: Path, n_links: int = 3, n_demos: int = 200, seed: int = 0) -> None:
    """`n_demos` scripted-expert demos of robokit/PlanarArm<n_links>-v0 with their named items
    (scripts/generate_dataset.py in a subprocess)."""
    script = Path(__file__).with_name("generate_dataset.py")
    subprocess.run([sys.executable, str(script), "--env", f"robokit/PlanarArm{n_links}-v0", "--n-demos", str(n_demos),
                    "--seed", str(seed), "--out", str(path)], check=True, capture_output=True)


def masked_configs(dataset_path: Path, batch_size: int) -> dict:
    """{"unpadded", "masked"}: configs/bc_planar_arms.json for one robot's file, without its robot data specs (the
    file's plain obs keys, every one) and with them (padded keys, the joint mask, padded actions)."""
    from robokit.config import apply_overrides, load_config
    from robokit.data.hdf5_format import obs_specs

    common = ["experiment.validate=false", f"train.batch_size={batch_size}"]
    masked = load_config(CONFIGS / "bc_planar_arms.json")
    apply_overrides(masked, common)
    unpadded = load_config(CONFIGS / "bc_planar_arms.json")
    unpadded.train.input_robot_data_spec, unpadded.train.output_robot_data_spec = {}, {}  # an override merges dicts
    apply_overrides(unpadded, [*common,
                               f"observation.modalities.obs.low_dim={json.dumps(sorted(obs_specs(dataset_path)))}"])
    return {"unpadded": unpadded, "masked": masked}


def bench_masked_train_loop(dataset_path: Path, steps: int, rounds: int, batch_size: int) -> dict:
    """Steps/s of run_epoch (the config's statistics interval) on the padded + masked path against the unpadded
    one, the same network and data; rounds alternate between them (and which side runs first)."""
    from robokit.train.offline import run_epoch

    sides, widths = {}, {}
    for side, config in masked_configs(dataset_path, batch_size).items():
        config, ds, algo, batches = algo_in_training(config, dataset_path)
        every = config.experiment.logging.stats_every_n_steps
        sides[side] = (lambda n, algo=algo, batches=batches, every=every:
                       run_epoch(algo, batches, n, epoch=1, progress=False, stats_every=every))
        widths[side] = {"obs": sum(int(np.prod(s)) for s in ds.obs_key_shapes.values()), "actions": ds.action_dim,
                        "padded_actions": bool(ds.has_padded_actions)}

    def rate(side: str) -> tuple[float, float]:
        """(steps per second of wall-clock time, per second of this process's CPU time)."""
        wall, cpu = time.perf_counter(), time.process_time()
        sides[side](steps)
        return steps / (time.perf_counter() - wall), steps / (time.process_time() - cpu)

    for run in sides.values():  # warm-up
        run(max(steps // 5, 2))
    rates = {"unpadded": [], "masked": []}
    for i in range(rounds):
        for side in (("unpadded", "masked") if i % 2 == 0 else ("masked", "unpadded")):
            rates[side].append(rate(side))
    result = {"batch_size": batch_size, "widths": widths}
    for clock, c in (("wall", 0), ("cpu", 1)):  # CPU time: steadier while other jobs share the cores
        paired = [m[c] / u[c] for m, u in zip(rates["masked"], rates["unpadded"])]  # adjacent runs: robust to drift
        result[clock] = {"masked_steps_per_s": statistics.median(r[c] for r in rates["masked"]),
                         "unpadded_steps_per_s": statistics.median(r[c] for r in rates["unpadded"]),
                         "ratio": statistics.median(paired), "ratio_min": min(paired), "ratio_max": max(paired)}
    return result


def report_masked_train_loop(args) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "planar_arm_3.hdf5"
        planar_arm_dataset(path, 3, args.masked_demos)
        r = bench_masked_train_loop(path, args.masked_steps, args.rounds, args.batch_size)
    w = r["widths"]
    print(f"masked_train_loop  BC (bc_planar_arms.json, 2x256, batch {r['batch_size']}) on planar_arm_3 demos, padded + "
          f"masked (obs {w['masked']['obs']} wide with the joint mask, actions {w['masked']['actions']} wide, masked "
          f"losses) against unpadded (obs {w['unpadded']['obs']}, actions {w['unpadded']['actions']}):")
    for clock, what in (("cpu", "per CPU second"), ("wall", "per wall-clock second")):
        c = r[clock]
        print(f"  {what:<21}: masked {c['masked_steps_per_s']:.1f} steps/s, unpadded {c['unpadded_steps_per_s']:.1f} "
              f"steps/s, ratio masked/unpadded {c['ratio']:.3f} (pairs {c['ratio_min']:.3f}-{c['ratio_max']:.3f}; "
              "target >= 0.95)")
    return r


IMAGE_KEY = "agentview_image"
SECTIONS = ("train_loop", "image_memory", "image_loader", "offline_rl", "evaluation", "precision", "scale",
            "chunk_train_loop", "chunk_inference", "masked_train_loop")


def synthetic_image_dataset(path: Path, n_demos: int = 200, length: int = 50, size: int = 84, seed: int = 0) -> int:
    """A robomimic-layout file with (size, size, 3) uint8 images, a 9-D proprio key and 4-D actions; returns
    the bytes of its image arrays. Images are smooth random fields, written chunked one frame per chunk."""
    from robokit.data import DatasetWriter

    rng = np.random.default_rng(seed)
    env_args = {"env_name": "FetchPush-v4", "type": 2, "env_kwargs": {}}
    coarse = rng.integers(0, 256, (n_demos, 1, size // 12, size // 12, 3), dtype=np.uint8)
    with DatasetWriter(path, env_args=env_args) as writer:
        for i in range(n_demos):
            frames = coarse[i].repeat(12, axis=1).repeat(12, axis=2)  # (1, ~size, ~size, 3)
            images = np.resize(frames, (length, size, size, 3)) + rng.integers(0, 8, (length, 1, 1, 1), np.uint8)
            obs = {IMAGE_KEY: images, "proprio": rng.standard_normal((length, 9)).astype(np.float32)}
            writer.add_episode(obs, rng.uniform(-1, 1, (length, 4)).astype(np.float32),
                               np.zeros(length, np.float32), np.eye(1, length, length - 1)[0])
    return n_demos * length * size * size * 3


def _rss_child(mode: str, path: str, cache_mode: str) -> None:
    """Child process of image_memory: import what loading needs, maybe load, print the peak RSS in bytes."""
    import torch  # noqa: F401

    from robokit.data import SequenceDataset

    if mode == "load":
        dataset = SequenceDataset(path, obs_keys=[IMAGE_KEY, "proprio"], seq_length=10, hdf5_cache_mode=cache_mode)
        dataset.get_batch(np.arange(16))
    print(_own_peak_rss())


def _own_peak_rss() -> int:
    """Peak RSS in bytes of this process image. VmHWM belongs to the address space made at exec; getrusage's
    ru_maxrss would also count the parent's RSS at fork time, which execve keeps."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024  # kB
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports KiB (no /proc elsewhere)


def _peak_rss(mode: str, path: Path, cache_mode: str = "all") -> int:
    out = subprocess.run([sys.executable, __file__, "--rss-child", mode, str(path), cache_mode],
                         capture_output=True, text=True, check=True).stdout
    return int(out.strip().splitlines()[-1])


def bench_image_memory(path: Path, image_bytes: int) -> dict:
    baseline = statistics.median(_peak_rss("import", path) for _ in range(3))
    result = {"baseline": baseline, "image_bytes": image_bytes}
    for cache_mode in ("all", "low_dim"):
        result[cache_mode] = _peak_rss("load", path, cache_mode) - baseline
    return result


def image_bc_rnn_config(backbone: str):
    """BC-RNN on one 84x84 camera + proprio, robomimic's image settings (crop 76, 32 keypoints, 64 features)."""
    from robokit.config import apply_overrides, config_factory

    config = config_factory("bc")
    backbone_kwargs = {"channels": [32, 64], "blocks": 1} if backbone == "ResNetConv" else {}
    apply_overrides(config, [
        "algo.rnn.enabled=true", "algo.rnn.horizon=10", "train.seq_length=10", "train.batch_size=16",
        "experiment.validate=false", f'observation.modalities.obs.rgb=["{IMAGE_KEY}"]',
        'observation.modalities.obs.low_dim=["proprio"]',
        f"observation.encoder.rgb.core_kwargs.backbone_class={backbone}",
        f"observation.encoder.rgb.core_kwargs.backbone_kwargs={json.dumps(backbone_kwargs)}",
        'observation.encoder.rgb.obs_randomizer_class="CropRandomizer"',
        'observation.encoder.rgb.obs_randomizer_kwargs={"crop_height": 76, "crop_width": 76}',
    ])
    return config


def bench_image_loader(path: Path, backbone: str, n_batches: int, n_steps: int, workers: int) -> dict:
    import torch

    from robokit.algo import algo_factory
    from robokit.data import SequenceDataset, make_dataloader

    config = image_bc_rnn_config(backbone)
    result = {}
    for cache_mode in ("all", "low_dim"):
        dataset = SequenceDataset(path, obs_keys=[IMAGE_KEY, "proprio"], seq_length=10, hdf5_cache_mode=cache_mode)
        loader = iter(make_dataloader(dataset, batch_size=16, num_workers=workers, seed=0))
        for _ in range(workers * 2):  # warm-up: workers started, prefetch queues filled
            next(loader)
        start = time.perf_counter()
        for _ in range(n_batches):
            next(loader)
        result[f"loader_{cache_mode}"] = n_batches / (time.perf_counter() - start)
        del loader
    torch.manual_seed(0)
    algo = algo_factory("bc", config, dataset.obs_key_shapes, dataset.action_dim, "cpu")
    algo.set_train()
    batches = [algo.process_batch_for_training(dataset.get_batch(np.arange(i * 16, (i + 1) * 16)))
               for i in range(n_steps + 1)]
    algo.train_on_batch(batches[0], epoch=1)  # warm-up
    start = time.perf_counter()
    for batch in batches[1:]:
        algo.train_on_batch(batch, epoch=1)
    result["train_steps"] = n_steps / (time.perf_counter() - start)
    return result


def report_images(args) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "images.hdf5"
        image_bytes = synthetic_image_dataset(path)
        if "image_memory" in args.only:
            m = bench_image_memory(path, image_bytes)
            mib = 2 ** 20
            print(f"image_memory  200 demos x 50 steps of 84x84x3 uint8 ({image_bytes / mib:.0f} MiB of images), "
                  f"seq_length 10: peak RSS {(m['baseline'] + m['all']) / mib:.0f} MiB, of which "
                  f"{m['baseline'] / mib:.0f} MiB is the imports (torch, h5py) -> loading adds {m['all'] / mib:.0f} MiB, "
                  f"ratio {m['all'] / image_bytes:.2f} (target <= 1.2); hdf5_cache_mode=low_dim adds "
                  f"{m['low_dim'] / mib:.0f} MiB (images read per batch)")
        if "image_loader" in args.only:
            r = bench_image_loader(path, args.image_backbone, args.image_batches, args.image_steps, args.workers)
            verdict = "data-bound" if r["loader_all"] < r["train_steps"] else "compute-bound (the loader keeps up)"
            print(f"image_loader  batch 16 x seq 10 of 84x84 images, {args.workers} workers: loader "
                  f"{r['loader_all']:.1f} batches/s (cache all), {r['loader_low_dim']:.1f} batches/s (cache low_dim, "
                  f"lazy reads); BC-RNN {args.image_backbone} training {r['train_steps']:.2f} steps/s -> {verdict}")


# offline RL variants: name -> (registered algorithm, overrides of its default config)
OFFLINE_ALGOS = {
    "bcq": ("bcq", []),
    "bcq_gmm": ("bcq", ["algo.action_sampler.vae.enabled=false", "algo.action_sampler.gmm.enabled=true"]),
    "bcq_distributional": ("bcq", ["algo.critic.distributional.enabled=true", "algo.critic.value_bounds=[-100,0]"]),
    "cql": ("cql", []),
    "iql": ("iql", []),
    "td3_bc": ("td3_bc", []),
    "gl": ("gl", []),
    "hbc": ("hbc", []),
    "iris": ("iris", []),
}


def bench_offline_rl(dataset_path: Path, names: list[str], steps: int, rounds: int, batch_size: int) -> list[dict]:
    """Iterations/s of each variant's train_on_batch (+ log_info) on one fixed batch, against BC's."""
    import torch

    from robokit.algo import algo_factory
    from robokit.config import apply_overrides, config_factory
    from robokit.train.offline import load_datasets

    indices = None

    def step_fn(algo_name: str, overrides: list[str]):
        nonlocal indices
        config = config_factory(algo_name)
        apply_overrides(config, [*overrides, f"train.batch_size={batch_size}", "experiment.validate=false"])
        torch.manual_seed(0)
        dataset, _ = load_datasets(config, dataset_path)
        if indices is None:  # the same samples for every algorithm (windows start at the same steps)
            indices = np.random.default_rng(0).choice(len(dataset), batch_size, replace=False)
        algo = algo_factory(algo_name, config, dataset.obs_key_shapes, dataset.action_dim, "cpu")
        algo.set_train()
        batch = algo.process_batch_for_training(dataset.get_batch(indices))

        def run(n: int) -> float:
            start = time.perf_counter()
            for _ in range(n):
                algo.log_info(algo.train_on_batch(batch, epoch=1))
            return n / (time.perf_counter() - start)

        run(3)  # warm-up
        return run

    bc = step_fn("bc", [])
    results = []
    for name in names:
        other = step_fn(*OFFLINE_ALGOS[name])
        bc_rates, rates = [], []
        for _ in range(rounds):
            bc_rates.append(bc(steps))
            rates.append(other(steps))
        bc_med, med = statistics.median(bc_rates), statistics.median(rates)
        results.append({"algo": name, "bc_its": bc_med, "its": med, "ratio": med / bc_med})
    return results


def report_offline_rl(args) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench_rl.hdf5"
        synthetic_dataset(path, n_demos=50, with_next_obs=True)
        results = bench_offline_rl(path, args.offline_algos, args.offline_steps, args.rounds, args.batch_size)
    print(f"offline_rl  iterations/s on one batch of {args.batch_size}, default configs, ratio to BC (2x1024 MLP):")
    for r in results:
        print(f"  {r['algo']:<20} {r['its']:8.1f} it/s   BC {r['bc_its']:8.1f} it/s   ratio {r['ratio']:.3f}")


def eval_policy(env, image: bool):
    """An untrained BC policy (RolloutPolicy) for `env`'s observations: an MLP on the low-dim keys, or with
    `image` a small ResNet on the camera plus the low-dim keys. Speed does not depend on training."""
    import torch

    from robokit.algo import RolloutPolicy, algo_factory
    from robokit.config import apply_overrides, config_factory

    shapes = {k: tuple(space.shape) for k, space in env.observation_space.spaces.items()}
    low_dim = [k for k in shapes if len(shapes[k]) == 1]
    config = config_factory("bc")
    overrides = [f"observation.modalities.obs.low_dim={json.dumps(low_dim)}"]
    if image:
        overrides += [f'observation.modalities.obs.rgb={json.dumps([k for k in shapes if len(shapes[k]) == 3])}',
                      "observation.encoder.rgb.core_kwargs.backbone_class=ResNetConv",
                      'observation.encoder.rgb.core_kwargs.backbone_kwargs={"channels": [32, 64], "blocks": 1}']
    apply_overrides(config, overrides)
    torch.manual_seed(0)
    algo = algo_factory("bc", config, {k: shapes[k] for k in config.all_obs_keys}, env.action_dim, "cpu")
    return RolloutPolicy(algo)


def bench_evaluation(image: bool, n: int, horizon: int, num_envs: int) -> dict:
    """Episodes/s of rollout_with_stats: one env after another, `num_envs` envs with batched inference in this
    process, and the same with each env in its own process (async). Episodes run to the horizon."""
    from robokit.envs import create_envs
    from robokit.train.rollouts import rollout_with_stats

    env_kwargs = {"camera_names": ["external_camera_0"], "camera_size": 84} if image else {}
    env_args = {"env_name": "FetchPush-v4", "type": 2, "env_kwargs": env_kwargs}
    result = {}
    for label, k, mode in (("sequential", 1, "sync"), ("batched", num_envs, "sync"),
                           ("batched_async", num_envs, "async")):
        envs = create_envs(env_args, k, mode)
        try:
            policy = eval_policy(envs[0], image)
            rollout_with_stats(policy, envs, k, 2, progress=False)  # warm-up (renderers, worker imports)
            start = time.perf_counter()
            rollout_with_stats(policy, envs, n, horizon, terminate_on_success=False, progress=False)
            result[label] = n / (time.perf_counter() - start)
        finally:
            for env in envs:
                env.close()
    return result


def report_evaluation(args) -> None:
    for image in (False, True):
        n, horizon = (args.eval_episodes // 2, 25) if image else (args.eval_episodes, 50)
        r = bench_evaluation(image, n, horizon, args.eval_envs)
        what = "84x84 camera + state, small ResNet BC" if image else "state, MLP BC"
        print(f"evaluation  FetchPush-v4 {what}, {n} episodes x {horizon} steps: sequential "
              f"{r['sequential']:.2f} ep/s, {args.eval_envs} envs batched {r['batched']:.2f} ep/s "
              f"(x{r['batched'] / r['sequential']:.2f}), batched + async {r['batched_async']:.2f} ep/s "
              f"(x{r['batched_async'] / r['sequential']:.2f})")


PRECISION_ALGOS = ("sac", "td3")


def bench_precision(names: list[str], steps: int, rounds: int) -> list[dict]:
    """ms per train_on_batch of each online algorithm (default config) in float32 and with
    `train.mixed_precision=bf16`, on one thread."""
    import torch

    from robokit.algo import algo_factory
    from robokit.config import apply_overrides, config_factory
    from robokit.train.precision import gradient_step_precision
    from robokit.utils import batch_keys as K

    obs_dim, ac_dim = 17, 6  # HalfCheetah-v5

    def step_fn(name: str, mode: str):
        config = config_factory(name)
        apply_overrides(config, ['observation.modalities.obs.low_dim=["flat"]'])
        torch.manual_seed(0)
        algo = algo_factory(name, config, {"flat": (obs_dim,)}, ac_dim, "cpu")
        algo.set_train()
        b = config.train.batch_size
        batches = [{K.OBS: {"flat": torch.randn(b, obs_dim)}, K.NEXT_OBS: {"flat": torch.randn(b, obs_dim)},
                    K.ACTIONS: torch.rand(b, ac_dim) * 2 - 1, K.REWARDS: torch.randn(b), K.DONES: torch.zeros(b)}
                   for _ in range(8)]
        device = torch.device("cpu")

        def run(n: int) -> float:
            start = time.perf_counter()
            for i in range(n):
                with gradient_step_precision(mode, device):
                    algo.train_on_batch(batches[i % len(batches)], epoch=1)
            return (time.perf_counter() - start) / n * 1e3

        run(10)  # warm-up (oneDNN builds its kernels on first use)
        return run, b

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        results = []
        for name in names:
            (fp32, batch_size), (bf16, _) = step_fn(name, "off"), step_fn(name, "bf16")
            fp32_ms, bf16_ms = [], []
            for _ in range(rounds):
                fp32_ms.append(fp32(steps))
                bf16_ms.append(bf16(steps))
            ratios = [f / b for f, b in zip(fp32_ms, bf16_ms)]
            results.append({"algo": name, "batch_size": batch_size, "fp32_ms": statistics.median(fp32_ms),
                            "bf16_ms": statistics.median(bf16_ms), "speedup": statistics.median(ratios),
                            "speedup_min": min(ratios), "speedup_max": max(ratios)})
        return results
    finally:
        torch.set_num_threads(threads)


def report_precision(args) -> list[dict]:
    results = bench_precision(args.precision_algos, args.precision_steps, args.rounds)
    print("precision   ms per gradient step, default configs, 17-dim obs, 6-dim actions, one thread:")
    for r in results:
        print(f"  {r['algo']:<6} batch {r['batch_size']}: float32 {r['fp32_ms']:.2f} ms, bf16 {r['bf16_ms']:.2f} ms, "
              f"bf16 speed-up x{r['speedup']:.2f} (rounds x{r['speedup_min']:.2f}-x{r['speedup_max']:.2f})")
    return results


def bench_memory_monitor(dataset_path: Path, steps: int, rounds: int, batch_size: int) -> dict:
    """Steps/s of run_epoch with the memory monitor against without, rounds alternating."""
    from robokit.train.memory import MemoryMonitor
    from robokit.train.offline import run_epoch

    config, train_ds, algo, batches = bc_in_training(dataset_path, batch_size)
    every = config.experiment.memory.every_n_steps
    monitor = MemoryMonitor(config.experiment.memory.max_fraction, every)

    def rate(with_monitor: bool) -> float:
        start = time.perf_counter()
        run_epoch(algo, batches, steps, epoch=1, progress=False, monitor=monitor if with_monitor else None)
        return steps / (time.perf_counter() - start)

    rate(True), rate(False)  # warm-up
    pairs = []
    for i in range(rounds):  # which side runs first alternates too: no order bias
        if i % 2:
            on, off = rate(True), rate(False)
        else:
            off, on = rate(False), rate(True)
        pairs.append(on / off)
    return {"every": every, "ratio": statistics.median(pairs), "min": min(pairs), "max": max(pairs)}


def bench_ddp(dataset_path: Path, steps: int, epochs: int, batch_size: int) -> dict:
    """Steps/s (rank 0's, per epoch after the first) of train.py: 2 gloo ranks x batch B against 1 x 2B."""
    from robokit.train.tb_events import read_scalars

    script = str(Path(__file__).with_name("train.py"))
    common = ["--config", str(Path(__file__).parents[1] / "configs" / "bc.json"), "--dataset", str(dataset_path),
              "--no-progress", "--set", f"train.num_epochs={epochs}", f"experiment.epoch_every_n_steps={steps}",
              "experiment.validate=false", "experiment.rollout.enabled=false", "experiment.save.enabled=false"]
    rates = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, launcher, batch in (("1 process", [sys.executable], 2 * batch_size),
                                      ("2 ranks", [str(Path(sys.executable).with_name("torchrun")),
                                                   "--standalone", "--nproc_per_node", "2"], batch_size)):
            out = Path(tmp) / name.replace(" ", "_")
            subprocess.run([*launcher, script, "--output", str(out), *common, f"train.batch_size={batch}"],
                           check=True, capture_output=True)
            (run,) = out.glob("*/*")
            per_epoch = [v for _, v in read_scalars(run / "logs" / "tb")["Train/Steps_per_second"]][1:]
            rates[name] = statistics.median(per_epoch)
    return {"single": rates["1 process"], "ddp": rates["2 ranks"], "ratio": rates["2 ranks"] / rates["1 process"]}


def report_scale(args) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.hdf5"
        synthetic_dataset(path)
        m = bench_memory_monitor(path, args.steps, args.rounds, args.batch_size)
        print(f"scale       memory monitor (a reading every {m['every']} steps) {config_summary(args)}: steps/s ratio "
              f"with/without {m['ratio']:.3f} (pairs {m['min']:.3f}-{m['max']:.3f}; target >= 0.99)")
        d = bench_ddp(path, args.steps, args.scale_epochs, args.batch_size // 2)
        print(f"            DDP, global batch {args.batch_size // 2 * 2}: 2 gloo ranks {d['ddp']:.1f} steps/s against "
              f"1 process {d['single']:.1f} steps/s, ratio {d['ratio']:.3f} (on a CPU the ranks share its cores, "
              "each with one thread under torchrun)")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=200, help="gradient steps per timed round")
    parser.add_argument("--rounds", type=int, default=5, help="alternating timed rounds per side")
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--only", nargs="+", choices=SECTIONS, default=list(SECTIONS), help="sections to run")
    parser.add_argument("--image-backbone", choices=["ResNet18Conv", "ResNetConv"], default="ResNet18Conv",
                        help="image encoder of image_loader's training steps")
    parser.add_argument("--image-batches", type=int, default=50, help="loader batches timed by image_loader")
    parser.add_argument("--image-steps", type=int, default=3, help="training steps timed by image_loader")
    parser.add_argument("--workers", type=int, default=2, help="DataLoader worker processes of image_loader")
    parser.add_argument("--offline-algos", nargs="+", choices=list(OFFLINE_ALGOS), default=list(OFFLINE_ALGOS),
                        help="variants timed by offline_rl")
    parser.add_argument("--offline-steps", type=int, default=20, help="iterations per timed round of offline_rl")
    parser.add_argument("--eval-episodes", type=int, default=40, help="episodes timed by evaluation")
    parser.add_argument("--eval-envs", type=int, default=10, help="envs stepped together by evaluation")
    parser.add_argument("--precision-algos", nargs="+", choices=PRECISION_ALGOS, default=list(PRECISION_ALGOS),
                        help="online algorithms timed by precision")
    parser.add_argument("--precision-steps", type=int, default=300, help="gradient steps per timed round of precision")
    parser.add_argument("--scale-epochs", type=int, default=4, help="epochs of --steps steps per run of scale's DDP")
    parser.add_argument("--chunk-policies", nargs="+", choices=list(CHUNK_POLICIES), default=list(CHUNK_POLICIES),
                        help="policies timed by chunk_train_loop")
    parser.add_argument("--chunk-steps", type=int, default=40,
                        help="gradient steps per timed round of chunk_train_loop")
    parser.add_argument("--inference-variants", nargs="+", choices=list(INFERENCE_VARIANTS),
                        default=list(INFERENCE_VARIANTS), help="samplers / policies timed by chunk_inference")
    parser.add_argument("--inference-chunks", type=int, default=10,
                        help="chunks timed per env count by chunk_inference")
    parser.add_argument("--masked-steps", type=int, default=300,
                        help="gradient steps per timed round of masked_train_loop")
    parser.add_argument("--masked-demos", type=int, default=200, help="planar_arm_3 demos of masked_train_loop")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch CPU threads (default: torch's); 1 gives steadier figures on a shared machine")
    parser.add_argument("--json", type=Path, default=None,
                        help="also write the figures of the sections that return them (chunk_*, ...) to this file")
    parser.add_argument("--png", type=Path, default=None,
                        help="also draw the precision section's timings as bar charts here")
    parser.add_argument("--rss-child", nargs=3, help=argparse.SUPPRESS)  # internal: image_memory's subprocess
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    if args.rss_child:
        return _rss_child(*args.rss_child)
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, CPU")
    figures = {}  # section -> its figures, for --json
    if "train_loop" in args.only:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "bench.hdf5"
            synthetic_dataset(path)
            r = figures["train_loop"] = bench_train_loop(path, args.steps, args.rounds, args.batch_size)
        bare, default, every_step = r["bare"], r["robokit"], r["robokit_every_step"]
        print(f"train_loop  BC MLP {config_summary(args)}: robokit {default['steps_per_s']:.1f} steps/s, "
              f"bare PyTorch {bare['steps_per_s']:.1f} steps/s, ratio {default['ratio']:.3f} "
              f"(pairs {default['ratio_min']:.3f}-{default['ratio_max']:.3f}; target >= 0.9)")
        print(f"            with training statistics measured every {r['stats_every']} steps (the default); "
              f"on every step, as robomimic: ratio {every_step['ratio']:.3f} "
              f"(pairs {every_step['ratio_min']:.3f}-{every_step['ratio_max']:.3f})")
    if {"image_memory", "image_loader"} & set(args.only):
        report_images(args)
    if "offline_rl" in args.only:
        report_offline_rl(args)
    if "evaluation" in args.only:
        report_evaluation(args)
    if "precision" in args.only:
        precision = figures["precision"] = report_precision(args)
        if args.png is not None:
            from robokit.train.plots import bar_chart

            chart = {r["algo"]: {"float32 ms/step": [r["fp32_ms"]], "bf16 ms/step": [r["bf16_ms"]],
                                 "bf16 speed-up": [r["speedup"]]} for r in precision}
            print(f"chart: {bar_chart(chart, args.png, title='precision: ms per gradient step')}")
    if "scale" in args.only:
        report_scale(args)
    if "chunk_train_loop" in args.only:
        figures["chunk_train_loop"] = report_chunk_train_loop(args)
    if "chunk_inference" in args.only:
        figures["chunk_inference"] = report_chunk_inference(args)
    if "masked_train_loop" in args.only:
        figures["masked_train_loop"] = report_masked_train_loop(args)
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(figures, indent=1))


def config_summary(args) -> str:
    return f"(batch {args.batch_size}, 2x1024 hidden, Adam)"


if __name__ == "__main__":
    run_script(main)
