"""bilm-tf vocabulary files: one token per line, most frequent first, with `<S>`, `</S>`
and `<UNK>` (bilm-tf puts them first)."""

import collections
import os

import numpy as np

from elmo_keras.text.char_ids import token_to_char_ids
from elmo_keras.text.special_tokens import BOS_TOKEN as BOS
from elmo_keras.text.special_tokens import EOS_TOKEN as EOS
from elmo_keras.text.special_tokens import UNK_TOKEN as UNK

SPECIAL_TOKENS = (BOS, EOS, UNK)


class VocabularyError(ValueError):
    """A vocabulary file is missing, malformed, or lacks the special tokens."""


class Vocabulary:
    """A token vocabulary read from a bilm-tf vocabulary file.

    Args:
        tokens: the tokens in id order; must contain `<S>`, `</S>` and `<UNK>` once.
        source: name used in error messages (the file path).

    Attributes:
        bos, eos, unk: ids of `<S>`, `</S>`, `<UNK>`.
    """

    def __init__(self, tokens, source="vocabulary"):
        self.tokens = list(tokens)
        self.source = source
        self._ids = {}
        for i, t in enumerate(self.tokens):
            if t in self._ids:
                raise VocabularyError(
                    f"{source}: token {t!r} appears twice (lines {self._ids[t] + 1} and {i + 1})")
            self._ids[t] = i
        missing = [t for t in SPECIAL_TOKENS if t not in self._ids]
        if missing:
            raise VocabularyError(
                f"{source}: missing the special token(s) {', '.join(missing)}; a bilm-tf "
                f"vocabulary holds <S>, </S> and <UNK> (elmo-keras vocab writes them)")
        self.bos, self.eos, self.unk = (self._ids[t] for t in SPECIAL_TOKENS)

    @classmethod
    def load(cls, path):
        """Reads a vocabulary file (UTF-8, one token per line; a byte order mark at the
        start is dropped, as for text input: `elmo_keras.io.text_lines`)."""
        path = os.fspath(path)
        if not os.path.isfile(path):
            raise VocabularyError(f"{path}: vocabulary file does not exist")
        tokens = []
        try:
            with open(path, encoding="utf-8-sig") as f:
                for n, line in enumerate(f, 1):
                    token = line.strip()
                    if not token:
                        raise VocabularyError(f"{path}:{n}: empty line in the vocabulary")
                    if len(token.split()) != 1:
                        raise VocabularyError(
                            f"{path}:{n}: {token!r} holds whitespace; one token per line")
                    if token == "!!!MAXTERMID":  # bilm-tf skips this marker line.
                        continue
                    tokens.append(token)
        except UnicodeDecodeError as e:
            raise VocabularyError(f"{path}: not UTF-8 text ({e})") from None
        return cls(tokens, source=path)

    def __len__(self):
        return len(self.tokens)

    @property
    def size(self):
        return len(self.tokens)

    def __contains__(self, token):
        return token in self._ids

    def encode(self, tokens):
        """Ids of a sentence framed by `<S>` ... `</S>` (`unk` for unknown tokens)."""
        get, unk = self._ids.get, self.unk
        return np.asarray([self.bos] + [get(t, unk) for t in tokens] + [self.eos],
                          dtype=np.int32)

    def char_ids_table(self, max_characters_per_token=50):
        """`[size, max_chars]` character ids of every token (shifted by one, as the char
        CNN reads them; `<S>` and `</S>` are the sentence-boundary characters)."""
        return np.stack([token_to_char_ids(t, max_characters_per_token)
                         for t in self.tokens]).astype(np.int32)

    def save(self, path):
        with open(path, "w", encoding="utf-8") as f:
            for t in self.tokens:
                f.write(t + "\n")


def count_tokens(sentences):
    """Token frequencies of an iterable of sentences (token lists, or whitespace-
    tokenized strings)."""
    counts = collections.Counter()
    for s in sentences:
        counts.update(s.split() if isinstance(s, str) else s)
    return counts


def build_vocabulary(counts, min_count=1, max_size=None):
    """A `Vocabulary`: `<S>`, `</S>`, `<UNK>`, then tokens by decreasing count (ties by
    token, so the file is deterministic), keeping tokens seen at least `min_count` times
    and at most `max_size` entries in all (the special tokens included)."""
    if min_count < 1:
        raise ValueError(f"min_count must be >= 1, got {min_count}")
    if max_size is not None and max_size < len(SPECIAL_TOKENS) + 1:
        raise ValueError(f"max_size must be >= {len(SPECIAL_TOKENS) + 1}, got {max_size}")
    items = sorted(((t, c) for t, c in counts.items()
                    if c >= min_count and t not in SPECIAL_TOKENS),
                   key=lambda tc: (-tc[1], tc[0]))
    tokens = list(SPECIAL_TOKENS) + [t for t, _ in items]
    if max_size is not None:
        tokens = tokens[:max_size]
    return Vocabulary(tokens, source="built vocabulary")
