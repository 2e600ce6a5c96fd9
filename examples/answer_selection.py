"""Question answering as answer selection on Python's FAQ, ELMo vs a lexical baseline.

    python examples/answer_selection.py [--model PRESET] [--seeds 3]

Each held-out question is ranked against all held-out answers; reported: accuracy@1
(the right answer ranked first) and MRR. Rankers:

  BM25              lexical overlap (k1 = 1.2, b = 0.75, idf from the candidate answers);
  ELMo cosine       cosine of the token-averaged ELMo layers (no training);
  ELMo token match  BM25's idf-weighted mean, over the question's tokens, of each one's
                    best cosine with an answer token, at layer 0 or the top layer (a soft
                    lexical match on the biLM's vectors; no training);
  ELMo trained      a linear map of the question's vector, trained on the training pairs
                    to score the right answer above the others (softmax over the batch),
                    with the learned layer mix; mean ± sd over seeds.
  BM25 + ELMo       a hybrid: each score row normalised over the candidates (z-score or
                    min-max), then `(1 - a) * bm25 + a * elmo`. The ELMo score (token
                    match at layer 0, at the top layer, or the mean of all layers' token
                    matches; or the cosine), the normalisation and `a` (0 to 1 by 0.05)
                    are chosen on the training pairs only: train + dev are cut into
                    blocks of about the test split's size, each block's questions are
                    ranked against its answers as the test's are, and the best mean
                    accuracy@1 wins (ties: higher MRR, then smaller `a`, then the first
                    score). The test split plays no part in the choice; the row's name
                    shows it (at `a = 0` the hybrid is BM25, whichever score is named).

Data: `elmo_keras.datasets` (`python_faq`).
"""

import argparse
import collections
import math
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)


def rank_metrics(scores):
    """Accuracy@1 and MRR of a `[questions, answers]` score matrix whose right answers
    are on the diagonal."""
    scores = np.asarray(scores)
    right = np.diag(scores)[:, None]
    ranks = 1 + (scores > right).sum(axis=1)
    return float(np.mean(ranks == 1)), float(np.mean(1.0 / ranks))


def bm25_idf(answers):
    """BM25's idf of every (lower-cased) token of the candidate answers (token lists)."""
    df = collections.Counter(t for a in answers for t in {t.lower() for t in a})
    n = len(answers)
    return {t: math.log(1 + (n - c + 0.5) / (c + 0.5)) for t, c in df.items()}


def bm25_scores(questions, answers, k1=1.2, b=0.75):
    """BM25 score of every answer (token lists) for every question."""
    docs = [collections.Counter(t.lower() for t in a) for a in answers]
    lengths = np.array([len(a) for a in answers], float)
    relative_lengths = lengths / lengths.mean()
    idf = bm25_idf(answers)
    scores = np.zeros((len(questions), len(answers)))
    for i, q in enumerate(questions):
        for t in {t.lower() for t in q}:
            if t not in idf:
                continue
            for j, d in enumerate(docs):
                f = d.get(t, 0)
                if f:
                    scores[i, j] += idf[t] * f * (k1 + 1) / (
                        f + k1 * (1 - b + b * relative_lengths[j]))
    return scores


def token_match_scores(questions, answers, question_tokens, answer_tokens, layer):
    """ELMo token-match score of every answer for every question.

    Args:
        questions, answers: lists of `[L + 1, n_tokens, D]` biLM layers.
        question_tokens, answer_tokens: the same texts as token lists (for the idf).
        layer: which biLM layer to compare.
    """
    idf_of = bm25_idf(answer_tokens)
    unseen = math.log(1 + (len(answer_tokens) + 0.5) / 0.5)  # in no answer: df 0
    scores = np.zeros((len(questions), len(answers)))
    answer_vectors = [_normalize(a[layer]) for a in answers]
    for i, (q, tokens) in enumerate(zip(questions, question_tokens)):
        idf = np.array([idf_of.get(t.lower(), unseen) for t in tokens])
        qv = _normalize(q[layer])
        for j, av in enumerate(answer_vectors):
            scores[i, j] = idf @ (qv @ av.T).max(axis=1) / idf.sum()
    return scores


