"""Does ELMo help? Text classification with and without it, on real labelled data.

    python examples/classify.py sentiment|bbc [--model PRESET] [--seeds 3] [--epochs 10]

The same classifier (token vectors -> dropout -> dense ReLU layer on every token ->
masked mean and max over the tokens -> dropout -> softmax layer) is trained on:

  (a) none             token embeddings learned from scratch (no pretraining);
  (b) layer 0          the char-CNN vectors (context-free);
  (c) top layer        the last biLSTM layer;
  (d) ELMo mix         gamma * sum_j softmax(w)_j h_j, w and gamma learned with the task;
  (e) frozen mix       the same mix left at its start (the plain average of the layers);
  (f) none + ELMo mix  (a) and (d) concatenated, the way the ELMo paper adds ELMo to a
                       task model's own embeddings.

The biLM itself is frozen: its layers are computed once per sentence. Each row is
trained with `--seeds` seeds; the table gives test accuracy (at the epoch of best dev
accuracy), mean and standard deviation. Data: `elmo_keras.datasets`.
"""

import argparse
import collections
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

CONFIGS = ("none", "layer 0", "top layer", "ELMo mix", "frozen mix", "none + ELMo mix")


def token_layers(embed, sentences, steps, batch_size=64):
    """`[n, steps, L + 1, 2P]` float16: each token's biLM layers, zero past the end.
    Sentences must hold at most `steps` tokens; `embed` is an `Embedder`."""
    model = embed.model
    out = np.zeros((len(sentences), steps, model.n_layers + 1, 2 * model.projection_dim),
                   np.float16)
    for i, layers in embed.embed_all(sentences, batch_size):
        out[i, :layers.shape[1]] = layers.transpose(1, 0, 2)
    return out


def _classifier(config, n_classes, steps, n_layers, dim, vocab_size, seed, hidden=128,
                dropout=0.3):
    import keras
    from keras import ops

    from elmo_keras import ScalarMix

    keras.utils.set_random_seed(seed)
    ids = keras.Input((steps,), dtype="int32", name="token_ids")  # 0 = padding
    layers = keras.Input((steps, n_layers, dim), name="elmo_layers")
    parts = []
    if config in ("none", "none + ELMo mix"):
        parts.append(keras.layers.Embedding(vocab_size, dim, name="own_embeddings")(ids))
    if config == "layer 0":
        parts.append(layers[:, :, 0])
    elif config == "top layer":
        parts.append(layers[:, :, -1])
    elif config.endswith("mix"):
        mix = ScalarMix(n_layers, trainable=config != "frozen mix", name="mix")
        parts.append(mix([layers[:, :, j] for j in range(n_layers)]))
    x = parts[0] if len(parts) == 1 else keras.layers.Concatenate()(parts)
    x = keras.layers.Dropout(dropout)(x)
    x = keras.layers.Dense(hidden, activation="relu")(x)
    mask = ops.expand_dims(ops.cast(ops.greater(ids, 0), x.dtype), -1)
    mean = ops.sum(x * mask, axis=1) / ops.maximum(ops.sum(mask, axis=1), 1.0)
    top = ops.max(x * mask - 1e4 * (1.0 - mask), axis=1)
    x = keras.layers.Dropout(dropout)(keras.layers.Concatenate()([mean, top]))
    outputs = keras.layers.Dense(n_classes, activation="softmax")(x)
    model = keras.Model([ids, layers], outputs)
    model.compile(keras.optimizers.Adam(1e-3), "sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model


def _token_ids(sentences, vocab, steps):
    ids = np.zeros((len(sentences), steps), np.int32)
    for i, s in enumerate(sentences):
        ids[i, :len(s)] = [vocab.get(t.lower(), 1) for t in s]
    return ids


def run(splits, elmo, seeds=3, epochs=10, batch_size=32, max_tokens=64, verbose=0,
        configs=CONFIGS):
    """The results table rows: `{config: [test accuracy per seed]}`.

    Args:
        splits: `{"train"|"dev"|"test": [(sentence, label)]}` (`elmo_keras.datasets` readers).
        elmo: an `ELMo`.
        max_tokens: texts are cut to this many tokens.
        configs: the rows to train (a subset of `CONFIGS`).
    """
    import keras

    from elmo_keras import Embedder

    labels = sorted({y for _, y in splits["train"]})
    for name, rows in splits.items():
        unknown = {y for _, y in rows} - set(labels)
        if unknown:
            raise ValueError(f"{name} split has labels not in train: {sorted(unknown)}")
        if any(not s.split() for s, _ in rows):
            raise ValueError(f"{name} split has an empty text")
    data = {k: ([s.split()[:max_tokens] for s, _ in v],
                np.array([labels.index(y) for _, y in v])) for k, v in splits.items()}
    steps = max(len(s) for sentences, _ in data.values() for s in sentences)
    counts = collections.Counter(t.lower() for s in data["train"][0] for t in s)
    vocab = {t: i + 2 for i, (t, _) in enumerate(counts.most_common(20000))}
    embed = Embedder(elmo)
    x = {k: [_token_ids(v[0], vocab, steps), token_layers(embed, v[0], steps)]
         for k, v in data.items()}
    n_layers, dim = x["train"][1].shape[2:]
    weights_file = os.path.join(os.environ.get("TMPDIR", "/tmp"),
                                f"clf_{os.getpid()}.weights.h5")
    results = {}
    for config in configs:
        accs = []
        for seed in range(seeds):
            model = _classifier(config, len(labels), steps, n_layers, dim, len(vocab) + 2,
                                seed)
            best = keras.callbacks.ModelCheckpoint(weights_file, monitor="val_accuracy",
                                                   save_best_only=True, save_weights_only=True)
            model.fit(x["train"], data["train"][1], validation_data=(x["dev"], data["dev"][1]),
                      epochs=epochs, batch_size=batch_size, verbose=verbose, callbacks=[best])
            model.load_weights(weights_file)
            accs.append(model.evaluate(x["test"], data["test"][1], verbose=0)[1])
        results[config] = accs
    if os.path.exists(weights_file):
        os.remove(weights_file)
    return results


def format_table(results, title):
    lines = [title, "", "| input to the classifier | test accuracy (mean ± sd) | seeds |",
             "| --- | --- | --- |"]
    for config, accs in results.items():
        lines.append(f"| {config} | {100 * np.mean(accs):.1f} ± {100 * np.std(accs):.1f} "
                     f"| {len(accs)} |")
    return "\n".join(lines)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("task", choices=("sentiment", "bbc"))
    p.add_argument("--model", default="elmo_small_en",
                   help="an ELMo preset: name or path (default: elmo_small_en)")
    p.add_argument("--cache", default="data/packages")
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--max-tokens", type=int, default=64, help="texts are cut to this length")
    p.add_argument("--sample", type=int, help="at most this many items per split")
    args = p.parse_args()
    import elmo_keras as ek

    reader = ek.datasets.sentiment if args.task == "sentiment" else ek.datasets.bbc_news
    splits = reader(args.cache)
    if args.sample:
        splits = {k: v[:args.sample] for k, v in splits.items()}
    elmo = ek.ELMo.from_preset(args.model)
    results = run(splits, elmo, seeds=args.seeds, epochs=args.epochs,
                  max_tokens=args.max_tokens)
    sizes = ", ".join(f"{k} {len(v)}" for k, v in splits.items())
    print(format_table(results, f"{args.task} ({sizes}); model {args.model}"))


if __name__ == "__main__":
    main()
