"""Evaluation rollouts of a RolloutPolicy in one EnvBase, or in several stepped together with batched inference,
with optional video and episode recording."""

import time
from pathlib import Path

import imageio
import numpy as np
from tqdm import tqdm

from robokit.errors import ConfigError


class EpisodeRecorder:
    """Collects one episode's obs / actions / rewards / dones / next_obs / states as arrays, and its instruction."""

    def __init__(self):
        self.steps: list[tuple] = []
        self.lang: str | None = None  # the episode's language instruction, when it had one

    def add(self, obs: dict, action, reward, done, next_obs: dict, state=None) -> None:
        self.steps.append((obs, np.asarray(action), float(reward), int(done), next_obs, state))

    def episode(self) -> dict:
        """Arrays with a leading time axis T: obs/next_obs dicts of (T, ...), actions (T, A), rewards, dones (T,);
        "lang" (str) only when the episode had an instruction (DatasetWriter.add_episode's keywords)."""
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
        if self.lang is not None:
            episode["lang"] = self.lang
        return episode


def run_rollout(policy, env, horizon: int, terminate_on_success: bool = True, seed: int | None = None,
                video_writer=None, video_skip: int = 5, video_size: int = 256,
                recorder: EpisodeRecorder | None = None) -> dict:
    """One episode; returns {"Return", "Horizon", "Success_Rate"} (success is 0.0 or 1.0)."""
    return run_batched_rollouts(policy, [env], [seed], horizon, terminate_on_success, video_writer, video_skip,
                                video_size, None if recorder is None else [recorder])[0]


def run_batched_rollouts(policy, envs: list, seeds: list, horizon: int, terminate_on_success: bool = True,
                         video_writer=None, video_skip: int = 5, video_size: int = 256,
                         recorders: list | None = None, on_episode_end=None, lang: str | None = None) -> list[dict]:
    """One episode per seed (episode j seeded with seeds[j]) in up to len(envs) envs stepped together; returns a
    result dict per episode, in the order of `seeds`.

    Each step stacks the observations of the envs into one batch {k: (N, *shape)}, so the policy runs once
    per step for all of them. When an env's episode ends it starts the next episode that has not started yet
    right away (`policy.start_episode(env_mask)` resets that env's frame history, action queue and, where the
    algorithm supports it, its state), so envs whose episodes end at different times all stay busy. A policy
    that keeps state it cannot reset per env (`policy.supports_env_reset` False) runs the episodes in groups
    of len(envs) instead, all envs of a group starting together. An env with no episode left stays in the
    batch (its last observation is repeated, so batch-shaped policy state is unchanged) but is not stepped.
    `recorders[j]` records episode j; `on_episode_end(j, result)` is called as each episode ends. The video
    shows env 0's episodes. A language-conditioned policy (`policy.needs_lang`) gets each episode's instruction
    from its env (`env.get_lang()`), or `lang` for every episode when given. A recorder keeps the episode's
    instruction (`recorder.lang`): the one the policy was given, else the env's, else None.
    """
    n_episodes = len(seeds)
    if n_episodes == 0:
        return []
    refill = len(envs) < n_episodes and getattr(policy, "supports_env_reset", False)
    results: list[dict | None] = [None] * n_episodes
    next_episode = 0
    needs_goal = bool(policy.policy.goal_shapes)
    needs_lang = bool(getattr(policy, "needs_lang", False))  # the instruction comes from each env's episode
    if needs_goal and not all(hasattr(env, "get_goal") for env in envs):
        raise ValueError("this policy is goal-conditioned but the environment has no get_goal()")

    def instruction(env) -> str | None:
        """The instruction of the episode `env` just started: `lang` for a language policy, else the env's own;
        a language policy in an env that poses none is a ConfigError."""
        text = lang if needs_lang and lang else (env.get_lang() if hasattr(env, "get_lang") else None)
        if needs_lang and text is None:
            raise ConfigError(f"this policy is language-conditioned but {env.name} poses no instruction "
                              "(EnvBase.get_lang() is None); fix: give one (run_trained_agent.py --lang \"...\") "
                              "or evaluate it in a language task")
        return text

    while next_episode < n_episodes:  # one group (all episodes at once when refilling)
        group = envs[:min(len(envs), n_episodes - next_episode)]
        n = len(group)
        episode = np.arange(next_episode, next_episode + n)  # (n,) the episode each env runs; -1: none left
        next_episode += n
        policy.start_episode()
        obs = [env.reset(seed=seeds[j]) for env, j in zip(group, episode)]
        langs = [instruction(env) for env in group] if needs_lang or recorders is not None else None
        if recorders is not None:
            for i, j in enumerate(episode):
                recorders[j].lang = langs[i]
        active = np.ones(n, dtype=bool)
        returns, successes, lengths = np.zeros(n), np.zeros(n, dtype=bool), np.zeros(n, dtype=np.int64)
        while active.any():
            batch = {k: np.stack([o[k] for o in obs]) for k in obs[0]}  # {k: (N, *shape)}
            goal = None
            if needs_goal:
                goals = [env.get_goal() for env in group]
                goal = {k: np.stack([g[k] for g in goals]) for k in goals[0]}
            if hasattr(policy, "set_active_envs"):  # idle envs need no new plans
                policy.set_active_envs(active)
            if needs_lang:
                actions = policy(batch, goal=goal, lang=langs)  # (N, A)
            else:
                actions = policy(batch, goal=goal)  # (N, A)
            stepping = np.flatnonzero(active)
            states = {i: group[i].get_state() for i in stepping} if recorders is not None else {}
            for i in stepping:  # envs in their own processes (SubprocessEnv) step in parallel
                if hasattr(group[i], "step_async"):
                    group[i].step_async(actions[i])
            restarted = np.zeros(n, dtype=bool)
            for i in stepping:
                env = group[i]
                step_result = env.step_wait() if hasattr(env, "step_async") else env.step(actions[i])
                next_obs, reward, terminated, truncated, _ = step_result
                returns[i] += float(reward)
                successes[i] = successes[i] or env.is_success()
                lengths[i] += 1
                if video_writer is not None and i == 0 and (lengths[i] - 1) % video_skip == 0:
                    video_writer.append_data(env.render(height=video_size, width=video_size))
                done = terminated or truncated or (terminate_on_success and successes[i]) or lengths[i] == horizon
                if recorders is not None:
                    recorders[episode[i]].add(obs[i], actions[i], reward, done, next_obs, states[i])
                obs[i] = next_obs
                if not done:
                    continue
                j = int(episode[i])
                results[j] = {"Return": float(returns[i]), "Horizon": int(lengths[i]),
                              "Success_Rate": float(successes[i])}
                if on_episode_end is not None:
                    on_episode_end(j, results[j])
                if refill and next_episode < n_episodes:  # this env starts the next episode now
                    episode[i] = next_episode
                    next_episode += 1
                    obs[i] = env.reset(seed=seeds[episode[i]])
                    if langs is not None:
                        langs[i] = instruction(env)
                    if recorders is not None:
                        recorders[episode[i]].lang = langs[i]
                    returns[i], successes[i], lengths[i] = 0.0, False, 0
                    restarted[i] = True
                else:
                    active[i] = False
            if restarted.any():
                policy.start_episode(env_mask=restarted)
    return results


