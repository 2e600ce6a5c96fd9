"""The `elmo-keras` command line. Each subcommand only calls the public API."""

import argparse
import errno
import logging
import os
import signal
import sys
import threading
import traceback


def _load_model(args, **kwargs):
    from elmo_keras import ELMo
    from elmo_keras.models.elmo.elmo_preset_loader import resolve_model

    return resolve_model(ELMo, args.model, args.options, args.weights, **kwargs)


def quiet_tensorflow(verbose=False):
    """Keeps TensorFlow's C++ and absl log lines off stderr unless `verbose`: sets the log
    levels, then imports TensorFlow and finds its devices with stderr closed (absl writes
    its first lines whatever `TF_CPP_MIN_LOG_LEVEL` says). Call before the package is
    imported; Python errors still show."""
    if verbose:
        return
    import importlib.util

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
    from elmo_keras.models.elmo import published_download
    from elmo_keras.models.elmo.elmo_preset_loader import preset_dir

    paths = [args.options, args.weights]
    if args.model and os.path.exists(args.model):
        paths.append(args.model)
    elif args.model in published_download.PUBLISHED:  # its cache folder: no download here
        paths.append(published_download.published_cache_dir(args.model))
    elif not (args.options or args.weights):
        paths.append(preset_dir(args.model or "elmo_small_en"))
    return paths


def _embed(args):
    from elmo_keras.apps.embedding_file import embed_file
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
    args.doing.out_of_memory = (
        f"out of memory while building the model for --batch-size {args.batch_size}"
        f"{' with --stateful (LSTM states are kept for every row)' if args.stateful else ''}"
        "; use a smaller --batch-size")
    model = _load_model(args, stateful=args.stateful, max_batch_size=args.batch_size,
                        **({"dtype": args.dtype} if args.dtype else {}))
    args.doing.out_of_memory = (
        f"out of memory embedding batches of {args.batch_size} sentences; use a smaller "
        "--batch-size (and --resume to keep the finished chunks)")
    parts = args.output + ".parts"
    if not args.stateful:
        args.doing.interrupted = lambda: (
            f"the finished chunks are kept in {parts}; rerun the same command with "
            "--resume to continue") if os.path.isdir(parts) else None
    embed_file(model, args.input, args.output, batch_size=args.batch_size,
               stateful=args.stateful, output_format=args.output_format,
               resume=args.resume, chunk_lines=args.chunk_lines, vocab=vocab,
               jit_compile=args.jit_compile)
    print(f"wrote {args.output}", file=sys.stderr)
    return 0


def _embed_beam(args):
    import shlex

    from elmo_keras.io.text_lines import iter_lines

    try:
        from elmo_keras.apps.beam_embedding import embed_corpus
    except ImportError as e:
        if (e.name or "").split(".")[0] not in ("apache_beam", "pyarrow"):
            raise
        raise UsageError("embed-beam needs Apache Beam: pip install 'elmo-keras[beam]'") \
            from None
    vocab = None
    if args.vocab_cache:
        vocab = [line.strip() for line in iter_lines(args.vocab_cache) if line.strip()]
    paths = embed_corpus(args.input_glob, args.output_prefix, model=args.model,
                         options=args.options, weights=args.weights,
                         batch_size=args.batch_size, chunk_lines=args.chunk_lines,
                         output_format=args.output_format, vocab=vocab,
                         jit_compile=args.jit_compile, num_shards=args.num_shards,
                         pipeline_args=[f"--runner={args.runner}",
                                        *shlex.split(args.pipeline_options)])
    print(f"wrote {len(paths)} shard(s) {args.output_prefix}-SSSSS-of-{len(paths):05d}"
          ".parquet", file=sys.stderr)
    return 0


def _export_hub(args):
    from elmo_keras import export_hub
    from elmo_keras.io.paths import check_output_dir

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
        # The backend is fixed when Keras is imported: run the same command line again
        # in a process that imports it with KERAS_BACKEND set.
        import subprocess

        env = dict(os.environ, KERAS_BACKEND=backend)
        return subprocess.run([sys.executable, "-m", "elmo_keras", *args.argv],
                              env=env).returncode
    from elmo_keras.training import train

    result = train(args.out, args.train, args.options, args.vocab, args.valid,
                   epochs=args.epochs, batch_size=args.batch_size, max_steps=args.max_steps,
                   resume=args.resume, init_weights=args.init_weights,
                   strategy=args.strategy, mixed_precision=args.mixed_precision,
                   checkpoint_every=args.checkpoint_every, log_every=args.log_every)
    print(f"trained {result['step']} steps in {result['seconds']:.0f} s; model in {args.out}",
          file=sys.stderr)
    return 0


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


