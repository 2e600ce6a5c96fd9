"""Training text: files checked before training, then streamed as bilm-tf batches.

A corpus is one or more UTF-8 text files, one sentence per line, tokens separated by
whitespace (bilm-tf's format). Nothing holds the corpus in memory: files are read line
by line, shuffled within a bounded buffer.

Batches follow bilm-tf's `_get_batch`: each of the `batch_size` rows is its own stream
of sentences, each framed as `<S> w1 ... wn </S>`; a batch takes the next `unroll_steps`
inputs of every row (a row that runs out of its sentence takes the next sentence of the
shared iterator, rows in order), and the target of each input is the token after it in
the same sentence, so `</S>` is never an input. The backward LM reads the same sentences
reversed (`</S> wn ... w1 <S>`). The LSTM states are carried from batch to batch, row
by row (truncated backpropagation through time).

`sentence_batches` puts one sentence a row instead, each read from its start, as ELMo
embeds a sentence: the batches of the stateless perplexity (`evaluation`).
"""

import dataclasses
import glob
import itertools
import os
import random

import numpy as np

from elmo_keras.io.text_lines import TextFileError, iter_lines
from elmo_keras.text.char_ids import token_to_char_ids
from elmo_keras.text.special_tokens import BOS_TOKEN, EOS_TOKEN


class CorpusError(ValueError):
    """A corpus is empty, unreadable, or breaks a limit of the training options."""


def resolve_files(patterns):
    """Sorted, de-duplicated absolute paths of the files matching one or more glob
    patterns (or paths).

    Raises:
        CorpusError: a pattern matches no file.
    """
    if isinstance(patterns, (str, os.PathLike)):
        patterns = [patterns]
    files = []
    for pattern in patterns:
        pattern = os.fspath(pattern)
        matched = sorted(os.path.abspath(p) for p in glob.glob(pattern) if os.path.isfile(p))
        if not matched:
            raise CorpusError(f"{pattern}: no file matches")
        files.extend(matched)
    return list(dict.fromkeys(files))


def _lines(path):
    """`(line number, tokens)` of the non-blank lines of a file: lines end at `\\n` only
    and a leading byte order mark is dropped (`io.text_lines`, as `elmo-keras embed`
    reads its input), so a sentence is one line whatever else it holds."""
    try:
        for n, line in enumerate(iter_lines(path), 1):
            tokens = line.split()
            if tokens:
                yield n, tokens
    except TextFileError as e:
        raise CorpusError(str(e)) from None


@dataclasses.dataclass
class CorpusStats:
    """What `scan_corpus` found: counts of files, sentences, tokens (without the
    boundaries) and tokens outside the vocabulary."""

    n_files: int
    n_sentences: int
    n_tokens: int
    n_oov: int

    @property
    def n_lm_tokens(self):
        """Predictions per direction per pass: each sentence predicts its tokens and `</S>`."""
        return self.n_tokens + self.n_sentences


def scan_corpus(files, vocab=None, max_sentence_tokens=None):
    """Reads the corpus once and checks it before any training.

    Args:
        files: file paths (see `resolve_files`).
        vocab: a `Vocabulary` to count unknown tokens, or None.
        max_sentence_tokens: a line with more tokens than this is an error (a corpus
            that is not one sentence per line), or None for no limit.

    Returns:
        `CorpusStats`.

    Raises:
        CorpusError: a file is not UTF-8, a line is too long, or there is no token.
    """
    n_sent = n_tok = n_oov = 0
    for path in files:
        for n, tokens in _lines(path):
            k = len(tokens)
            if max_sentence_tokens is not None and k > max_sentence_tokens:
                raise CorpusError(
                    f"{path}:{n}: {k} tokens on one line, more than "
                    f"max_sentence_tokens={max_sentence_tokens}; the corpus must hold one "
                    "sentence per line (raise max_sentence_tokens in the options file if "
                    "such lines are intended)")
            n_sent += 1
            n_tok += k
            if vocab is not None:
                n_oov += sum(1 for t in tokens if t not in vocab)
    if n_tok == 0:
        raise CorpusError(f"{', '.join(files)}: the corpus holds no token (empty files?)")
    return CorpusStats(len(files), n_sent, n_tok, n_oov)


