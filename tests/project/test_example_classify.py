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
    """Every row of the table (six configurations), two seeds each: the spread (±) needs
    two. Twelve small fits, about 20 s on 2 cores."""
    elmo = load_bilm(TINY / "options.json", TINY / "lm_weights.hdf5")
    results = classify.run(_splits(), elmo, seeds=2, epochs=3)
    assert list(results) == list(classify.CONFIGS)
    assert all(len(a) == 2 and all(0.0 <= x <= 1.0 for x in a) for a in results.values())
    table = classify.format_table(results, "toy")
    assert "| ELMo mix |" in table and "±" in table


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
    assert list(results) == ["BM25", "ELMo cosine", "ELMo token match, layer 0",
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
