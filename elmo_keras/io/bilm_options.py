"""The bilm-tf `options.json` schema: parsing, validation and defaults.

bilm-tf describes a biLM with a JSON file like::

    {"char_cnn": {"activation": "relu", "embedding": {"dim": 16},
                  "filters": [[1, 32], [2, 32], ...], "max_characters_per_token": 50,
                  "n_characters": 262, "n_highway": 2},
     "lstm": {"cell_clip": 3, "dim": 4096, "n_layers": 2, "proj_clip": 3,
              "projection_dim": 512, "use_skip_connections": true}}

plus training keys (`batch_size`, `n_epochs`, `dropout`, ...) that inference ignores.
`BiLMOptions` holds the keys inference reads in typed sections (`LSTMOptions`, and
`CharCNNOptions` unless the biLM reads token ids), validated with errors that name the
file and the key; each section keeps its other keys, and the options the file's other
top-level keys, so that a file read and written again loses nothing.
"""

import dataclasses
import json
import os


class OptionsError(ValueError):
    """An options.json file is missing a key, has a bad value, or is not JSON."""


_ACTIVATIONS = ("relu", "tanh")


def _need(section, name, key, source):
    if key not in section:
        raise OptionsError(f"{source}: missing key '{name}.{key}'")
    return section[key]


@dataclasses.dataclass(frozen=True)
class CharCNNOptions:
    """The `char_cnn` section: the character encoder of a character-input biLM.

    Args:
        filters: list of `(width, num_filters)` pairs of the character convolutions.
        embedding_dim: size of each character embedding (`embedding.dim`).
        n_highway: number of highway layers after the convolutions (0 for none).
        activation: `"relu"` or `"tanh"`, applied after max-pooling each convolution.
        n_characters: 262 for inference files (261 character rows plus padding row 0);
            bilm-tf training files say 261. Both load: the model always holds 262 rows.
        max_characters_per_token: characters per token, boundaries included (50).
        extra: the section's other keys, kept for writing back.
    """

    filters: tuple
    embedding_dim: int
    n_highway: int = 0
    activation: str = "relu"
    n_characters: int = 262
    max_characters_per_token: int = 50
    extra: dict = dataclasses.field(default_factory=dict, compare=False)

    def __post_init__(self):
        object.__setattr__(self, "filters", tuple((int(w), int(n)) for w, n in self.filters))

    @property
    def n_filters(self):
        """Total number of convolution filters (the char CNN's width before projection)."""
        return sum(n for _, n in self.filters)

    @classmethod
    def from_dict(cls, d, source="options"):
        if not isinstance(d, dict):
            raise OptionsError(f"{source}: 'char_cnn' must be a JSON object")
        emb = _need(d, "char_cnn", "embedding", source)
        if not isinstance(emb, dict) or "dim" not in emb:
            raise OptionsError(f"{source}: missing key 'char_cnn.embedding.dim'")
        known = {"embedding", "filters", "n_highway", "activation", "n_characters",
                 "max_characters_per_token"}
        return cls(
            filters=_need(d, "char_cnn", "filters", source),
            embedding_dim=int(emb["dim"]),
            n_highway=int(d.get("n_highway") or 0),
            activation=_need(d, "char_cnn", "activation", source),
            n_characters=int(_need(d, "char_cnn", "n_characters", source)),
            max_characters_per_token=int(
                _need(d, "char_cnn", "max_characters_per_token", source)),
            extra={k: v for k, v in d.items() if k not in known})

    def to_dict(self):
        """The section as options.json writes it (an inference file: 262 characters)."""
        return {"activation": self.activation, "embedding": {"dim": self.embedding_dim},
                "filters": [[w, n] for w, n in self.filters],
                "max_characters_per_token": self.max_characters_per_token,
                "n_characters": 262, "n_highway": self.n_highway, **self.extra}

    def validate(self, bad):
        if not self.filters:
            bad("char_cnn.filters is empty; need at least one [width, num_filters] pair")
        for w, n in self.filters:
            if w < 1 or n < 1:
                bad(f"char_cnn.filters has [{w}, {n}]; width and count must be >= 1")
            if w > self.max_characters_per_token:
                bad(f"char_cnn.filters width {w} exceeds "
                    f"max_characters_per_token={self.max_characters_per_token}")
        if self.activation not in _ACTIVATIONS:
            bad(f"char_cnn.activation is {self.activation!r}; expected one of {_ACTIVATIONS}")
        if self.n_characters not in (261, 262):
            bad(f"char_cnn.n_characters is {self.n_characters}; expected 262 (or 261 in "
                "training files)")
        if self.max_characters_per_token < 3:
            bad("char_cnn.max_characters_per_token must be >= 3")
        if self.embedding_dim < 1:
            bad("char_cnn.embedding.dim must be >= 1")
        if self.n_highway < 0:
            bad("char_cnn.n_highway must be >= 0")


