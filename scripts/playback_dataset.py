#!/usr/bin/env python
"""Play demonstrations of a dataset back into an MP4: simulator states, actions, or stored camera images.

    # restore each step's stored simulator state and render it (needs `states`)
    python scripts/playback_dataset.py --dataset D.hdf5 --video_path playback.mp4 --n 5
    # re-execute the stored actions from the demo's reset seed, and check they reproduce the stored states
    python scripts/playback_dataset.py --dataset D.hdf5 --video_path replay.mp4 --use-actions
    # show the image observations stored in the dataset (no simulator)
    python scripts/playback_dataset.py --dataset D.hdf5 --video_path obs.mp4 --use-obs \\
        --render_image_names external_camera_0_image

--render_image_names names cameras to render side by side ("default" is the env's viewer camera; Fetch models
also have external_camera_0, head_camera_rgb, gripper_camera_rgb), or with --use-obs, image observation keys
(default: every image key of the dataset). --render_depth_names adds the depth images of cameras (grey, near is
dark, 2.55 m and farther white), or with --use-obs, depth observation keys. Demos are played in order; --n keeps the first n, --first shows
only each demo's first frame. An episode is reset with the demo's `seed` attribute when it has one (so Fetch
goals match), otherwise from its first stored state.

robosuite datasets (robomimic's, or robokit's; env_args type 1, needs the robosuite extra): each demo's MJCF model
(its `model_file` attribute) is loaded with its first state, as robomimic's playback does; "default" renders
robomimic's default camera (agentview), and the model's cameras (agentview, robot0_eye_in_hand, frontview,
birdview, sideview, ...) can be named:

    python scripts/playback_dataset.py --dataset lift.hdf5 --video_path lift.mp4 --n 2 \
        --render_image_names agentview robot0_eye_in_hand
"""

import argparse
from pathlib import Path

import numpy as np

from robokit.utils.cli import run_script


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", required=True, help="HDF5 dataset to play back")
    parser.add_argument("--filter_key", default=None, help="only the demos of this mask (e.g. valid)")
    parser.add_argument("--n", type=int, default=None, help="play the first n demos (default: all)")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--use-actions", "--use_actions", dest="use_actions", action="store_true",
                      help="step the env with the stored actions instead of restoring states")
    mode.add_argument("--use-obs", "--use_obs", dest="use_obs", action="store_true",
                      help="show the stored image observations instead of running the env")
    parser.add_argument("--render_image_names", nargs="+", default=None,
                        help="cameras to render, or image obs keys with --use-obs")
    parser.add_argument("--render_depth_names", nargs="+", default=[],
                        help="cameras whose depth to render beside the images, or depth obs keys with --use-obs")
    parser.add_argument("--video_path", required=True, help="output MP4 (its folder must exist)")
    parser.add_argument("--video_skip", type=int, default=5, help="write every n-th frame")
    parser.add_argument("--camera_size", type=int, default=256,
                        help="height and width of rendered frames (stored images are enlarged to about this)")
    parser.add_argument("--first", action="store_true", help="only the first frame of each demo")
    return parser.parse_args()


def check_args(args, demos: list[str]) -> None:
    from robokit.errors import UserError

    if args.n is not None and args.n < 1:
        raise UserError(f"--n must be at least 1, got {args.n}")
    if args.video_skip < 1:
        raise UserError(f"--video_skip must be at least 1, got {args.video_skip}")
    if args.camera_size < 1:
        raise UserError(f"--camera_size must be positive, got {args.camera_size}")
    if not Path(args.video_path).parent.resolve().is_dir():
        raise UserError(f"output folder does not exist: {Path(args.video_path).parent}")
    if not demos:
        raise UserError(f"{args.dataset}: no demos to play")


def image_keys(f, demo: str) -> list[str]:
    """Obs keys of a demo that hold (T, H, W, 3) or (T, H, W, 1) uint8 images."""
    obs = f["data"][demo]["obs"]
    return sorted(k for k in obs if obs[k].dtype == np.uint8 and obs[k].ndim == 4 and obs[k].shape[-1] in (1, 3))


def as_rgb(frame: np.ndarray) -> np.ndarray:
    """(H, W, 1) or (H, W, 3) uint8 -> (H, W, 3) uint8."""
    return np.repeat(frame, 3, axis=-1) if frame.shape[-1] == 1 else frame


def obs_frames(f, demo: str, keys: list[str], size: int, first: bool):
    """Stored images of a demo, the keys side by side, enlarged (nearest) to about `size` pixels high:
    yields (H', W_total', 3) uint8 per step."""
    obs = f["data"][demo]["obs"]
    length = 1 if first else obs[keys[0]].shape[0]
    scale = max(1, round(size / obs[keys[0]].shape[1]))
    for t in range(length):
        frame = np.concatenate([as_rgb(obs[k][t]) for k in keys], axis=1)  # (H, W_total, 3)
        yield frame.repeat(scale, axis=0).repeat(scale, axis=1)


