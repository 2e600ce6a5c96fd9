"""The `elmo-keras` command line. Each subcommand only calls the public API."""

import argparse
import os
import sys
import traceback


def _load_model(args, **kwargs):
    from elmo_keras.models.elmo.elmo_presets import resolve_model

    return resolve_model(args.model, args.options, args.weights, **kwargs)


def quiet_tensorflow(verbose=False):
    """Keeps TensorFlow's C++ and absl log lines off stderr unless `verbose`: sets the log
    levels, then imports TensorFlow and finds its devices with stderr closed (absl writes
    its first lines whatever `TF_CPP_MIN_LOG_LEVEL` says). Call before the package is
    imported; Python errors still show."""
    if verbose:
        return
    import importlib.util
    import logging

    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"  # also over a lower level: --verbose shows all
    for name in ("tensorflow", "absl"):
        logging.getLogger(name).setLevel(logging.ERROR)
    if importlib.util.find_spec("tensorflow") is None:
        return
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        import tensorflow as tf

        tf.config.list_physical_devices()
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def _model_inputs(args):
    """The model files a command reads (to keep its outputs off them)."""
    from elmo_keras.models.elmo import published_presets
    from elmo_keras.models.elmo.elmo_presets import preset_dir

    paths = [args.options, args.weights]
    if args.model and os.path.exists(args.model):
        paths.append(args.model)
    elif args.model in published_presets.PUBLISHED:  # its cache folder: no download here
        paths.append(published_presets.published_cache_dir(args.model))
    elif not (args.options or args.weights):
        paths.append(preset_dir(args.model or "elmo_small_en"))
    return paths


def _load_model_checked(args, **kwargs):
    """`_load_model`, with running out of memory said for a person."""
    try:
        return _load_model(args, **kwargs)
    except Exception as e:
        if not _out_of_memory(e):
            raise
        raise UsageError(
            f"out of memory while building the model for --batch-size {args.batch_size}"
            f"{' with --stateful (LSTM states are kept for every row)' if args.stateful else ''}"
            "; use a smaller --batch-size") from None


def _embed(args):
    from elmo_keras.io.embedding_file import embed_file
    from elmo_keras.io.paths import check_input_file, check_output_dir, check_output_file
    from elmo_keras.io.text_lines import iter_lines

    if args.batch_size < 1 or args.chunk_lines < 1:
        raise UsageError(f"--batch-size and --chunk-lines must be >= 1, got "
                         f"{args.batch_size} and {args.chunk_lines}")
    check_input_file(args.input)
    if args.vocab_cache:
        check_input_file(args.vocab_cache, "vocabulary file")
    inputs = [args.input, args.vocab_cache, *_model_inputs(args)]
    check_output_file(args.output, inputs)
    check_output_dir(args.output + ".parts", inputs, what="parts directory (OUTPUT.parts)",
                     deletes_in=True)
    vocab = None
    if args.vocab_cache:
        vocab = [line.strip() for line in iter_lines(args.vocab_cache) if line.strip()]
    model = _load_model_checked(args, stateful=args.stateful, max_batch_size=args.batch_size)
    try:
        embed_file(model, args.input, args.output, batch_size=args.batch_size,
                   stateful=args.stateful, output_format=args.output_format,
                   resume=args.resume, chunk_lines=args.chunk_lines, vocab=vocab,
                   jit_compile=args.jit_compile)
    except KeyboardInterrupt:
        parts = args.output + ".parts"
        if args.stateful or not os.path.isdir(parts):
            raise
        raise KeyboardInterrupt(f"the finished chunks are kept in {parts}; rerun the same "
                                "command with --resume to continue") from None
    except Exception as e:
        if not _out_of_memory(e):
            raise
        raise UsageError(f"out of memory embedding batches of {args.batch_size} sentences; "
                         "use a smaller --batch-size (and --resume to keep the finished "
                         "chunks)") from None
    print(f"wrote {args.output}", file=sys.stderr)
    return 0


def _export_hub(args):
    from elmo_keras.io.paths import check_output_dir
    from elmo_keras.io.saved_model import export_hub

    check_output_dir(args.outdir, _model_inputs(args), what="export directory", empty=True)
    model = _load_model(args)
    export_hub(model, args.outdir, trainable_bilm=args.trainable_bilm)
    print(f"exported {args.outdir}", file=sys.stderr)
    return 0


