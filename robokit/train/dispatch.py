"""One entry point for every algorithm: online configs learn in `experiment.env`, the others on a dataset."""

from pathlib import Path

from robokit.config.online import OnlineConfig
from robokit.errors import ConfigError
from robokit.train.distributed import launched_by_torchrun
from robokit.utils.partial_files import is_write_failure, write_error


def is_online(config) -> bool:
    """Whether `config` trains by interacting with an environment (sac, td3, ppo, a2c, ...)."""
    return isinstance(config, OnlineConfig)


def train(config, dataset_path=None, output_dir=None, device=None, debug: bool = False,
          progress: bool = True, resume_dir=None) -> Path:
    """Train `config`'s algorithm and return the run folder.

    Online algorithms need `experiment.env` and take no dataset; offline ones run `robokit.train.offline.train`
    unchanged (they may still name an env for evaluation rollouts). Under `torchrun` offline algorithms train
    data-parallel (robokit.train.distributed); the ranks other than 0 return None. A full disk, or a folder that cannot be
    written, while the run writes its files is an OutputWriteError naming the path and the free space.
    """
    try:
        return _train(config, dataset_path, output_dir, device, debug, progress, resume_dir)
    except OSError as exc:  # a full disk or read-only folder while writing logs, videos or config: one line
        if is_write_failure(exc, output_dir or config.train.output_dir):
            raise write_error(exc.filename or output_dir or config.train.output_dir, exc) from None
        raise


def _train(config, dataset_path, output_dir, device, debug: bool, progress: bool, resume_dir) -> Path:
    if launched_by_torchrun():
        if is_online(config):
            raise ConfigError(f"{config.algo_name} learns online and does not train across processes yet; fix: run "
                              "scripts/train.py without torchrun (vector envs: train.num_envs)")
        from robokit.train import offline
        from robokit.train.distributed import init_distributed

        dist = init_distributed(device)
        try:
            return offline.train(config, dataset_path=dataset_path, output_dir=output_dir, device=dist.device,
                                 debug=debug, progress=progress and dist.is_main, resume_dir=resume_dir, dist=dist)
        finally:
            dist.close()
    if is_online(config):
        if dataset_path:
            raise ConfigError(f"{config.algo_name} learns online in experiment.env and takes no dataset; "
                              "drop --dataset (use train.experience_path to record its experience instead)")
        from robokit.train import online

        return online.train(config, output_dir=output_dir, device=device, debug=debug, progress=progress,
                            resume_dir=resume_dir)
    from robokit.train import offline

    return offline.train(config, dataset_path=dataset_path, output_dir=output_dir, device=device, debug=debug,
                         progress=progress, resume_dir=resume_dir)
