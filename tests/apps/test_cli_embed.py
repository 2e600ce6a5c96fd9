"""`elmo-keras embed`: the HDF5 layout, empty lines, formats, stateful protocol, errors."""

import json

import h5py
import numpy as np
import pytest

from elmo_keras.apps.cli import main
from tests.conftest import TINY

MODEL = ["--options", str(TINY / "options.json"), "--weights", str(TINY / "lm_weights.hdf5")]


def _groups():
    return [[s.split(" ") for s in g] for g in json.loads((TINY / "sentences.json").read_text())]


def test_stateful_embed_reproduces_bilm_tf_protocol(tmp_path):
    groups = _groups()
    lines = [" ".join(groups[k][i]) for i in range(10) for k in range(3)]
    (tmp_path / "in.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    rc = main(["embed", str(tmp_path / "in.txt"), str(tmp_path / "out.hdf5"),
               "--batch-size", "3", "--stateful", "--output-format", "top", *MODEL])
    assert rc == 0
    with h5py.File(tmp_path / "out.hdf5", "r") as out:
        for i in range(10):
            for k in range(3):
                ref = h5py.File(TINY / f"lm_embeddings_{k}.hdf5", "r")[str(i)][...]
                got = out[str(3 * i + k)][...]
                np.testing.assert_allclose(got, np.concatenate(ref, axis=-1), atol=1e-5)


def test_layout_empty_lines_and_batch_independence(tmp_path, capsys):
    text = "The bank of the river .\n\nI opened a bank account .\nHi\n"
    (tmp_path / "in.txt").write_text(text, encoding="utf-8")
    outs = {}
    for bs in ("1", "3"):
        path = tmp_path / f"out{bs}.hdf5"
        assert main(["embed", str(tmp_path / "in.txt"), str(path), "--batch-size", bs,
                     *MODEL]) == 0
        outs[bs] = path
    assert "1 empty line" in capsys.readouterr().err
    with h5py.File(outs["1"], "r") as a, h5py.File(outs["3"], "r") as b:
        assert sorted(a.keys()) == ["0", "1", "2", "3", "sentence_to_index"]
        assert a["0"].shape == (3, 6, 32) and a["1"].shape == (3, 0, 32)
        assert a["3"].shape == (3, 1, 32)
        index = json.loads(a["sentence_to_index"][0])
        assert index["I opened a bank account ."] == "2" and index[""] == "1"
        for key in ("0", "2", "3"):
            np.testing.assert_allclose(a[key][...], b[key][...], atol=1e-5)
        full = a["0"][...]
    for fmt, expected in (("top", full[-1]), ("average", full.mean(axis=0))):
        path = tmp_path / f"{fmt}.hdf5"
        assert main(["embed", str(tmp_path / "in.txt"), str(path), "--output-format", fmt,
                     *MODEL]) == 0
        with h5py.File(path, "r") as f:
            np.testing.assert_allclose(f["0"][...], expected, atol=1e-5)


def test_errors_are_clear(tmp_path, capsys):
    (tmp_path / "in.txt").write_text("a b\n")
    assert main(["embed", str(tmp_path / "nope.txt"), str(tmp_path / "o.hdf5"), *MODEL]) == 2
    assert "nope.txt: input file does not exist" in capsys.readouterr().err
    assert main(["embed", str(tmp_path / "in.txt"), str(tmp_path / "o.hdf5"), "--options",
                 str(TINY / "options.json"), "--weights", str(TINY / "options.json")]) == 2
    assert "not an HDF5 file" in capsys.readouterr().err
    assert main(["embed", str(tmp_path / "in.txt"), str(tmp_path / "o.hdf5"), "--options",
                 str(TINY / "options.json")]) == 2
    assert "options (options.json) and weights (weights.hdf5) go together" in \
        capsys.readouterr().err


def test_interrupted_embedding_resumes_without_redoing_chunks(tmp_path, monkeypatch):
    import elmo_keras.apps.embedding_file as ef
    from elmo_keras import load_bilm

    model = load_bilm(TINY / "options.json", TINY / "lm_weights.hdf5")
    lines = [" ".join(s) for g in _groups() for s in g][:9] + ["", "The bank ."]
    (tmp_path / "in.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    ef.embed_file(model, tmp_path / "in.txt", tmp_path / "ref.hdf5", batch_size=2,
                  chunk_lines=3, progress=False)

    real, calls = ef._embed_chunk, []

    def interrupted(*args):
        calls.append(args[2])
        if len(calls) == 3:
            raise KeyboardInterrupt
        real(*args)

    monkeypatch.setattr(ef, "_embed_chunk", interrupted)
    with pytest.raises(KeyboardInterrupt):
        ef.embed_file(model, tmp_path / "in.txt", tmp_path / "out.hdf5", batch_size=2,
                      chunk_lines=3, progress=False)
    assert not (tmp_path / "out.hdf5").exists()
    assert len(list((tmp_path / "out.hdf5.parts").glob("*.hdf5"))) == 2
    calls.clear()
    ef.embed_file(model, tmp_path / "in.txt", tmp_path / "out.hdf5", batch_size=2,
                  chunk_lines=3, progress=False, resume=True)
    assert calls == [6, 9]  # only the chunks not finished before
    assert not (tmp_path / "out.hdf5.parts").exists()
    with h5py.File(tmp_path / "ref.hdf5") as ref, h5py.File(tmp_path / "out.hdf5") as out:
        assert sorted(ref) == sorted(out) and len(out) == len(lines) + 1
        for key in ref:
            if key != "sentence_to_index":
                np.testing.assert_array_equal(ref[key][...], out[key][...])
        assert ref["sentence_to_index"][0] == out["sentence_to_index"][0]


