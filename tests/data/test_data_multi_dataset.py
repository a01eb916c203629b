"""Several datasets in one run (robokit.data.multi_dataset): weighted sampling, demo_limit, filter_key, union stats."""

import numpy as np
import pytest
import torch

from robokit.config.datasets import dataset_entries
from robokit.data.multi_dataset import (MultiDataset, WeightedBatchSampler, load_multi_datasets, pass_counts,
                                        sample_shares)
from robokit.data.sequence_dataset import SequenceDataset
from robokit.utils import batch_keys as K

KEYS = ["step", "ep", "pos"]


def union(make_dataset, weights=(1.0, 1.0), normalize=False, **kwargs):
    a = SequenceDataset(make_dataset("a.hdf5", lengths=(5, 4)), KEYS, **kwargs)  # 9 samples
    b = SequenceDataset(make_dataset("b.hdf5", lengths=(6, 6, 6), seed=1), KEYS, **kwargs)  # 18 samples
    return MultiDataset([a, b], ["a", "b"], list(weights), ["reach", None], normalize)


def test_shares_follow_robomimics_rule():
    # a weight multiplies each sample's draw probability; normalised by size it is the dataset's share
    np.testing.assert_allclose(sample_shares([9, 18], [1, 1]), [1 / 3, 2 / 3])
    np.testing.assert_allclose(sample_shares([9, 18], [4, 1]), [36 / 54, 18 / 54])
    np.testing.assert_allclose(sample_shares([9, 18], [3, 1], normalize_weights_by_ds_size=True), [0.75, 0.25])
    assert pass_counts([0.75, 0.25], 27).tolist() == [20, 7]  # 20.25, 6.75: largest remainder
    assert pass_counts([1 / 3, 1 / 3, 1 / 3], 10).sum() == 10


def test_every_pass_holds_exactly_each_datasets_count(make_dataset):
    ds = union(make_dataset, weights=(3.0, 1.0), normalize=True)  # shares 0.75 / 0.25 of 27 draws
    sampler = WeightedBatchSampler(ds.sizes, ds.shares, batch_size=1, drop_last=False,
                                   generator=torch.Generator().manual_seed(0))
    for _ in range(3):  # every pass, whatever the seed's draws
        order = torch.cat(list(sampler)).numpy()
        counts = np.bincount(ds.locate(order)[0], minlength=2)
        assert counts.tolist() == [20, 7]
        local_a = order[order < 9]  # dataset a is drawn 20 times from 9 samples: each sample 2 or 3 times
        assert sorted(np.bincount(local_a, minlength=9).tolist()) == [2] * 7 + [3] * 2


def test_equal_weights_are_a_plain_shuffle(make_dataset):
    ds = union(make_dataset)
    sampler = ds.make_batch_sampler(batch_size=27, generator=torch.Generator().manual_seed(1))
    (batch,) = list(sampler)
    assert sorted(batch.tolist()) == list(range(27))


def test_batch_frequencies_match_the_weights_statistically(make_dataset):
    ds = union(make_dataset, weights=(4.0, 1.0))  # shares 2/3, 1/3
    sampler = ds.make_batch_sampler(batch_size=9, generator=torch.Generator().manual_seed(2))
    first_batches = [next(iter(sampler)) for _ in range(400)]  # the first batch of 400 fresh passes
    counts = np.bincount(ds.locate(torch.cat(first_batches).numpy())[0], minlength=2)
    n, p = counts.sum(), 2 / 3
    assert abs(counts[0] - n * p) < 4 * np.sqrt(n * p * (1 - p)), counts  # within 4 standard deviations


def test_batches_come_back_in_the_order_asked_with_their_dataset(make_dataset):
    ds = union(make_dataset)
    idx = np.array([20, 0, 9, 3, 26])
    batch = ds.get_batch(idx)
    assert batch[K.DATASET_INDEX].tolist() == [1, 0, 1, 0, 1]
    for row, i in enumerate(idx):
        d, local = ds.locate([i])
        single = ds.datasets[int(d[0])].get_batch(local)
        torch.testing.assert_close(batch[K.OBS]["pos"][row], single[K.OBS]["pos"][0])
        torch.testing.assert_close(batch[K.ACTIONS][row], single[K.ACTIONS][0])
    assert [ds.langs[i] for i in batch[K.DATASET_INDEX].tolist()] == [None, "reach", None, "reach", None]


def test_demo_limit_keeps_the_first_demos(make_dataset):
    path = make_dataset("d.hdf5", lengths=(5, 4, 3, 6))
    ds = SequenceDataset(path, KEYS, demo_limit=2)
    assert ds.demo_names == ["demo_0", "demo_1"] and len(ds) == 9
    masked = make_dataset("m.hdf5", lengths=(5, 4, 3, 6), masks={"late": ["demo_3", "demo_2"]})
    assert SequenceDataset(masked, KEYS, filter_by_attribute="late", demo_limit=1).demo_names == ["demo_2"]


def test_filter_key_and_demo_limit_per_entry_and_stats_over_the_union(make_dataset):
    a = make_dataset("a.hdf5", lengths=(5, 4), masks={"odd": ["demo_1"]})
    b = make_dataset("b.hdf5", lengths=(6, 6, 6), seed=1)
    entries = dataset_entries([{"path": str(a), "filter_key": "odd", "lang": "lift"},
                               {"path": str(b), "demo_limit": 2, "weight": 2.0}])
    kwargs = dict(obs_keys=KEYS, hdf5_normalize_obs=True, action_normalization="min_max")
    train, _ = load_multi_datasets(entries, kwargs, [e.filter_key for e in entries], None)
    assert train.datasets[0].demo_names == ["demo_1"] and train.datasets[1].demo_names == ["demo_0", "demo_1"]
    assert train.langs == ["lift", None] and train.names == ["a", "b"]
    # the rule: every step of every dataset once (after filter key and demo limit), single-dataset formulas
    raw_a = SequenceDataset(a, KEYS, filter_by_attribute="odd")
    raw_b = SequenceDataset(b, KEYS, demo_limit=2)
    pos = np.concatenate([raw_a.stats_input("pos")[0], raw_b.stats_input("pos")[0]])  # (4 + 12, 3)
    stats = train.get_obs_normalization_stats()["pos"]
    np.testing.assert_allclose(stats["offset"], pos.mean(0), rtol=1e-5)
    np.testing.assert_allclose(stats["scale"], pos.std(0) + 1e-3, rtol=1e-5)
    actions = np.concatenate([raw_a.stats_input("actions")[0], raw_b.stats_input("actions")[0]])
    normalised = torch.cat([train.get_batch(np.arange(len(train)))[K.ACTIONS][:, 0]]).numpy()
    assert normalised.min() == pytest.approx(-1.0, abs=1e-5) and normalised.max() == pytest.approx(1.0, abs=1e-5)
    act = train.get_action_normalization_stats()["actions"]
    np.testing.assert_allclose(act["offset"], (actions.max(0) + actions.min(0)) / 2, rtol=1e-5)
    # each dataset is normalised with the union's statistics
    assert train.datasets[1].get_obs_normalization_stats()["pos"]["offset"].tolist() == stats["offset"].tolist()
