"""Evaluation rollouts of a RolloutPolicy in one EnvBase, or in several stepped together with batched inference,
with optional video and episode recording."""

import time
from pathlib import Path

import imageio
import numpy as np
from tqdm import tqdm


class EpisodeRecorder:
    """Collects one episode's obs / actions / rewards / dones / next_obs / states as arrays."""

    def __init__(self):
        self.steps: list[tuple] = []

    def add(self, obs: dict, action, reward, done, next_obs: dict, state=None) -> None:
        self.steps.append((obs, np.asarray(action), float(reward), int(done), next_obs, state))

    def episode(self) -> dict:
        """Arrays with a leading time axis T: obs/next_obs dicts of (T, ...), actions (T, A), rewards, dones (T,)."""
        obs, actions, rewards, dones, next_obs, states = zip(*self.steps)
        episode = {
            "obs": {k: np.stack([o[k] for o in obs]) for k in obs[0]},
            "next_obs": {k: np.stack([o[k] for o in next_obs]) for k in next_obs[0]},
            "actions": np.stack(actions).astype(np.float32),
            "rewards": np.asarray(rewards, dtype=np.float32),
            "dones": np.asarray(dones, dtype=np.int64),
        }
        if states[0] is not None:
            episode["states"] = np.stack(states)
        return episode


def run_rollout(policy, env, horizon: int, terminate_on_success: bool = True, seed: int | None = None,
                video_writer=None, video_skip: int = 5, video_size: int = 256,
                recorder: EpisodeRecorder | None = None) -> dict:
    """One episode; returns {"Return", "Horizon", "Success_Rate"} (success is 0.0 or 1.0)."""
    return run_batched_rollouts(policy, [env], [seed], horizon, terminate_on_success, video_writer, video_skip,
                                video_size, None if recorder is None else [recorder])[0]


def run_batched_rollouts(policy, envs: list, seeds: list, horizon: int, terminate_on_success: bool = True,
                         video_writer=None, video_skip: int = 5, video_size: int = 256,
                         recorders: list | None = None) -> list[dict]:
    """One episode in each of the first len(seeds) envs at once (one env: a plain episode); returns a result
    dict per episode.

    Each step stacks the observations of the envs into one batch {k: (N, *shape)}, so the policy runs once
    per step for all of them. An env whose episode has ended stays in the batch (its last observation is
    repeated, so batch-shaped policy state such as an RNN's is unchanged) but is no longer stepped. The
    video shows env 0.
    """
    envs = envs[:len(seeds)]
    n = len(envs)
    policy.start_episode()
    obs = [env.reset(seed=seed) for env, seed in zip(envs, seeds)]
    needs_goal = bool(policy.policy.goal_shapes)
    if needs_goal and not all(hasattr(env, "get_goal") for env in envs):
        raise ValueError("this policy is goal-conditioned but the environment has no get_goal()")
    active = np.ones(n, dtype=bool)
    returns, successes, lengths = np.zeros(n), np.zeros(n, dtype=bool), np.zeros(n, dtype=np.int64)
    for step in range(1, horizon + 1):
        batch = {k: np.stack([o[k] for o in obs]) for k in obs[0]}  # {k: (N, *shape)}
        goal = None
        if needs_goal:
            goals = [env.get_goal() for env in envs]
            goal = {k: np.stack([g[k] for g in goals]) for k in goals[0]}
        actions = policy(batch, goal=goal)  # (N, A)
        stepping = np.flatnonzero(active)
        states = {i: envs[i].get_state() for i in stepping} if recorders is not None else {}
        for i in stepping:  # envs in their own processes (SubprocessEnv) step in parallel
            if hasattr(envs[i], "step_async"):
                envs[i].step_async(actions[i])
        for i in stepping:
            env = envs[i]
            step_result = env.step_wait() if hasattr(env, "step_async") else env.step(actions[i])
            next_obs, reward, terminated, truncated, _ = step_result
            returns[i] += float(reward)
            successes[i] = successes[i] or env.is_success()
            lengths[i] = step
            if video_writer is not None and i == 0 and (step - 1) % video_skip == 0:
                video_writer.append_data(env.render(height=video_size, width=video_size))
            done = terminated or truncated or (terminate_on_success and successes[i])
            if recorders is not None:
                recorders[i].add(obs[i], actions[i], reward, done or step == horizon, next_obs, states[i])
            obs[i] = next_obs
            active[i] = not done
        if not active.any():
            break
    return [{"Return": float(returns[i]), "Horizon": int(lengths[i]), "Success_Rate": float(successes[i])}
            for i in range(n)]


def rollout_with_stats(policy, env, n: int, horizon: int, terminate_on_success: bool = True, seed: int | None = 0,
                       video_path: str | Path | None = None, video_skip: int = 5, video_fps: int = 20,
                       video_size: int = 256, progress: bool = True, episode_callback=None) -> dict:
    """`n` episodes (episode i seeded with seed + i); returns the means of Return, Horizon and Success_Rate,
    plus "Num_Success", "Num_Episodes", "Time_Episode" (s) and the per-episode results under "episodes".

    `env` is one EnvBase (episodes one after another), or a list of K of them: episodes then run K at a time
    with one batched policy call per step (`experiment.rollout.num_envs`). Episode i has the same seed
    either way. `episode_callback(recorder.episode())` receives each episode's arrays when given.
    """
    envs = list(env) if isinstance(env, (list, tuple)) else [env]
    writer = None
    if video_path is not None:
        Path(video_path).parent.mkdir(parents=True, exist_ok=True)
        writer = imageio.get_writer(str(video_path), fps=video_fps)
    results = []
    start = time.perf_counter()
    try:
        bar = tqdm(total=n, desc="rollouts", unit="ep", leave=False, disable=not progress)
        while len(results) < n:
            first = len(results)
            count = min(len(envs), n - first)
            seeds = [None if seed is None else seed + first + j for j in range(count)]
            recorders = [EpisodeRecorder() for _ in range(count)] if episode_callback is not None else None
            results.extend(run_batched_rollouts(policy, envs, seeds, horizon, terminate_on_success, writer,
                                                video_skip, video_size, recorders))
            for recorder in recorders or []:
                episode_callback(recorder.episode())
            bar.update(count)
            bar.set_postfix(success=f"{np.mean([r['Success_Rate'] for r in results]):.2f}")
        bar.close()
    finally:
        if writer is not None:
            writer.close()
    elapsed = time.perf_counter() - start
    summary = {key: float(np.mean([r[key] for r in results])) for key in ("Return", "Horizon", "Success_Rate")}
    summary.update(
        Num_Success=int(sum(r["Success_Rate"] for r in results)),
        Num_Episodes=n,
        Time_Episode=elapsed / max(n, 1),
        episodes=results,
    )
    return summary
