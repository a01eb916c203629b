"""SequenceDataset: windows, padding, batching, cache modes, normalisation, memory."""

import tracemalloc

import h5py
import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from robokit.data import SequenceDataset, make_dataloader
from robokit.utils import batch_keys as K
from robokit.utils.normalization import unnormalize

# Episodes of lengths 5 (ep 0) and 4 (ep 1), frame_stack=2, seq_length=3: window of t is [t-1, t+2], T = 4.
# Each entry: (episode, step values of the window after edge padding, pad mask).
WINDOWS = {
    0: [((0, [0, 0, 1, 2], [0, 1, 1, 1]), 0), ((0, [0, 1, 2, 3], [1, 1, 1, 1]), 1),
        ((0, [1, 2, 3, 4], [1, 1, 1, 1]), 2), ((0, [2, 3, 4, 4], [1, 1, 1, 0]), 3),
        ((0, [3, 4, 4, 4], [1, 1, 0, 0]), 4)],
    1: [((1, [0, 0, 1, 2], [0, 1, 1, 1]), 0), ((1, [0, 1, 2, 3], [1, 1, 1, 1]), 1),
        ((1, [1, 2, 3, 3], [1, 1, 1, 0]), 2), ((1, [2, 3, 3, 3], [1, 1, 0, 0]), 3)],
}
# samples kept by each (pad_frame_stack, pad_seq_length): t >= 1 without frame padding, t <= L - 3 without
# sequence padding; robomimic's count is L - (fs - 1) [no fs pad] - (sl - 1) [no seq pad].
KEPT = {
    (True, True): {0: [0, 1, 2, 3, 4], 1: [0, 1, 2, 3]},
    (False, True): {0: [1, 2, 3, 4], 1: [1, 2, 3]},
    (True, False): {0: [0, 1, 2], 1: [0, 1]},
    (False, False): {0: [1, 2], 1: [1]},
}


@pytest.mark.parametrize("pad_fs,pad_seq", list(KEPT))
def test_windows_and_padding_match_hand_computation(dataset_path, pad_fs, pad_seq):
    ds = SequenceDataset(dataset_path, ["step", "ep"], ("actions", "rewards", "dones"), frame_stack=2, seq_length=3,
                         pad_frame_stack=pad_fs, pad_seq_length=pad_seq, goal_mode="last")
    expected = [w for e in (0, 1) for w, t in WINDOWS[e] if t in KEPT[(pad_fs, pad_seq)][e]]
    assert len(ds) == ds.total_num_sequences == {(True, True): 9, (False, True): 7,
                                                  (True, False): 5, (False, False): 3}[(pad_fs, pad_seq)]
    batch = ds.get_batch(np.arange(len(ds)))
    got = [(int(ep[0]), steps.tolist(), mask.int().tolist()) for ep, steps, mask in
           zip(batch[K.OBS]["ep"][:, :, 0], batch[K.OBS]["step"][:, :, 0], batch[K.PAD_MASK])]
    assert got == expected  # episodes never bleed into each other: "ep" is constant in every window
    # actions, rewards and dones follow the same windows; the goal is the episode's last step
    episode = batch[K.OBS]["ep"][:, :, 0]
    torch.testing.assert_close(batch[K.ACTIONS][:, :, 0], 10 * episode + batch[K.OBS]["step"][:, :, 0])
    torch.testing.assert_close(batch[K.REWARDS], batch[K.OBS]["step"][:, :, 0])
    torch.testing.assert_close(batch[K.GOAL_OBS]["step"][:, 0], torch.where(episode[:, 0] == 0, 4.0, 3.0))
    assert batch[K.OBS]["step"].shape == (len(ds), 4, 1) and batch[K.ACTIONS].shape == (len(ds), 4, 2)
    assert batch[K.DONES].shape == (len(ds), 4) and batch[K.PAD_MASK].dtype == torch.bool


def test_seq_length_one_frame_stack_one_is_one_step(dataset_path):
    ds = SequenceDataset(dataset_path, ["step"], get_pad_mask=False, load_next_obs=True)
    batch = ds.get_batch([0, 5, 8])
    assert K.PAD_MASK not in batch and K.GOAL_OBS not in batch
    assert batch[K.OBS]["step"][:, :, 0].tolist() == [[0], [0], [3]]
    assert batch[K.NEXT_OBS]["step"][:, :, 0].tolist() == [[1], [1], [4]]
    assert ds.sample_location(5) == ("demo_1", 0)


def test_filter_key_selects_demos(dataset_path):
    ds = SequenceDataset(dataset_path, ["ep"], filter_by_attribute="odd", seq_length=2)
    assert ds.demo_names == ["demo_1"] and ds.n_demos == 1 and len(ds) == 4
    assert set(ds.get_batch(np.arange(4))[K.OBS]["ep"].flatten().tolist()) == {1.0}


