"""biLM training on real English text: learning, resuming, distribution, the published
format, the command line and bad input."""

import json
import math
import os
import signal
import subprocess
import sys
import textwrap
import time

import h5py
import numpy as np
import pytest
import tensorflow as tf

from elmo_keras import batch_to_ids, load_bilm
from elmo_keras.apps.cli import main
from elmo_keras.io.bilm_options import OptionsError
from elmo_keras.training.corpus import CorpusError, iter_sentences
from elmo_keras.training.language_model import BiLMLanguageModel
from elmo_keras.training.trainer import (TrainingError, evaluate, evaluate_lm,
                                         load_checkpoint_weights, load_trained, train)
from elmo_keras.training.vocabulary import (Vocabulary, VocabularyError,
                                            count_tokens)
from elmo_keras.datasets import alice_dir
from tests.conftest import FIXTURES

ALICE = alice_dir()
TRAIN, VALID, TEST = (str(ALICE / f"{s}.txt") for s in ("train", "valid", "test"))
TINY = {
    "char_cnn": {"activation": "relu", "embedding": {"dim": 8},
                 "filters": [[1, 16], [2, 16], [3, 32], [4, 32]],
                 "max_characters_per_token": 50, "n_characters": 261, "n_highway": 1},
    "lstm": {"cell_clip": 3, "dim": 128, "n_layers": 2, "proj_clip": 3,
             "projection_dim": 64, "use_skip_connections": True},
    "batch_size": 16, "unroll_steps": 20, "n_epochs": 3, "n_negative_samples_batch": 256,
}


@pytest.fixture(scope="module")
def vocab_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("vocab") / "vocab.txt"
    assert main(["vocab", TRAIN, str(path), "--min-count", "2"]) == 0
    return str(path)


def _options(tmp_path, **changes):
    d = json.loads(json.dumps(TINY))
    d.update(changes)
    path = tmp_path / f"options_{len(list(tmp_path.glob('options_*')))}.json"
    path.write_text(json.dumps(d))
    return str(path)


def _history(run):
    return [json.loads(x) for x in open(os.path.join(run, "history.jsonl"))]


def _unigram_perplexity(train_file, test_file, vocab):
    """Add-one unigram model of the training text over the vocabulary (unknown words as
    <UNK>, one </S> per sentence), evaluated on the test text."""
    counts = np.ones(vocab.size)
    for tokens in iter_sentences([train_file]):
        for i in vocab.encode(tokens)[1:]:
            counts[i] += 1
    logp = np.log(counts / counts.sum())
    ids = np.concatenate([vocab.encode(t)[1:] for t in iter_sentences([test_file])])
    return float(np.exp(-logp[ids].mean()))


def test_vocab_file_format(tmp_path, vocab_file):
    vocab = Vocabulary.load(vocab_file)
    assert vocab.tokens[:3] == ["<S>", "</S>", "<UNK>"]
    counts = count_tokens(open(TRAIN, encoding="utf-8"))
    freq = [counts[t] for t in vocab.tokens[3:]]
    assert freq == sorted(freq, reverse=True) and min(freq) >= 2
    assert vocab.tokens[3] == max(counts, key=counts.get)
    path = tmp_path / "small.txt"
    assert main(["vocab", TRAIN, VALID, str(path), "--max-size", "10"]) == 0
    assert len(Vocabulary.load(path)) == 10


def test_vocabulary_errors(tmp_path):
    bad = tmp_path / "v.txt"
    bad.write_text("the\n.\n<UNK>\n")
    with pytest.raises(VocabularyError, match=r"v\.txt: missing the special token\(s\) <S>, </S>"):
        Vocabulary.load(bad)
    bad.write_text("<S>\n</S>\n<UNK>\nthe\nthe\n")
    with pytest.raises(VocabularyError, match="'the' appears twice"):
        Vocabulary.load(bad)
    with pytest.raises(VocabularyError, match="does not exist"):
        Vocabulary.load(tmp_path / "nope.txt")


