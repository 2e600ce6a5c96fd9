"""Does ELMo help? Text classification with and without it, on real labelled data.

    python examples/classify.py sentiment|bbc [--model DIR] [--seeds 3] [--epochs 30]

The same classifier (mean over the tokens -> dropout -> softmax layer) is trained on:

  (a) none       token embeddings learned from scratch (no pretraining);
  (b) layer 0    the char-CNN vectors (context-free);
  (c) top layer  the last biLSTM layer;
  (d) ELMo mix   gamma * sum_j softmax(w)_j h_j with w and gamma learned with the task;
  (e) frozen mix the same mix left at its start (the plain average of the layers).

The biLM itself is frozen: its layers are computed once per sentence and averaged over
the tokens (a mean commutes with the mix, so (d) is exact). Each row is trained with
`--seeds` seeds; the table gives test accuracy (at the epoch of best dev accuracy),
mean and standard deviation. Data: `examples/task_data.py`.
"""

import argparse
import collections
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

CONFIGS = ("none", "layer 0", "top layer", "ELMo mix", "frozen mix")


def pooled_layers(elmo, sentences, batch_size=64):
    """`[n, L + 1, 2P]`: each sentence's biLM layers averaged over its tokens."""
    from elmo_keras.embed_file import Embedder

    embed = Embedder(elmo)
    order = sorted(range(len(sentences)), key=lambda i: len(sentences[i]))
    out = np.zeros((len(sentences), elmo.n_layers + 1, 2 * elmo.projection_dim), np.float32)
    for start in range(0, len(order), batch_size):
        idx = order[start:start + batch_size]
        for i, layers in zip(idx, embed([sentences[i] for i in idx])):
            out[i] = layers.mean(axis=1) if layers.shape[1] else 0.0
    return out


def _classifier(config, n_classes, n_layers, dim, vocab_size, seed, dropout=0.3):
    import keras

    keras.utils.set_random_seed(seed)
    if config == "none":
        ids = keras.Input((None,), dtype="int32")
        x = keras.layers.Embedding(vocab_size, dim, mask_zero=True)(ids)
        x = keras.layers.GlobalAveragePooling1D()(x)
        inputs = ids
    else:
        inputs = keras.Input((n_layers, dim))
        if config == "layer 0":
            x = inputs[:, 0]
        elif config == "top layer":
            x = inputs[:, -1]
        else:
            from elmo_keras.layers import ScalarMix

            mix = ScalarMix(n_layers, trainable=config == "ELMo mix", name="mix")
            x = mix([inputs[:, j][:, None] for j in range(n_layers)])[:, 0]
    x = keras.layers.Dropout(dropout)(x)
    outputs = keras.layers.Dense(n_classes, activation="softmax")(x)
    model = keras.Model(inputs, outputs)
    model.compile(keras.optimizers.Adam(1e-3), "sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model


def _token_ids(sentences, vocab, length=64):
    ids = np.zeros((len(sentences), length), np.int32)
    for i, s in enumerate(sentences):
        row = [vocab.get(t.lower(), 1) for t in s[:length]]
        ids[i, :len(row)] = row
    return ids


def run(splits, elmo, seeds=3, epochs=30, batch_size=32, verbose=0):
    """The results table rows: `{config: [test accuracy per seed]}`.

    Args:
        splits: `{"train"|"dev"|"test": [(sentence, label)]}` (`task_data` readers).
        elmo: an `ELMo`.
    """
    import keras

    labels = sorted({y for _, y in splits["train"]})
    for name, rows in splits.items():
        unknown = {y for _, y in rows} - set(labels)
        if unknown:
            raise ValueError(f"{name} split has labels not in train: {sorted(unknown)}")
        if any(not s.split() for s, _ in rows):
            raise ValueError(f"{name} split has an empty text")
    data = {k: ([s.split() for s, _ in v], np.array([labels.index(y) for _, y in v]))
            for k, v in splits.items()}
    counts = collections.Counter(t.lower() for s in data["train"][0] for t in s)
    vocab = {t: i + 2 for i, (t, _) in enumerate(counts.most_common(20000))}
    feats = {k: pooled_layers(elmo, v[0]) for k, v in data.items()}
    ids = {k: _token_ids(v[0], vocab) for k, v in data.items()}
    n_layers, dim = feats["train"].shape[1:]
    results = {}
    for config in CONFIGS:
        x = ids if config == "none" else feats
        accs = []
        for seed in range(seeds):
            model = _classifier(config, len(labels), n_layers, dim, len(vocab) + 2, seed)
            best = keras.callbacks.ModelCheckpoint(
                os.path.join(os.environ.get("TMPDIR", "/tmp"), f"clf_{os.getpid()}.weights.h5"),
                monitor="val_accuracy", save_best_only=True, save_weights_only=True)
            model.fit(x["train"], data["train"][1], validation_data=(x["dev"], data["dev"][1]),
                      epochs=epochs, batch_size=batch_size, verbose=verbose, callbacks=[best])
            model.load_weights(best.filepath)
            accs.append(model.evaluate(x["test"], data["test"][1], verbose=0)[1])
        results[config] = accs
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
    p.add_argument("--model", help="ELMo directory (default: the shipped elmo-small-en)")
    p.add_argument("--cache", default="data/packages")
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--sample", type=int, help="at most this many items per split")
    args = p.parse_args()
    import task_data
    from elmo_keras.embedding import load_elmo
    from elmo_keras.pretrained import default_model_dir

    splits = (task_data.sentiment if args.task == "sentiment" else task_data.bbc_news)(args.cache)
    if args.sample:
        splits = {k: v[:args.sample] for k, v in splits.items()}
    elmo = load_elmo(args.model or default_model_dir())
    results = run(splits, elmo, seeds=args.seeds, epochs=args.epochs)
    sizes = ", ".join(f"{k} {len(v)}" for k, v in splits.items())
    print(format_table(results, f"{args.task} ({sizes}); model {args.model or 'elmo-small-en'}"))


if __name__ == "__main__":
    main()