def test_properties_and_repr(dataset_path, env_args):
    ds = SequenceDataset(dataset_path, ["pos", "step"], seq_length=3, frame_stack=2)
    assert ds.obs_key_shapes == {"pos": (3,), "step": (1,)}
    assert ds.action_dim == 2 and ds.env_args == env_args and ds.demo_names == ["demo_0", "demo_1"]
    text = repr(ds)
    for part in ("d.hdf5", "demos=2", "samples=9", "seq_length=3", "frame_stack=2", "cache_mode='all'"):
        assert part in text


def test_get_batch_equals_stacked_getitem(dataset_path):
    ds = SequenceDataset(dataset_path, ["pos", "step"], ("actions", "rewards"), frame_stack=2, seq_length=3,
                         goal_mode="last", load_next_obs=True)
    idx = np.array([8, 0, 3, 3, 5])
    batch = ds.get_batch(idx)
    samples = [ds[int(i)] for i in idx]
    stacked = torch.utils.data.default_collate(samples)
    for key in (K.OBS, K.NEXT_OBS, K.GOAL_OBS):
        for k in ("pos", "step"):
            torch.testing.assert_close(batch[key][k], stacked[key][k])
    for key in (K.ACTIONS, K.REWARDS, K.PAD_MASK):
        torch.testing.assert_close(batch[key], stacked[key])
    assert samples[0][K.OBS]["pos"].shape == (4, 3) and samples[0][K.GOAL_OBS]["pos"].shape == (3,)
    torch.testing.assert_close(ds[torch.as_tensor(idx)][K.ACTIONS], batch[K.ACTIONS])  # index array -> batch
    torch.testing.assert_close(ds[1:3][K.ACTIONS], ds.get_batch([1, 2])[K.ACTIONS])  # slice -> batch


def test_dataloaders(dataset_path):
    ds = SequenceDataset(dataset_path, ["pos"], seq_length=3)
    plain = next(iter(DataLoader(ds, batch_size=4, shuffle=False)))
    torch.testing.assert_close(plain[K.ACTIONS], ds.get_batch(np.arange(4))[K.ACTIONS])
    loader = make_dataloader(ds, batch_size=4, num_workers=2, seed=0)
    batches = list(loader)
    assert len(batches) == 2  # 9 samples, drop_last
    for b in batches:
        assert b[K.OBS]["pos"].shape == (4, 3, 3) and b[K.ACTIONS].shape == (4, 3, 2) and b[K.PAD_MASK].shape == (4, 3)
    seen = [b[K.ACTIONS] for b in make_dataloader(ds, batch_size=4, seed=0)]
    torch.testing.assert_close(torch.stack(seen), torch.stack([b[K.ACTIONS] for b in batches]))  # same order


@pytest.mark.parametrize("mode", ["low_dim", None])
def test_cache_modes_give_identical_batches(make_dataset, mode):
    path = make_dataset(lengths=(6, 3, 9), image_shape=(4, 4, 3))
    kwargs = {"obs_keys": ["pos", "agentview_image"], "dataset_keys": ("actions", "dones"), "frame_stack": 2,
              "seq_length": 3, "goal_mode": "last", "load_next_obs": True, "hdf5_normalize_obs": True,
              "action_normalization": "gaussian"}
    full = SequenceDataset(path, hdf5_cache_mode="all", **kwargs)
    lazy = SequenceDataset(path, hdf5_cache_mode=mode, **kwargs)
    assert (lazy.cached_nbytes == 0) == (mode is None)
    idx = np.random.default_rng(0).integers(0, len(full), size=12)
    a, b = full.get_batch(idx), lazy.get_batch(idx)
    assert a[K.OBS]["agentview_image"].dtype == torch.uint8
    assert a[K.OBS]["agentview_image"].shape == (12, 4, 4, 4, 3)
    for key in (K.OBS, K.NEXT_OBS, K.GOAL_OBS):
        for k in kwargs["obs_keys"]:
            torch.testing.assert_close(a[key][k], b[key][k], rtol=1e-6, atol=1e-6)
    for key in (K.ACTIONS, K.DONES, K.PAD_MASK):
        torch.testing.assert_close(a[key], b[key], rtol=1e-6, atol=1e-6)


def test_low_dim_mode_with_workers_matches_all_mode(make_dataset):
    path = make_dataset(lengths=(6, 3, 9), image_shape=(4, 4, 3))
    kwargs = {"obs_keys": ["pos", "agentview_image"], "frame_stack": 2, "seq_length": 2}
    full = SequenceDataset(path, hdf5_cache_mode="all", **kwargs)
    lazy = SequenceDataset(path, hdf5_cache_mode="low_dim", **kwargs)  # file open in the parent process
    lazy.get_batch([0, 1])
    expected = list(make_dataloader(full, batch_size=5, seed=3))
    for a, b in zip(expected, make_dataloader(lazy, batch_size=5, num_workers=2, seed=3), strict=True):
        torch.testing.assert_close(a[K.OBS]["agentview_image"], b[K.OBS]["agentview_image"])
        torch.testing.assert_close(a[K.OBS]["pos"], b[K.OBS]["pos"])


