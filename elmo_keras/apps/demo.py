"""`elmo-keras demo`: what ELMo is for, shown on a few ambiguous words.

For each word, its vectors in sentences of two senses are compared at every layer:
layer 0 (the char CNN) gives the word the same vector in every sentence, so all its
similarities are 1; the LSTM layers see the context. On the small shipped model the
top layer pulls the senses of "present" and "spring" apart, "bank" barely and "plant"
not at all (a larger model separates more; the gap column shows it). Then the nearest
neighbours of a word in context among the tokens of a small text (the shipped
model's test sample unless `--corpus`, whatever `--model`).
"""

import numpy as np

# (word, sense, sentence): the word occurs once in each sentence.
EXAMPLES = [
    ("bank", "river", "They sat on the bank of the river and watched the boats ."),
    ("bank", "river", "The water rose over the bank and flooded the low fields ."),
    ("bank", "money", "He went to the bank to borrow money for a new house ."),
    ("bank", "money", "The bank raised the interest rate on all of its loans ."),
    ("plant", "factory", "The workers at the steel plant went on strike last week ."),
    ("plant", "factory", "The company will close the power plant next year ."),
    ("plant", "vegetation", "She watered the plant on the window every morning ."),
    ("plant", "vegetation", "This plant grows wild in the woods and has small white flowers ."),
    ("spring", "season", "The flowers bloom in the spring when the days grow warm ."),
    ("spring", "season", "We will plant the garden in the spring after the last frost ."),
    ("spring", "water", "They drank cold water from a spring in the hills ."),
    ("spring", "water", "The village took its water from a spring near the church ."),
    ("present", "gift", "She gave him a present on his birthday ."),
    ("present", "gift", "The children opened the present with great joy ."),
    ("present", "now", "At present the government has no plan to raise taxes ."),
    ("present", "now", "The present state of the nation is strong ."),
]


def cosine_matrix(vectors):
    v = np.asarray(vectors, dtype=np.float64)
    v = v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-12)
    return v @ v.T


def word_vectors(embed, sentences, word):
    """`[n_layers + 1, len(sentences), dim]`: the vectors of `word` (its first
    occurrence) in each tokenized sentence, from `embed` (an `embed_file.Embedder`)."""
    layers = embed(sentences)
    rows = []
    for tokens, lay in zip(sentences, layers):
        if word not in tokens:
            raise ValueError(f"{word!r} is not a token of {' '.join(tokens)!r}")
        rows.append(lay[:, tokens.index(word)])
    return np.stack(rows, axis=1)


def sense_separation(vectors, senses):
    """Mean cosine similarity of same-sense pairs and of different-sense pairs, per layer.

    Returns:
        float arrays `(same[layers], different[layers])`.
    """
    senses = np.asarray(senses)
    same_mask = senses[:, None] == senses[None, :]
    off = ~np.eye(len(senses), dtype=bool)
    same, diff = [], []
    for layer in vectors:
        c = cosine_matrix(layer)
        same.append(c[same_mask & off].mean())
        diff.append(c[~same_mask].mean())
    return np.array(same), np.array(diff)


def corpus_vectors(embed, corpus, layer=-1):
    """Every token of `corpus` (tokenized sentences) embedded once, for
    `nearest_neighbours`: `(unit vectors [n_tokens, dim] at layer, tokens, sentence
    index of each token)`."""
    vectors, tokens, where = [None] * len(corpus), [], []
    for i, lay in embed.embed_all(corpus):
        vectors[i] = lay[layer]
    for i, sentence in enumerate(corpus):
        tokens += sentence
        where += [i] * len(sentence)
    v = np.concatenate(vectors)
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-12), tokens, where


def nearest_neighbours(query, index, corpus, k=5):
    """The `k` tokens of `corpus` closest (cosine) to the vector `query`, as
    `(similarity, token, sentence)`; `index` is `corpus_vectors(embed, corpus, layer)`
    at the layer `query` comes from."""
    vectors, tokens, where = index
    sims = vectors @ (query / max(np.linalg.norm(query), 1e-12))
    return [(float(sims[j]), tokens[j], " ".join(corpus[where[j]]))
            for j in np.argsort(-sims, kind="stable")[:k]]


def layer_names(n_layers):
    return ["0 char CNN"] + [f"{i} LSTM {i}" for i in range(1, n_layers + 1)]