def _adapt(args):
    import pathlib

    from elmo_keras.apps.adaptation import adapt

    _check_named_files(args.text, "text file")
    if args.valid:
        _check_named_files(args.valid, "held-out text file")
    args.doing.out_of_memory = (f"out of memory adapting with --batch-size "
                                f"{args.batch_size}; use a smaller --batch-size")
    args.doing.interrupted = lambda: (
        f"the checkpoints are kept in {os.path.join(args.out, 'run')}; run the same "
        "command again to resume") if os.path.isdir(os.path.join(args.out, "run")) else None
    texts = [pathlib.Path(t) for t in args.text]
    valid = [pathlib.Path(t) for t in args.valid] if args.valid else None
    r = adapt(args.model, texts, out_dir=args.out, steps=args.steps, epochs=args.epochs,
              batch_size=args.batch_size, learning_rate=args.learning_rate,
              valid_texts=valid, softmax=args.softmax, vocab=args.vocab)
    print(f"held-out perplexity ({r.held_out}, {r.perplexity_before['n_tokens']} tokens), "
          "forward / backward / average:")
    for protocol in ("stateless", "stateful"):
        for when, ppl in (("before", r.perplexity_before), ("after", r.perplexity_after)):
            p = ppl[protocol]
            print(f"{protocol} {when}: {p['forward']:.2f} / {p['backward']:.2f} / "
                  f"{p['average']:.2f}")
    print(f"adapted for {r.steps} steps; preset in {r.preset_dir}", file=sys.stderr)
    return 0


def _demo(args):
    from elmo_keras.apps.demo import run_demo
    from elmo_keras.io.paths import check_input_file, check_output_file
    from elmo_keras.models.elmo.elmo_preset_loader import preset_dir
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


def _add_embed_command(sub):
    """The `embed` command's arguments."""
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
    p.add_argument("--dtype", choices=("float32", "mixed_bfloat16", "auto"),
                   help="compute dtype (default: the model's, float32); auto: bfloat16 "
                        "where it is faster and within its error bound (docs/backends.md)")
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


def _add_embed_beam_command(sub):
    """The `embed-beam` command's arguments."""
    p = sub.add_parser(
        "embed-beam", help="embed the files of a glob on Apache Beam (Dataflow, Flink, "
                           "Spark, or locally) into Parquet shards",
        description="Writes OUTPUT_PREFIX-SSSSS-of-NNNNN.parquet: a row a line (file, line "
                    "number, text, array), with the numbers of `embed` (same --batch-size "
                    "and --chunk-lines). elmo_keras.apps.beam_embedding.to_hdf5 gives back "
                    "embed's HDF5 file for one input. Needs elmo-keras[beam].")
    p.add_argument("input_glob", help="input files: a glob of any Beam file system (quoted)")
    p.add_argument("output_prefix", help="shard path prefix (a local path or gs://...)")
    p.add_argument("--options", help="bilm-tf options.json")
    p.add_argument("--weights", help="bilm-tf weights.hdf5")
    p.add_argument("--model", help=MODEL_HELP + " (a directory must exist on every worker)")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--chunk-lines", type=int, default=10_000,
                   help="lines per chunk: the unit of work (batches never cross chunks)")
    p.add_argument("--output-format", choices=("all", "top", "average"), default="all")
    p.add_argument("--jit-compile", action="store_true", help="compile the model with XLA")
    p.add_argument("--vocab-cache", help="vocabulary file: char-CNN vectors cached")
    p.add_argument("--num-shards", type=int, default=0,
                   help="output files (default 0: the runner chooses)")
    p.add_argument("--runner", default="DirectRunner",
                   help="DirectRunner, DataflowRunner, FlinkRunner, SparkRunner, ...")
    p.add_argument("--pipeline-options", default="",
                   help='more Beam flags as one string, after "=": --pipeline-options='
                        '"--direct_num_workers=2 --direct_running_mode=multi_processing"')
    p.set_defaults(func=_embed_beam)


def _add_demo_command(sub):
    """The `demo` command's arguments."""
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


def _add_export_hub_command(sub):
    """The `export-hub` command's arguments."""
    p = sub.add_parser(
        "export-hub", help="export a TF Hub-style SavedModel (signatures default, tokens)")
    p.add_argument("outdir", help="directory to write")
    p.add_argument("--options", help="bilm-tf options.json")
    p.add_argument("--weights", help="bilm-tf weights.hdf5")
    p.add_argument("--model", help=MODEL_HELP)
    p.add_argument("--trainable-bilm", action="store_true",
                   help="list the whole biLM in trainable_variables, not only the mix")
    p.set_defaults(func=_export_hub)