def test_low_dim_mode_keeps_images_on_disk(make_dataset):
    path = make_dataset(lengths=(6, 3), image_shape=(8, 8, 3))
    ds = SequenceDataset(path, ["pos", "agentview_image"], hdf5_cache_mode="low_dim")
    assert ds.cached_nbytes == 9 * (3 + 2) * 4  # pos and actions only
    frames = ds.get_batch([0, 7])[K.OBS]["agentview_image"]  # (2, 1, 8, 8, 3)
    assert frames[:, 0, 0, 0, 0].tolist() == [0, 7 + 1]  # frame value (7 * e + t) % 256


def test_obs_normalization(make_dataset):
    path = make_dataset(lengths=(40, 60), pos_dim=4)
    ds = SequenceDataset(path, ["pos", "step"], hdf5_normalize_obs=True)
    stats = ds.get_obs_normalization_stats()
    assert set(stats) == {"pos", "step"} and stats["pos"]["offset"].shape == (4,)
    with h5py.File(path, "r") as f:
        raw = np.concatenate([f[f"data/demo_{i}/obs/pos"][()] for i in range(2)])  # (100, 4)
    np.testing.assert_allclose(stats["pos"]["offset"], raw.mean(0), rtol=1e-5)
    cached = ds.get_batch(np.arange(len(ds)))[K.OBS]["pos"][:, 0]  # (100, 4) normalised
    np.testing.assert_allclose(cached.mean(0).numpy(), 0, atol=1e-5)
    np.testing.assert_allclose(cached.std(0, unbiased=False).numpy(), 1, atol=2e-3)
    torch.testing.assert_close(unnormalize(cached, stats["pos"]), torch.from_numpy(raw), rtol=1e-5, atol=1e-5)


def test_validation_split_reuses_training_stats(make_dataset):
    path = make_dataset(lengths=(10, 10, 10, 10), masks={"train": ["demo_0", "demo_1", "demo_2"], "valid": ["demo_3"]})
    train = SequenceDataset(path, ["pos"], hdf5_normalize_obs=True, action_normalization="min_max",
                            filter_by_attribute="train")
    valid = SequenceDataset(path, ["pos"], hdf5_normalize_obs=True, action_normalization="min_max",
                            filter_by_attribute="valid", obs_normalization_stats=train.get_obs_normalization_stats(),
                            action_normalization_stats=train.get_action_normalization_stats())
    pairs = [(train.get_obs_normalization_stats()["pos"], valid.get_obs_normalization_stats()["pos"]),
             (train.get_action_normalization_stats()["actions"], valid.get_action_normalization_stats()["actions"])]
    for a, b in pairs:
        np.testing.assert_array_equal(a["offset"], b["offset"])
        np.testing.assert_array_equal(a["scale"], b["scale"])


def test_action_min_max_normalization(dataset_path):
    ds = SequenceDataset(dataset_path, ["pos"], action_normalization="min_max")
    nactions = ds.get_batch(np.arange(len(ds)))[K.ACTIONS][:, 0]  # (9, 2)
    torch.testing.assert_close(nactions.min(0).values, torch.tensor([-1.0, -1.0]))
    torch.testing.assert_close(nactions.max(0).values, torch.tensor([1.0, 1.0]))
    stats = ds.get_action_normalization_stats()["actions"]
    torch.testing.assert_close(unnormalize(nactions, stats)[:, 0], torch.tensor([0, 1, 2, 3, 4, 10, 11, 12, 13.0]))
    assert SequenceDataset(dataset_path, ["pos"]).get_action_normalization_stats() is None


def test_memory_does_not_grow_with_seq_length(make_dataset):
    path = make_dataset(lengths=(500,) * 4, pos_dim=64, action_dim=8)
    raw_bytes = 2000 * (64 + 1 + 8) * 4  # pos, step, actions as float32
    one = SequenceDataset(path, ["pos", "step"], seq_length=1)
    tracemalloc.start()
    ten = SequenceDataset(path, ["pos", "step"], seq_length=10, frame_stack=3)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert one.cached_nbytes == ten.cached_nbytes == raw_bytes
    assert peak < 2 * raw_bytes  # a copy per window would be ~12x
    assert ten.get_batch(np.arange(16))[K.OBS]["pos"].shape == (16, 12, 64)


def test_short_demos_without_padding_give_no_samples(make_dataset, capsys):
    path = make_dataset(lengths=(5, 2))
    ds = SequenceDataset(path, ["step"], seq_length=3, pad_seq_length=False)
    assert len(ds) == 3 and "1 demo(s)" in capsys.readouterr().err
    assert ds.get_batch(np.arange(3))[K.OBS]["step"][:, :, 0].tolist() == [[0, 1, 2], [1, 2, 3], [2, 3, 4]]