def _normalize(x):
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


def trained_scores(train_q, train_a, test_q, test_a, seed, epochs=200):
    """Scores from a mix + linear map trained with in-batch softmax on the train pairs.
    Inputs: `[n, L + 1, D]` pooled layers."""
    import keras
    from keras import ops

    keras.utils.set_random_seed(seed)
    n_layers, dim = train_q.shape[1:]

    class Ranker(keras.Model):
        def __init__(self):
            super().__init__()
            self.w = self.add_weight(shape=(n_layers,), initializer="zeros", name="mix")
            self.proj = keras.layers.Dense(dim, use_bias=False,
                                           kernel_initializer="identity")

        def encode(self, x):
            return ops.einsum("l,nld->nd", ops.softmax(self.w), x)

        def call(self, inputs):
            q, a = inputs
            q = self.proj(self.encode(q))
            a = self.encode(a)
            q = q / ops.norm(q, axis=-1, keepdims=True)
            a = a / ops.norm(a, axis=-1, keepdims=True)
            return 20.0 * ops.matmul(q, ops.transpose(a))

    model = Ranker()
    model.compile(keras.optimizers.Adam(1e-3),
                  keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    y = np.arange(len(train_q))
    model.fit((train_q, train_a), y, epochs=epochs, batch_size=len(train_q), verbose=0)
    return np.asarray(model((test_q, test_a)))


def run(splits, elmo, seeds=3):
    """Rows of the results table: `{ranker: [(acc@1, mrr) per seed]}`."""
    from elmo_keras import Embedder

    for name, rows in splits.items():
        if any(not q.split() or not a.split() for q, a in rows):
            raise ValueError(f"{name} split has an empty question or answer")
    tok = {k: ([q.split() for q, _ in v], [a.split() for _, a in v]) for k, v in splits.items()}

    embed = Embedder(elmo)

    def embedded(texts):  # each text's `[L + 1, n_tokens, D]` layers, in order
        out = [None] * len(texts)
        for i, lay in embed.embed_all(texts):
            out[i] = lay
        return out

    layers = {k: (embedded(q), embedded(a)) for k, (q, a) in tok.items()}
    # `[n, L + 1, D]`: the layers averaged over each text's tokens.
    feats = {k: tuple(np.stack([x.mean(axis=1) for x in texts]) for texts in v)
             for k, v in layers.items()}
    # The hybrid's choice first, from the training pairs only.
    train_pairs = [tuple(tok["train"][i] + tok["dev"][i] for i in (0, 1)),
                   tuple(layers["train"][i] + layers["dev"][i] for i in (0, 1))]
    choice = choose_hybrid(training_blocks(*train_pairs, n_blocks=max(
        1, round(len(train_pairs[0][0]) / len(tok["test"][0])))), elmo.n_layers)
    tq, ta = feats["test"]
    test = elmo_scores(*tok["test"], *layers["test"], elmo.n_layers)
    results = {name: [rank_metrics(test[name])] for name in (
        "BM25", "ELMo cosine", "ELMo token match, layer 0", "ELMo token match, top layer")}
    train_q = np.concatenate([feats["train"][0], feats["dev"][0]])
    train_a = np.concatenate([feats["train"][1], feats["dev"][1]])
    results["ELMo trained"] = [rank_metrics(trained_scores(train_q, train_a, tq, ta, seed))
                               for seed in range(seeds)]
    name, norm, a = choice
    results[f"BM25 + {name} ({norm}, a = {a:.2f}; chosen on the training pairs)"] = [
        rank_metrics(hybrid_scores(test["BM25"], test[name], norm, a))]
    return results


def elmo_scores(question_tokens, answer_tokens, questions, answers, n_layers):
    """`{ranker: [questions, answers] scores}`: BM25 and the untrained ELMo scores.

    Args:
        question_tokens, answer_tokens: token lists.
        questions, answers: the same texts' `[L + 1, n_tokens, D]` biLM layers.
        n_layers: L, the biLM's number of LSTM layers.
    """
    match = [token_match_scores(questions, answers, question_tokens, answer_tokens, k)
             for k in range(n_layers + 1)]
    pooled = [np.stack([x.mean(axis=(0, 1)) for x in texts]) for texts in (questions, answers)]
    return {"BM25": bm25_scores(question_tokens, answer_tokens),
            "ELMo cosine": _normalize(pooled[0]) @ _normalize(pooled[1]).T,
            "ELMo token match, layer 0": match[0],
            "ELMo token match, top layer": match[-1],
            "ELMo token match, mean of layers": np.mean(match, axis=0)}


NORMALISATIONS = {
    "z-score": lambda s: (s - s.mean(1, keepdims=True)) / np.maximum(
        s.std(1, keepdims=True), 1e-12),
    "min-max": lambda s: (s - s.min(1, keepdims=True)) / np.maximum(
        np.ptp(s, axis=1, keepdims=True), 1e-12),
}
WEIGHTS = np.round(np.linspace(0, 1, 21), 2)


def hybrid_scores(bm25, elmo, norm, a):
    """`(1 - a) * bm25 + a * elmo`, each row first normalised over the candidates by
    `NORMALISATIONS[norm]`."""
    f = NORMALISATIONS[norm]
    return (1 - a) * f(np.asarray(bm25, float)) + a * f(np.asarray(elmo, float))


def training_blocks(tokens, layers, n_blocks):
    """The training pairs (`(questions, answers)` token lists and layers) cut into
    `n_blocks` interleaved blocks: `[(question_tokens, answer_tokens, questions, answers)]`."""
    return [tuple(texts[i::n_blocks] for texts in (*tokens, *layers)) for i in range(n_blocks)]


def choose_hybrid(blocks, n_layers):
    """The hybrid's `(ELMo score, normalisation, a)` with the best mean accuracy@1 over
    the (training) blocks, each block's questions ranked against its answers; ties go to
    the higher MRR, then the smaller `a`, then the first score of `elmo_scores`."""
    scores = [elmo_scores(*block, n_layers) for block in blocks]
    best = None
    for name in scores[0]:
        for norm in ([] if name == "BM25" else NORMALISATIONS):
            for a in WEIGHTS:
                acc, mrr = np.mean([rank_metrics(hybrid_scores(s["BM25"], s[name], norm, a))
                                    for s in scores], axis=0)
                if best is None or (acc, mrr, -a) > best[0]:
                    best = (acc, mrr, -a), (name, norm, float(a))
    return best[1]


def format_table(results, title):
    lines = [title, "", "| ranker | accuracy@1 | MRR |", "| --- | --- | --- |"]
    for name, rows in results.items():
        acc, mrr = np.array(rows).T
        sd = lambda v: f" ± {100 * np.std(v):.1f}" if len(v) > 1 else ""  # noqa: E731
        lines.append(f"| {name} | {100 * acc.mean():.1f}{sd(acc)} | "
                     f"{100 * mrr.mean():.1f}{sd(mrr)} |")
    return "\n".join(lines)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="elmo_small_en",
                   help="an ELMo preset: name or path (default: elmo_small_en)")
    p.add_argument("--cache", default="data/packages")
    p.add_argument("--seeds", type=int, default=3)
    args = p.parse_args()
    import elmo_keras as ek

    splits = ek.datasets.python_faq(args.cache)
    elmo = ek.ELMo.from_preset(args.model)
    results = run(splits, elmo, seeds=args.seeds)
    sizes = ", ".join(f"{k} {len(v)}" for k, v in splits.items())
    print(format_table(results, f"Python FAQ answer selection ({sizes}; test questions "
                                f"ranked against all test answers)"))


if __name__ == "__main__":
    main()
