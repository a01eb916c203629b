"""Language instructions as model inputs, with no download: a vocabulary of the training instructions' words.

An instruction ("reach the red target") is lower-cased and split into word tokens (runs of letters and
digits). The vocabulary lists every word of the training instructions after the unknown-word token
`<unk>` (index 0). A word the vocabulary has never seen is encoded as `<unk>`, and the first time that
happens the vocabulary prints one warning line naming the words (a policy cannot know what they mean).

The model input of an instruction is its bag of words: a (V,) float32 vector of word counts divided by the
number of words, so a linear map of it (robokit.models.language.LanguageEncoder) is the mean of learned word
embeddings. In batches it is the observation key `robokit.utils.batch_keys.LANG`, (B, T, V), the same for
every step of an episode. The vocabulary is plain data (`to_dict` / `from_dict`), saved in checkpoints.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable, Sequence

import numpy as np
from termcolor import colored

UNK = "<unk>"
_WORD = re.compile(r"[a-z0-9]+")


def tokenize(text: str) -> list[str]:
    """Lower-cased word tokens of `text`: "Reach the RED target!" -> ["reach", "the", "red", "target"]."""
    if not isinstance(text, str):
        raise TypeError(f"an instruction must be a string, got {type(text).__name__} {text!r}")
    return _WORD.findall(text.lower())


class Vocabulary:
    """Word -> index for the words of the training instructions; index 0 is `<unk>`.

    Args:
        words: the known words (duplicates and order do not matter: they are sorted).
        instructions: the training instructions, kept for messages (which instructions a policy knows).
    """

    def __init__(self, words: Iterable[str], instructions: Sequence[str] = ()):
        self.words = [UNK] + sorted(set(words) - {UNK})
        self.index = {w: i for i, w in enumerate(self.words)}
        self.instructions = sorted(set(instructions))
        self._warned = False

    @classmethod
    def from_instructions(cls, instructions: Iterable[str]) -> "Vocabulary":
        instructions = list(instructions)
        return cls((w for text in instructions for w in tokenize(text)), instructions)

    @property
    def size(self) -> int:
        """V: the number of entries, `<unk>` included."""
        return len(self.words)

    def encode(self, text: str) -> list[int]:
        """Token ids of `text`; unknown words are 0 (`<unk>`), with one warning line the first time."""
        tokens = tokenize(text)
        ids = [self.index.get(w, 0) for w in tokens]
        if not self._warned and 0 in ids:
            unknown = sorted({w for w, i in zip(tokens, ids) if i == 0})
            print(colored(f"warning: instruction {text!r} has words the policy never saw in training "
                          f"({', '.join(unknown)}); they are encoded as {UNK} (known words: "
                          f"{', '.join(self.words[1:])})", "yellow"), file=sys.stderr)
            self._warned = True
        return ids

    def bag_of_words(self, texts: Sequence[str]) -> np.ndarray:
        """(N, V) float32: row i counts the words of texts[i], divided by its number of words (0 for none)."""
        out = np.zeros((len(texts), self.size), dtype=np.float32)
        for row, text in enumerate(texts):
            ids = self.encode(text)
            if ids:
                np.add.at(out[row], ids, 1.0 / len(ids))
        return out

    def to_dict(self) -> dict:
        return {"words": list(self.words), "instructions": list(self.instructions)}

    @classmethod
    def from_dict(cls, d: dict) -> "Vocabulary":
        return cls(d["words"], d.get("instructions", ()))

    def __eq__(self, other) -> bool:
        return isinstance(other, Vocabulary) and self.words == other.words

    def __repr__(self) -> str:
        return f"Vocabulary({self.size} words incl. {UNK}, {len(self.instructions)} training instructions)"
