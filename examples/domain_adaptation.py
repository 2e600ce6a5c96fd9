"""Domain adaptation, the ELMo paper's way: fine-tune the biLM on the task's own text.

    python examples/domain_adaptation.py sentiment|bbc [--model PRESET]
        [--adapt-epochs 2] [--adapt-learning-rate 0.2] [--encoder pooling|bilstm]
        [--seeds 3] [--keep DIR] [--softmax SOFTMAX.hdf5 --vocab VOCAB]

The biLM is trained further as a language model on the sentences of the task's
training split, without their labels, by `elmo_keras.adapt` (both directions, from the
preset's own softmax: the shipped `elmo_small_en` carries it; `--softmax`/`--vocab` for
a preset that does not); the dev and test splits are never read for it. Then, for the
model before and after:

  - the language-model perplexity on the task's dev text, both protocols, both
    directions (`adapt` measures them, with `elmo_keras.training.evaluate`);
  - the classifier of `classify.py` with the learned ELMo mix alone, and with the task's
    own embeddings + the mix, mean ± sd of test accuracy over `--seeds` seeds.

The texts are cut and split on whitespace as `classify.py` reads them (so the biLM is
adapted to exactly the tokens the classifier gives it).

Data: `elmo_keras.datasets` (as `classify.py`).
"""

import argparse
import os
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import classify  # noqa: E402  (keras is imported when a classifier is built)

CONFIGS = ("ELMo mix", "none + ELMo mix")


def perplexities(ppl):
    """`(stateless fwd, bwd, stateful fwd, bwd)` of one of `adapt`'s perplexity reports."""
    s, f = ppl["stateless"], ppl["stateful"]
    return s["forward"], s["backward"], f["forward"], f["backward"]


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("task", choices=("sentiment", "bbc"))
    p.add_argument("--model", default="elmo_small_en", help="an ELMo preset: name or path")
    p.add_argument("--softmax", help="the preset's softmax.hdf5, if it ships none")
    p.add_argument("--vocab", help="the vocab.txt of the softmax's rows (with --softmax)")
    p.add_argument("--cache", default="data/packages")
    p.add_argument("--adapt-epochs", type=int, default=2,
                   help="language-model epochs over the task's training text")
    p.add_argument("--adapt-batch-size", type=int, default=64)
    p.add_argument("--adapt-learning-rate", type=float,
                   help="Adagrad's learning rate (default: the preset's, 0.2)")
    p.add_argument("--encoder", choices=classify.ENCODERS, default="pooling",
                   help="the classifier's encoder (classify.py --encoder)")
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--epochs", type=int, default=10, help="classifier epochs")
    p.add_argument("--max-tokens", type=int, default=64, help="texts are cut to this length")
    p.add_argument("--sample", type=int, help="at most this many items per split")
    p.add_argument("--keep", help="keep the adapted model in this directory")
    args = p.parse_args()
    import elmo_keras as ek

    reader = ek.datasets.sentiment if args.task == "sentiment" else ek.datasets.bbc_news
    splits = reader(args.cache)
    if args.sample:
        splits = {k: v[:args.sample] for k, v in splits.items()}
    cut = {k: [s.split()[:args.max_tokens] for s, _ in v] for k, v in splits.items()}
    texts = {k: [" ".join(tokens) for tokens in v] for k, v in cut.items()}
    with tempfile.TemporaryDirectory() as tmp:
        result = ek.adapt(args.model, texts["train"], valid_texts=texts["dev"],
                          out_dir=args.keep or os.path.join(tmp, "adapted"),
                          epochs=args.adapt_epochs, batch_size=args.adapt_batch_size,
                          learning_rate=args.adapt_learning_rate,
                          softmax=args.softmax, vocab=args.vocab, tokenizer="whitespace")
        rows = {}
        for name, elmo, ppl in (("before", ek.ELMo.from_preset(args.model),
                                 result.perplexity_before),
                                ("adapted", result.model, result.perplexity_after)):
            accs = classify.run(splits, elmo, seeds=args.seeds, epochs=args.epochs,
                                max_tokens=args.max_tokens, configs=CONFIGS,
                                encoder=args.encoder)
            rows[name] = (perplexities(ppl), accs)
    sizes = ", ".join(f"{k} {len(v)}" for k, v in splits.items())
    print(f"{args.task} ({sizes}); model {args.model}; adapted for {args.adapt_epochs} "
          f"epochs of the training text; encoder {args.encoder}")
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
