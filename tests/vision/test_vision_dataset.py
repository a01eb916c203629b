"""Image datasets: written chunked as uint8 by generate_dataset.py, read back uint8, held once in memory."""

import h5py
import numpy as np
import torch

from robokit.data import SequenceDataset, make_dataloader, read_env_args
from robokit.envs import create_env

IMAGE_KEY = "external_camera_0_image"
KEYS = [IMAGE_KEY, "robot0_eef_pos", "robot0_gripper_qpos", "desired_goal"]


def test_images_are_stored_uint8_one_frame_per_chunk(push_image_dataset):
    with h5py.File(push_image_dataset, "r") as f:
        demo = f["data/demo_0"]
        for group in ("obs", "next_obs"):
            ds = demo[group][IMAGE_KEY]
            assert ds.dtype == np.uint8 and ds.shape[1:] == (32, 32, 3) and ds.chunks == (1, 32, 32, 3)
        np.testing.assert_array_equal(demo["obs/robot0_eef_pos"][()], demo["obs/observation"][:, :3])
        np.testing.assert_array_equal(demo["obs"][IMAGE_KEY][1:], demo["next_obs"][IMAGE_KEY][:-1])


def test_env_args_rebuild_the_environment_that_recorded_the_images(push_image_dataset):
    env_args = read_env_args(push_image_dataset)
    assert env_args["env_kwargs"]["camera_names"] == ["external_camera_0"]
    with h5py.File(push_image_dataset, "r") as f, create_env(env_args) as env:
        demo = f["data/demo_1"]
        obs = env.reset(seed=int(demo.attrs["seed"]))
        np.testing.assert_array_equal(obs[IMAGE_KEY], demo["obs"][IMAGE_KEY][0])


def test_sequence_dataset_keeps_images_uint8_and_holds_them_once(push_image_dataset):
    with h5py.File(push_image_dataset, "r") as f:
        image_bytes = sum(f[f"data/{d}/obs/{IMAGE_KEY}"].nbytes for d in f["data"])
    sizes = {}
    for seq_length, frame_stack in [(1, 1), (10, 1), (5, 4)]:
        ds = SequenceDataset(push_image_dataset, KEYS, seq_length=seq_length, frame_stack=frame_stack)
        batch = ds.get_batch([0, 3, 7])
        image = batch["obs"][IMAGE_KEY]
        assert image.dtype == torch.uint8 and image.shape == (3, seq_length + frame_stack - 1, 32, 32, 3)
        assert ds._cache[f"obs/{IMAGE_KEY}"].nbytes == image_bytes
        sizes[(seq_length, frame_stack)] = ds.cached_nbytes
    assert len(set(sizes.values())) == 1  # memory does not grow with seq_length or frame_stack


def test_open_episodes_keep_no_chunk_cache(push_image_dataset):
    # HDF5 caches 1 MiB of chunks per open dataset by default: with one open image dataset per episode that is a
    # second copy of the images (see scripts/benchmark.py --only image_memory)
    lazy = SequenceDataset(push_image_dataset, KEYS, seq_length=2, hdf5_cache_mode="low_dim")
    lazy.get_batch(list(range(len(lazy))))
    assert lazy._h5().id.get_access_plist().get_cache()[2] == 0  # rdcc_nbytes


def test_low_dim_cache_mode_reads_images_per_batch_with_the_same_values(push_image_dataset):
    cached = SequenceDataset(push_image_dataset, KEYS, seq_length=4, hdf5_cache_mode="all")
    lazy = SequenceDataset(push_image_dataset, KEYS, seq_length=4, hdf5_cache_mode="low_dim")
    assert f"obs/{IMAGE_KEY}" not in lazy._cache
    indices = [5, 0, 11, 2]
    a, b = cached.get_batch(indices)["obs"][IMAGE_KEY], lazy.get_batch(indices)["obs"][IMAGE_KEY]
    assert b.dtype == torch.uint8 and torch.equal(a, b)
    loader = make_dataloader(lazy, batch_size=4, num_workers=1, seed=0)
    batch = next(iter(loader))
    assert batch["obs"][IMAGE_KEY].dtype == torch.uint8 and batch["obs"][IMAGE_KEY].shape == (4, 4, 32, 32, 3)
