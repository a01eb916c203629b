"""`config.experiment`: run name, logging, checkpoint saving, epochs, evaluation rollouts and videos."""

from typing import Literal

from robokit.config.section import Section, param
from robokit.errors import ConfigError


class LoggingConfig(Section):
    """Where training logs go."""

    terminal_output_to_txt: bool = param(True, "copy terminal output to a log.txt in the run folder")
    log_tb: bool = param(True, "write TensorBoard logs")
    log_wandb: bool = param(False, "write Weights & Biases logs (not supported yet: must be false)")
    wandb_proj_name: str = param("debug", "Weights & Biases project name (used when log_wandb is true)")
    stats_every_n_steps: int = param(
        10, "training statistics (losses, gradient norms) are measured on every n-th gradient step and averaged "
        "per epoch; 1 measures every step, as robomimic does, at a few percent of speed; PPO counts the "
        "minibatches of each rollout update, A2C measures its one step per rollout (robokit addition)",
        minimum=1)

    def check(self) -> None:
        if self.log_wandb:
            raise ConfigError(f"wandb logging is not supported yet; set {self.key_path('log_wandb')}=false")


class SaveConfig(Section):
    """When model checkpoints are saved."""

    enabled: bool = param(True, "save model checkpoints")
    every_n_seconds: float | None = param(None, "save every n seconds of training (null: off)", minimum=0.0)
    every_n_epochs: int | None = param(50, "save every n epochs (null: off)", minimum=1)
    epochs: list[int] = param([], "also save at these epochs")
    on_best_validation: bool = param(False, "save when the validation loss is the best so far")
    on_best_rollout_return: bool = param(False, "save when the rollout return is the best so far")
    on_best_rollout_success_rate: bool = param(True, "save when the rollout success rate is the best so far")
    keep_last_n: int | None = param(
        None, "keep only the newest n model_epoch_<N>.pth checkpoints, deleting older ones as new ones are saved; "
        "last.pth and the model_best_* checkpoints are never deleted (null: keep all) (robokit addition)", minimum=1)


class RolloutConfig(Section):
    """Evaluation rollouts in the environment during training."""

    enabled: bool = param(True, "run evaluation rollouts during training")
    n: int = param(50, "number of rollouts (episodes) per evaluation", minimum=1)
    horizon: int = param(400, "maximum number of env steps per rollout", minimum=1)
    rate: int = param(50, "evaluate every n epochs", minimum=1)
    warmstart: int = param(0, "epochs to wait before the first evaluation", minimum=0)
    terminate_on_success: bool = param(True, "end a rollout as soon as the task succeeds")
    num_envs: int = param(1, "evaluation envs stepped together, one batched policy call per step (robokit "
                             "addition)", minimum=1)
    vector_env: Literal["sync", "async"] = param(
        "sync", "with num_envs > 1: sync steps the envs one after another in this process; async gives each env "
        "its own process, so they step in parallel on several cores"
    )


class MemoryConfig(Section):
    """The memory monitor (robokit addition): process RAM and CUDA memory logged as Memory/*, and a stop with an
    emergency checkpoint before the machine runs out."""

    max_fraction: float | None = param(
        0.95, "stop with models/emergency.pth and exit code 4 when the process's RAM (or torch's CUDA memory) passes "
        "this fraction of the machine's (null: never stop)", minimum=0.0, maximum=1.0)
    every_n_steps: int = param(50, "gradient steps (online: vector env steps) between two readings", minimum=1)


class ExperimentConfig(Section):
    """Everything about a run that is not the learning problem itself."""

    name: str = param("test", "run name; the run folder is <train.output_dir>/<name>/<timestamp>")
    validate: bool = param(True, "compute a validation loss on held-out demos each epoch")
    logging: LoggingConfig = param(LoggingConfig(), "logging outputs")
    save: SaveConfig = param(SaveConfig(), "checkpoint saving")
    memory: MemoryConfig = param(MemoryConfig(), "memory monitor (robokit addition)")
    epoch_every_n_steps: int | None = param(100, "gradient steps per epoch (null: one pass over the data)", minimum=1)
    validation_epoch_every_n_steps: int | None = param(
        10, "batches per validation epoch (null: one pass over the validation data)", minimum=1
    )
    env: str | None = param(
        None, "env id to evaluate in, overriding the dataset's env metadata (and the env for online RL)"
    )
    additional_envs: list[str] | None = param(None, "extra env ids to evaluate in (the dataset's env_kwargs, "
                                                     "logged as Rollout/<id>; best checkpoints follow the main env)")
    render: bool = param(False, "render rollouts on screen (not supported: must be false)")
    render_video: bool = param(True, "write rollout videos")
    keep_all_videos: bool = param(False, "keep every video, not only those of saved checkpoints")
    video_skip: int = param(5, "write a video frame every n env steps", minimum=1)
    rollout: RolloutConfig = param(RolloutConfig(), "evaluation rollouts")
    env_meta_update_dict: dict = param({}, "entries merged into the env metadata before creating eval envs")
    ckpt_path: str | None = param(None, "checkpoint to initialise the model from")

    def check(self) -> None:
        if not self.name or "/" in self.name or "\\" in self.name:
            raise ConfigError(
                f"{self.key_path('name')} is used as a folder name: it must be non-empty "
                f"and contain no slashes, got {self.name!r}"
            )
        if self.render:
            raise ConfigError(
                f"on-screen rendering is not supported; set {self.key_path('render')}=false "
                f"and use {self.key_path('render_video')}=true to record videos"
            )
