"""Does ELMo help? Text classification with and without it, on real labelled data.

    python examples/classify.py sentiment|bbc [--model PRESET] [--seeds 3] [--epochs 10]
        [--encoder pooling|bilstm ...] [--configs abcdef]

The same classifier (token vectors -> dropout -> an encoder over the tokens -> masked
mean and max over the tokens -> dropout -> softmax layer) is trained on:

  (a) none             token embeddings learned from scratch (no pretraining);
  (b) layer 0          the char-CNN vectors (context-free);
  (c) top layer        the last biLSTM layer;
  (d) ELMo mix         gamma * sum_j softmax(w)_j h_j, w and gamma learned with the task;
  (e) frozen mix       the same mix left at its start (the plain average of the layers);
  (f) none + ELMo mix  (a) and (d) concatenated, the way the ELMo paper adds ELMo to a
                       task model's own embeddings.

The encoder is `--encoder pooling` (the default: a dense ReLU layer on every token) or
`bilstm` (the ELMo paper's classifier: a masked bidirectional LSTM; `--token-dense`
puts the dense layer before it); several encoders give one table each, trained on the
same biLM layers. The biLM itself is frozen: its layers are computed once per sentence.
Each row is trained with `--seeds` seeds; the table gives test accuracy (at the epoch
of best dev accuracy), mean and standard deviation, and the best dev accuracy (the
one to choose options by). `--model` takes a preset name or directory (an adapted
model's `preset/`). Data: `elmo_keras.datasets`.
"""

import argparse
import collections
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

CONFIGS = ("none", "layer 0", "top layer", "ELMo mix", "frozen mix", "none + ELMo mix")
ENCODERS = ("pooling", "bilstm")


def token_layers(embed, sentences, steps, batch_size=64):
    """`[n, steps, L + 1, 2P]` float16: each token's biLM layers, zero past the end.
    Sentences must hold at most `steps` tokens; `embed` is an `Embedder`."""
    model = embed.model
    out = np.zeros((len(sentences), steps, model.n_layers + 1, 2 * model.projection_dim),
                   np.float16)
    for i, layers in embed.embed_all(sentences, batch_size):
        out[i, :layers.shape[1]] = layers.transpose(1, 0, 2)
    return out


def masked_mean_max(x, mask):
    """`[batch, 2 * dim]`: the mean and the max of `x` `[batch, time, dim]` over the
    tokens where `mask` `[batch, time]` (float, 1 for a token) is 1."""
    from keras import ops

    m = ops.expand_dims(mask, -1)
    mean = ops.sum(x * m, axis=1) / ops.maximum(ops.sum(m, axis=1), 1.0)
    top = ops.max(x * m - 1e4 * (1.0 - m), axis=1)
    return ops.concatenate([mean, top], axis=-1)


