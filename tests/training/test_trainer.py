"""biLM training on real English text: learning from default options (both
directions better than a unigram model, from zero and from carried states), the
published format, bfloat16, token inputs, state resets and bad input; and a run
written before the one training loop resumes as it would have."""

import json
import math
import os
import shutil

import h5py
import numpy as np
import pytest

from elmo_keras import batch_to_ids, load_bilm
from elmo_keras.apps.cli import main
from elmo_keras.io.bilm_options import OptionsError
from elmo_keras.training import TrainingError, evaluate, load_trained, train
from elmo_keras.training.corpus import CorpusError
from elmo_keras.training.evaluation import evaluate_lm, unigram_perplexity
from elmo_keras.training.language_model import BiLMLanguageModel
from elmo_keras.training.vocabulary import Vocabulary, VocabularyError
from tests.conftest import FIXTURES
from tests.support.training import (TEST, TINY, TRAIN, VALID, options_file,  # noqa: F401
                                    read_history, vocab_file)


def test_a_run_started_before_the_one_training_loop_resumes_as_it_would_have(tmp_path):
    # tests/fixtures/tf_run_before_issue21: a TensorFlow run stopped at step 3 by the
    # code before `trainer.train` ran every backend, and that code's steps 4-6.
    fixture = FIXTURES / "tf_run_before_issue21"
    run = tmp_path / "run"
    shutil.copytree(fixture / "run", run)
    record = json.loads((run / "run.json").read_text())
    record["train_files"] = [TRAIN]
    (run / "run.json").write_text(json.dumps(record))
    train(str(run), resume=True, max_steps=6, log_every=1, verbose=0)
    want = json.loads((fixture / "continuation.json").read_text())
    got = read_history(run)
    assert [e["step"] for e in got] == [e["step"] for e in want] == list(range(1, 7))
    for g, w in zip(got, want):
        for key in ("train_perplexity_forward", "train_perplexity_backward", "grad_norm"):
            assert math.isclose(g[key], w[key], rel_tol=1e-6), (key, g, w)
    # Its checkpoint (LSTM kernels stored input-major then) loads alone too, transposed.
    import tensorflow as tf

    from elmo_keras.training import load_checkpoint_weights
    from elmo_keras.training.backends.generic import weight_names
    lm, _, _ = load_trained(str(run))
    fresh = BiLMLanguageModel(lm.options, lm.vocab_size)
    old = str(fixture / "run" / "checkpoints" / "ckpt-3")
    load_checkpoint_weights(fresh, old)
    reader = tf.train.load_checkpoint(old)
    for name, v in zip(weight_names(fresh.lm_variables), fresh.lm_variables):
        value = reader.get_tensor(f"weights/{name.replace('.', '..')}/.ATTRIBUTES/VARIABLE_VALUE")
        lstm_kernel = name.startswith("bilm.") and name.endswith("kernel")
        np.testing.assert_array_equal(v.numpy(), value.T if lstm_kernel else value)


def test_bad_input_fails_before_training(tmp_path, vocab_file):
    opts = options_file(tmp_path)
    empty = tmp_path / "empty.txt"
    empty.write_text("\n  \n")
    long_line = tmp_path / "long.txt"
    long_line.write_text("a short line .\n" + " ".join(["word"] * 1500) + "\n")
    no_specials = tmp_path / "vocab.txt"
    no_specials.write_text("the\n,\n.\n")
    latin1 = tmp_path / "latin1.txt"
    latin1.write_bytes("caf\xe9 au lait .\n".encode("latin-1"))
    cases = [
        (dict(train_files=str(empty)), CorpusError, "holds no token"),
        (dict(train_files=str(tmp_path / "none*.txt")), CorpusError, "no file matches"),
        (dict(train_files=str(long_line)), CorpusError,
         r"long\.txt:2: 1500 tokens on one line, more than max_sentence_tokens=1000"),
        (dict(train_files=str(latin1)), CorpusError, "not UTF-8"),
        (dict(train_files=TRAIN, vocab=str(no_specials)), VocabularyError,
         "missing the special token"),
        (dict(train_files=TRAIN, options=options_file(tmp_path, n_tokens_vocab=50)), OptionsError,
         r"n_tokens_vocab=50 but the vocabulary .* has 1449 tokens"),
        (dict(train_files=TRAIN, options=options_file(tmp_path, dropout=1.5)), OptionsError,
         "dropout must be in"),
        (dict(train_files=TRAIN, valid_files=str(empty)), CorpusError, "holds no token"),
        (dict(train_files=TRAIN, resume=True), TrainingError, "nothing to resume"),
    ]
    for i, (kwargs, error, match) in enumerate(cases):
        args = dict(options=opts, vocab=vocab_file)
        args.update(kwargs)
        run = tmp_path / f"run{i}"
        with pytest.raises(error, match=match):
            train(str(run), **args)
        assert not (run / "checkpoints").exists()
    # The command line says the same in one line, exit status 2.
    assert main(["train", "--options", opts, "--vocab", vocab_file, "--train", str(empty),
                 "--out", str(tmp_path / "cli")]) == 2


