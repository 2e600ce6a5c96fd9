"""Evaluation of a trained biLM: the command line prints stateless and stateful
perplexities; stateless means each sentence from zero states."""

import math

import numpy as np
import pytest

from elmo_keras.apps.cli import main
from elmo_keras.training.evaluation import stateful_perplexity, stateless_perplexity
from elmo_keras.training.language_model import BiLMLanguageModel
from elmo_keras.training.training_options import load_training_options
from elmo_keras.training.vocabulary import Vocabulary
from tests.support.training import TEST, TRAIN, options_file, vocab_file  # noqa: F401


@pytest.mark.slow  # trains, evaluates and exports
def test_evaluate_command_prints_perplexity_line(tmp_path, vocab_file, capsys):
    run = str(tmp_path / "run")
    assert main(["train", "--options", options_file(tmp_path), "--vocab", vocab_file,
                 "--train", TRAIN, "--out", run, "--max-steps", "3"]) == 0
    assert main(["evaluate", run, "--test", TEST]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    last = lines[-1]  # bilm-tf's stateful protocol, as before
    fw, bw, avg = (float(x.split("=")[1]) for x in last.split()[1:])
    assert last.startswith("perplexity forward=")
    assert math.isclose(avg, math.sqrt(fw * bw), rel_tol=1e-3)
    assert lines[-2].startswith("stateless perplexity forward=")
    fw, bw, avg = (float(x.split("=")[1]) for x in lines[-2].split()[2:])
    assert math.isclose(avg, math.sqrt(fw * bw), rel_tol=1e-3)
    # A second train into the same directory is refused; export-hub takes the directory.
    assert main(["train", "--options", options_file(tmp_path), "--vocab", vocab_file,
                 "--train", TRAIN, "--out", run]) == 2
    assert main(["export-hub", str(tmp_path / "hub"), "--model", run]) == 0
    assert (tmp_path / "hub" / "saved_model.pb").exists()



def test_stateless_perplexity_is_each_sentence_alone_from_zero_states(tmp_path, vocab_file):
    """One batch of sentences (grouped by length, padded) gives the perplexity of
    running each sentence alone in a one-row stateful pass, which starts from zero."""
    lm = BiLMLanguageModel(load_training_options(options_file(tmp_path)), 1449)
    vocab = Vocabulary.load(vocab_file)
    sentences = [s for s in open(TEST, encoding="utf-8") if s.split()][:7]
    sentences.append("Zyxwv unseen-word , Alice !\n")  # outside the vocabulary
    (tmp_path / "all.txt").write_text("".join(sentences))
    got = stateless_perplexity(lm, vocab, [str(tmp_path / "all.txt")], batch_size=4)
    log_likelihood, n = np.zeros(2), 0
    for i, s in enumerate(sentences):
        path = tmp_path / f"s{i}.txt"
        path.write_text(s)
        r = stateful_perplexity(lm, vocab, [str(path)], batch_size=1, unroll_steps=9)
        log_likelihood += r["n_tokens"] * np.log([r["forward"], r["backward"]])
        n += r["n_tokens"]
    assert got["n_tokens"] == n == sum(len(s.split()) + 1 for s in sentences)
    np.testing.assert_allclose([got["forward"], got["backward"]],
                               np.exp(log_likelihood / n), rtol=1e-5)


def test_sentence_token_losses_are_each_sentence_alone_in_input_order(tmp_path, vocab_file):
    """Per-token losses, sentences of mixed lengths over several batches, come back in
    input order; each sentence's sums are its one-row stateful perplexity's, and a
    token's loss depends only on the tokens before it (forward) or after it
    (backward)."""
    from elmo_keras.training.evaluation import sentence_token_losses

    lm = BiLMLanguageModel(load_training_options(options_file(tmp_path)), 1449)
    vocab = Vocabulary.load(vocab_file)
    sentences = [s.split() for s in open(TEST, encoding="utf-8") if s.split()][:9]
    sentences += [["Zyxwv", "Alice", "!"], []]
    got = sentence_token_losses(lm, vocab, sentences, batch_size=4)
    assert [g.shape for g in got] == [(2, len(s) + 1) for s in sentences]
    for i, s in enumerate(sentences):
        path = tmp_path / f"s{i}.txt"
        path.write_text(" ".join(s) + "\n")
        if s:
            r = stateful_perplexity(lm, vocab, [str(path)], batch_size=1, unroll_steps=7)
            np.testing.assert_allclose(got[i].mean(axis=1),
                                       np.log([r["forward"], r["backward"]]), rtol=1e-5)
    # A changed last token leaves the forward losses before it and the backward losses
    # after it (in reading order: the backward LM reads from the end) alone.
    s = sentences[0]
    a, b = sentence_token_losses(lm, vocab, [s, s[:-1] + ["Queen"]])
    n = len(s)
    np.testing.assert_allclose(a[0, :n - 1], b[0, :n - 1], rtol=1e-6)
    assert not np.allclose(a[0, n - 1:], b[0, n - 1:])
    assert not np.allclose(a[1], b[1])


def test_stateful_rows_that_finish_are_dropped_from_the_batch_same_numbers(
        tmp_path, vocab_file, monkeypatch):
    """After the text runs out, the rows still reading go on in smaller batches with
    their own states: the perplexities are those of the full padded batches."""
    from elmo_keras.training import evaluation

    lm = BiLMLanguageModel(load_training_options(options_file(tmp_path)), 1449)
    vocab = Vocabulary.load(vocab_file)
    sizes = []
    compacted = evaluation._compacted

    def recording(batch, states, rows):
        batch, states, rows = compacted(batch, states, rows)
        sizes.append(len(batch["weights"]))
        return batch, states, rows

    monkeypatch.setattr(evaluation, "_compacted", recording)
    got = stateful_perplexity(lm, vocab, [TEST], batch_size=64, unroll_steps=3)
    assert sizes[0] == 64 and 16 in sizes, sizes  # it did shrink, to the smallest size
    assert sizes == sorted(sizes, reverse=True)
    monkeypatch.setattr(evaluation, "_compacted", lambda batch, states, rows: (
        batch, states, rows))
    full = stateful_perplexity(lm, vocab, [TEST], batch_size=64, unroll_steps=3)
    assert got["n_tokens"] == full["n_tokens"]
    np.testing.assert_allclose([got["forward"], got["backward"]],
                               [full["forward"], full["backward"]], rtol=1e-5)