@dataclasses.dataclass(frozen=True)
class LSTMOptions:
    """The `lstm` section: the stacked, projected LSTMs of each direction.

    Args:
        dim: LSTM cell size.
        projection_dim: LSTM projection size and token representation size.
        n_layers: number of biLSTM layers.
        cell_clip: clip value of the LSTM cell state, or None.
        proj_clip: clip value of the projected LSTM output, or None.
        use_skip_connections: residual connections between biLSTM layers (not into the
            first layer).
        extra: the section's other keys, kept for writing back.
    """

    dim: int
    projection_dim: int
    use_skip_connections: bool
    n_layers: int = 1
    cell_clip: float | None = None
    proj_clip: float | None = None
    extra: dict = dataclasses.field(default_factory=dict, compare=False)

    @classmethod
    def from_dict(cls, d, source="options"):
        if not isinstance(d, dict):
            raise OptionsError(f"{source}: 'lstm' must be a JSON object")
        known = {"dim", "projection_dim", "use_skip_connections", "n_layers", "cell_clip",
                 "proj_clip"}
        return cls(
            dim=int(_need(d, "lstm", "dim", source)),
            projection_dim=int(_need(d, "lstm", "projection_dim", source)),
            use_skip_connections=bool(_need(d, "lstm", "use_skip_connections", source)),
            n_layers=int(d.get("n_layers", 1)),
            cell_clip=_opt_float(d.get("cell_clip")),
            proj_clip=_opt_float(d.get("proj_clip")),
            extra={k: v for k, v in d.items() if k not in known})

    def to_dict(self):
        return {"cell_clip": self.cell_clip, "dim": self.dim, "n_layers": self.n_layers,
                "proj_clip": self.proj_clip, "projection_dim": self.projection_dim,
                "use_skip_connections": self.use_skip_connections, **self.extra}

    def validate(self, bad):
        if self.n_layers < 1:
            bad("lstm.n_layers must be >= 1")
        if self.dim < 1 or self.projection_dim < 1:
            bad("lstm.dim and lstm.projection_dim must be >= 1")
        if self.projection_dim > self.dim:
            bad(f"lstm.projection_dim={self.projection_dim} is larger than "
                f"lstm.dim={self.dim}; bilm-tf only projects down")
        for name in ("cell_clip", "proj_clip"):
            v = getattr(self, name)
            if v is not None and v <= 0:
                bad(f"lstm.{name} is {v}; expected a positive number or null")


# `ELMo`'s constructor argument -> (section, field): the one table from which
# `model_kwargs`, `from_model_kwargs` and the flat attributes (`options.lstm_dim`) come.
MODEL_ARGUMENTS = {
    "filters": ("char_cnn", "filters"),
    "char_embedding_dim": ("char_cnn", "embedding_dim"),
    "n_highway": ("char_cnn", "n_highway"),
    "activation": ("char_cnn", "activation"),
    "max_characters_per_token": ("char_cnn", "max_characters_per_token"),
    "lstm_dim": ("lstm", "dim"),
    "projection_dim": ("lstm", "projection_dim"),
    "n_layers": ("lstm", "n_layers"),
    "cell_clip": ("lstm", "cell_clip"),
    "proj_clip": ("lstm", "proj_clip"),
    "use_skip_connections": ("lstm", "use_skip_connections"),
}