def test_token_cache_gives_the_same_vectors(tmp_path):
    from elmo_keras import load_bilm
    from elmo_keras.text.char_ids import batch_to_ids
    from elmo_keras.models.elmo.elmo_embedder import Embedder

    model = load_bilm(TINY / "options.json", TINY / "lm_weights.hdf5")
    sentences = [["The", "bank", "of", "the", "river", "."], [],
                 ["Café", "naïve", "unseen-word", "<S>"], ["the"]]
    plain = Embedder(model)(sentences)
    # The plain embedder (char CNN once per distinct token) equals the model's own call.
    whole = np.asarray(model(batch_to_ids(sentences, 50), training=False)["lm_embeddings"])
    for k, s in enumerate(sentences):
        np.testing.assert_allclose(plain[k], whole[k, :, :len(s)], atol=1e-6)
    vocab = ["the", "The", "bank", ".", "river", "Café", "of"]  # "naïve" etc. not cached
    cached = Embedder(model, vocab=vocab)(sentences)
    full = Embedder(model, vocab=[t for s in sentences for t in s])(sentences)
    for a, b, c in zip(plain, cached, full):
        np.testing.assert_allclose(b, a, atol=1e-6)
        np.testing.assert_allclose(c, a, atol=1e-6)
    # Through the command line, with a vocabulary file.
    (tmp_path / "in.txt").write_text("The bank of the river .\nCafé naïve\n", encoding="utf-8")
    (tmp_path / "vocab.txt").write_text("the\nbank\n.\n", encoding="utf-8")
    for extra, out in (([], "a.hdf5"), (["--vocab-cache", str(tmp_path / "vocab.txt")], "b.hdf5")):
        assert main(["embed", str(tmp_path / "in.txt"), str(tmp_path / out), *MODEL, *extra]) == 0
    with h5py.File(tmp_path / "a.hdf5") as a, h5py.File(tmp_path / "b.hdf5") as b:
        for key in ("0", "1"):
            np.testing.assert_allclose(a[key][...], b[key][...], atol=1e-6)


@pytest.mark.parametrize("vocab", [None, ["the", "a"]])
def test_embedder_traces_once_for_batches_of_every_shape(monkeypatch, vocab):
    """On TensorFlow the `Embedder`'s function is traced once, for any number of rows,
    steps, new tokens and their characters' width (it was traced again as each first
    differed: 3 times in `elmo-keras embed`), and gives the model's own outputs."""
    from elmo_keras import load_bilm
    from elmo_keras.models.elmo.elmo_embedder import Embedder
    from elmo_keras.text.char_ids import batch_to_ids

    model = load_bilm(TINY / "options.json", TINY / "lm_weights.hdf5")
    traced = []
    contextualize = model.contextualize_rows
    monkeypatch.setattr(model, "contextualize_rows",
                        lambda *args: traced.append(1) or contextualize(*args))
    embedder = Embedder(model, vocab=vocab)
    for batch in ([["the", "a"]], [["Extraordinarily", "long"], ["x"]],
                  [["a"] * 9, ["b", "c"], []], [["the"]]):
        whole = np.asarray(model(batch_to_ids(batch, 50), training=False)["lm_embeddings"])
        for k, layers in enumerate(embedder(batch)):
            np.testing.assert_allclose(layers, whole[k, :, :len(batch[k])], atol=1e-6)
    assert len(traced) == 1


def test_xla_compiled_embedder_gives_the_same_vectors():
    from elmo_keras import load_bilm
    from elmo_keras.models.elmo.elmo_embedder import Embedder

    model = load_bilm(TINY / "options.json", TINY / "lm_weights.hdf5")
    batches = [[["The", "bank", "of", "the", "river", "."], [], ["Café", "naïve"]],
               [["a"] * 11]]
    plain, xla = Embedder(model), Embedder(model, jit_compile=True)
    for batch in batches:
        for a, b in zip(plain(batch), xla(batch)):
            assert a.shape == b.shape
            np.testing.assert_allclose(b, a, atol=1e-5)


def test_compiled_embedder_pads_its_new_tokens_to_few_sizes():
    """A compiled `Embedder` (one program per shape) runs the char CNN on 8, 16, 32 or
    64 rows for up to 64 new tokens, then multiples of 64; an eager one on exactly the
    new tokens. With a cache and XLA (two new tokens: 8 rows) the vectors are the same."""
    from elmo_keras import load_bilm
    from elmo_keras.models.elmo.elmo_embedder import Embedder
    from elmo_keras.text.inputs import token_rows

    assert [token_rows(n, True) for n in (0, 1, 8, 9, 17, 33, 64, 65, 129)] == [
        8, 8, 8, 16, 32, 64, 64, 128, 192]
    assert [token_rows(n, False) for n in (0, 1, 5, 65)] == [1, 1, 5, 65]
    model = load_bilm(TINY / "options.json", TINY / "lm_weights.hdf5")
    batch = [["The", "bank", "of", "the", "river", "."], ["Café", "naïve"]]
    cached = Embedder(model, vocab=["The", "bank", "of", "the", "river", "."],
                      jit_compile=True)
    for a, b in zip(Embedder(model)(batch), cached(batch)):
        np.testing.assert_allclose(b, a, atol=1e-5)
