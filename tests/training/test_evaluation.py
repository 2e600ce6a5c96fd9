"""Evaluation of a trained biLM: the command line prints stateless and stateful
perplexities; stateless means each sentence from zero states."""

import math

import numpy as np

from elmo_keras.apps.cli import main
from elmo_keras.training.evaluation import stateful_perplexity, stateless_perplexity
from elmo_keras.training.language_model import BiLMLanguageModel
from elmo_keras.training.training_options import load_training_options
from elmo_keras.training.vocabulary import Vocabulary
from tests.support.training import TEST, TRAIN, options_file, vocab_file  # noqa: F401


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