def rollout_with_stats(policy, env, n: int, horizon: int, terminate_on_success: bool = True, seed: int | None = 0,
                       video_path: str | Path | None = None, video_skip: int = 5, video_fps: int = 20,
                       video_size: int = 256, progress: bool = True, episode_callback=None,
                       lang: str | None = None) -> dict:
    """`n` episodes (episode i seeded with seed + i); returns the means of Return, Horizon and Success_Rate,
    plus "Num_Success", "Num_Episodes", "Time_Episode" (s) and the per-episode results under "episodes".

    `env` is one EnvBase (episodes one after another), or a list of K of them: K episodes then run at a time
    with one batched policy call per step (`experiment.rollout.num_envs`), an env starting the next episode as
    soon as its own ends. Episode i has the same seed either way. `episode_callback(recorder.episode())`
    receives each episode's arrays, in episode order, when given. `lang`: the instruction of every episode for a
    language-conditioned policy (default: each env's own, `env.get_lang()`).
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
        seeds = [None if seed is None else seed + j for j in range(n)]
        recorders = [EpisodeRecorder() for _ in range(n)] if episode_callback is not None else None
        done = np.zeros(n, dtype=bool)
        successes = []
        flushed = 0  # episodes handed to episode_callback, in episode order

        def on_episode_end(j: int, result: dict) -> None:
            nonlocal flushed
            done[j] = True
            successes.append(result["Success_Rate"])
            bar.update(1)
            bar.set_postfix(success=f"{np.mean(successes):.2f}")
            while recorders is not None and flushed < n and done[flushed]:
                episode_callback(recorders[flushed].episode())
                recorders[flushed] = None  # free its arrays
                flushed += 1

        results = run_batched_rollouts(policy, envs, seeds, horizon, terminate_on_success, writer, video_skip,
                                       video_size, recorders, on_episode_end, lang)
        bar.close()
    finally:
        if writer is not None:
            try:
                writer.close()
            except OSError:  # e.g. a full disk: no half-written video is left behind
                Path(video_path).unlink(missing_ok=True)
                raise
    elapsed = time.perf_counter() - start
    summary = {key: float(np.mean([r[key] for r in results])) for key in ("Return", "Horizon", "Success_Rate")}
    summary.update(
        Num_Success=int(sum(r["Success_Rate"] for r in results)),
        Num_Episodes=n,
        Time_Episode=elapsed / max(n, 1),
        episodes=results,
    )
    return summary
