"""The `elmo-keras` command line. Each subcommand only calls the public API."""

import argparse
import os
import sys


def _load_model(args, **kwargs):
    from elmo_keras.io.bilm_hdf5 import load_bilm

    if not (args.options and args.weights):
        raise SystemExit("error: give --options OPTIONS.json and --weights WEIGHTS.hdf5")
    return load_bilm(args.options, args.weights, **kwargs)


def _embed(args):
    from elmo_keras.embed_file import embed_file

    model = _load_model(args, stateful=args.stateful, max_batch_size=max(args.batch_size, 1))
    embed_file(model, args.input, args.output, batch_size=args.batch_size,
                       stateful=args.stateful, output_format=args.output_format)
    print(f"wrote {args.output}", file=sys.stderr)
    return 0


def _export_hub(args):
    from elmo_keras.embedding import load_elmo
    from elmo_keras.io.saved_model import export_hub

    if args.model:
        if args.options or args.weights:
            raise SystemExit("error: give --model or --options/--weights, not both")
        model = load_elmo(args.model)
    else:
        model = _load_model(args)
    export_hub(model, args.outdir, trainable_bilm=args.trainable_bilm)
    print(f"exported {args.outdir}", file=sys.stderr)
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
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--stateful", action="store_true",
                   help="batch in file order and carry LSTM states from batch to batch "
                        "(bilm-tf's protocol)")
    p.add_argument("--output-format", choices=("all", "top", "average"), default="all")
    p.set_defaults(func=_embed)

    p = sub.add_parser(
        "export-hub", help="export a TF Hub-style SavedModel (signatures default, tokens)")
    p.add_argument("outdir", help="directory to write")
    p.add_argument("--options", help="bilm-tf options.json")
    p.add_argument("--weights", help="bilm-tf weights.hdf5")
    p.add_argument("--model", help="a .keras file holding an ELMo model")
    p.add_argument("--trainable-bilm", action="store_true",
                   help="list the whole biLM in trainable_variables, not only the mix")
    p.set_defaults(func=_export_hub)
    return parser


def main(argv=None):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    args = build_parser().parse_args(argv)
    from elmo_keras.io.bilm_hdf5 import WeightFileError
    from elmo_keras.options import OptionsError

    try:
        return args.func(args)
    except (OptionsError, WeightFileError, FileNotFoundError, FileExistsError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
