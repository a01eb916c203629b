"""The training loop's batch stream: gathering several batches at once gives exactly the batches of the sampler,
pass after pass, and falls back to one batch per gather when batches are large."""

import numpy as np
import torch

from robokit.data import SequenceDataset, make_dataloader
from robokit.train import offline


def expected_batches(dataset, batch_size, seed, n):
    """The sampler's index batches, gathered one at a time."""
    sampler = make_dataloader(dataset, batch_size, seed=seed).sampler
    out = []
    while len(out) < n:
        out.extend(dataset.get_batch(idx) for idx in sampler)
    return out[:n]


def assert_same(a, b):
    assert a.keys() == b.keys()
    for k in a:
        if isinstance(a[k], dict):
            assert_same(a[k], b[k])
        else:
            assert torch.equal(a[k], b[k]), k


def test_grouped_gathering_gives_the_sampler_batches_over_several_passes(make_dataset, monkeypatch):
    path = make_dataset(lengths=(9, 7, 12, 5))
    dataset = SequenceDataset(path, obs_keys=["step", "pos"], dataset_keys=("actions", "rewards"), seq_length=3,
                              pad_seq_length=True)
    calls = []
    original = dataset.get_batch
    monkeypatch.setattr(dataset, "get_batch", lambda idx: calls.append(len(idx)) or original(idx))
    stream = offline.batch_stream(dataset, batch_size=4, num_workers=0, seed=3)
    got = [next(stream) for _ in range(25)]  # 33 samples -> 8 batches a pass: more than 3 passes
    assert calls[:3] == [4, 28, 32]  # one batch to size the groups, then the rest of each pass at once
    monkeypatch.undo()
    for a, b in zip(got, expected_batches(dataset, 4, 3, 25)):
        assert_same(a, b)
    assert got[0]["obs"]["pos"].shape == (4, 3, 3) and got[0]["pad_mask"].shape == (4, 3)
    firsts = {tuple(b["actions"][:, 0, 0].tolist()) for b in got[:8]}
    assert len(firsts) == 8  # different samples in each batch of a pass


def test_large_batches_are_gathered_one_at_a_time(make_dataset, monkeypatch):
    monkeypatch.setattr(offline, "GATHER_BYTES", 1)
    calls = []
    path = make_dataset(lengths=(9, 7))
    dataset = SequenceDataset(path, obs_keys=["step"], seq_length=2)
    original = dataset.get_batch
    monkeypatch.setattr(dataset, "get_batch", lambda idx: calls.append(len(idx)) or original(idx))
    stream = offline.batch_stream(dataset, batch_size=3, num_workers=0, seed=0)
    got = [next(stream) for _ in range(6)]
    assert calls == [3] * 6
    np.testing.assert_array_equal(got[0]["obs"]["step"].numpy(), expected_batches(dataset, 3, 0, 1)[0]["obs"]["step"])