def pad_to_macro_block(frame: np.ndarray, block: int = 16) -> np.ndarray:
    """Pad (H, W, 3) with black to multiples of 16, which video codecs want (instead of imageio's resizing)."""
    pad_h, pad_w = -frame.shape[0] % block, -frame.shape[1] % block
    return np.pad(frame, ((0, pad_h), (0, pad_w), (0, 0))) if pad_h or pad_w else frame


def env_frames(env, f, demo: str, cameras: list[str], depth_cameras: list[str], size: int, use_actions: bool,
               first: bool, report: dict, skip: int = 1):
    """Rendered frames of a demo played in `env`, one per step: every `skip`-th is rendered, the others are None
    (and, playing states, not restored); fills `report` with success and state error."""
    grp = f["data"][demo]
    states = grp["states"][()] if "states" in grp else None
    seed = int(grp.attrs["seed"]) if "seed" in grp.attrs else None
    if "model_file" in grp.attrs and states is not None and hasattr(env, "reset_to"):
        # robosuite (robomimic's convention): the demo's own MJCF model, then its first state
        ep_meta = grp.attrs.get("ep_meta")
        env.reset_to({"model": grp.attrs["model_file"], "states": states[0], "ep_meta": ep_meta})
    else:
        env.reset(seed=seed)
        if seed is None and states is not None:
            env.set_state(states[0])

    def render():
        images = [env.render(height=size, width=size, camera=c) for c in cameras]
        images += [as_rgb(env.render_depth(height=size, width=size, camera=c)) for c in depth_cameras]
        return np.concatenate(images, axis=1)

    actions = grp["actions"][()]
    errors, success = [], False
    for t in range(len(actions)):
        shown = first or t % skip == 0
        if not use_actions and shown:
            env.set_state(states[t])
        elif use_actions and states is not None:
            errors.append(float(np.abs(env.get_state() - states[t]).max()))
        yield render() if shown else None
        if first:
            break
        if use_actions:
            env.step(actions[t])
            success = success or env.is_success()
    report.update(success=success, max_state_error=max(errors) if errors else None)


def main() -> None:
    args = parse_args()
    import imageio

    from robokit.data import hdf5_format as fmt
    from robokit.envs import create_env
    from robokit.envs.base import ROBOSUITE_TYPE
    from robokit.errors import UserError

    with fmt.open_file(args.dataset) as f:
        demos = fmt.list_demos(f, args.filter_key)[: args.n]
        check_args(args, demos)
        env, keys = None, None
        if args.use_obs:
            available = image_keys(f, demos[0])
            keys = (args.render_image_names or ([] if args.render_depth_names else available)) + args.render_depth_names
            unknown = [k for k in keys if k not in available]
            if unknown or not keys:
                raise UserError(f"{args.dataset}: no image observation {unknown[0] if unknown else ''!r}; its image "
                                f"keys: {', '.join(available) or 'none (record with generate_dataset.py --camera-size)'}")
        else:
            no_states = [d for d in demos if "states" not in f["data"][d]]
            if no_states and not args.use_actions:
                raise UserError(f"{args.dataset}: {no_states[0]} has no 'states' to restore; use --use-actions "
                                "(replay actions) or --use-obs (stored images)")
            env_args = fmt.read_env_args(f)
            # robosuite: playback renders its own frames, the observations need no camera images
            overrides = {"use_camera_obs": False} if env_args.get("type") == ROBOSUITE_TYPE else {}
            env = create_env(env_args, render_offscreen=True, **overrides)
        cameras = args.render_image_names or ([] if args.render_depth_names else ["default"])
        writer = imageio.get_writer(args.video_path, fps=20)
        n_frames = 0
        try:
            for demo in demos:
                report: dict = {}
                frames = (obs_frames(f, demo, keys, args.camera_size, args.first) if args.use_obs else
                          env_frames(env, f, demo, cameras, args.render_depth_names, args.camera_size,
                                     args.use_actions, args.first, report, args.video_skip))
                for t, frame in enumerate(frames):
                    if frame is not None and (args.first or t % args.video_skip == 0):
                        writer.append_data(pad_to_macro_block(frame))
                        n_frames += 1
                line = f"{demo}: {fmt.demo_length(f, demo)} steps"
                if args.use_actions and not args.first:
                    line += f", success {report['success']}"
                    if report["max_state_error"] is not None:
                        line += f", max |state - stored state| {report['max_state_error']:.2e}"
                print(line)
        except BaseException:
            writer.close()
            Path(args.video_path).unlink(missing_ok=True)  # no half-written video
            raise
        finally:
            writer.close()
            if env is not None:
                env.close()
    print(f"wrote {args.video_path}: {len(demos)} demos, {n_frames} frames")


if __name__ == "__main__":
    run_script(main)
