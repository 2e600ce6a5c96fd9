"""examples/answer_selection.py's BM25 + ELMo hybrid: its scores, and its choice made on
the training pairs only."""

import sys
import types

import numpy as np

import elmo_keras
from tests.conftest import FIXTURES

sys.path.insert(0, str(FIXTURES.parent.parent / "examples"))
import answer_selection  # noqa: E402


def test_hybrid_ranks_as_bm25_at_a_zero_and_as_elmo_at_one():
    rng = np.random.default_rng(0)
    bm25, elmo = rng.random((6, 6)) * 10, rng.normal(size=(6, 6))
    bm25[np.arange(6), np.arange(6)] += 5  # BM25 right, the ELMo score not
    for norm in answer_selection.NORMALISATIONS:
        for a, alone in ((0.0, bm25), (1.0, elmo)):
            hybrid = answer_selection.hybrid_scores(bm25, elmo, norm, a)
            np.testing.assert_array_equal(hybrid.argsort(1), alone.argsort(1))
            assert answer_selection.rank_metrics(hybrid) == answer_selection.rank_metrics(alone)
    assert answer_selection.rank_metrics(bm25) != answer_selection.rank_metrics(elmo)


def _pairs(n, rng, informative_layers, bm25_right):
    """n (question, answer) token lists and layers. Pair i's texts share the word `wI`
    (`bm25_right`) or question i shares one with answer i + 2 (BM25 wrong); their layers
    are noisy copies of one vector per pair (`informative_layers`) or independent noise."""
    qt, at, ql, al = [], [], [], []
    for i in range(n):
        j = i if bm25_right else (i + 2) % n  # in the same block of `i::2`
        qt.append([f"q{i}", f"w{j}", "what"])
        at.append([f"a{i}", f"w{i}", "the", "answer"])
        centre = rng.normal(size=8)
        for texts, tokens in ((ql, qt[-1]), (al, at[-1])):
            noise = rng.normal(size=(3, len(tokens), 8))
            texts.append(centre + 0.1 * noise if informative_layers else noise)
    return (qt, at), (ql, al)


def test_the_weight_goes_to_elmo_only_where_it_helps_on_the_training_pairs():
    rng = np.random.default_rng(1)
    blocks = answer_selection.training_blocks(*_pairs(12, rng, True, False), n_blocks=2)
    name, norm, a = answer_selection.choose_hybrid(blocks, n_layers=2)
    assert name != "BM25" and norm in answer_selection.NORMALISATIONS and a > 0.5
    blocks = answer_selection.training_blocks(*_pairs(12, rng, False, True), n_blocks=2)
    assert answer_selection.choose_hybrid(blocks, n_layers=2)[2] == 0.0


def test_training_blocks_keep_the_pairs_together():
    tokens = ([[f"q{i}"] for i in range(7)], [[f"a{i}"] for i in range(7)])
    layers = ([np.full((1, 1, 1), i) for i in range(7)],
              [np.full((1, 1, 1), -i) for i in range(7)])
    blocks = answer_selection.training_blocks(tokens, layers, n_blocks=3)
    assert [len(b[0]) for b in blocks] == [3, 2, 2]
    seen = []
    for qt, at, ql, al in blocks:
        for q, a, lq, la in zip(qt, at, ql, al):
            assert q[0][1:] == a[0][1:] == str(int(lq.item())) == str(int(-la.item()))
            seen.append(q[0])
    assert sorted(seen) == sorted(q[0] for q in tokens[0])


def test_run_chooses_the_hybrid_without_reading_the_test_split(monkeypatch):
    """The blocks the choice sees hold only train and dev pairs; the test's answers are
    ranked with the chosen weight, and the row's name shows it."""
    seen, chosen, choose = [], [], answer_selection.choose_hybrid

    def recording_choose(blocks, n_layers):
        seen.extend(q for block in blocks for q in block[0] + block[1])
        chosen.append(choose(blocks, n_layers))
        return chosen[-1]

    class RandomEmbedder:  # stands in for the biLM: the data flow is under test here
        def __init__(self, elmo):
            self.rng = np.random.default_rng(0)

        def embed_all(self, texts):
            return ((i, self.rng.normal(size=(3, len(t), 8))) for i, t in enumerate(texts))

    monkeypatch.setattr(elmo_keras, "Embedder", RandomEmbedder)
    monkeypatch.setattr(answer_selection, "choose_hybrid", recording_choose)
    monkeypatch.setattr(answer_selection, "trained_scores",
                        lambda train_q, train_a, test_q, test_a, seed: np.eye(len(test_q)))
    train = [("how do I exit a program", "call sys exit to exit the program"),
             ("what is a list", "a list is a mutable sequence of items"),
             ("how do I read a file", "open the file and read its lines")]
    dev = [("why is float inexact", "a binary float cannot represent most decimals")]
    test = [("where is the zebra module", "zebra lives in the stripes package"),
            ("what does quux return", "quux returns a frobnicated value")]
    results = answer_selection.run({"train": train, "dev": dev, "test": test},
                                   types.SimpleNamespace(n_layers=2), seeds=1)
    assert sorted(" ".join(t) for t in seen) == sorted(t for pair in train + dev for t in pair)
    (name, norm, a), = chosen
    assert list(results) == ["BM25", "ELMo cosine", "ELMo token match, layer 0",
                             "ELMo token match, top layer", "ELMo trained",
                             f"BM25 + {name} ({norm}, a = {a:.2f}; chosen on the training pairs)"]
    assert results["BM25"] == [(1.0, 1.0)]
