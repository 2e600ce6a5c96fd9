"""The bilm-tf `options.json` schema: parsing, validation and defaults.

bilm-tf describes a biLM with a JSON file like::

    {"char_cnn": {"activation": "relu", "embedding": {"dim": 16},
                  "filters": [[1, 32], [2, 32], ...], "max_characters_per_token": 50,
                  "n_characters": 262, "n_highway": 2},
     "lstm": {"cell_clip": 3, "dim": 4096, "n_layers": 2, "proj_clip": 3,
              "projection_dim": 512, "use_skip_connections": true}}

plus training keys (`batch_size`, `n_epochs`, `dropout`, ...) that inference ignores.
`BiLMOptions` holds the keys inference reads, validated with errors that name the file and
the key, and keeps every other key so that a file read and written again loses nothing.
"""

import dataclasses
import json
import os


class OptionsError(ValueError):
    """An options.json file is missing a key, has a bad value, or is not JSON."""


_ACTIVATIONS = ("relu", "tanh")


@dataclasses.dataclass(frozen=True)
class BiLMOptions:
    """Architecture of a character-input biLM, as bilm-tf's options.json states it.

    A biLM trained on token ids (bilm-tf's options without `char_cnn`) has no
    convolutions: `filters` is empty and `char_inputs` false. Only training reads such
    options (`from_dict(..., allow_token_inputs=True)`); `ELMo` needs characters.

    Args:
        filters: list of `(width, num_filters)` pairs of the character convolutions.
        char_embedding_dim: size of each character embedding (`char_cnn.embedding.dim`).
        n_highway: number of highway layers after the convolutions (0 for none).
        activation: `"relu"` or `"tanh"`, applied after max-pooling each convolution.
        n_characters: 262 for inference files (261 character rows plus padding row 0);
            bilm-tf training files say 261. Both load: the model always holds 262 rows.
        max_characters_per_token: characters per token, boundaries included (50).
        lstm_dim: LSTM cell size (`lstm.dim`).
        projection_dim: LSTM projection size and token embedding size.
        n_layers: number of biLSTM layers.
        cell_clip: clip value of the LSTM cell state, or None.
        proj_clip: clip value of the projected LSTM output, or None.
        use_skip_connections: residual connections between biLSTM layers (not into the
            first layer).
        extra: every other key of the file (training options), kept for writing back.
    """

    filters: tuple
    char_embedding_dim: int
    n_highway: int
    activation: str
    n_characters: int
    max_characters_per_token: int
    lstm_dim: int
    projection_dim: int
    n_layers: int
    cell_clip: float | None
    proj_clip: float | None
    use_skip_connections: bool
    extra: dict = dataclasses.field(default_factory=dict, compare=False)

    def __post_init__(self):
        object.__setattr__(
            self, "filters", tuple((int(w), int(n)) for w, n in self.filters)
        )
        self.validate()

    # ------------------------------------------------------------------ derived
    @property
    def n_filters(self):
        """Total number of convolution filters (the char CNN's width before projection)."""
        return sum(n for _, n in self.filters)

    @property
    def char_inputs(self):
        """True for a character-input biLM (a `char_cnn` section), False for token ids."""
        return bool(self.filters)

    @property
    def output_dim(self):
        """Size of each ELMo layer: `2 * projection_dim`."""
        return 2 * self.projection_dim

    # --------------------------------------------------------------- validation
    def validate(self, source="options"):
        """Raises `OptionsError` naming `source` if the values cannot make a biLM."""

        def bad(msg):
            raise OptionsError(f"{source}: {msg}")

        if not self.filters and "__token_inputs__" not in self.extra:
            bad("char_cnn.filters is empty; need at least one [width, num_filters] pair")
        self._validate_lstm(bad)
        if not self.char_inputs:
            return
        for w, n in self.filters:
            if w < 1 or n < 1:
                bad(f"char_cnn.filters has [{w}, {n}]; width and count must be >= 1")
            if w > self.max_characters_per_token:
                bad(
                    f"char_cnn.filters width {w} exceeds "
                    f"max_characters_per_token={self.max_characters_per_token}"
                )
        if self.activation not in _ACTIVATIONS:
            bad(f"char_cnn.activation is {self.activation!r}; expected one of {_ACTIVATIONS}")
        if self.n_characters not in (261, 262):
            bad(f"char_cnn.n_characters is {self.n_characters}; expected 262 (or 261 in training files)")
        if self.max_characters_per_token < 3:
            bad("char_cnn.max_characters_per_token must be >= 3")
        if self.char_embedding_dim < 1:
            bad("char_cnn.embedding.dim must be >= 1")
        if self.n_highway < 0:
            bad("char_cnn.n_highway must be >= 0")
        if self.n_filters < self.projection_dim:
            bad(
                f"the char CNN has {self.n_filters} filters in all, fewer than "
                f"lstm.projection_dim={self.projection_dim}; bilm-tf only projects down"
            )

    def _validate_lstm(self, bad):
        if self.n_layers < 1:
            bad("lstm.n_layers must be >= 1")
        if self.lstm_dim < 1 or self.projection_dim < 1:
            bad("lstm.dim and lstm.projection_dim must be >= 1")
        if self.projection_dim > self.lstm_dim:
            bad(
                f"lstm.projection_dim={self.projection_dim} is larger than "
                f"lstm.dim={self.lstm_dim}; bilm-tf only projects down"
            )
        for name in ("cell_clip", "proj_clip"):
            v = getattr(self, name)
            if v is not None and v <= 0:
                bad(f"lstm.{name} is {v}; expected a positive number or null")

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
        if "char_cnn" not in d:
            d = dict(d, char_cnn={"activation": "relu", "embedding": {"dim": 1},
                                  "filters": [], "max_characters_per_token": 50,
                                  "n_characters": 262, "n_highway": 0},
                     __token_inputs__=True)
        cnn, lstm = d["char_cnn"], d["lstm"]

        def need(section, sec_name, key):
            if key not in section:
                raise OptionsError(f"{source}: missing key '{sec_name}.{key}'")
            return section[key]

        emb = need(cnn, "char_cnn", "embedding")
        if not isinstance(emb, dict) or "dim" not in emb:
            raise OptionsError(f"{source}: missing key 'char_cnn.embedding.dim'")
        known_top = {"char_cnn", "lstm"}
        known_cnn = {"activation", "embedding", "filters", "max_characters_per_token",
                     "n_characters", "n_highway"}
        known_lstm = {"cell_clip", "dim", "n_layers", "proj_clip", "projection_dim",
                      "use_skip_connections"}
        extra = {k: v for k, v in d.items() if k not in known_top}
        extra_cnn = {k: v for k, v in cnn.items() if k not in known_cnn}
        extra_lstm = {k: v for k, v in lstm.items() if k not in known_lstm}
        if extra_cnn:
            extra["__char_cnn__"] = extra_cnn
        if extra_lstm:
            extra["__lstm__"] = extra_lstm
        try:
            return cls(
                filters=need(cnn, "char_cnn", "filters"),
                char_embedding_dim=int(emb["dim"]),
                n_highway=int(cnn.get("n_highway") or 0),
                activation=need(cnn, "char_cnn", "activation"),
                n_characters=int(need(cnn, "char_cnn", "n_characters")),
                max_characters_per_token=int(need(cnn, "char_cnn", "max_characters_per_token")),
                lstm_dim=int(need(lstm, "lstm", "dim")),
                projection_dim=int(need(lstm, "lstm", "projection_dim")),
                n_layers=int(lstm.get("n_layers", 1)),
                cell_clip=_opt_float(lstm.get("cell_clip")),
                proj_clip=_opt_float(lstm.get("proj_clip")),
                use_skip_connections=bool(need(lstm, "lstm", "use_skip_connections")),
                extra=extra,
            )
        except OptionsError as e:
            raise OptionsError(str(e).replace("options:", f"{source}:", 1)) from None
        except (TypeError, ValueError) as e:
            raise OptionsError(f"{source}: bad value: {e}") from None

    def to_dict(self):
        """The bilm-tf options.json dict (inference file: n_characters 262)."""
        extra = dict(self.extra)
        cnn_extra = extra.pop("__char_cnn__", {})
        lstm_extra = extra.pop("__lstm__", {})
        extra.pop("__token_inputs__", None)
        d = dict(extra)
        if self.char_inputs:
            d["char_cnn"] = {
                "activation": self.activation,
                "embedding": {"dim": self.char_embedding_dim},
                "filters": [[w, n] for w, n in self.filters],
                "max_characters_per_token": self.max_characters_per_token,
                "n_characters": 262,
                "n_highway": self.n_highway,
                **cnn_extra,
            }
        d["lstm"] = {
            "cell_clip": self.cell_clip,
            "dim": self.lstm_dim,
            "n_layers": self.n_layers,
            "proj_clip": self.proj_clip,
            "projection_dim": self.projection_dim,
            "use_skip_connections": self.use_skip_connections,
            **lstm_extra,
        }
        return d

    def model_kwargs(self):
        """Constructor arguments of `elmo_keras.ELMo` for this architecture."""
        if not self.char_inputs:
            raise OptionsError("a token-input biLM (no char_cnn) cannot make an ELMo model; "
                               "ELMo needs character inputs")
        return dict(
            filters=[list(f) for f in self.filters],
            char_embedding_dim=self.char_embedding_dim,
            n_highway=self.n_highway,
            activation=self.activation,
            max_characters_per_token=self.max_characters_per_token,
            lstm_dim=self.lstm_dim,
            projection_dim=self.projection_dim,
            n_layers=self.n_layers,
            cell_clip=self.cell_clip,
            proj_clip=self.proj_clip,
            use_skip_connections=self.use_skip_connections,
        )

    @classmethod
    def from_model_kwargs(cls, kwargs, extra=None):
        """Inverse of `model_kwargs` (n_characters is always 262 for a built model)."""
        keys = [f.name for f in dataclasses.fields(cls)]
        args = {k: v for k, v in kwargs.items() if k in keys}
        return cls(n_characters=262, extra=dict(extra or {}), **args)


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