def _classifier(config, n_classes, steps, n_layers, dim, vocab_size, seed,
                encoder="pooling", hidden=128, dropout=0.3, learning_rate=1e-3,
                token_dense=False, layer_norm=False):
    """The classifier of one row; `encoder` is what runs over the token vectors:
    `"pooling"` (a dense ReLU layer on every token) or `"bilstm"` (a bidirectional
    LSTM of `hidden` units a direction, masked, after a dense ReLU layer on every token
    if `token_dense`); both are followed by masked mean and max pooling. `layer_norm`
    normalises each biLM layer before the mix (`ScalarMix(do_layer_norm=True)`).
    `steps` None: batches of any length (`LengthBatches`)."""
    import keras
    from keras import ops

    from elmo_keras import ScalarMix

    if encoder not in ENCODERS:
        raise ValueError(f"encoder must be one of {ENCODERS}, got {encoder!r}")
    keras.utils.set_random_seed(seed)
    ids = keras.Input((steps,), dtype="int32", name="token_ids")  # 0 = padding
    layers = keras.Input((steps, n_layers, dim), name="elmo_layers")
    tokens = ops.greater(ids, 0)
    parts = []
    if config in ("none", "none + ELMo mix"):
        parts.append(keras.layers.Embedding(vocab_size, dim, name="own_embeddings")(ids))
    if config == "layer 0":
        parts.append(layers[:, :, 0])
    elif config == "top layer":
        parts.append(layers[:, :, -1])
    elif config.endswith("mix"):
        mix = ScalarMix(n_layers, do_layer_norm=layer_norm,
                        trainable=config != "frozen mix", name="mix")
        parts.append(mix([layers[:, :, j] for j in range(n_layers)], mask=tokens))
    x = parts[0] if len(parts) == 1 else keras.layers.Concatenate()(parts)
    x = keras.layers.Dropout(dropout)(x)
    if encoder == "pooling" or token_dense:
        x = keras.layers.Dense(hidden, activation="relu")(x)
    if encoder == "bilstm":
        lstm = keras.layers.LSTM(hidden, return_sequences=True)
        x = keras.layers.Bidirectional(lstm, name="bilstm")(x, mask=tokens)
    x = masked_mean_max(x, ops.cast(tokens, x.dtype))
    x = keras.layers.Dropout(dropout)(x)
    outputs = keras.layers.Dense(n_classes, activation="softmax")(x)
    model = keras.Model([ids, layers], outputs)
    model.compile(keras.optimizers.Adam(learning_rate), "sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model


def _token_ids(sentences, vocab, steps):
    ids = np.zeros((len(sentences), steps), np.int32)
    for i, s in enumerate(sentences):
        ids[i, :len(s)] = [vocab.get(t.lower(), 1) for t in s]
    return ids


def features(splits, elmo, max_tokens=64):
    """The classifiers' inputs, computed once for every row and encoder.

    Args:
        splits: `{"train"|"dev"|"test": [(sentence, label)]}` (`elmo_keras.datasets` readers).
        elmo: an `ELMo`.
        max_tokens: texts are cut to this many tokens.

    Returns:
        `(x, y, n_labels, vocab_size)`: `x[split]` is `[token ids [n, steps], biLM
        layers [n, steps, L + 1, 2P] float16]`, `y[split]` the label indices.
    """
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
    return x, {k: v[1] for k, v in data.items()}, len(labels), len(vocab) + 2


class LengthBatches:
    """Batches of texts of similar length, each cut to its longest text (rounded up to
    `multiple` steps, so that few shapes are compiled): a recurrent encoder's cost is
    per step, and the arrays are padded to the longest text of all. With `seed`, the
    batches come in a new random order each epoch (`on_epoch_end`; the texts of a
    batch stay together); without, in order of length.

    Args:
        x: `[token ids [n, steps], biLM layers [n, steps, ...]]` (a split of `features`).
        y: `[n]` label indices.
    """

    def __init__(self, x, y, batch_size, seed=None, multiple=8):
        self.x, self.y, self.multiple = x, y, multiple
        self.lengths = np.count_nonzero(x[0], axis=1)
        order = np.argsort(self.lengths, kind="stable")
        self.batches = [order[i:i + batch_size] for i in range(0, len(order), batch_size)]
        self.rng = None if seed is None else np.random.default_rng(seed)
        self.order = np.arange(len(self.batches))
        self.on_epoch_end()

    def __len__(self):
        return len(self.batches)

    def __getitem__(self, i):
        rows = self.batches[self.order[i]]
        longest = max(int(self.lengths[rows].max()), 1)
        t = min(self.x[0].shape[1], -(-longest // self.multiple) * self.multiple)
        return (self.x[0][rows, :t], self.x[1][rows, :t]), self.y[rows]

    def on_epoch_end(self):
        if self.rng is not None:
            self.rng.shuffle(self.order)


def _accuracy(model, batches):
    right = sum(int(np.sum(np.argmax(model.predict_on_batch(x), -1) == y))
                for x, y in (batches[i] for i in range(len(batches))))
    return right / sum(len(b) for b in batches.batches)


def _fit_on_length_batches(model, x, y, epochs, batch_size, seed, weights_file):
    """`(best dev accuracy, test accuracy with the weights of that epoch)`."""
    data = {k: LengthBatches(x[k], y[k], batch_size, seed if k == "train" else None)
            for k in x}
    best = -1.0
    for _ in range(epochs):
        for i in range(len(data["train"])):
            model.train_on_batch(*data["train"][i])
        data["train"].on_epoch_end()
        dev = _accuracy(model, data["dev"])
        if dev > best:
            best = dev
            model.save_weights(weights_file)
    model.load_weights(weights_file)
    return best, _accuracy(model, data["test"])


def train_rows(x, y, n_labels, vocab_size, seeds=3, epochs=10, batch_size=32, verbose=0,
               configs=CONFIGS, **classifier):
    """`{config: [(best dev accuracy, test accuracy at that epoch) per seed]}` on the
    inputs of `features`; `classifier`: `encoder`, `hidden`, `dropout`,
    `learning_rate`, `token_dense`, `layer_norm` (see `_classifier`). The biLSTM
    encoder is trained on batches of similar length (`LengthBatches`); the pooling
    one with `fit` on the padded arrays."""
    import keras

    steps, n_layers, dim = x["train"][1].shape[1:]
    weights_file = os.path.join(os.environ.get("TMPDIR", "/tmp"),
                                f"clf_{os.getpid()}.weights.h5")
    bucketed = classifier.get("encoder", "pooling") == "bilstm"
    results = {}
    for config in configs:
        results[config] = []
        for seed in range(seeds):
            model = _classifier(config, n_labels, None if bucketed else steps, n_layers, dim,
                                vocab_size, seed, **classifier)
            if bucketed:
                results[config].append(_fit_on_length_batches(
                    model, x, y, epochs, batch_size, seed, weights_file))
                continue
            best = keras.callbacks.ModelCheckpoint(weights_file, monitor="val_accuracy",
                                                   save_best_only=True, save_weights_only=True)
            history = model.fit(x["train"], y["train"], validation_data=(x["dev"], y["dev"]),
                                epochs=epochs, batch_size=batch_size, verbose=verbose,
                                callbacks=[best])
            model.load_weights(weights_file)
            results[config].append((max(history.history["val_accuracy"]),
                                    model.evaluate(x["test"], y["test"], verbose=0)[1]))
    if os.path.exists(weights_file):
        os.remove(weights_file)
    return results


def run(splits, elmo, seeds=3, epochs=10, batch_size=32, max_tokens=64, verbose=0,
        configs=CONFIGS, **classifier):
    """The results table rows: `{config: [test accuracy per seed]}`.

    Args:
        splits: `{"train"|"dev"|"test": [(sentence, label)]}` (`elmo_keras.datasets` readers).
        elmo: an `ELMo`.
        max_tokens: texts are cut to this many tokens.
        configs: the rows to train (a subset of `CONFIGS`).
        **classifier: `encoder` (`"pooling"` or `"bilstm"`) and the other options of
            `train_rows`.
    """
    rows = train_rows(*features(splits, elmo, max_tokens), seeds=seeds, epochs=epochs,
                      batch_size=batch_size, verbose=verbose, configs=configs, **classifier)
    return {config: [test for _, test in accs] for config, accs in rows.items()}


def format_table(results, title):
    """A markdown table of `run`'s rows (test accuracies), or of `train_rows`' (then
    with the best dev accuracy too)."""
    with_dev = any(isinstance(a, tuple) for accs in results.values() for a in accs)
    return "\n".join([title, "", *_table_head(with_dev),
                      *(_table_row(c, accs) for c, accs in results.items())])


def _table_head(with_dev):
    return ["| input to the classifier | test accuracy (mean ± sd) |"
            + (" best dev (mean) |" if with_dev else "") + " seeds |",
            "| --- | --- |" + (" --- |" if with_dev else "") + " --- |"]


def _table_row(config, accs):
    with_dev = any(isinstance(a, tuple) for a in accs)
    test = [a[1] if with_dev else a for a in accs]
    dev = f" {100 * np.mean([a[0] for a in accs]):.1f} |" if with_dev else ""
    return (f"| {config} | {100 * np.mean(test):.1f} ± {100 * np.std(test):.1f} |{dev} "
            f"{len(accs)} |")


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
    p.add_argument("--encoder", nargs="+", choices=ENCODERS, default=["pooling"],
                   help="what runs over the token vectors (one table each, on the same "
                        "biLM layers): a dense layer per token, or a biLSTM")
    p.add_argument("--configs", default="abcdef",
                   help="the rows, by letter: a none ... f none + ELMo mix")
    p.add_argument("--hidden", type=int, default=128,
                   help="units of the per-token dense layer / of each LSTM direction")
    p.add_argument("--dropout", type=float, default=0.3)
    p.add_argument("--learning-rate", type=float, default=1e-3)
    p.add_argument("--token-dense", action="store_true",
                   help="bilstm: a dense ReLU layer on every token before the LSTM")
    p.add_argument("--layer-norm", action="store_true",
                   help="normalise each biLM layer before the mix (rows d, e, f)")
    args = p.parse_args()
    import elmo_keras as ek

    reader = ek.datasets.sentiment if args.task == "sentiment" else ek.datasets.bbc_news
    splits = reader(args.cache)
    if args.sample:
        splits = {k: v[:args.sample] for k, v in splits.items()}
    if not args.configs or set(args.configs) - set("abcdef"):
        p.error(f"--configs: letters a to f, got {args.configs!r}")
    configs = [CONFIGS["abcdef".index(c)] for c in args.configs]
    inputs = features(splits, ek.ELMo.from_preset(args.model), args.max_tokens)
    sizes = ", ".join(f"{k} {len(v)}" for k, v in splits.items())
    for encoder in args.encoder:  # each row printed as it is done
        print("\n".join([f"{args.task} ({sizes}); model {args.model}; encoder {encoder}",
                         "", *_table_head(with_dev=True)]), flush=True)
        for config in configs:
            rows = train_rows(*inputs, seeds=args.seeds, epochs=args.epochs,
                              configs=[config], encoder=encoder, hidden=args.hidden,
                              dropout=args.dropout, learning_rate=args.learning_rate,
                              token_dense=args.token_dense, layer_norm=args.layer_norm)
            print(_table_row(config, rows[config]), flush=True)
        print(flush=True)


if __name__ == "__main__":
    main()
