"""Evaluation rollouts of a RolloutPolicy in an EnvBase, with optional video and episode recording."""

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
    policy.start_episode()
    obs = env.reset(seed=seed)
    needs_goal = bool(policy.policy.goal_shapes)
    if needs_goal and not hasattr(env, "get_goal"):
        raise ValueError("this policy is goal-conditioned but the environment has no get_goal()")
    total_return, success, steps = 0.0, False, 0
    for steps in range(1, horizon + 1):
        state = env.get_state() if recorder is not None else None
        action = policy(obs, goal=env.get_goal() if needs_goal else None)
        next_obs, reward, terminated, truncated, _ = env.step(action)
        total_return += float(reward)
        success = success or env.is_success()
        if video_writer is not None and (steps - 1) % video_skip == 0:
            video_writer.append_data(env.render(height=video_size, width=video_size))
        done = terminated or truncated or (terminate_on_success and success)
        if recorder is not None:
            recorder.add(obs, action, reward, done or steps == horizon, next_obs, state)
        obs = next_obs
        if done:
            break
    return {"Return": total_return, "Horizon": steps, "Success_Rate": float(success)}


def rollout_with_stats(policy, env, n: int, horizon: int, terminate_on_success: bool = True, seed: int | None = 0,
                       video_path: str | Path | None = None, video_skip: int = 5, video_fps: int = 20, video_size: int = 256,
                       progress: bool = True, episode_callback=None) -> dict:
    """`n` episodes (episode i seeded with seed + i); returns the means of Return, Horizon and Success_Rate,
    plus "Num_Success", "Num_Episodes", "Time_Episode" (s) and the per-episode results under "episodes".

    `episode_callback(recorder.episode())` receives each episode's arrays when given.
    """
    writer = None
    if video_path is not None:
        Path(video_path).parent.mkdir(parents=True, exist_ok=True)
        writer = imageio.get_writer(str(video_path), fps=video_fps)
    results = []
    start = time.perf_counter()
    try:
        bar = tqdm(range(n), desc="rollouts", unit="ep", leave=False, disable=not progress)
        for i in bar:
            recorder = EpisodeRecorder() if episode_callback is not None else None
            ep_seed = None if seed is None else seed + i
            results.append(run_rollout(policy, env, horizon, terminate_on_success, ep_seed, writer, video_skip,
                                       video_size, recorder=recorder))
            if recorder is not None:
                episode_callback(recorder.episode())
            bar.set_postfix(success=f"{np.mean([r['Success_Rate'] for r in results]):.2f}")
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