def iter_sentences(files, shuffle=False, seed=0, epoch=0, shuffle_buffer=100_000,
                   shard_index=0, num_shards=1, interleave=1):
    """The sentences (token lists) of one pass over the corpus.

    With `shuffle`, the file order and the sentences (within a buffer of
    `shuffle_buffer` lines) are shuffled, reproducibly from `(seed, epoch)`, and
    `interleave` files are read at once: each sentence comes from one of them, drawn at
    random in proportion to the file's size (so the files run out together, and every
    stretch of the pass mixes them); when one ends, the next file in the shuffled order
    joins. `interleave=1` reads the files one after another. With `num_shards > 1`,
    only every `num_shards`-th sentence from `shard_index` on (one input pipeline of
    several workers).
    """
    rng = random.Random(f"{seed}:{epoch}")
    files = list(files)
    if shuffle:
        rng.shuffle(files)
    lines = _interleaved(files, random.Random(f"{seed}:{epoch}:files"), interleave) \
        if shuffle and interleave > 1 else (t for path in files for _, t in _lines(path))
    buffer = []
    k = 0
    for tokens in lines:
        k += 1
        if (k - 1) % num_shards != shard_index:
            continue
        if not shuffle:
            yield tokens
            continue
        if len(buffer) < shuffle_buffer:
            buffer.append(tokens)
            continue
        i = rng.randrange(len(buffer))
        yield buffer[i]
        buffer[i] = tokens
    rng.shuffle(buffer)
    yield from buffer


def _interleaved(files, rng, width):
    """The sentences of `files`, up to `width` files open at once, each next sentence
    from an open file drawn by `rng` in proportion to its size in bytes."""
    pending = list(files)
    open_files = []  # [iterator, weight]

    def open_next():
        path = pending.pop(0)
        open_files.append([_lines(path), max(os.path.getsize(path), 1)])

    while pending and len(open_files) < width:
        open_next()
    while open_files:
        cumulative = list(itertools.accumulate(w for _, w in open_files))
        while True:
            i = rng.choices(range(len(open_files)), cum_weights=cumulative)[0]
            item = next(open_files[i][0], None)
            if item is None:
                break
            yield item[1]
        del open_files[i]
        if pending:
            open_next()


class _Row:
    """One row's current sentence: framed tokens, ids both ways, and the position."""

    __slots__ = ("tokens", "ids", "pos")

    def __init__(self):
        self.tokens, self.ids, self.pos = None, None, 0

    def remaining(self):
        return 0 if self.ids is None else self.ids.shape[1] - 1 - self.pos


class StreamBatcher:
    """bilm-tf's batches of `batch_size` rows x `unroll_steps` tokens, both directions.

    Each batch is a dict of NumPy arrays, rows first:

    - `token_ids` int32 `[B, 2, T]`: the inputs' vocabulary ids (forward, backward);
    - `char_ids` int32 `[B, 2, T, max_chars]` (when `char_inputs`): the inputs'
      characters, shifted by one as the char CNN reads them (an unknown token keeps its
      own characters);
    - `targets` int32 `[B, 2, T]`: the next token's id;
    - `weights` float32 `[B, 2, T]`: 1 for a real prediction, 0 for padding (only the
      end of a finite pass pads, with `drop_remainder=False`).

    Args:
        sentences: iterator of token lists.
        vocab: a `Vocabulary`.
        batch_size, unroll_steps: rows and steps of a batch.
        char_inputs: also build `char_ids`.
        max_characters_per_token: characters per token.
        drop_remainder: at the end of `sentences`, drop the incomplete batch (bilm-tf) or
            pad it and go on until every row's sentence is done (nothing is lost: used
            for evaluation).
    """

    def __init__(self, sentences, vocab, batch_size, unroll_steps, char_inputs=True,
                 max_characters_per_token=50, drop_remainder=True):
        self.sentences = iter(sentences)
        self.vocab = vocab
        self.batch_size = int(batch_size)
        self.unroll_steps = int(unroll_steps)
        self.char_inputs = char_inputs
        self.max_chars = int(max_characters_per_token)
        self.drop_remainder = drop_remainder
        self.rows = [_Row() for _ in range(self.batch_size)]
        self.exhausted = False
        self._char_table = vocab.char_ids_table(self.max_chars) if char_inputs else None
        self._unk_token = vocab.tokens[vocab.unk]

    def _refill(self, row):
        if self.exhausted:
            return False
        try:
            tokens = next(self.sentences)
        except StopIteration:
            self.exhausted = True
            return False
        ids = self.vocab.encode(tokens)
        row.tokens = [BOS_TOKEN] + list(tokens) + [EOS_TOKEN]
        row.ids = np.stack([ids, ids[::-1]])  # [2, n]: forward, backward
        row.pos = 0
        return True

    def __iter__(self):
        return self

    def __next__(self):
        return self.next_batch(build=True)

    def skip(self, n):
        """Advances `n` batches without building their arrays (resuming a run)."""
        for _ in range(int(n)):
            self.next_batch(build=False)

    def next_batch(self, build=True):
        """The next batch (or None when `build` is false); StopIteration at the end."""
        B, T = self.batch_size, self.unroll_steps
        if build:
            ids = np.zeros((B, 2, T), np.int32)
            targets = np.zeros((B, 2, T), np.int32)
            weights = np.zeros((B, 2, T), np.float32)
            oov = []  # (row, direction, step, token) of inputs outside the vocabulary
        any_real = False
        for i, row in enumerate(self.rows):
            t = 0
            while t < T:
                if row.remaining() <= 0 and not self._refill(row):
                    break
                k = min(row.remaining(), T - t)
                if build:
                    a = row.pos
                    ids[i, :, t:t + k] = row.ids[:, a:a + k]
                    targets[i, :, t:t + k] = row.ids[:, a + 1:a + k + 1]
                    weights[i, :, t:t + k] = 1.0
                    if self.char_inputs:
                        n = len(row.tokens)
                        for d in range(2):
                            for j in np.nonzero(row.ids[d, a:a + k] == self.vocab.unk)[0]:
                                p = a + j
                                token = row.tokens[p if d == 0 else n - 1 - p]
                                if token != self._unk_token:
                                    oov.append((i, d, t + j, token))
                row.pos += k
                t += k
                any_real = True
            if t < T and self.exhausted and self.drop_remainder:
                raise StopIteration
        if not any_real:
            raise StopIteration
        if not build:
            return None
        batch = {"token_ids": ids, "targets": targets, "weights": weights}
        if self.char_inputs:
            batch["char_ids"] = _char_ids(self._char_table, ids, weights, oov,
                                          self.max_chars)
        return batch


