"""A trained biLM's files: written at the end of a run, read to evaluate, export or
continue training.

| file | what |
| --- | --- |
| `options.json`, `weights.hdf5` | the biLM in bilm-tf's published format |
| `softmax.hdf5` | the softmax (`softmax/W`, `softmax/b`), kept apart as bilm-tf does |
| `vocab.txt` | the vocabulary of the softmax |

All weight files go through the checked weight maps of `elmo_keras.io.bilm_hdf5`
(every dataset's presence, shape and finiteness checked before any is assigned).
"""

import os

import h5py

from elmo_keras.io.bilm_hdf5 import (load_bilm_weights, load_token_bilm_weights,
                                     read_weight_file, softmax_weight_map,
                                     write_weight_file)
from elmo_keras.training.errors import TrainingError
from elmo_keras.training.language_model import BiLMLanguageModel
from elmo_keras.training.run_directory import atomic_json, run_paths
from elmo_keras.training.training_options import load_training_options
from elmo_keras.training.vocabulary import Vocabulary


def _softmax_map(lm):
    # A softmax tied to the token embeddings has no W of its own (bilm-tf's files).
    return softmax_weight_map(lm.softmaxes, kernels=not lm.options.share_embedding_softmax)


def _write_atomic(entries, path):
    tmp = path + ".tmp"
    write_weight_file(entries, tmp)
    os.replace(tmp, path)


def export_trained(lm, opts, vocab, out_dir):
    """Writes `options.json` + `weights.hdf5` (bilm-tf's published format, loadable by
    `elmo-keras embed`, `export-hub`, bilm-tf and AllenNLP; a token-input biLM's file
    holds its `embedding` as bilm-tf's does) and `softmax.hdf5`."""
    p = run_paths(out_dir)
    atomic_json(opts.to_dict(vocab.size), p["model_options"])
    _write_atomic(lm.weight_map(), p["weights"])
    _write_atomic(_softmax_map(lm), p["softmax"])


def load_trained(model_dir):
    """The `BiLMLanguageModel`, options and vocabulary of a trained directory (its
    published-format files)."""
    p = run_paths(model_dir)
    for key in ("model_options", "weights", "softmax", "vocab"):
        if not os.path.isfile(p[key]):
            raise TrainingError(f"{model_dir}: missing {os.path.basename(p[key])}; not a "
                                "directory written by elmo-keras train")
    opts = load_training_options(p["model_options"])
    vocab = Vocabulary.load(p["vocab"])
    opts.check_vocabulary(vocab)
    lm = BiLMLanguageModel(opts, vocab.size)
    read_lm_weights(lm, p["weights"])
    load_softmax(lm, p["softmax"])
    return lm, opts, vocab


def read_lm_weights(lm, path):
    """Assigns a published `weights.hdf5` to the token encoder and LSTMs of `lm`
    (rejecting layers its options lack)."""
    if lm.char_inputs:
        load_bilm_weights(lm.elmo, path)
    else:
        load_token_bilm_weights(lm.encoder.embeddings, lm.bilm, path)


def load_softmax(lm, path):
    """Assigns `softmax/W`, `softmax/b` (and `softmax_backward/*` when the directions
    do not share one) from an HDF5 file; `W` is not read when it is tied to the token
    embeddings."""
    read_weight_file(_softmax_map(lm), path)


def load_initial_weights(lm, path):
    """Starts training from published weights (and their softmax, from the same file
    or a `softmax.hdf5` beside it; without one the softmax starts random)."""
    read_lm_weights(lm, path)
    with h5py.File(path, "r") as f:
        has_softmax = "softmax" in f
    beside = os.path.join(os.path.dirname(os.path.abspath(path)), "softmax.hdf5")
    if has_softmax:
        load_softmax(lm, path)
    elif os.path.isfile(beside):
        load_softmax(lm, beside)
