"""Perplexity of a trained biLM, by the two ways a biLM is used.

- **Stateless** (`stateless_perplexity`): every sentence read alone from zero LSTM
  states, framed by `<S>` ... `</S>`: exactly how ELMo embeddings are computed (the
  default everywhere in this package). This is the number that says how good the
  representations are.
- **Stateful** (`stateful_perplexity`): bilm-tf's test protocol: sentences packed into
  `batch_size` rows, the states carried from sentence to sentence through each row
  (`unroll_steps` tokens a batch). This is the number bilm-tf and the ELMo paper report.

Both use the full softmax and count every token and every `</S>` once per direction.
The loop holds no TensorFlow: its step is compiled by the backend (`layers.kernels`),
and every backend's training run validates with it.
"""

import weakref

import keras
import numpy as np

from elmo_keras.layers.kernels import kernels
from elmo_keras.training.corpus import (StreamBatcher, iter_sentences, resolve_files,
                                        scan_corpus, sentence_batches)
from elmo_keras.training.errors import TrainingError
from elmo_keras.training.trained_model import load_trained


_COMPILED = weakref.WeakKeyDictionary()  # lm -> {"sums"|"losses": compiled call}


def _compiled_call(lm, what="sums"):
    """`step(batch, states)`: `lm`'s inference call (`what="sums"`) or its
    `token_losses` (`"losses"`) compiled the backend's way (`layers.kernels`:
    `tf.function`, `jax.jit` with the weights as arguments, eager PyTorch without
    gradients); shapes seen before reuse their trace, in this call and in every later
    one on the same `lm` (a training run validates after each epoch: tracing again each
    time cost more than the tiny test models' validation itself)."""
    calls = _COMPILED.setdefault(lm, {})
    if what not in calls:
        model = weakref.ref(lm)  # the cache must not keep `lm` alive
        fn = {"sums": lambda batch, states: model()(batch, states, training=False),
              "losses": lambda batch, states: model().token_losses(batch, states)}[what]
        calls[what] = kernels().compiled(fn, lm.variables, [], layers=[lm])
    return calls[what]


def _perplexities(totals, count, files):
    if count == 0:
        raise TrainingError(f"{', '.join(files)}: no token to evaluate")
    losses = np.asarray(totals) / count
    return {"forward": float(np.exp(losses[0])), "backward": float(np.exp(losses[1])),
            "average": float(np.exp(losses.mean())), "n_tokens": int(count)}


def _compacted(batch, states, rows, smallest=16):
    """The batch and states for the rows still reading, once others have finished.

    After the text runs out, a stateful pass pads the rows that are done while the
    others finish their sentences one by one (the whole sample test in 256 rows: 206
    batches, 76% of them padding). A row with no real token in a batch never gets another
    (only the end pads), so the rows still reading go on alone, with their states, in a
    batch of the full size halved as often as they fit (down to `smallest` rows; a few
    shapes to compile). Rows are independent: the losses are those of the full batch.

    Args:
        batch: the batcher's full batch. states: the states of `rows`.
        rows: the batch rows the states belong to (None: all of them).

    Returns:
        `(batch, states, rows)` for the step.
    """
    weights = batch["weights"]
    if rows is None:
        rows = np.arange(len(weights))
    live = np.flatnonzero(weights[rows].reshape(len(rows), -1).any(axis=1))
    size = len(rows)
    while size // 2 >= max(len(live), smallest):
        size //= 2
    if size < len(rows):
        done = np.setdiff1d(np.arange(len(rows)), live)
        keep = np.concatenate([live, done[:size - len(live)]])
        states = keras.tree.map_structure(lambda s: keras.ops.take(s, keep, axis=2), states)
        rows = rows[keep]
    if len(rows) < len(weights):
        batch = {k: v[rows] for k, v in batch.items()}
    return batch, states, rows


def _run(lm, batches, step, states, carry, files, verbose):
    totals, count = np.zeros(2), 0.0
    bar = keras.utils.Progbar(None, verbose=verbose, unit_name="batch")
    rows = None
    for n, batch in enumerate(batches, 1):
        if carry:
            batch, states, rows = _compacted(batch, states, rows)
        sums, c, new_states = step(batch, states)
        if carry:
            states = new_states
        totals += np.asarray(sums, "float64")
        count += float(c)
        bar.update(n, values=[("ppl", float(np.exp(totals.mean() / max(count, 1))))])
    return _perplexities(totals, count, files)