def _char_ids(char_table, ids, weights, oov, max_chars):
    """`[B, 2, T, max_chars]` character ids of a batch's inputs: the vocabulary's table,
    zero where `weights` is 0, and their own characters for the `(row, direction, step,
    token)` entries of `oov` (inputs outside the vocabulary)."""
    chars = char_table[ids]
    chars[weights == 0] = 0
    for i, d, t, token in oov:
        chars[i, d, t] = token_to_char_ids(token, max_chars)
    return chars


def sentence_batches(sentences, vocab, batch_size, char_inputs=True,
                     max_characters_per_token=50, length_multiple=8, sort_window=10_000):
    """Batches of one sentence per row, each read from its first token: how ELMo
    embeds a sentence (from zero LSTM states), for the stateless perplexity.

    Row `i` holds `<S> w1 ... wn` (forward inputs, targets `w1 ... wn </S>`) and
    `</S> wn ... w1` (backward inputs, targets `wn ... w1 <S>`), padded at the end
    (weight 0) to the batch's longest sentence, rounded up to `length_multiple` steps
    (few distinct shapes to compile). Within windows of `sort_window` sentences,
    sentences are grouped by length (less padding; every sentence counts once, so the
    perplexity does not depend on the order). The last batch has padding rows. The
    arrays are those of `StreamBatcher`.
    """
    max_chars = int(max_characters_per_token)
    char_table = vocab.char_ids_table(max_chars) if char_inputs else None
    unk_token = vocab.tokens[vocab.unk]
    it = iter(sentences)
    while True:
        window = sorted(itertools.islice(it, sort_window), key=len)
        if not window:
            return
        for start in range(0, len(window), batch_size):
            chunk = window[start:start + batch_size]
            steps = max(len(s) for s in chunk) + 1
            steps = -(-steps // length_multiple) * length_multiple
            shape = (batch_size, 2, steps)
            ids = np.zeros(shape, np.int32)
            targets = np.zeros(shape, np.int32)
            weights = np.zeros(shape, np.float32)
            oov = []
            for i, tokens in enumerate(chunk):
                framed = vocab.encode(tokens)
                n = len(framed) - 1
                for d, seq in enumerate((framed, framed[::-1])):
                    ids[i, d, :n] = seq[:-1]
                    targets[i, d, :n] = seq[1:]
                weights[i, :, :n] = 1.0
                if char_inputs:
                    for j in np.nonzero(framed == vocab.unk)[0]:
                        token = tokens[j - 1]
                        if token != unk_token:  # its own characters, both directions
                            oov.append((i, 0, j, token))
                            oov.append((i, 1, n - j, token))
            batch = {"token_ids": ids, "targets": targets, "weights": weights}
            if char_inputs:
                batch["char_ids"] = _char_ids(char_table, ids, weights, oov, max_chars)
            yield batch


def training_batches(files, vocab, opts, rows, start_step=0, shard_index=0, num_shards=1):
    """The endless, deterministic batch stream of a training run (one input pipeline of
    `num_shards`, `rows` rows a batch; `opts` a `TrainingOptions`): passes over the
    corpus shuffled by `(seed, epoch)`, fast-forwarded past the first `start_step`
    batches."""

    def sentences():
        epoch = 0
        while True:
            n = 0
            for n, tokens in enumerate(iter_sentences(
                    files, shuffle=opts.shuffle, seed=opts.seed, epoch=epoch,
                    shuffle_buffer=opts.shuffle_buffer, interleave=opts.interleave_files,
                    shard_index=shard_index,
                    num_shards=num_shards), 1):
                yield tokens
            if n == 0:
                raise CorpusError(f"input pipeline {shard_index} of {num_shards} gets no "
                                    "sentence: the corpus has fewer sentences than workers")
            epoch += 1

    batcher = StreamBatcher(sentences(), vocab, rows, opts.unroll_steps,
                            **opts.batch_arguments())
    batcher.skip(start_step)
    return batcher
