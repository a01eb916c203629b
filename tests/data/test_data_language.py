"""Language instructions in the data (issue 19): the vocabulary and its unknown-word rule, the demo `lang`
attribute through HDF5, the dataset's fallback instruction, and obs[LANG] in batches against hand-computed values."""

import numpy as np
import pytest

from robokit.data import SequenceDataset
from robokit.data.hdf5_format import DatasetWriter, demo_langs
from robokit.data.language import UNK, Vocabulary, tokenize
from robokit.data.multi_dataset import MultiDataset
from robokit.errors import DatasetError
from robokit.utils import batch_keys as K

ENV_ARGS = {"env_name": "PointReach-v0", "type": 4, "env_kwargs": {}}


def test_tokenize_lowercases_and_splits_words():
    assert tokenize("Reach the RED target!  (now)") == ["reach", "the", "red", "target", "now"]
    assert tokenize("") == []


def test_vocabulary_round_trip_and_bag_of_words():
    vocab = Vocabulary.from_instructions(["reach the red target", "Reach the blue target"])
    assert vocab.words == [UNK, "blue", "reach", "red", "target", "the"]
    assert vocab.encode("reach the red target") == [2, 5, 3, 4]
    again = Vocabulary.from_dict(vocab.to_dict())
    assert again == vocab and again.instructions == ["Reach the blue target", "reach the red target"]
    bow = vocab.bag_of_words(["reach the red target", "red red"])  # (N, V): counts / number of words
    np.testing.assert_array_equal(bow, np.array([[0, 0, .25, .25, .25, .25], [0, 0, 0, 1, 0, 0]], np.float32))
    assert bow.dtype == np.float32


def test_unknown_words_are_unk_with_one_warning(capsys):
    vocab = Vocabulary.from_instructions(["reach the red target"])
    assert vocab.encode("reach the purple target") == [1, 4, 0, 3]
    first = capsys.readouterr().err
    assert first.count("\n") == 1 and "purple" in first and UNK in first
    assert vocab.encode("reach the orange one") == [1, 4, 0, 0]
    assert capsys.readouterr().err == ""  # once per vocabulary
    np.testing.assert_array_equal(vocab.bag_of_words(["purple"]), [[1, 0, 0, 0, 0]])  # all mass on <unk>


def write_lang_dataset(path, langs, lengths=None):
    lengths = lengths or [3] * len(langs)
    with DatasetWriter(path, env_args=ENV_ARGS) as writer:
        for e, (lang, T) in enumerate(zip(langs, lengths)):
            t = np.arange(T, dtype=np.float32)
            writer.add_episode(obs={"step": t[:, None], "ep": np.full((T, 1), e, np.float32)},
                               actions=np.zeros((T, 2), np.float32), rewards=t, dones=t == T - 1, lang=lang)
    return path


def test_instructions_round_trip_through_hdf5(tmp_path):
    path = write_lang_dataset(tmp_path / "d.hdf5", ["reach the red target", None, "go left"])
    assert demo_langs(path) == ["reach the red target", None, "go left"]
    assert demo_langs(path, ["demo_2"]) == ["go left"]
    with pytest.raises(DatasetError, match="lang must be a non-empty string"):
        write_lang_dataset(tmp_path / "bad.hdf5", ["  "])


def test_dataset_lang_is_the_fallback_of_demos_without_one(tmp_path):
    path = write_lang_dataset(tmp_path / "d.hdf5", ["own words", None])
    ds = SequenceDataset(path, obs_keys=["step"], lang="the dataset's")
    assert ds.demo_langs == ["own words", "the dataset's"]
    assert SequenceDataset(path, obs_keys=["step"]).demo_langs == ["own words", None]


def test_batches_carry_each_episode_bag_of_words(tmp_path):
    path = write_lang_dataset(tmp_path / "d.hdf5", ["red", "blue blue red"], lengths=[2, 3])
    ds = SequenceDataset(path, obs_keys=["ep"], seq_length=2, frame_stack=1)
    vocab = Vocabulary.from_instructions(ds.demo_langs)  # <unk>, blue, red
    ds.set_language(vocab)
    assert ds.obs_key_shapes[K.LANG] == (3,)
    batch = ds.get_batch(np.arange(len(ds)))
    lang = batch[K.OBS][K.LANG]  # (B, T, V)
    episode = batch[K.OBS]["ep"][:, 0, 0].numpy().astype(int)
    assert lang.shape == (len(ds), 2, 3)
    expected = {0: [0, 0, 1], 1: [0, 2 / 3, 1 / 3]}
    for row, e in enumerate(episode):
        for step in range(2):  # the same at every step of the window
            np.testing.assert_allclose(lang[row, step].numpy(), expected[e], rtol=1e-6)


def test_set_language_refuses_demos_without_instruction(tmp_path):
    path = write_lang_dataset(tmp_path / "d.hdf5", ["red", None])
    ds = SequenceDataset(path, obs_keys=["ep"])
    with pytest.raises(DatasetError, match="needs an instruction for every demo, but 1 of 2 demos have none "
                                           r"\(e.g. demo_1\)"):
        ds.set_language(Vocabulary(["red"]))


def test_multi_dataset_refuses_a_child_without_instructions_in_the_same_words(tmp_path):
    a = SequenceDataset(write_lang_dataset(tmp_path / "a.hdf5", ["red", "red"]), obs_keys=["ep"])
    b = SequenceDataset(write_lang_dataset(tmp_path / "b.hdf5", [None, "blue"]), obs_keys=["ep"])
    with pytest.raises(DatasetError, match=r"b.hdf5: observation.language.enabled needs an instruction for every "
                                           "demo, but 1 of 2 demos have none"):
        MultiDataset([a, b], ["a", "b"], [1.0, 1.0]).set_language(Vocabulary(["red", "blue"]))


def test_multi_dataset_batches_use_one_vocabulary(tmp_path):
    a = SequenceDataset(write_lang_dataset(tmp_path / "a.hdf5", ["red", "red"]), obs_keys=["ep"])
    b = SequenceDataset(write_lang_dataset(tmp_path / "b.hdf5", [None, None]), obs_keys=["ep"], lang="blue")
    multi = MultiDataset([a, b], ["a", "b"], [1.0, 1.0])
    assert multi.demo_langs == ["red", "red", "blue", "blue"]
    multi.set_language(Vocabulary.from_instructions(multi.demo_langs))  # <unk>, blue, red
    batch = multi.get_batch(np.arange(len(multi)))
    which = batch[K.DATASET_INDEX].numpy()
    lang = batch[K.OBS][K.LANG][:, 0].numpy()  # (B, V)
    np.testing.assert_array_equal(lang[which == 0], np.tile([0, 0, 1], ((which == 0).sum(), 1)))
    np.testing.assert_array_equal(lang[which == 1], np.tile([0, 1, 0], ((which == 1).sum(), 1)))