@dataclasses.dataclass(frozen=True)
class BiLMOptions:
    """A biLM's architecture as bilm-tf's options.json states it: an `lstm` section
    and, for a character-input biLM, a `char_cnn` section.

    A biLM trained on token ids (bilm-tf's options without `char_cnn`) has
    `char_cnn=None`: only training reads such options (`from_dict(...,
    allow_token_inputs=True)`); `ELMo` needs characters. Each `ELMo` argument is also an
    attribute (`options.lstm_dim`, `options.filters`, ...; see `MODEL_ARGUMENTS`).

    Args:
        lstm: `LSTMOptions`.
        char_cnn: `CharCNNOptions`, or None for token inputs.
        extra: the file's other top-level keys (training options), kept for writing
            back.

    Examples:

    >>> opts = BiLMOptions.from_dict({
    ...     "char_cnn": {"activation": "relu", "embedding": {"dim": 4},
    ...                  "filters": [[1, 8], [2, 8]], "max_characters_per_token": 50,
    ...                  "n_characters": 262, "n_highway": 1},
    ...     "lstm": {"dim": 32, "projection_dim": 16, "n_layers": 2,
    ...              "use_skip_connections": True}})
    >>> opts.lstm.dim, opts.char_cnn.n_filters, opts.model_kwargs()["lstm_dim"]
    (32, 16, 32)
    """

    lstm: LSTMOptions
    char_cnn: CharCNNOptions | None = None
    extra: dict = dataclasses.field(default_factory=dict, compare=False)

    def __post_init__(self):
        self.validate()

    def __getattr__(self, name):
        if name in MODEL_ARGUMENTS:
            section, field = MODEL_ARGUMENTS[name]
            part = object.__getattribute__(self, section)
            if part is None:
                raise AttributeError(f"a token-input biLM (no char_cnn) has no {name}")
            return getattr(part, field)
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    # ------------------------------------------------------------------ derived
    @property
    def char_inputs(self):
        """True for a character-input biLM (a `char_cnn` section), False for token ids."""
        return self.char_cnn is not None

    @property
    def output_dim(self):
        """Size of each ELMo layer: `2 * projection_dim`."""
        return 2 * self.lstm.projection_dim

    @property
    def n_filters(self):
        return self.char_cnn.n_filters if self.char_cnn else 0

    # --------------------------------------------------------------- validation
    def validate(self, source="options"):
        """Raises `OptionsError` naming `source` if the values cannot make a biLM."""

        def bad(msg):
            raise OptionsError(f"{source}: {msg}")

        self.lstm.validate(bad)
        if self.char_cnn is None:
            return
        self.char_cnn.validate(bad)
        if self.char_cnn.n_filters < self.lstm.projection_dim:
            bad(f"the char CNN has {self.char_cnn.n_filters} filters in all, fewer than "
                f"lstm.projection_dim={self.lstm.projection_dim}; bilm-tf only projects "
                "down")

    # ------------------------------------------------------------- conversions
    @classmethod
    def from_dict(cls, d, source="options", allow_token_inputs=False):
        """Builds options from a parsed options.json dict (bilm-tf layout).

        Args:
            d: the dict. source: the file, for error messages.
            allow_token_inputs: accept options without `char_cnn` (a token-input biLM,
                for training only).
        """
        if not isinstance(d, dict):
            raise OptionsError(f"{source}: expected a JSON object, found {type(d).__name__}")
        if "char_cnn" not in d and not allow_token_inputs:
            raise OptionsError(
                f"{source}: missing key 'char_cnn'; only character-input biLMs are supported"
                " here (a token-input biLM trains and evaluates with elmo_keras.training, but"
                " ELMo embeddings need characters)"
            )
        if "lstm" not in d:
            raise OptionsError(f"{source}: missing key 'lstm'")
        try:
            return cls(
                lstm=LSTMOptions.from_dict(d["lstm"], source),
                char_cnn=CharCNNOptions.from_dict(d["char_cnn"], source)
                if "char_cnn" in d else None,
                extra={k: v for k, v in d.items() if k not in ("char_cnn", "lstm")},
            )
        except OptionsError as e:
            raise OptionsError(str(e).replace("options:", f"{source}:", 1)) from None
        except (TypeError, ValueError) as e:
            raise OptionsError(f"{source}: bad value: {e}") from None

    def to_dict(self):
        """The bilm-tf options.json dict (inference file: n_characters 262)."""
        d = dict(self.extra)
        if self.char_cnn is not None:
            d["char_cnn"] = self.char_cnn.to_dict()
        d["lstm"] = self.lstm.to_dict()
        return d

    def model_kwargs(self):
        """Constructor arguments of `elmo_keras.ELMo` for this architecture."""
        if not self.char_inputs:
            raise OptionsError("a token-input biLM (no char_cnn) cannot make an ELMo model; "
                               "ELMo needs character inputs")
        kwargs = {arg: getattr(self, arg) for arg in MODEL_ARGUMENTS}
        kwargs["filters"] = [list(f) for f in kwargs["filters"]]
        return kwargs

    @classmethod
    def from_model_kwargs(cls, kwargs, extra=None):
        """Inverse of `model_kwargs` (n_characters is always 262 for a built model);
        other keys of `kwargs` (an `ELMo` config) are ignored."""
        sections = {"char_cnn": {}, "lstm": {}}
        for arg, (section, field) in MODEL_ARGUMENTS.items():
            if arg in kwargs:
                sections[section][field] = kwargs[arg]
        return cls(lstm=LSTMOptions(**sections["lstm"]),
                   char_cnn=CharCNNOptions(n_characters=262, **sections["char_cnn"]),
                   extra=dict(extra or {}))


def _opt_float(v):
    return None if v is None else float(v)


def read_options_json(path):
    """The parsed JSON object of an options file, with errors that name the file."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise OptionsError(f"{path}: options file does not exist")
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise OptionsError(f"{path}: not a valid JSON options file ({e})") from None


def load_options(path):
    """Reads and validates an options.json file.

    Args:
        path: path of a bilm-tf options.json, or a dict already parsed.

    Returns:
        A `BiLMOptions`.

    Raises:
        OptionsError: the file does not exist, is not JSON, or misses a key / has a bad
            value; the message names the file and the key.
    """
    if isinstance(path, BiLMOptions):
        return path
    if isinstance(path, dict):
        return BiLMOptions.from_dict(path)
    return BiLMOptions.from_dict(read_options_json(path), source=os.fspath(path))


def save_options(options, path):
    """Writes `options` (a `BiLMOptions`) as a bilm-tf options.json file."""
    with open(path, "w", encoding="utf-8") as f:
        json.dump(options.to_dict(), f, indent=2, sort_keys=True)
        f.write("\n")
