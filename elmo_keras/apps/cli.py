"""The `elmo-keras` command line. Each subcommand only calls the public API."""

import argparse
import os
import sys


def _load_model(args, **kwargs):
    from elmo_keras.models.elmo.elmo_embedding import load_elmo
    from elmo_keras.io.bilm_hdf5 import load_bilm

    if args.model:
        if args.options or args.weights:
            raise SystemExit("error: give --model or --options/--weights, not both")
        return load_elmo(args.model, **kwargs)
    if not args.options and not args.weights:
        from elmo_keras.models.elmo.elmo_presets import default_model_dir

        return load_elmo(default_model_dir(), **kwargs)
    if not (args.options and args.weights):
        raise SystemExit("error: give --options OPTIONS.json and --weights WEIGHTS.hdf5 "
                         "together (or --model, or neither for the shipped elmo-small-en)")
    return load_bilm(args.options, args.weights, **kwargs)


def _embed(args):
    from elmo_keras.io.embedding_file import embed_file

    model = _load_model(args, stateful=args.stateful, max_batch_size=max(args.batch_size, 1))
    vocab = None
    if args.vocab_cache:
        with open(args.vocab_cache, encoding="utf-8") as f:
            vocab = [line.strip() for line in f if line.strip()]
    embed_file(model, args.input, args.output, batch_size=args.batch_size,
               stateful=args.stateful, output_format=args.output_format, resume=args.resume,
               vocab=vocab, jit_compile=args.jit_compile)
    print(f"wrote {args.output}", file=sys.stderr)
    return 0


def _export_hub(args):
    from elmo_keras.io.saved_model import export_hub

    model = _load_model(args)
    export_hub(model, args.outdir, trainable_bilm=args.trainable_bilm)
    print(f"exported {args.outdir}", file=sys.stderr)
    return 0


MODEL_HELP = ("a trained directory (options.json + weights.hdf5), an exported SavedModel "
              "directory, or a .keras file holding an ELMo (default: the shipped "
              "saved_models/elmo-small-en)")


def _vocab(args):
    from elmo_keras.training.corpus import iter_sentences, resolve_files
    from elmo_keras.training.vocabulary import build_vocabulary, count_tokens

    counts = count_tokens(iter_sentences(resolve_files(args.corpus)))
    vocab = build_vocabulary(counts, args.min_count, args.max_size)
    vocab.save(args.output)
    total = sum(counts.values())
    kept = sum(counts[t] for t in vocab.tokens)
    print(f"wrote {args.output}: {vocab.size} tokens (3 special), covering "
          f"{kept / max(total, 1):.2%} of {total} corpus tokens", file=sys.stderr)
    return 0


def _train(args):
    import keras

    backend = args.backend or keras.backend.backend()
    if backend != keras.backend.backend():
        # The backend is fixed when Keras is imported: run the command again in a
        # process that imports it with KERAS_BACKEND set.
        import subprocess

        env = dict(os.environ, KERAS_BACKEND=backend)
        argv = [sys.executable, "-m", "elmo_keras", "train"] + _train_flags(args)
        return subprocess.run(argv, env=env).returncode
    options = dict(epochs=args.epochs, batch_size=args.batch_size, max_steps=args.max_steps,
                   resume=args.resume, init_weights=args.init_weights,
                   mixed_precision=args.mixed_precision,
                   checkpoint_every=args.checkpoint_every, log_every=args.log_every)
    if backend == "jax":
        if args.strategy != "default":
            print("error: --strategy needs the TensorFlow backend", file=sys.stderr)
            return 2
        from elmo_keras.training.jax_trainer import TrainingInterrupted, train
    elif backend == "tensorflow":
        from elmo_keras.training.trainer import TrainingInterrupted, train

        options["strategy"] = args.strategy
    else:
        print(f"error: training runs on the tensorflow or jax backend, not {backend}",
              file=sys.stderr)
        return 2
    try:
        result = train(args.out, args.train, args.options, args.vocab, args.valid, **options)
    except TrainingInterrupted as e:
        print(f"{e}", file=sys.stderr)
        return 130
    print(f"trained {result['step']} steps in {result['seconds']:.0f} s; model in {args.out}",
          file=sys.stderr)
    return 0


def _train_flags(args):
    """The `train` command line that gives `args` (the backend left to the environment)."""
    flags = []
    for action in args.train_parser._actions:
        value = getattr(args, action.dest, None)
        if not action.option_strings or action.dest == "backend" or value in (None, False) \
                or value == action.default:
            continue
        flags.append(action.option_strings[0])
        if value is not True:
            flags += [str(v) for v in value] if isinstance(value, list) else [str(value)]
    return flags


def _evaluate(args):
    from elmo_keras.training.trainer import evaluate

    r = evaluate(args.model_dir, args.test, batch_size=args.batch_size,
                 unroll_steps=args.unroll_steps)
    print(f"tokens={r['n_tokens']}")
    print(f"perplexity forward={r['forward']:.4f} backward={r['backward']:.4f} "
          f"average={r['average']:.4f}")
    return 0


def _demo(args):
    from elmo_keras.apps.demo import run_demo
    from elmo_keras.models.elmo.elmo_presets import default_model_dir
    from elmo_keras.training.corpus import iter_sentences

    model = _load_model(args)
    sample = args.corpus
    if sample is None and not args.model:
        sample = default_model_dir() / "test_sample.txt"
    corpus = list(iter_sentences([sample]))[:args.corpus_sentences] if sample else None
    run_demo(model, corpus=corpus, plot=args.plot)
    return 0