@pytest.mark.slow
def test_tiny_model_learns_alice_from_the_default_options_and_round_trips_the_format(
        tmp_path, vocab_file):
    """Trained from the default options (only the tiny architecture and a small batch
    given), 200 steps, validated every epoch: it learns; each LM beats a unigram model
    of the training text on held-out text, from zero states (each sentence alone, as
    ELMo embeds) and with states carried through 8 rows of sentences (bilm-tf's
    protocol); the published files give the very same model, and `evaluate` from them
    agrees with the model in memory. (One run for all: training is this test's cost.)"""
    options = tmp_path / "options.json"
    options.write_text(json.dumps({"char_cnn": TINY["char_cnn"], "lstm": TINY["lstm"],
                                   "batch_size": 16}))
    run = str(tmp_path / "run")
    result = train(run, TRAIN, str(options), vocab_file, VALID, max_steps=200, log_every=25,
                   verbose=0)
    vocab = Vocabulary.load(vocab_file)
    unigram = unigram_perplexity([TRAIN], [VALID], vocab)
    valid = [e["valid_perplexity"] for e in read_history(run) if "valid_perplexity" in e]
    assert len(valid) == 3  # after each of 2 epochs (88 steps) and at the last step, 200
    # Measured (AMD EPYC): unigram 189.6; the biLM 156.9 after 88 steps, 115.1 after
    # 176, 111.6 after 200.
    print("unigram", unigram, "valid", valid)
    assert valid[-1] < 0.7 * unigram, (valid, unigram)
    train_ppl = [e["train_perplexity"] for e in read_history(run) if "train_perplexity" in e]
    assert train_ppl[-1] < 0.5 * train_ppl[0]
    assert os.path.getsize(os.path.join(run, "learning_curve.png")) > 10_000
    r = evaluate(run, VALID, batch_size=8, unroll_steps=20, verbose=0)
    print("stateless", r["stateless"], "stateful", r)
    for protocol, got in (("stateless", r["stateless"]), ("stateful", r)):
        for direction in ("forward", "backward"):
            assert got[direction] < unigram, (protocol, direction, got, unigram)

    # The published files give the very same model.
    trained = result["elmo"]
    loaded = load_bilm(os.path.join(run, "options.json"), os.path.join(run, "weights.hdf5"))
    assert json.load(open(os.path.join(run, "options.json")))["char_cnn"]["n_characters"] == 262
    ids = batch_to_ids([["Alice", "was", "beginning", "to", "get", "tired", "."],
                        ["The", "Queen", "shouted", "!"]])
    a, b = trained(ids), loaded(ids)
    np.testing.assert_array_equal(a["lm_embeddings"].numpy(), b["lm_embeddings"].numpy())
    # ... and evaluate (from the files) agrees with the in-memory model.
    lm, _, _ = load_trained(run)
    in_memory = BiLMLanguageModel(lm.options, vocab.size, elmo=trained)
    for s_mem, s_file in zip(in_memory.softmaxes, lm.softmaxes):
        s_mem.kernel.assign(s_file.kernel)
        s_mem.bias.assign(s_file.bias)
    files = evaluate(run, TEST, verbose=0)
    memory = evaluate_lm(in_memory, vocab, [TEST], verbose=0)
    assert files == memory
    assert files["n_tokens"] == 3429 + 143  # every token and every </S>



def test_bfloat16_training_runs_and_learns(tmp_path, vocab_file):
    run = str(tmp_path / "run")
    train(run, TRAIN, options_file(tmp_path), vocab_file, max_steps=30, log_every=10,
          mixed_precision="bfloat16", verbose=0)
    ppl = [e["train_perplexity"] for e in read_history(run)]
    assert ppl[-1] < 0.5 * ppl[0], ppl
    with h5py.File(os.path.join(run, "weights.hdf5")) as f:
        assert f["char_embed"].dtype == np.float32



