"""The named pretrained ELMo models: data only (keras-hub's `bert_presets.py`).

`REGISTRY` holds the model this project trained, whose files ship inside the package;
`PUBLISHED` holds AllenNLP's published English models, downloaded on first use into the
Keras cache and checked (`elmo_keras.models.elmo.published_download`). Loading, saving
and resolving a preset: `elmo_keras.models.elmo.elmo_preset_loader`.

Names: keras-hub's `<model>_<variant>_<language>` pattern (`bert_base_en`). The published
ones are `elmo_allennlp_<size>_en`, with `allennlp` (the publisher) so that none can be
taken for `elmo_small_en`; `<size>` is AllenNLP's own name for each model (small,
medium, original, original 5.5B).
"""

import pathlib

PRESETS_DIR = pathlib.Path(__file__).resolve().parent / "presets"

# name -> description and the folder (inside the package) holding its files.
REGISTRY = {
    "elmo_small_en": {
        "description": (
            "English ELMo trained by this project on 5.6M tokens of public-domain and "
            "freely licensed text (Gutenberg books, State of the Union addresses, the "
            "Brown corpus): char CNN (512 filters, 1 highway), 2 biLSTM layers of 512 "
            "cells projected to 128; test perplexity 115.1. See its MODEL_CARD.md."),
        "path": PRESETS_DIR / "elmo_small_en",
        "source": "elmo-keras (trained by this project)",
        "license": "Apache-2.0",
    },
}

# The published models. The base URL of every file (`DEFAULT_BASE_URL`) can be replaced
# through the environment variable `ELMO_KERAS_PRESET_BASE_URL` (a mirror, or a local
# test server).
DEFAULT_BASE_URL = "https://s3-us-west-2.amazonaws.com/allennlp/models/elmo"
BASE_URL_ENV = "ELMO_KERAS_PRESET_BASE_URL"
OPTIONS_FILE = "options.json"
WEIGHTS_FILE = "weights.hdf5"

_PAPER = ("Peters, Neumann, Iyyer, Gardner, Clark, Lee and Zettlemoyer (2018), \"Deep "
          "contextualized word representations\", NAACL-HLT 2018, "
          "https://arxiv.org/abs/1802.05365")
_SOURCE = ("AllenNLP (Allen Institute for AI), https://allenai.org/allennlp/software/elmo; "
           "trained with bilm-tf")
_ONE_BILLION = "the 1 Billion Word Language Model Benchmark (about 800M tokens)"
_FIVE_BILLION = ("5.5B tokens: Wikipedia (1.9B) and the WMT 2008-2012 monolingual news "
                 "crawl (3.6B)")
# The char CNN of all four: 2048 filters of widths 1 to 7, 16-dimensional characters.
_FILTERS = [[1, 32], [2, 32], [3, 64], [4, 128], [5, 256], [6, 512], [7, 1024]]

def _files(folder, weights_sha256=None, weights_size=None):
    """A published model's files: local name -> URL (AllenNLP's layout:
    `<base>/<folder>/elmo_<folder>_{options.json,weights.hdf5}`), sha256 and size (None
    where no figure is published)."""
    url = f"{DEFAULT_BASE_URL}/{folder}/elmo_{folder}_"
    return {OPTIONS_FILE: {"url": url + "options.json", "sha256": None, "size": None},
            WEIGHTS_FILE: {"url": url + "weights.hdf5", "sha256": weights_sha256,
                           "size": weights_size}}


def _published(folder, description, params, training_data, n_highway, lstm_dim,
               projection_dim, weights_sha256=None, weights_size=None):
    """One AllenNLP model's entry: what differs between the four is given, the rest
    (2 layers, the char CNN, source, paper, licence, the file URLs from `folder`) is
    the same for all."""
    return {
        "description": description,
        "params": params,
        "architecture": {"filters": _FILTERS, "char_embedding_dim": 16,
                         "n_highway": n_highway, "lstm_dim": lstm_dim,
                         "projection_dim": projection_dim, "n_layers": 2},
        "allennlp_name": folder,
        "training_data": training_data,
        "source": _SOURCE,
        "paper": _PAPER,
        "license": "Apache-2.0",
        "files": _files(folder, weights_sha256=weights_sha256, weights_size=weights_size),
    }


# name -> entry. "params" is what `ELMo.count_params()` gives for the model (one scalar
# mix, the character table with its padding row), AllenNLP's 13.6M / 28.0M / 93.6M.
# "architecture": `ELMo` arguments the downloaded options.json must state.
# "files": local name -> URL, sha256 and size (None where no figure is published);
# the weights file's size is the download size.
PUBLISHED = {
    "elmo_allennlp_small_en": _published(
        "2x1024_128_2048cnn_1xhighway",
        "AllenNLP's small English ELMo (2x1024_128_2048cnn_1xhighway): char CNN "
        "(2048 filters, 1 highway), 2 biLSTM layers of 1024 cells projected to 128 "
        "(256-dimensional ELMo vectors); trained on " + _ONE_BILLION + ".",
        params=13_593_316, training_data=_ONE_BILLION,
        n_highway=1, lstm_dim=1024, projection_dim=128),
    "elmo_allennlp_medium_en": _published(
        "2x2048_256_2048cnn_1xhighway",
        "AllenNLP's medium English ELMo (2x2048_256_2048cnn_1xhighway): char CNN "
        "(2048 filters, 1 highway), 2 biLSTM layers of 2048 cells projected to 256 "
        "(512-dimensional ELMo vectors); trained on " + _ONE_BILLION + ".",
        params=28_027_748, training_data=_ONE_BILLION,
        n_highway=1, lstm_dim=2048, projection_dim=256),
    "elmo_allennlp_original_en": _published(
        "2x4096_512_2048cnn_2xhighway",
        "AllenNLP's original English ELMo, the model of the paper "
        "(2x4096_512_2048cnn_2xhighway): char CNN (2048 filters, 2 highway), 2 biLSTM "
        "layers of 4096 cells projected to 512 (1024-dimensional ELMo vectors); "
        "trained on " + _ONE_BILLION + ".",
        params=93_600_868, training_data=_ONE_BILLION,
        n_highway=2, lstm_dim=4096, projection_dim=512,
        weights_sha256="a6b92b9ccbb13fe489faacd2221c795d4bebe84b75f8aded9d85ea464fa5c994",
        weights_size=374_434_792),
    "elmo_allennlp_original_5_5b_en": _published(
        "2x4096_512_2048cnn_2xhighway_5.5B",
        "AllenNLP's original English ELMo trained on 5.5B tokens "
        "(2x4096_512_2048cnn_2xhighway_5.5B): the architecture of the original "
        "(1024-dimensional ELMo vectors), trained on " + _FIVE_BILLION + ".",
        params=93_600_868, training_data=_FIVE_BILLION,
        n_highway=2, lstm_dim=4096, projection_dim=512),
}
