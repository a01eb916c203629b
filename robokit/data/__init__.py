"""Datasets: the robomimic HDF5 layout (`hdf5_format`) and windowed sequence sampling (`sequence_dataset`)."""

from robokit.data.hdf5_format import (
    DatasetWriter,
    check_dataset,
    list_demos,
    list_filter_keys,
    obs_shapes,
    read_env_args,
    read_episode,
    split_train_val,
    validate_dataset,
)

__all__ = [
    "DatasetWriter",
    "SequenceDataset",
    "check_dataset",
    "list_demos",
    "list_filter_keys",
    "make_dataloader",
    "obs_shapes",
    "read_env_args",
    "read_episode",
    "split_train_val",
    "validate_dataset",
]


def __getattr__(name):
    # SequenceDataset imports torch; keep `import robokit.data.hdf5_format` torch-free.
    if name in ("SequenceDataset", "make_dataloader"):
        from robokit.data import sequence_dataset

        return getattr(sequence_dataset, name)
    raise AttributeError(f"module 'robokit.data' has no attribute {name!r}")