@pytest.mark.slow  # trains and evaluates
def test_token_input_bilm_trains_evaluates_and_says_it_cannot_embed(tmp_path, vocab_file,
                                                                       capsys):
    d = json.loads(json.dumps(TINY))
    del d["char_cnn"]
    d["share_embedding_softmax"] = True
    opts = tmp_path / "token.json"
    opts.write_text(json.dumps(d))
    run = str(tmp_path / "run")
    result = train(run, TRAIN, str(opts), vocab_file, max_steps=20, log_every=10, verbose=0)
    assert result["elmo"] is None
    ppl = [e["train_perplexity"] for e in read_history(run)]
    assert ppl[-1] < ppl[0]
    with h5py.File(os.path.join(run, "weights.hdf5")) as f:
        assert f["embedding"].shape == (1449, 64) and "char_embed" not in f
    assert evaluate(run, TEST, verbose=0)["n_tokens"] == 3429 + 143
    (tmp_path / "in.txt").write_text("Hello world .\n")
    assert main(["embed", str(tmp_path / "in.txt"), str(tmp_path / "o.hdf5"),
                 "--model", run]) == 2
    assert "ELMo embeddings need characters" in capsys.readouterr().err


def test_state_reset_prob_zeroes_carried_states(tmp_path, vocab_file):
    """With `state_reset_prob` 1 every batch starts from zero states: the first step
    (zero states anyway) is unchanged, the next ones differ from carried states."""
    runs = {}
    for p in (0.0, 1.0):
        opts = options_file(tmp_path, dropout=0.0, sample_softmax=False, state_reset_prob=p)
        run = str(tmp_path / f"run{p}")
        train(run, TRAIN, opts, vocab_file, max_steps=3, log_every=1, verbose=0)
        runs[p] = [e["train_perplexity"] for e in read_history(run)]
    assert math.isclose(runs[0.0][0], runs[1.0][0], rel_tol=1e-6)
    assert not math.isclose(runs[0.0][1], runs[1.0][1], rel_tol=1e-4)
    with pytest.raises(OptionsError, match="state_reset_prob must be in"):
        train(str(tmp_path / "bad"), TRAIN, options_file(tmp_path, state_reset_prob=2), vocab_file)


def test_array_checkpoint_from_before_output_major_kernels_loads(tmp_path):
    """An array checkpoint (the JAX and PyTorch trainers') written when the LSTM kernels
    were stored input-major loads into today's model, kernels and slots transposed."""
    from elmo_keras.training.backends.generic import ArrayCheckpoints, weight_names
    from elmo_keras.training.step_math import make_optimizer
    from elmo_keras.training.training_options import load_training_options

    opts = load_training_options(options_file(tmp_path))
    lm = BiLMLanguageModel(opts, 1017)
    optimizer = make_optimizer(opts, lm.lm_variables)
    rng = np.random.default_rng(0)
    params = [rng.normal(size=v.shape).astype("float32") for v in lm.lm_variables]
    slots = [rng.normal(size=v.shape).astype("float32") for v in optimizer.variables]
    states = tuple(lm.zero_states(opts.batch_size))
    folder = str(tmp_path / "checkpoints")
    path = ArrayCheckpoints(folder).save(lm.lm_variables, params, slots, states, 3)
    with np.load(path) as f:
        old = {k: f[k] for k in f.files}
    slot_of = {v.path: i for i, v in enumerate(optimizer.variables)}
    transposed = 0
    for name, v in zip(weight_names(lm.lm_variables), lm.lm_variables):
        if name.startswith("bilm.") and name.endswith("kernel"):
            slot = next(i for p, i in slot_of.items() if p.endswith(name.replace(".", "_")
                                                                    + "_accumulator"))
            for key in (f"weights/{name}", f"optimizer/{slot:05d}"):
                assert old[key].shape == tuple(v.shape) and v.shape[0] != v.shape[1]
                old[key] = old[key].T
                transposed += 1
    assert transposed == 2 * 12  # 2 layers x 2 directions x 3 kernels, and their slots
    np.savez(path, **old)

    fresh = BiLMLanguageModel(opts, 1017)
    fresh_optimizer = make_optimizer(opts, fresh.lm_variables)
    _, step = ArrayCheckpoints(folder).load(path, fresh.lm_variables, fresh_optimizer,
                                            states, opts.learning_rate)
    assert step == 3
    for var, value in zip(fresh.lm_variables, params):
        np.testing.assert_array_equal(var.numpy(), value)
    for var, value in zip(fresh_optimizer.variables, slots):
        if var.path.endswith("_accumulator"):
            np.testing.assert_array_equal(var.numpy(), value)
