"""`config.train`: dataset, data loading and the optimisation loop."""

from typing import Any, Literal

from robokit.config.datasets import NORMALIZE_WEIGHTS_HELP, TRAIN_DATA_HELP, DatasetEntry, dataset_entries
from robokit.config.section import Section, param
from robokit.config.typecheck import show
from robokit.data.embodiment import RobotDataSpec
from robokit.errors import ConfigError

ACTION_NORMALIZATIONS = (None, "min_max", "gaussian")
MIXED_PRECISION_HELP = (
    "off, or bf16: training steps compute matrix products in bfloat16 (torch.autocast; parameters, optimiser "
    "state and losses stay float32); measured about 2x faster on a CPU with AVX512-BF16; AMX CPUs and recent "
    "GPUs have bfloat16 units too (robokit addition)"
)
FP16_HELP = ("; fp16 (offline algorithms): float16 autocast with a gradient scaler, whose state is saved in "
             "checkpoints; meant for CUDA GPUs without fast bfloat16 (on a CPU it runs, slowly)")
ROBOT_DATA_SPEC_HELP = (
    '{robot: {data type: [item names]}}, e.g. {"arm3": {"joint_positions": ["j1", "j2", "j3"]}}: the named items '
    "the model VERB, zero-padded per data type to the largest robot (robokit.data.embodiment; each data type "
    "becomes a padded obs key of that name, with its mask as <key>_mask); {}: EMPTY (robokit addition, issue 19)"
)
FLUSH_DENORMALS_HELP = (
    "on the CPU, treat float32 values below 1.2e-38 as zero (torch.set_flush_denormal, process-wide): Adam's "
    "second moments of rarely-used weights decay into that range, where each operation on them is many times "
    "slower (robokit addition)"
)


class TrainConfig(Section):
    """How the data is loaded and how long and with what batches training runs."""

    data: Any = param(None, TRAIN_DATA_HELP)  # a path, a list of entries or null (robokit.config.datasets)
    output_dir: str = param("runs", "folder in which each run gets a <experiment.name>/<timestamp> folder")
    normalize_weights_by_ds_size: bool = param(False, NORMALIZE_WEIGHTS_HELP)
    num_data_workers: int = param(0, "DataLoader worker processes (0: load in the main process)", minimum=0)
    hdf5_cache_mode: Literal["all", "low_dim"] | None = param(
        "all", "keep in memory: all (every key), low_dim (all but images) or null (read from file)"
    )
    hdf5_use_swmr: bool = param(True, "open the HDF5 file in single-writer-multiple-reader mode")
    hdf5_load_next_obs: bool = param(True, "load next_obs (needed by offline RL, not by BC)")
    hdf5_normalize_obs: bool = param(False, "normalise observations with dataset mean and std")
    hdf5_filter_key: str | None = param(None, "train only on the demos listed under mask/<key>")
    hdf5_validation_filter_key: str | None = param(None, "validate on the demos listed under mask/<key>")
    seq_length: int = param(1, "steps of actions (and future obs) per sample", minimum=1)
    pad_seq_length: bool = param(True, "pad sequences that run past the end of an episode")
    frame_stack: int = param(1, "steps of observation history per sample (including the current one)", minimum=1)
    pad_frame_stack: bool = param(True, "pad history before the start of an episode")
    dataset_keys: list[str] = param(["actions", "rewards", "dones"], "per-step dataset keys loaded besides obs")
    action_keys: list[str] = param(["actions"], 'dataset keys that make up the action (only ["actions"])')
    action_config: dict = param(
        {}, 'per-action-key settings: {"actions": {"normalization": null|"min_max"|"gaussian"}}'
    )
    input_robot_data_spec: dict = param({}, ROBOT_DATA_SPEC_HELP.replace("VERB", "reads").replace(
        "EMPTY", "robomimic's observation keys as they are"))
    output_robot_data_spec: dict = param({}, ROBOT_DATA_SPEC_HELP.replace("VERB", "outputs").replace(
        "EMPTY", "the whole action (padded by name when the data holds several robots or an input spec is set)"))
    goal_mode: Literal["last"] | None = param(
        None, "goal observations per sample: last (episode's final obs) or null (no goals)"
    )
    cuda: bool = param(True, "train on a GPU when one is available")
    batch_size: int | Literal["auto"] = param(
        100, 'samples per gradient step; "auto": the largest batch that fits the GPU with a safety margin, measured '
        "by probing in separate processes and cached (robokit.train.auto_batch); without a GPU, 100", minimum=1)
    num_epochs: int = param(2000, "number of training epochs", minimum=1)
    seed: int = param(1, "random seed")
    max_grad_norm: float | None = param(None, "clip gradient norm to this value (null: no clipping)", minimum=0.0)
    mixed_precision: Literal["off", "bf16", "fp16"] = param("off", MIXED_PRECISION_HELP + FP16_HELP)
    flush_denormals: bool = param(True, FLUSH_DENORMALS_HELP)
    data_format: Literal["robomimic"] = param("robomimic", "dataset layout (only robomimic)")
    shuffled_obs_key_groups: list[Any] | None = param(None, "robomimic obs-key shuffling (not supported: must be null)")

    def check(self) -> None:
        self.dataset_entries()  # several datasets (issue 19): each entry checked, one line per problem
        if self.action_keys != ["actions"]:
            raise ConfigError(
                f"{self.key_path('action_keys')}={show(self.action_keys)}: multiple action keys "
                f'not supported yet; set it to ["actions"]'
            )
        self._validate_action_config()
        self._validate_robot_data_specs()
        if self.shuffled_obs_key_groups is not None:
            raise ConfigError(
                f"observation key shuffling is not supported yet; set {self.key_path('shuffled_obs_key_groups')}=null"
            )

    def dataset_entries(self) -> list[DatasetEntry]:
        """`train.data` as `DatasetEntry`s (one for a plain path, none when unset); see robokit.config.datasets."""
        return dataset_entries(self.data, self.key_path("data"))

    def _validate_robot_data_specs(self) -> None:
        """Parse both specs: an unknown data type (did-you-mean), duplicate names or an empty robot is one
        ConfigError line. Whether they fit the data is checked when the datasets are opened."""
        for name in ("input_robot_data_spec", "output_robot_data_spec"):
            RobotDataSpec.from_config(getattr(self, name), where=self.key_path(name))

    def _validate_action_config(self) -> None:
        key = self.key_path("action_config")
        for action_key, settings in self.action_config.items():
            if action_key not in self.action_keys:
                raise ConfigError(
                    f"{key} has settings for '{action_key}', which is not in "
                    f"{self.key_path('action_keys')} {show(self.action_keys)}"
                )
            if not isinstance(settings, dict):
                raise ConfigError(
                    f'{key}.{action_key} expects a dict like {{"normalization": null}}, got {show(settings)}'
                )
            for name, value in settings.items():
                if name == "normalization" and value in ACTION_NORMALIZATIONS:
                    continue
                if name == "rot_conversion" and value is None:
                    continue  # robomimic's no-op value
                if name == "normalization":
                    raise ConfigError(
                        f'{key}.{action_key}.normalization must be one of null, "min_max", '
                        f'"gaussian"; got {show(value)}'
                    )
                raise ConfigError(
                    f'{key}.{action_key}.{name}={show(value)} is not supported; only "normalization" can be set'
                )