def _add_vocab_command(sub):
    """The `vocab` command's arguments."""
    p = sub.add_parser(
        "vocab", help="write a bilm-tf vocabulary file from a corpus",
        description="Tokens sorted by decreasing frequency after <S>, </S>, <UNK>.")
    p.add_argument("corpus", nargs="+", help="corpus files or glob patterns")
    p.add_argument("output", help="vocabulary file to write")
    p.add_argument("--min-count", type=int, default=1)
    p.add_argument("--max-size", type=int, help="entries in all, special tokens included")
    p.set_defaults(func=_vocab)


def _add_train_command(sub):
    """The `train` command's arguments."""
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
    p.add_argument("--backend", choices=("tensorflow", "jax", "torch"),
                   help="Keras backend to train on (default: KERAS_BACKEND, else "
                        "tensorflow); jax trains data-parallel on all local devices, "
                        "torch on one device")
    p.set_defaults(func=_train)


def _add_evaluate_command(sub):
    """The `evaluate` command's arguments."""
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


def _add_adapt_command(sub):
    """The `adapt` command's arguments."""
    p = sub.add_parser(
        "adapt", help="adapt a biLM to your text (trained further as a language model)",
        description="The ELMo paper's domain adaptation: trains the biLM further on TEXT "
                    "(one text a line, split by the preset's tokenizer), both directions, "
                    "from the preset's own softmax; prints the held-out perplexity before "
                    "and after (every 10th line, or --valid) and writes the adapted preset "
                    "to OUT/preset. Ctrl-C keeps a checkpoint; the same command resumes.")
    p.add_argument("text", nargs="+", help="text files or glob patterns (quoted)")
    p.add_argument("--model", default="elmo_small_en",
                   help="the preset to adapt (it or --softmax/--vocab must give its softmax)")
    p.add_argument("--out", required=True, help="adaptation directory")
    p.add_argument("--steps", type=int, help="training steps (default: --epochs passes)")
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--learning-rate", type=float, help="Adagrad's (default: the preset's)")
    p.add_argument("--valid", nargs="+", help="held-out text files (default: every 10th "
                                               "line of TEXT, not trained on)")
    p.add_argument("--softmax", help="the model's softmax.hdf5, if its directory has none")
    p.add_argument("--vocab", help="the vocab.txt of the softmax's rows")
    p.set_defaults(func=_adapt)


def build_parser():
    """The `elmo-keras` argument parser: one subcommand each, `--verbose` and `--debug`
    before or after the command."""
    parser = argparse.ArgumentParser(
        prog="elmo-keras", description="ELMo contextual word representations (Keras 3).")
    parser.add_argument("--verbose", action="store_true",
                        help="show TensorFlow's log lines (hidden by default)")
    sub = parser.add_subparsers(dest="command", required=True)
    for add_command in (_add_embed_command, _add_embed_beam_command, _add_demo_command,
                        _add_export_hub_command, _add_vocab_command, _add_train_command,
                        _add_evaluate_command, _add_adapt_command):
        add_command(sub)
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


class _Doing:
    """What the running command is doing, for the error policy's lines: a command sets
    them as it goes (`args.doing`)."""

    #: The line for running out of memory now (None: the generic one).
    out_of_memory = None
    #: A function giving the note for Ctrl-C now ("interrupted: NOTE"), or None.
    interrupted = None


def _disk_full(error):
    """True for a full disk: `ENOSPC` (or a quota), or TensorFlow's "No space left on
    device" (which it raises as `ResourceExhaustedError`)."""
    tf = sys.modules.get("tensorflow")
    if isinstance(error, OSError):
        return error.errno in (errno.ENOSPC, errno.EDQUOT)
    return (tf is not None and isinstance(error, tf.errors.ResourceExhaustedError)
            and "No space left on device" in (error.message or ""))


def _out_of_memory(error):
    tf = sys.modules.get("tensorflow")
    return isinstance(error, MemoryError) or (
        tf is not None and isinstance(error, tf.errors.ResourceExhaustedError)
        and not _disk_full(error))


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


