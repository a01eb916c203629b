"""robokit: robot learning from demonstrations and interaction, in robomimic's image.

The public entry points:

- `robokit.config.config_factory` builds a typed config for an algorithm;
- `robokit.algo.algo_factory` builds an `Algo` from a config;
- `robokit.policy_from_checkpoint` reloads a trained policy as a `RolloutPolicy`;
- `robokit.env_from_checkpoint` makes the environment it was trained for.
"""

__version__ = "0.1.0"


def policy_from_checkpoint(ckpt_path=None, ckpt_dict=None, device=None, verbose=False, algo_module=None, robot=None,
                           robot_spec=None, embodiment=None):
    """Load a checkpoint and return `(RolloutPolicy, ckpt_dict)`; see `robokit.train.checkpoint`. `algo_module`
    names the plugin file, folder, zip or module of a checkpoint whose algorithm is not built in. A model trained
    on robot data specs is fed by names: `robot="name"` (a robot of its training data), or a new robot's
    `robot_spec={data type: [names]}` with its `embodiment`."""
    from robokit.train.checkpoint import policy_from_checkpoint as _load

    return _load(ckpt_path=ckpt_path, ckpt_dict=ckpt_dict, device=device, verbose=verbose, algo_module=algo_module,
                 robot=robot, robot_spec=robot_spec, embodiment=embodiment)


def env_from_checkpoint(ckpt_path=None, ckpt_dict=None, env_name=None, render_offscreen=False, dataset=None,
                        **env_kwargs):
    """The environment a checkpoint's policy was trained for: `(EnvBase, ckpt_dict)`; `dataset`: which dataset's
    environment, for a run on several (default: the first evaluated); see `robokit.train.checkpoint`."""
    from robokit.train.checkpoint import env_from_checkpoint as _env

    return _env(ckpt_path=ckpt_path, ckpt_dict=ckpt_dict, env_name=env_name, render_offscreen=render_offscreen,
                dataset=dataset, **env_kwargs)


__all__ = ["policy_from_checkpoint", "env_from_checkpoint", "__version__"]
