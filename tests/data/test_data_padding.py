"""Windows that run mostly past the end of every demo: a warning with the padded fraction, refused above a bound."""

import pytest

from robokit.data import SequenceDataset
from robokit.data.sequence_dataset import PADDED_MAX, PADDED_WARN
from robokit.errors import DatasetError


def padded_fraction(lengths, seq_length):
    """By hand: sample t of an episode of length L pads max(0, t + seq_length - L) of its seq_length steps."""
    padded = sum(max(0, t + seq_length - L) for L in lengths for t in range(L))
    return padded / (sum(lengths) * seq_length)


def test_hand_computed_fractions_bracket_the_bounds():
    assert padded_fraction((5, 4), 3) < PADDED_WARN < padded_fraction((5, 4), 10) < PADDED_MAX
    assert padded_fraction((5, 4), 40) > PADDED_MAX


def test_short_windows_train_silently(make_dataset, capsys):
    SequenceDataset(make_dataset(lengths=(5, 4)), obs_keys=["step"], seq_length=3)
    assert "padding" not in capsys.readouterr().err


def test_mostly_padded_windows_warn_with_the_fraction(make_dataset, capsys):
    SequenceDataset(make_dataset(lengths=(5, 4)), obs_keys=["step"], seq_length=10)
    err = capsys.readouterr().err
    assert f"{padded_fraction((5, 4), 10):.0%} of the sampled action steps" in err and "seq_length=10" in err


def test_windows_that_are_nearly_all_padding_are_refused(make_dataset):
    with pytest.raises(DatasetError, match=f"{padded_fraction((5, 4), 40):.0%} of the sampled.*lower train.seq_length"):
        SequenceDataset(make_dataset(lengths=(5, 4)), obs_keys=["step"], seq_length=40)


def test_without_sequence_padding_nothing_is_checked(make_dataset, capsys):
    SequenceDataset(make_dataset(lengths=(5, 4)), obs_keys=["step"], seq_length=4, pad_seq_length=False)
    assert "padding" not in capsys.readouterr().err