def error_exit(error, doing=None):
    """The command line's one error policy: the exit code and the one line for an error
    a command raised.

    - 130, `interrupted` (with what was kept, when the command says): Ctrl-C, or
      training stopped on a signal after its checkpoint;
    - 2, `error: ...`: out of memory (use a smaller --batch-size), a full disk, a
      missing optional dependency (the extra to install), and the package's named
      errors (`ValueError`s: `PresetError`, `OptionsError`, `PathConflictError`,
      `TrainingError`, ...; `OSError`s: a missing file, `DiskSpaceError`,
      `DownloadError`);
    - 1, `error: unexpected ...`: anything else (a bug: the traceback with --debug).

    Args:
        error: the exception (a `BaseException`: Ctrl-C too).
        doing: the command's `_Doing` (its out-of-memory line and interrupt note).

    Returns:
        `(exit code, line)`.
    """
    doing = doing or _Doing()
    if isinstance(error, KeyboardInterrupt):  # before any import: it may have cut one short
        note = doing.interrupted() if doing.interrupted else None
        return 130, f"interrupted: {note}" if note else "interrupted"
    # Only modules already imported are looked at: an error of a module never imported
    # cannot have been raised, and importing one (training imports TensorFlow) could
    # fail after a startup cut short.
    training_errors = sys.modules.get("elmo_keras.training.errors")
    if training_errors and isinstance(error, training_errors.TrainingInterrupted):
        return 130, str(error)
    from elmo_keras.extras import MissingExtraError  # standard library only
    from elmo_keras.io.paths import DiskSpaceError  # standard library only

    tf = sys.modules.get("tensorflow")
    if _out_of_memory(error):
        return 2, f"error: {doing.out_of_memory or 'out of memory; use a smaller --batch-size'}"
    if isinstance(error, DiskSpaceError):  # says where and what to do
        return 2, f"error: {_one_line(error)}"
    if _disk_full(error):
        return 2, f"error: disk full: {_one_line(error)}"
    if isinstance(error, MissingExtraError):  # says what to install
        return 2, f"error: {_one_line(error)}"
    if isinstance(error, (ValueError, OSError)) or (
            tf is not None and isinstance(error, tf.errors.InvalidArgumentError)):
        return 2, f"error: {_one_line(error)}"
    return 1, (f"error: unexpected {type(error).__name__}: {_one_line(error)} (run with "
               f"--debug or {DEBUG_ENV}=1 for the traceback)")


class _Notes(logging.Handler):
    """The package's log records (logger `elmo_keras`: a BOM dropped, empty lines kept,
    a merge chunk by chunk, ...) as the command line's `note: ...` lines on stderr;
    library code says them through `logging`, never by printing."""

    def emit(self, record):
        print(f"note: {record.getMessage()}", file=sys.stderr)


def main(argv=None):
    """Runs the command line; returns the exit code: 0 done, 2 a usage or input error
    (one line on stderr), 130 interrupted, 1 an unexpected failure (one line; the
    traceback with --debug or ELMO_KERAS_DEBUG=1). Errors are said by `error_exit`."""
    argv = sys.argv[1:] if argv is None else list(argv)
    debug = "--debug" in argv or os.environ.get(DEBUG_ENV, "") not in ("", "0")
    args = build_parser().parse_args(argv)  # argparse exits 2 on a bad command line
    args.argv, args.doing = argv, _Doing()
    package_log, notes = logging.getLogger("elmo_keras"), _Notes(logging.INFO)
    level = package_log.level
    package_log.addHandler(notes)
    package_log.setLevel(logging.INFO)
    ctrl_c = _CtrlC()
    try:
        with ctrl_c:
            quiet_tensorflow(getattr(args, "verbose", False))
            return args.func(args)
    except (Exception, KeyboardInterrupt) as e:
        if debug:
            traceback.print_exc()
        # Ctrl-C raised inside a library call can come out as that library's own error
        # (NumPy's structured-array comparison turns it into a TypeError): it is still
        # the interruption.
        code, line = error_exit(KeyboardInterrupt() if ctrl_c.pressed else e, args.doing)
        print(line, file=sys.stderr)
        return code
    finally:
        package_log.removeHandler(notes)
        package_log.setLevel(level)


class _CtrlC:
    """While a command runs: Ctrl-C (SIGINT) raises KeyboardInterrupt as by default, and
    `pressed` remembers that it came, whatever exception it turns into. Only where
    Python's own handler is in place, in the main thread (a command that stops on a
    flag, `embed` and `train`, puts its own in place for its work)."""

    def __init__(self):
        self.pressed, self._before = False, None

    def _handler(self, signum, frame):
        self.pressed = True
        raise KeyboardInterrupt

    def __enter__(self):
        if (threading.current_thread() is threading.main_thread()
                and signal.getsignal(signal.SIGINT) is signal.default_int_handler):
            self._before = signal.signal(signal.SIGINT, self._handler)
        return self

    def __exit__(self, *exc):
        if self._before is not None:
            signal.signal(signal.SIGINT, self._before)
            self._before = None
        return False


if __name__ == "__main__":
    sys.exit(main())
