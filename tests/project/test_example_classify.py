"""examples/classify.py end to end on a small sample (made here) with the reference biLM."""

import sys

import numpy as np
import pytest

from elmo_keras import load_bilm
from tests.conftest import FIXTURES, TINY

sys.path.insert(0, str(FIXTURES.parent.parent / "examples"))
import classify  # noqa: E402


def _splits():
    good = ["a good fine film", "good and fine", "a fine good day", "fine fine good",
            "so good", "fine work"]
    bad = ["a bad awful film", "bad and awful", "an awful bad day", "awful bad bad",
           "so bad", "awful work"]
    rows = [(s, 1) for s in good] + [(s, 0) for s in bad]
    return {"train": rows, "dev": rows[::3], "test": rows[1::3]}


@pytest.mark.slow
def test_classification_table_runs_end_to_end():
    """Every row of the table (six configurations), one seed each, and one row with two
    seeds (the spread, ±, needs two); and one biLSTM row. Nine small fits of two epochs
    (the best-dev-epoch choice needs two)."""
    elmo = load_bilm(TINY / "options.json", TINY / "lm_weights.hdf5")
    results = classify.run(_splits(), elmo, seeds=1, epochs=2)
    assert list(results) == list(classify.CONFIGS)
    two = classify.run(_splits(), elmo, seeds=2, epochs=2, configs=("ELMo mix",))
    assert two["ELMo mix"][0] == results["ELMo mix"][0]  # the same first seed
    results.update(two)
    assert all(len(a) == (2 if c == "ELMo mix" else 1) and all(0.0 <= x <= 1.0 for x in a)
               for c, a in results.items())
    table = classify.format_table(results, "toy")
    assert "| ELMo mix |" in table and "±" in table
    # the biLSTM encoder, on batches of similar length (one row, one epoch)
    lstm = classify.run(_splits(), elmo, seeds=1, epochs=1, configs=("none + ELMo mix",),
                        encoder="bilstm", hidden=4, batch_size=4)
    assert list(lstm) == ["none + ELMo mix"] and 0.0 <= lstm["none + ELMo mix"][0] <= 1.0


def test_bad_labels_and_empty_texts_are_clear():
    elmo = load_bilm(TINY / "options.json", TINY / "lm_weights.hdf5")
    splits = _splits()
    splits["test"] = splits["test"] + [("odd one", 7)]
    with pytest.raises(ValueError, match=r"test split has labels not in train: \[7\]"):
        classify.run(splits, elmo, seeds=1, epochs=1)
    splits = _splits()
    splits["dev"] = splits["dev"] + [("   ", 1)]
    with pytest.raises(ValueError, match="dev split has an empty text"):
        classify.run(splits, elmo, seeds=1, epochs=1)


@pytest.mark.parametrize("encoder", classify.ENCODERS)
def test_encoder_reads_only_the_real_tokens(encoder):
    """The same weights on a shorter and a longer padding give the same prediction:
    the biLSTM is masked (its backward direction starts at the last real token) and
    the pooling skips the padding."""
    import keras

    rng = np.random.default_rng(0)
    ids = np.array([[3, 4, 2]], np.int32)
    layers = rng.normal(size=(1, 3, 2, 8)).astype("float32")
    short, long = (classify._classifier("none + ELMo mix", 3, steps, 2, 8, 6, seed=0,
                                        encoder=encoder, hidden=4, token_dense=True)
                   for steps in (3, 6))
    long.set_weights(short.get_weights())
    assert any(isinstance(layer, keras.layers.Bidirectional)
               for layer in long.layers) == (encoder == "bilstm")
    padded = [np.pad(ids, ((0, 0), (0, 3))), np.pad(layers, ((0, 0), (0, 3), (0, 0), (0, 0)),
                                                     constant_values=5.0)]
    np.testing.assert_allclose(long.predict(padded, verbose=0),
                               short.predict([ids, layers], verbose=0), atol=1e-5)
    with pytest.raises(ValueError, match="encoder must be one of"):
        classify._classifier("none", 2, 3, 2, 8, 6, seed=0, encoder="cnn")


def test_length_batches_group_similar_lengths_cut_to_a_multiple_of_8():
    ids = np.zeros((5, 20), np.int32)
    for i, n in enumerate([3, 17, 1, 9, 2]):
        ids[i, :n] = 2
    layers = np.arange(5.0)[:, None, None, None] * np.ones((5, 20, 2, 4))

    def contents(batches):
        out = []
        for i in range(len(batches)):
            (b_ids, b_layers), b_y = batches[i]
            np.testing.assert_array_equal(b_layers[:, 0, 0, 0], b_y)  # rows stay aligned
            out.append((b_y.tolist(), b_ids.shape[1], b_layers.shape[1]))
        return out

    # by length: texts 2, 4 (1, 2 tokens) -> 8 steps; 0, 3 (3, 9) -> 16; 1 (17) -> 20 (all)
    expected = [([2, 4], 8, 8), ([0, 3], 16, 16), ([1], 20, 20)]
    assert contents(classify.LengthBatches([ids, layers], np.arange(5), 2)) == expected
    shuffled = classify.LengthBatches([ids, layers], np.arange(5), 2, seed=0)
    orders = []
    for _ in range(4):
        got = contents(shuffled)
        assert sorted(got) == sorted(expected)
        orders.append(got)
        shuffled.on_epoch_end()
    assert any(o != expected for o in orders)  # the order of the batches changes


@pytest.mark.slow
def test_answer_selection_runs_end_to_end_and_bm25_is_right():
    import answer_selection

    qa = [("how do I exit a program", "call sys exit to exit the program"),
          ("what is a list", "a list is a mutable sequence of items"),
          ("how do I read a file", "open the file and read its lines"),
          ("why is float inexact", "a binary float cannot represent most decimals exactly")]
    splits = {"train": qa, "dev": qa[:2], "test": qa}
    # BM25 ranks each right answer first here: they share the rare words.
    assert answer_selection.rank_metrics(answer_selection.bm25_scores(
        [q.split() for q, _ in qa], [a.split() for _, a in qa])) == (1.0, 1.0)
    assert answer_selection.rank_metrics([[1, 2], [0, 3]]) == (0.5, 0.75)
    elmo = load_bilm(TINY / "options.json", TINY / "lm_weights.hdf5")
    results = answer_selection.run(splits, elmo, seeds=1)
    assert list(results)[:5] == ["BM25", "ELMo cosine", "ELMo token match, layer 0",
                             "ELMo token match, top layer", "ELMo trained"]
    assert "| BM25 | 100.0 | 100.0 |" in answer_selection.format_table(results, "toy")


def test_token_match_scores_a_text_against_itself_as_one():
    import answer_selection

    rng = np.random.default_rng(0)
    texts = [["how", "do", "I", "exit"], ["what", "is", "a", "list", "of"]]
    layers = [rng.normal(size=(3, len(t), 8)) for t in texts]
    scores = answer_selection.token_match_scores(layers, layers, texts, texts, layer=1)
    np.testing.assert_allclose(np.diag(scores), 1.0)
    assert scores[0, 1] < 1.0 and scores[1, 0] < 1.0