def stateful_perplexity(lm, vocab, files, batch_size=256, unroll_steps=1, verbose=0):
    """bilm-tf's test protocol: `batch_size` rows of sentences, states carried through
    each row, `unroll_steps` tokens a batch; the last batch is padded, not dropped.

    Args:
        lm: a `BiLMLanguageModel`.
        vocab: its `Vocabulary`.
        files: corpus file paths.
        batch_size, unroll_steps: rows and tokens of a batch (bilm-tf: 256 and 1).
        verbose: 0 silent, 1 progress bar.

    Returns:
        dict `forward`, `backward`, `average` (exp of the mean of the two losses, the
        perplexity of bilm-tf's total loss) and `n_tokens` (predictions per direction).
    """
    batches = StreamBatcher(iter_sentences(files), vocab, batch_size, unroll_steps,
                            drop_remainder=False, **lm.options.batch_arguments())
    step = _compiled_call(lm)
    return _run(lm, batches, step, lm.zero_states(batch_size), True, files, verbose)


def stateless_perplexity(lm, vocab, files, batch_size=64, verbose=0):
    """Each sentence alone from zero states, as ELMo embeds it (see the module).

    Args:
        lm: a `BiLMLanguageModel`. vocab: its `Vocabulary`. files: corpus file paths.
        batch_size: sentences a batch (does not change the result).
        verbose: 0 silent, 1 progress bar.

    Returns:
        dict `forward`, `backward`, `average`, `n_tokens`, as `stateful_perplexity`.
    """
    batches = sentence_batches(iter_sentences(files), vocab, batch_size,
                               **lm.options.batch_arguments())
    step = _compiled_call(lm)
    return _run(lm, batches, step, lm.zero_states(batch_size), False, files, verbose)


def evaluate_lm(lm, vocab, files, batch_size=256, unroll_steps=1, verbose=0):
    """Both perplexities of each LM over every token of `files`.

    Returns:
        bilm-tf's stateful numbers (`forward`, `backward`, `average`, `n_tokens`, see
        `stateful_perplexity`; `batch_size`, `unroll_steps` are its) and, under
        `stateless`, the same keys from zero states (`stateless_perplexity`).
    """
    result = stateful_perplexity(lm, vocab, files, batch_size, unroll_steps, verbose)
    result["stateless"] = stateless_perplexity(lm, vocab, files, verbose=verbose)
    return result


def evaluate(model_dir, test_files, batch_size=256, unroll_steps=1, verbose=0):
    """Test perplexities of a trained directory (see `evaluate_lm`).

    Examples:

    >>> r = evaluate("runs/alice", "alice/test.txt")  # doctest: +SKIP
    >>> r["stateless"]["forward"], r["forward"]  # doctest: +SKIP
    """
    lm, _, vocab = load_trained(model_dir)
    files = resolve_files(test_files)
    scan_corpus(files, vocab)
    return evaluate_lm(lm, vocab, files, batch_size, unroll_steps, verbose)


def unigram_perplexity(train_files, test_files, vocab):
    """Perplexity of an add-one unigram model of `train_files` over `vocab` (unknown
    words as `<UNK>`, one `</S>` a sentence) on `test_files`: the floor a biLM must
    beat in either direction."""
    counts = np.ones(vocab.size)
    for tokens in iter_sentences(train_files):
        np.add.at(counts, vocab.encode(tokens)[1:], 1)
    logp = np.log(counts / counts.sum())
    ids = np.concatenate([vocab.encode(t)[1:] for t in iter_sentences(test_files)])
    return float(np.exp(-logp[ids].mean()))


def sentence_token_losses(lm, vocab, sentences, batch_size=64):
    """Each sentence read alone (zero states, as ELMo reads it) by both LMs: the
    cross-entropy of every prediction, to score texts or compare contexts.

    Args:
        lm: a `BiLMLanguageModel`. vocab: its `Vocabulary`.
        sentences: token lists.
        batch_size: sentences a batch (does not change the result).

    Returns:
        one float32 `[2, n + 1]` array per sentence of `n` tokens, in order: row 0 the
        forward LM's `-log p` of `w1 ... wn </S>`, row 1 the backward LM's of
        `wn ... w1 <S>`.
    """
    sentences = [list(s) for s in sentences]
    # `sentence_batches` groups its window's sentences by length (a stable sort); one
    # window of all of them, in this order, maps its rows back to the sentences.
    order = sorted(range(len(sentences)), key=lambda i: len(sentences[i]))
    step = _compiled_call(lm, "losses")
    states = lm.zero_states(batch_size)
    out, k = [None] * len(sentences), 0
    for batch in sentence_batches((sentences[i] for i in order), vocab, batch_size,
                                  sort_window=max(1, len(sentences)),
                                  **lm.options.batch_arguments()):
        losses, _ = step(batch, states)
        losses = np.asarray(losses)
        for row in range(min(batch_size, len(order) - k)):
            n = len(sentences[order[k]]) + 1
            out[order[k]] = losses[row, :, :n]
            k += 1
    return out