def test_bad_input_fails_before_training(tmp_path, vocab_file):
    opts = _options(tmp_path)
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
        (dict(train_files=TRAIN, options=_options(tmp_path, n_tokens_vocab=50)), OptionsError,
         r"n_tokens_vocab=50 but the vocabulary .* has 1449 tokens"),
        (dict(train_files=TRAIN, options=_options(tmp_path, dropout=1.5)), OptionsError,
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
def test_tiny_model_learns_alice_and_round_trips_the_published_format(tmp_path, vocab_file):
    run = str(tmp_path / "run")
    result = train(run, TRAIN, _options(tmp_path, n_epochs=4), vocab_file, VALID,
                   max_steps=300, log_every=25, verbose=0)
    vocab = Vocabulary.load(vocab_file)
    unigram = _unigram_perplexity(TRAIN, VALID, vocab)
    valid = [e["valid_perplexity"] for e in _history(run) if "valid_perplexity" in e]
    assert len(valid) == 4  # after each of 3 epochs (88 steps) and at the last step, 300
    # Measured: unigram 227; the biLM 96 after 300 steps.
    print("unigram", unigram, "valid", valid)
    assert valid[-1] < 0.6 * unigram, (valid, unigram)
    train_ppl = [e["train_perplexity"] for e in _history(run) if "train_perplexity" in e]
    assert train_ppl[-1] < 0.5 * train_ppl[0]
    assert os.path.getsize(os.path.join(run, "learning_curve.png")) > 10_000

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


def test_evaluate_command_prints_perplexity_line(tmp_path, vocab_file, capsys):
    run = str(tmp_path / "run")
    assert main(["train", "--options", _options(tmp_path), "--vocab", vocab_file,
                 "--train", TRAIN, "--out", run, "--max-steps", "3"]) == 0
    assert main(["evaluate", run, "--test", TEST]) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    fw, bw, avg = (float(x.split("=")[1]) for x in last.split()[1:])
    assert last.startswith("perplexity forward=")
    assert math.isclose(avg, math.sqrt(fw * bw), rel_tol=1e-3)
    # A second train into the same directory is refused; export-hub takes the directory.
    assert main(["train", "--options", _options(tmp_path), "--vocab", vocab_file,
                 "--train", TRAIN, "--out", run]) == 2
    assert main(["export-hub", str(tmp_path / "hub"), "--model", run]) == 0
    assert (tmp_path / "hub" / "saved_model.pb").exists()


def _run_cli(args, env=None):
    env = env or dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    return subprocess.Popen([sys.executable, "-m", "elmo_keras.apps.cli", *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _wait_for_steps(run, n, proc, timeout=120):
    t0 = time.time()
    while time.time() - t0 < timeout:
        path = os.path.join(run, "history.jsonl")
        if os.path.exists(path) and len(open(path).read().splitlines()) >= n:
            return
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.02)
    raise AssertionError("training did not progress")


@pytest.mark.slow
@pytest.mark.parametrize("how", ["SIGKILL", "SIGINT"])
def test_resume_after_interruption_repeats_the_uninterrupted_run(tmp_path, vocab_file, how):
    # Dropout and the sampled softmax on: their random numbers must repeat too.
    opts = _options(tmp_path, batch_size=8, unroll_steps=10, dropout=0.1)
    common = ["--options", opts, "--vocab", vocab_file, "--train", TRAIN, "--log-every", "1",
              "--checkpoint-every", "10"]
    ref = str(tmp_path / "ref")
    train(ref, TRAIN, opts, vocab_file, max_steps=50, log_every=1, checkpoint_every=10,
          verbose=0)

    run = str(tmp_path / "run")
    proc = _run_cli(["train", *common, "--out", run, "--max-steps", "400"])
    _wait_for_steps(run, 23, proc)
    proc.send_signal(getattr(signal, how))
    proc.communicate(timeout=120)
    if how == "SIGINT":  # stops after the step, with a checkpoint at that step
        assert proc.returncode == 130
        stopped = int(tf.train.latest_checkpoint(os.path.join(run, "checkpoints"))
                      .rsplit("-", 1)[1])
        assert stopped >= 23
    else:  # killed: the periodic checkpoint at step 20 (or 30) is intact
        assert proc.returncode == -signal.SIGKILL
    result = train(run, resume=True, max_steps=50, log_every=1, checkpoint_every=10,
                   verbose=0)
    assert result["step"] == 50
    # A checkpoint's weights load alone (no optimizer) into a fresh model.
    lm, _, _ = load_trained(run)
    fresh = BiLMLanguageModel(lm.options, lm.vocab_size)
    load_checkpoint_weights(fresh, tf.train.latest_checkpoint(os.path.join(run, "checkpoints")))
    for a, b in zip(fresh.lm_variables, lm.lm_variables):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    got, want = _history(run), _history(ref)
    assert [e["step"] for e in got] == list(range(1, 51))
    for g, w in zip(got, want):
        for key in ("train_perplexity_forward", "train_perplexity_backward", "grad_norm"):
            assert math.isclose(g[key], w[key], rel_tol=1e-5), (g, w)
    with h5py.File(os.path.join(run, "weights.hdf5")) as a, \
            h5py.File(os.path.join(ref, "weights.hdf5")) as b:
        for name in ("char_embed", "RNN_1/RNN/MultiRNNCell/Cell1/LSTMCell/W_0"):
            np.testing.assert_allclose(a[name][...], b[name][...], atol=1e-5)


MIRRORED = textwrap.dedent("""
    import json, sys
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    from elmo_keras.training.trainer import train
    out, opts, vocab, corpus = sys.argv[1:5]
    histories = {}
    for name, strategy in [("one", "default"),
                           ("two", tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"]))]:
        assert name == "one" or strategy.num_replicas_in_sync == 2
        r = train(out + "/" + name, corpus, opts, vocab, max_steps=12, log_every=1,
                  strategy=strategy, verbose=0)
        histories[name] = [json.loads(x) for x in open(out + "/" + name + "/history.jsonl")]
    print(json.dumps(histories))
""")


@pytest.mark.slow
def test_mirrored_strategy_on_two_cpus_follows_the_one_device_trajectory(tmp_path, vocab_file):
    # No dropout (its masks are drawn per replica); the sampled softmax stays on: its
    # candidates are drawn per step, the same on every replica.
    opts = _options(tmp_path, dropout=0.0, all_clip_norm_val=1.0)
    proc = subprocess.run([sys.executable, "-c", MIRRORED, str(tmp_path), opts, vocab_file,
                           TRAIN], capture_output=True, text=True, timeout=600,
                          env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    h = json.loads(proc.stdout.strip().splitlines()[-1])
    one, two = h["one"], h["two"]
    assert len(one) == len(two) == 12
    assert one[-1]["train_perplexity"] < 0.8 * one[0]["train_perplexity"]
    for a, b in zip(one, two):
        for key in ("train_perplexity_forward", "train_perplexity_backward", "grad_norm"):
            assert math.isclose(a[key], b[key], rel_tol=1e-4), (a, b)


def test_bfloat16_training_runs_and_learns(tmp_path, vocab_file):
    run = str(tmp_path / "run")
    train(run, TRAIN, _options(tmp_path), vocab_file, max_steps=30, log_every=10,
          mixed_precision="bfloat16", verbose=0)
    ppl = [e["train_perplexity"] for e in _history(run)]
    assert ppl[-1] < 0.5 * ppl[0], ppl
    with h5py.File(os.path.join(run, "weights.hdf5")) as f:
        assert f["char_embed"].dtype == np.float32


def _free_port():
    import socket

    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_multiworker_strategy_with_two_local_workers(tmp_path, vocab_file):
    """Two processes on this machine form a `MultiWorkerMirroredStrategy` cluster."""
    opts = _options(tmp_path, batch_size=8, unroll_steps=10)
    ports = [_free_port(), _free_port()]
    run = str(tmp_path / "run")
    procs = []
    for i in range(2):
        config = {"cluster": {"worker": [f"localhost:{p}" for p in ports]},
                  "task": {"type": "worker", "index": i}}
        procs.append(_run_cli(["train", "--options", opts, "--vocab", vocab_file, "--train",
                               TRAIN, "--out", run, "--max-steps", "8", "--log-every", "4",
                               "--strategy", "multiworker"],
                              env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3",
                                       TF_CONFIG=json.dumps(config))))
    for proc in procs:
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err.decode()[-3000:]
    assert [e["step"] for e in _history(run)] == [4, 8]  # written once, by the chief
    load_bilm(os.path.join(run, "options.json"), os.path.join(run, "weights.hdf5"))


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
    ppl = [e["train_perplexity"] for e in _history(run)]
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
        opts = _options(tmp_path, dropout=0.0, sample_softmax=False, state_reset_prob=p)
        run = str(tmp_path / f"run{p}")
        train(run, TRAIN, opts, vocab_file, max_steps=3, log_every=1, verbose=0)
        runs[p] = [e["train_perplexity"] for e in _history(run)]
    assert math.isclose(runs[0.0][0], runs[1.0][0], rel_tol=1e-6)
    assert not math.isclose(runs[0.0][1], runs[1.0][1], rel_tol=1e-4)
    with pytest.raises(OptionsError, match="state_reset_prob must be in"):
        train(str(tmp_path / "bad"), TRAIN, _options(tmp_path, state_reset_prob=2), vocab_file)