MODEL_HELP = ("a preset: a registered name (elmo_small_en, the default; AllenNLP's "
              "published elmo_allennlp_{small,medium,original,original_5_5b}_en, "
              "downloaded on first use), a preset directory (save_to_preset), a directory "
              "with options.json + weights.hdf5 (a published ELMo, `train` output), an "
              "export-hub directory, an extracted TF Hub ELMo module, or a .keras file "
              "holding an ELMo")


def _check_named_files(patterns, what):
    """Checks that each of `patterns` that is a plain path (no glob magic) names a
    regular file, so a directory or a FIFO is said for what it is (and never opened)."""
    import glob

    from elmo_keras.io.paths import check_input_file

    for pattern in patterns:
        if not glob.has_magic(pattern):
            check_input_file(pattern, what)


def _corpus_files(patterns, output):
    """The corpus files of `patterns`, without the output when a glob pattern matches it
    (the vocabulary of an earlier run is not corpus)."""
    import glob

    from elmo_keras.training.corpus import CorpusError, resolve_files

    _check_named_files(patterns, "corpus file")
    files = []
    for pattern in patterns:
        matched = resolve_files([pattern])
        if glob.has_magic(pattern) and os.path.exists(output):
            kept = [f for f in matched if not os.path.samefile(f, output)]
            if len(kept) < len(matched):
                print(f"note: {pattern} matches the output {output}; not read as corpus",
                      file=sys.stderr)
            if not kept:
                raise CorpusError(f"{pattern}: matches no file but the output {output}")
            matched = kept
        files += [f for f in matched if f not in files]
    return files


def _vocab(args):
    from elmo_keras.io.paths import atomic_output, check_output_file
    from elmo_keras.training.corpus import iter_sentences
    from elmo_keras.training.vocabulary import build_vocabulary, count_tokens

    files = _corpus_files(args.corpus, args.output)
    check_output_file(args.output, files, what="vocabulary file")
    counts = count_tokens(iter_sentences(files))
    vocab = build_vocabulary(counts, args.min_count, args.max_size)
    with atomic_output(args.output, what="vocabulary file") as tmp:
        vocab.save(tmp)
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
        from elmo_keras.training.jax_trainer import train
    elif backend == "tensorflow":
        from elmo_keras.training.trainer import train

        options["strategy"] = args.strategy
    else:
        print(f"error: training runs on the tensorflow or jax backend, not {backend}",
              file=sys.stderr)
        return 2
    from elmo_keras.training.errors import TrainingInterrupted

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
    from elmo_keras.training import evaluate

    if args.batch_size < 1 or args.unroll_steps < 1:
        raise UsageError(f"--batch-size and --unroll-steps must be >= 1, got "
                         f"{args.batch_size} and {args.unroll_steps}")
    _check_named_files(args.test, "test file")
    r = evaluate(args.model_dir, args.test, batch_size=args.batch_size,
                 unroll_steps=args.unroll_steps)
    s = r["stateless"]
    print(f"tokens={r['n_tokens']}")
    print("# stateless: each sentence from zero LSTM states, as ELMo embeddings are "
          f"computed; stateful: bilm-tf's test protocol ({args.batch_size} rows, states "
          "carried through each row)")
    print(f"stateless perplexity forward={s['forward']:.4f} backward={s['backward']:.4f} "
          f"average={s['average']:.4f}")
    print(f"perplexity forward={r['forward']:.4f} backward={r['backward']:.4f} "
          f"average={r['average']:.4f}")
    return 0


def _demo(args):
    from elmo_keras.apps.demo import run_demo
    from elmo_keras.io.paths import check_input_file, check_output_file
    from elmo_keras.models.elmo.elmo_presets import preset_dir
    from elmo_keras.training.corpus import iter_sentences

    if args.corpus:
        check_input_file(args.corpus, "corpus file")
    if args.plot:
        check_output_file(args.plot, [args.corpus, *_model_inputs(args)], what="plot")
    model = _load_model(args)
    sample = args.corpus or preset_dir("elmo_small_en") / "test_sample.txt"
    corpus = list(iter_sentences([sample]))[:args.corpus_sentences]
    run_demo(model, corpus=corpus, plot=args.plot)
    return 0


