"""The pretrained English biLM shipped in the repository: `saved_models/elmo-small-en`.

Every entry point uses it when given no model: `ELMoEmbedding()`, `elmo-keras embed`,
`export-hub` and `demo`. It is found next to the package in a checkout (a plain or
editable install from the repository); nothing is downloaded.
"""

import pathlib

DEFAULT_MODEL_NAME = "elmo-small-en"


def default_model_dir():
    """The directory of the shipped model (options.json, weights.hdf5, ...).

    Raises:
        FileNotFoundError: this installation does not carry `saved_models/`.
    """
    path = pathlib.Path(__file__).resolve().parents[3] / "saved_models" / DEFAULT_MODEL_NAME
    if not (path / "options.json").is_file() or not (path / "weights.hdf5").is_file():
        raise FileNotFoundError(
            f"{path}: the default model {DEFAULT_MODEL_NAME} is not there; it ships in the "
            "repository's saved_models/ (install from a checkout: pip install -e .), or "
            "pass a model explicitly")
    return path