def run_demo(model, corpus=None, plot=None, out=print):
    """Prints the demo for an `ELMo` `model`; `corpus` (tokenized sentences) feeds the
    nearest-neighbour search; `plot` a PNG path for the similarity matrices."""
    from elmo_keras.models.elmo.elmo_embedder import Embedder

    embed = Embedder(model)
    names = layer_names(model.n_layers)
    words = list(dict.fromkeys(w for w, _, _ in EXAMPLES))
    results = {}
    for word in words:
        rows = [(sense, s.split()) for w, sense, s in EXAMPLES if w == word]
        vectors = word_vectors(embed, [t for _, t in rows], word)
        senses = [sense for sense, _ in rows]
        same, diff = sense_separation(vectors, senses)
        results[word] = (rows, vectors, same, diff)
        out(f'\n"{word}" in {len(rows)} sentences:')
        for i, (sense, tokens) in enumerate(rows, 1):
            out(f"  {i}. [{sense}] {' '.join(tokens)}")
        out(f"  {'layer':<14}{'same sense':>12}{'other sense':>13}{'gap':>8}")
        for name, s, d in zip(names, same, diff):
            out(f"  {name:<14}{s:12.3f}{d:13.3f}{s - d:8.3f}")
        c = cosine_matrix(vectors[-1])
        out(f"  cosine similarity at layer {len(names) - 1}:")
        out("      " + "".join(f"{j:>7}" for j in range(1, len(rows) + 1)))
        for i in range(len(rows)):
            out(f"  {i + 1:>4}" + "".join(f"{c[i, j]:7.2f}" for j in range(len(rows))))
    if corpus:
        index = corpus_vectors(embed, corpus)
        for word, sense, sentence in (EXAMPLES[0], EXAMPLES[2]):
            out(f'\nnearest neighbours of "{word}" in "{sentence}" (top layer):')
            rows, vectors = results[word][:2]
            query = vectors[-1, [" ".join(t) for _, t in rows].index(sentence)]
            for sim, token, context in nearest_neighbours(query, index, corpus):
                out(f"  {sim:.3f}  {token:<12} {_snippet(context, token)}")
    if plot:
        plot_similarities(results, names, plot)
        out(f"\nwrote {plot}")
    return results


def _snippet(sentence, token, width=70):
    i = sentence.find(f" {token} ")
    i = max(0, (i if i >= 0 else 0) - width // 2)
    s = sentence[i:i + width]
    return ("..." if i else "") + s + ("..." if i + width < len(sentence) else "")


def plot_similarities(results, names, path):
    """Heatmaps of each word's cosine similarities at each layer, as an image (PNG, or
    the format `path`'s extension names), written whole through a temporary file
    (`elmo_keras.io.paths.save_figure`: never a special file, mode from the umask)."""
    from elmo_keras.extras import require
    from elmo_keras.io.paths import save_figure

    require("matplotlib", "plot", "the demo's --plot").use("Agg")
    import matplotlib.pyplot as plt

    words = list(results)
    fig, axes = plt.subplots(len(words), len(names),
                             figsize=(2.6 * len(names), 2.5 * len(words)), squeeze=False)
    low = min(cosine_matrix(v).min() for _, vectors, _, _ in results.values() for v in vectors)
    low = np.floor(low * 10) / 10
    for r, word in enumerate(words):
        rows, vectors, _, _ = results[word]
        labels = [f"{i + 1} {sense}" for i, (sense, _) in enumerate(rows)]
        for c, name in enumerate(names):
            ax = axes[r, c]
            image = ax.imshow(cosine_matrix(vectors[c]), vmin=low, vmax=1, cmap="viridis")
            ax.set_xticks(range(len(labels)))
            ax.set_yticks(range(len(labels)))
            ax.set_xticklabels(range(1, len(labels) + 1), fontsize=7)
            ax.set_yticklabels(labels if c == 0 else [], fontsize=7)
            ax.set_title(f'"{word}", layer {name}', fontsize=8)
    fig.suptitle("Cosine similarity of the same word in different sentences")
    fig.tight_layout()
    fig.colorbar(image, ax=axes, shrink=0.6, label="cosine similarity")
    try:
        save_figure(fig, path, what="plot", dpi=100)
    finally:
        plt.close(fig)