def build_parser():
    parser = argparse.ArgumentParser(
        prog="elmo-keras", description="ELMo contextual word representations (Keras 3).")
    parser.add_argument("--verbose", action="store_true",
                        help="show TensorFlow's log lines (hidden by default)")
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
                   help="keep the chunks an interrupted run finished (OUTPUT.parts/); "
                        "refused if the input, model or options differ")
    p.add_argument("--chunk-lines", type=int, default=10_000,
                   help="lines per chunk: the unit of work kept for --resume")
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
                                    "(default: elmo_small_en's test sample, 400 sentences)")
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
        "evaluate", help="test perplexity of a trained directory (full softmax)",
        description="Prints the perplexity of each LM two ways: stateless (each "
                    "sentence from zero states, as ELMo embeds it) and, on the last line, "
                    "bilm-tf's stateful test protocol (--batch-size rows, states carried).")
    p.add_argument("model_dir", help="directory written by elmo-keras train")
    p.add_argument("--test", nargs="+", required=True, help="test files or glob patterns")
    p.add_argument("--batch-size", type=int, default=256,
                   help="rows of the stateful protocol (bilm-tf: 256)")
    p.add_argument("--unroll-steps", type=int, default=1,
                   help="tokens a batch in the stateful protocol (bilm-tf: 1)")
    p.set_defaults(func=_evaluate)
    for p in sub.choices.values():  # also after the command: elmo-keras demo --verbose
        p.add_argument("--verbose", action="store_true", default=argparse.SUPPRESS,
                       help="show TensorFlow's log lines (hidden by default)")
    for p in (parser, *sub.choices.values()):
        p.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                       help=f"show the traceback of an error (or set {DEBUG_ENV}=1)")
    return parser


class UsageError(ValueError):
    """A command line that cannot work (exit code 2)."""


DEBUG_ENV = "ELMO_KERAS_DEBUG"


def _out_of_memory(error):
    tf = sys.modules.get("tensorflow")
    return isinstance(error, MemoryError) or (
        tf is not None and isinstance(error, tf.errors.ResourceExhaustedError))


def _one_line(error):
    """An exception as one line: its message, the first line of a TensorFlow error."""
    tf = sys.modules.get("tensorflow")
    if tf is not None and isinstance(error, tf.errors.OpError):
        text = (error.message or "").strip().splitlines()
        text = text[0] if text else ""
    elif isinstance(error, OSError) and error.filename and error.strerror:
        text = f"{error.filename}: {error.strerror}"
    else:
        text = str(error)
        if isinstance(error, KeyError) and error.args:
            text = f"missing key {error.args[0]!r}"
    return " ".join(text.split()) or type(error).__name__


def main(argv=None):
    """Runs the command line; returns the exit code: 0 done, 2 a usage or input error
    (one line on stderr), 130 interrupted, 1 an unexpected failure (one line; the
    traceback with --debug or ELMO_KERAS_DEBUG=1)."""
    argv = sys.argv[1:] if argv is None else list(argv)
    debug = "--debug" in argv or os.environ.get(DEBUG_ENV, "") not in ("", "0")
    try:
        args = build_parser().parse_args(argv)
        quiet_tensorflow(getattr(args, "verbose", False))
        return args.func(args)
    except KeyboardInterrupt as e:
        if debug:
            traceback.print_exc()
        print(f"interrupted{f': {e}' if str(e) else ''}", file=sys.stderr)
        return 130
    except SystemExit as e:
        if isinstance(e.code, str):  # raise SystemExit("error: ...")
            print(e.code, file=sys.stderr)
            return 2
        raise
    except Exception as e:
        if debug:
            traceback.print_exc()
        tf = sys.modules.get("tensorflow")
        if _out_of_memory(e):
            message, code = "out of memory; use a smaller --batch-size", 2
        elif isinstance(e, (ValueError, OSError)) or (  # the package's errors: ValueErrors
                tf is not None and isinstance(e, tf.errors.InvalidArgumentError)):
            message, code = _one_line(e), 2
        else:
            message, code = (f"unexpected {type(e).__name__}: {_one_line(e)} (run with "
                             f"--debug or {DEBUG_ENV}=1 for the traceback)"), 1
        print(f"error: {message}", file=sys.stderr)
        return code


if __name__ == "__main__":
    sys.exit(main())
