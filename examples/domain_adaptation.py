"""Domain adaptation, the ELMo paper's way: fine-tune the biLM on the task's own text.

    python examples/domain_adaptation.py sentiment|bbc --softmax SOFTMAX.hdf5
        [--model PRESET] [--adapt-epochs 2] [--seeds 3] [--keep DIR]

The biLM (with its softmax: `--softmax`, e.g. `saved_models/elmo-small-en/softmax.hdf5`
for the shipped model) is trained further as a language model on the sentences of the
task's training split, without their labels; the dev and test splits are never read for
it. Then, for the model before and after:

  - the language-model perplexity on the task's dev text, both protocols, both
    directions (`elmo_keras.training.evaluate`);
  - the classifier of `classify.py` with the learned ELMo mix alone, and with the task's
    own embeddings + the mix, mean ± sd of test accuracy over `--seeds` seeds.

Data: `elmo_keras.datasets` (as `classify.py`).
"""

import argparse
import json
import os
import shutil
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

CONFIGS = ("ELMo mix", "none + ELMo mix")


def write_sentences(path, sentences):
    """One sentence a line, tokens separated by spaces (the training corpus format)."""
    with open(path, "w", encoding="utf-8") as f:
        for tokens in sentences:
            f.write(" ".join(tokens) + "\n")


def model_directory(preset, softmax, out):
    """A directory in `elmo-keras train`'s output format (options, weights, vocabulary,
    softmax) for the preset `preset` and its softmax file."""
    from elmo_keras.models.elmo.elmo_presets import preset_dir

    source = preset_dir(preset)
    if source is None:
        raise SystemExit(f"{preset}: not a preset name or directory")
    os.makedirs(out)
    for name in ("options.json", "weights.hdf5", "vocab.txt"):
        if not os.path.isfile(os.path.join(source, name)):
            raise SystemExit(f"{source}: has no {name}; adaptation needs the biLM's "
                             "options, weights and softmax vocabulary")
        shutil.copy(os.path.join(source, name), out)
    shutil.copy(softmax, os.path.join(out, "softmax.hdf5"))
    return out


def adapt(base, train_file, out, epochs, batch_size):
    """Trains `base` (a model directory) further on `train_file` (full softmax, bilm-tf's
    other training defaults); returns `out`, written in `elmo-keras train`'s layout."""
    from elmo_keras.training import train

    with open(os.path.join(base, "options.json"), encoding="utf-8") as f:
        options = json.load(f)
    options.update(batch_size=batch_size, n_epochs=epochs, sample_softmax=False)
    options_file = os.path.join(os.path.dirname(train_file), "adapt_options.json")
    with open(options_file, "w", encoding="utf-8") as f:
        json.dump(options, f)
    train(out, train_file, options_file, os.path.join(base, "vocab.txt"),
          init_weights=os.path.join(base, "weights.hdf5"), checkpoint_every=10 ** 9,
          verbose=0)
    return out


def perplexities(model_dir, text_file):
    """`(stateless fwd, bwd, stateful fwd, bwd)` perplexities of `model_dir` on the text."""
    from elmo_keras.training import evaluate

    r = evaluate(model_dir, text_file)
    s = r["stateless"]
    return s["forward"], s["backward"], r["forward"], r["backward"]


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("task", choices=("sentiment", "bbc"))
    p.add_argument("--model", default="elmo_small_en", help="an ELMo preset: name or path")
    p.add_argument("--softmax", required=True, help="the preset's softmax.hdf5")
    p.add_argument("--cache", default="data/packages")
    p.add_argument("--adapt-epochs", type=int, default=2,
                   help="language-model epochs over the task's training text")
    p.add_argument("--adapt-batch-size", type=int, default=64)
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--epochs", type=int, default=10, help="classifier epochs")
    p.add_argument("--max-tokens", type=int, default=64, help="texts are cut to this length")
    p.add_argument("--sample", type=int, help="at most this many items per split")
    p.add_argument("--keep", help="keep the adapted model in this directory")
    args = p.parse_args()
    import classify

    import elmo_keras as ek

    reader = ek.datasets.sentiment if args.task == "sentiment" else ek.datasets.bbc_news
    splits = reader(args.cache)
    if args.sample:
        splits = {k: v[:args.sample] for k, v in splits.items()}
    cut = {k: [s.split()[:args.max_tokens] for s, _ in v] for k, v in splits.items()}
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        train_file = os.path.join(tmp, "train.txt")
        dev_file = os.path.join(tmp, "dev.txt")
        write_sentences(train_file, cut["train"])
        write_sentences(dev_file, cut["dev"])
        base = model_directory(args.model, args.softmax, os.path.join(tmp, "base"))
        adapted = adapt(base, train_file, args.keep or os.path.join(tmp, "adapted"),
                        args.adapt_epochs, args.adapt_batch_size)
        for name, directory in (("before", base), ("adapted", adapted)):
            ppl = perplexities(directory, dev_file)
            elmo = ek.ELMo.from_preset(directory)
            accs = classify.run(splits, elmo, seeds=args.seeds, epochs=args.epochs,
                                max_tokens=args.max_tokens, configs=CONFIGS)
            rows[name] = (ppl, accs)
    sizes = ", ".join(f"{k} {len(v)}" for k, v in splits.items())
    print(f"{args.task} ({sizes}); model {args.model}; adapted for {args.adapt_epochs} "
          f"epochs of the training text")
    print()
    print("| biLM | dev perplexity, stateless fwd / bwd | stateful fwd / bwd | "
          + " | ".join(CONFIGS) + " |")
    print("| --- | --- | --- |" + " --- |" * len(CONFIGS))
    for name, (ppl, accs) in rows.items():
        cells = [f"{100 * np.mean(accs[c]):.1f} ± {100 * np.std(accs[c]):.1f}" for c in CONFIGS]
        print(f"| {name} | {ppl[0]:.1f} / {ppl[1]:.1f} | {ppl[2]:.1f} / {ppl[3]:.1f} | "
              + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