def build_parser():
    parser = argparse.ArgumentParser(
        prog="elmo-keras", description="ELMo contextual word representations (Keras 3).")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser(
        "embed", help="embed a text file (one sentence a line, whitespace tokens) to HDF5",
        description="Writes one dataset per input line, named by its 0-based index, "
                    "as AllenNLP's `elmo` command does, plus `sentence_to_index`.")
    p.add_argument("input", help="text file, one tokenized sentence per line")
    p.add_argument("output", help="HDF5 file to write")
    p.add_argument("--options", help="bilm-tf options.json")
    p.add_argument("--weights", help="bilm-tf weights.hdf5")
    p.add_argument("--model", help=MODEL_HELP)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--stateful", action="store_true",
                   help="batch in file order and carry LSTM states from batch to batch "
                        "(bilm-tf's protocol)")
    p.add_argument("--output-format", choices=("all", "top", "average"), default="all")
    p.add_argument("--resume", action="store_true",
                   help="keep the chunks an interrupted run finished (OUTPUT.parts/)")
    p.add_argument("--jit-compile", action="store_true",
                   help="compile the model with XLA (faster on CPU for small models)")
    p.add_argument("--vocab-cache", help="vocabulary file (one token a line): their char-CNN "
                                         "vectors are computed once and looked up")
    p.set_defaults(func=_embed)

    p = sub.add_parser(
        "demo", help="show contextual vectors separating the senses of ambiguous words",
        description="Cosine similarities of the same word ('bank', 'plant', ...) in "
                    "sentences of two senses, at each layer, and its nearest neighbours "
                    "in context.")
    p.add_argument("--model", help=MODEL_HELP)
    p.add_argument("--options", help=argparse.SUPPRESS)
    p.add_argument("--weights", help=argparse.SUPPRESS)
    p.add_argument("--corpus", help="tokenized text for the nearest neighbours "
                                    "(default: the shipped model's test sample)")
    p.add_argument("--corpus-sentences", type=int, default=400)
    p.add_argument("--plot", help="also save the similarity matrices as this PNG")
    p.set_defaults(func=_demo)

    p = sub.add_parser(
        "export-hub", help="export a TF Hub-style SavedModel (signatures default, tokens)")
    p.add_argument("outdir", help="directory to write")
    p.add_argument("--options", help="bilm-tf options.json")
    p.add_argument("--weights", help="bilm-tf weights.hdf5")
    p.add_argument("--model", help=MODEL_HELP)
    p.add_argument("--trainable-bilm", action="store_true",
                   help="list the whole biLM in trainable_variables, not only the mix")
    p.set_defaults(func=_export_hub)

    p = sub.add_parser(
        "vocab", help="write a bilm-tf vocabulary file from a corpus",
        description="Tokens sorted by decreasing frequency after <S>, </S>, <UNK>.")
    p.add_argument("corpus", nargs="+", help="corpus files or glob patterns")
    p.add_argument("output", help="vocabulary file to write")
    p.add_argument("--min-count", type=int, default=1)
    p.add_argument("--max-size", type=int, help="entries in all, special tokens included")
    p.set_defaults(func=_vocab)

    p = sub.add_parser(
        "train", help="train a biLM on a text corpus (bilm-tf's recipe)",
        description="Writes checkpoints, TensorBoard logs, history.jsonl, "
                    "learning_curve.png and the model (options.json, weights.hdf5, "
                    "softmax.hdf5, vocab.txt) to --out. Ctrl-C stops after writing a "
                    "checkpoint; --resume continues.")
    p.add_argument("--options", help="training options file (bilm-tf's options.json "
                                      "with training keys)")
    p.add_argument("--vocab", help="vocabulary file (elmo-keras vocab)")
    p.add_argument("--train", nargs="+", help="training files or glob patterns (quoted)")
    p.add_argument("--valid", nargs="+", help="validation files: perplexity after each epoch")
    p.add_argument("--out", required=True, help="run directory")
    p.add_argument("--epochs", type=int)
    p.add_argument("--batch-size", type=int, help="global batch size (rows)")
    p.add_argument("--max-steps", type=int)
    p.add_argument("--resume", action="store_true", help="continue the run in --out")
    p.add_argument("--init-weights", help="start from these weights.hdf5 (and softmax)")
    p.add_argument("--strategy", choices=("default", "mirrored", "multiworker"),
                   default="default")
    p.add_argument("--mixed-precision", choices=("bfloat16",))
    p.add_argument("--checkpoint-every", type=int, default=1000)
    p.add_argument("--log-every", type=int, default=50)
    p.add_argument("--backend", choices=("tensorflow", "jax"),
                   help="Keras backend to train on (default: KERAS_BACKEND, else "
                        "tensorflow); jax runs a jit-compiled step on one device")
    p.set_defaults(func=_train, train_parser=p)

    p = sub.add_parser(
        "evaluate", help="test perplexity of a trained directory (full softmax)")
    p.add_argument("model_dir", help="directory written by elmo-keras train")
    p.add_argument("--test", nargs="+", required=True, help="test files or glob patterns")
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--unroll-steps", type=int, default=1)
    p.set_defaults(func=_evaluate)
    return parser


def main(argv=None):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    args = build_parser().parse_args(argv)
    from elmo_keras.io.bilm_hdf5 import WeightFileError
    from elmo_keras.io.bilm_options import OptionsError

    try:
        return args.func(args)
    except (OptionsError, WeightFileError, FileNotFoundError, FileExistsError, ValueError,
            OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
