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

Every size has an upper bound (`LIMITS`), checked before any model is built, as is the
parameter count they add up to (`MAX_PARAMETERS`): a hostile or mistyped file gets one
clear error naming the key, its value and the bound instead of an attempt to allocate
terabytes. `check_model_config` applies the same checks to an `ELMo` config
(a preset's config.json, a `.keras` file's, an export's assets/elmo_config.json).
"""

import dataclasses
import json
import math
import numbers
import os

from elmo_keras.io.model_files import read_json


class OptionsError(ValueError):
    """An options.json file is missing a key, has a bad value, or is not JSON."""


_ACTIVATIONS = ("relu", "tanh")

# Upper bounds on every size, by `ELMo` argument. Generous: the largest published ELMo
# ("original", 93.6M parameters) has lstm dim 4096, projection 512, 2 layers, 2 highway
# layers, 7 filter widths with 2048 filters in all, character embeddings of 16, 50
# characters per token, 1 to 3 output representations; every bound leaves it room to
# grow 8x or more, and `MAX_PARAMETERS` keeps a combination of large values from adding
# up to an absurd model (4 GiB of float32 weights, 11x "original").
LIMITS = {
    "lstm_dim": 65536,
    "projection_dim": 65536,
    "n_layers": 64,
    "filters": 64,  # [width, num_filters] pairs
    "n_filters": 65536,  # num_filters summed over the pairs
    "char_embedding_dim": 4096,
    "n_highway": 64,
    "max_characters_per_token": 1000,
    "num_output_representations": 64,
    "max_batch_size": 1 << 20,
}
MAX_PARAMETERS = 1 << 30

N_CHARACTERS = 262  # rows of the character embedding table (261 characters + padding)

# How errors name each `ELMo` argument in an options.json file.
OPTIONS_KEYS = {
    "filters": "char_cnn.filters",
    "n_filters": "the sum of the char_cnn.filters counts",
    "char_embedding_dim": "char_cnn.embedding.dim",
    "n_highway": "char_cnn.n_highway",
    "activation": "char_cnn.activation",
    "n_characters": "char_cnn.n_characters",
    "max_characters_per_token": "char_cnn.max_characters_per_token",
    "lstm_dim": "lstm.dim",
    "projection_dim": "lstm.projection_dim",
    "n_layers": "lstm.n_layers",
    "cell_clip": "lstm.cell_clip",
    "proj_clip": "lstm.proj_clip",
    "use_skip_connections": "lstm.use_skip_connections",
}


def _options_key(arg):
    return OPTIONS_KEYS.get(arg, arg)


def _config_key(arg):
    return {"n_filters": "the sum of the filters counts"}.get(arg, arg)


def _need(section, name, key, source):
    if key not in section:
        raise OptionsError(f"{source}: missing key '{name}.{key}'")
    return section[key]


def _integer(value, key, source, error=None):
    """`value` as an int: an int, or a float with an integral finite value (JSON's
    `1e3`); anything else (a bool, a string, 1.5, NaN, inf) raises naming `key`."""
    error = error or OptionsError
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise error(f"{source}: {key} is {value!r:.60}; expected an integer")
    if not isinstance(value, numbers.Integral) and not (
            math.isfinite(value) and float(value).is_integer()):
        raise error(f"{source}: {key} is {value!r}; expected an integer")
    return int(value)


def _clip(value, key, source, error=None):
    """A clip value: None, or a finite positive number."""
    error = error or OptionsError
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise error(f"{source}: {key} is {value!r:.60}; expected a positive number or null")
    value = float(value)
    if not math.isfinite(value) or value <= 0:
        raise error(f"{source}: {key} is {value}; expected a positive finite number or null")
    return value


def _filter_pairs(value, key, source, error=None):
    """`[[width, num_filters], ...]` as a tuple of int pairs, its length bounded first."""
    error = error or OptionsError
    if not isinstance(value, (list, tuple)):
        raise error(f"{source}: {key} is {value!r:.60}; expected a list of "
                    "[width, num_filters] pairs")
    if len(value) > LIMITS["filters"]:
        raise error(f"{source}: {key} has {len(value)} [width, num_filters] pairs, above "
                    f"the bound {LIMITS['filters']}")
    pairs = []
    for i, pair in enumerate(value):
        if not isinstance(pair, (list, tuple)) or len(pair) != 2:
            raise error(f"{source}: {key}[{i}] is {pair!r:.60}; expected a "
                        "[width, num_filters] pair")
        pairs.append(tuple(_integer(v, f"{key}[{i}]", source, error) for v in pair))
    return tuple(pairs)


def _at_most(bad, key, value, limit):
    if value > limit:
        bad(f"{key} is {value}, above the bound {limit}")


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
        key = _options_key
        return cls(
            filters=_filter_pairs(_need(d, "char_cnn", "filters", source), key("filters"),
                                  source),
            embedding_dim=_integer(emb["dim"], key("char_embedding_dim"), source),
            n_highway=_integer(d.get("n_highway") or 0, key("n_highway"), source),
            activation=_need(d, "char_cnn", "activation", source),
            n_characters=_integer(_need(d, "char_cnn", "n_characters", source),
                                  key("n_characters"), source),
            max_characters_per_token=_integer(
                _need(d, "char_cnn", "max_characters_per_token", source),
                key("max_characters_per_token"), source),
            extra={k: v for k, v in d.items() if k not in known})

    def to_dict(self):
        """The section as options.json writes it (an inference file: 262 characters)."""
        return {"activation": self.activation, "embedding": {"dim": self.embedding_dim},
                "filters": [[w, n] for w, n in self.filters],
                "max_characters_per_token": self.max_characters_per_token,
                "n_characters": 262, "n_highway": self.n_highway, **self.extra}

    def validate(self, bad, key=_options_key):
        """Calls `bad(message)` for the first value that cannot make a char CNN or is
        above its bound in `LIMITS`; `key(argument)` names the fields."""
        if not self.filters:
            bad(f"{key('filters')} is empty; need at least one [width, num_filters] pair")
        _at_most(bad, f"the number of {key('filters')} pairs", len(self.filters),
                 LIMITS["filters"])
        for w, n in self.filters:
            if w < 1 or n < 1:
                bad(f"{key('filters')} has [{w}, {n}]; width and count must be >= 1")
            if w > self.max_characters_per_token:
                bad(f"{key('filters')} width {w} exceeds "
                    f"{key('max_characters_per_token')}={self.max_characters_per_token}")
        if self.activation not in _ACTIVATIONS:
            bad(f"{key('activation')} is {self.activation!r:.60}; expected one of "
                f"{_ACTIVATIONS}")
        if self.n_characters not in (261, 262):
            bad(f"{key('n_characters')} is {self.n_characters}; expected 262 (or 261 in "
                "training files)")
        if self.max_characters_per_token < 3:
            bad(f"{key('max_characters_per_token')} must be >= 3")
        if self.embedding_dim < 1:
            bad(f"{key('char_embedding_dim')} must be >= 1")
        if self.n_highway < 0:
            bad(f"{key('n_highway')} must be >= 0")
        _at_most(bad, key("max_characters_per_token"), self.max_characters_per_token,
                 LIMITS["max_characters_per_token"])
        _at_most(bad, key("char_embedding_dim"), self.embedding_dim,
                 LIMITS["char_embedding_dim"])
        _at_most(bad, key("n_highway"), self.n_highway, LIMITS["n_highway"])
        _at_most(bad, key("n_filters"), self.n_filters, LIMITS["n_filters"])

    def parameter_count(self, projection_dim):
        """Weights of the char CNN `ELMo` builds for these options (embeddings,
        convolutions, highway layers, the projection to `projection_dim` if needed)."""
        d, f = self.embedding_dim, self.n_filters
        count = N_CHARACTERS * d + sum(w * d * n + n for w, n in self.filters)
        count += self.n_highway * 2 * (f * f + f)
        if f != projection_dim:
            count += f * projection_dim + projection_dim
        return count


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
        key = _options_key
        return cls(
            dim=_integer(_need(d, "lstm", "dim", source), key("lstm_dim"), source),
            projection_dim=_integer(_need(d, "lstm", "projection_dim", source),
                                    key("projection_dim"), source),
            use_skip_connections=bool(_need(d, "lstm", "use_skip_connections", source)),
            n_layers=_integer(d.get("n_layers", 1), key("n_layers"), source),
            cell_clip=_clip(d.get("cell_clip"), key("cell_clip"), source),
            proj_clip=_clip(d.get("proj_clip"), key("proj_clip"), source),
            extra={k: v for k, v in d.items() if k not in known})

    def to_dict(self):
        return {"cell_clip": self.cell_clip, "dim": self.dim, "n_layers": self.n_layers,
                "proj_clip": self.proj_clip, "projection_dim": self.projection_dim,
                "use_skip_connections": self.use_skip_connections, **self.extra}

    def validate(self, bad, key=_options_key):
        """Calls `bad(message)` for the first value that cannot make the LSTMs or is
        above its bound in `LIMITS`; `key(argument)` names the fields."""
        if self.n_layers < 1:
            bad(f"{key('n_layers')} must be >= 1")
        if self.dim < 1 or self.projection_dim < 1:
            bad(f"{key('lstm_dim')} and {key('projection_dim')} must be >= 1")
        if self.projection_dim > self.dim:
            bad(f"{key('projection_dim')}={self.projection_dim} is larger than "
                f"{key('lstm_dim')}={self.dim}; bilm-tf only projects down")
        for name in ("cell_clip", "proj_clip"):
            v = getattr(self, name)
            if v is not None and not (isinstance(v, numbers.Real) and not isinstance(v, bool)
                                      and math.isfinite(v) and v > 0):
                bad(f"{key(name)} is {v!r:.60}; expected a positive finite number or null")
        _at_most(bad, key("lstm_dim"), self.dim, LIMITS["lstm_dim"])
        _at_most(bad, key("projection_dim"), self.projection_dim, LIMITS["projection_dim"])
        _at_most(bad, key("n_layers"), self.n_layers, LIMITS["n_layers"])

    def parameter_count(self, input_dim):
        """Weights of both directions' LSTM cells for token vectors of `input_dim`."""
        h, p = self.dim, self.projection_dim
        cell = (input_dim + p) * 4 * h + 4 * h + (h * p if p < h else 0)
        later = (p + p) * 4 * h + 4 * h + (h * p if p < h else 0)
        return 2 * (cell + (self.n_layers - 1) * later)


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
    def parameter_count(self, num_output_representations=1):
        """The number of weights `ELMo` builds for these options (its `count_params()`),
        with `num_output_representations` scalar mixes; the LSTMs only for a
        token-input biLM (its embedding table depends on the vocabulary)."""
        count = self.lstm.parameter_count(self.lstm.projection_dim)
        if self.char_cnn is not None:
            count += self.char_cnn.parameter_count(self.lstm.projection_dim)
            count += num_output_representations * (self.lstm.n_layers + 2)
        return count

    def validate(self, source="options", key=_options_key, error=None):
        """Raises `OptionsError` (or `error`) naming `source` if the values cannot make
        a biLM, or are above the bounds of `LIMITS` and `MAX_PARAMETERS`; `key(arg)`
        names the fields (options.json's `lstm.dim` by default)."""
        error = error or OptionsError

        def bad(msg):
            raise error(f"{source}: {msg}")

        self.lstm.validate(bad, key)
        if self.char_cnn is not None:
            self.char_cnn.validate(bad, key)
            if self.char_cnn.n_filters < self.lstm.projection_dim:
                bad(f"the char CNN has {self.char_cnn.n_filters} filters in all, fewer "
                    f"than {key('projection_dim')}={self.lstm.projection_dim}; bilm-tf "
                    "only projects down")
        count = self.parameter_count()
        if count > MAX_PARAMETERS:
            bad(f"these sizes make a model of {count} parameters, above the bound "
                f"{MAX_PARAMETERS} ({key('lstm_dim')}={self.lstm.dim}, "
                f"{key('projection_dim')}={self.lstm.projection_dim}, "
                f"{key('n_layers')}={self.lstm.n_layers}"
                + (f", {self.char_cnn.n_filters} filters, {key('n_highway')}="
                   f"{self.char_cnn.n_highway}" if self.char_cnn else "") + ")")

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


# The arguments of `ELMo` beside the architecture, and what each may be.
_CONFIG_ARGUMENTS = {"name", "trainable", "dtype", "num_output_representations",
                     "do_layer_norm", "l2_coef", "stateful", "max_batch_size"}
_REQUIRED = ("filters", "char_embedding_dim", "lstm_dim", "projection_dim")
_DEFAULTS = {"n_highway": 2, "activation": "relu", "max_characters_per_token": 50,
             "n_layers": 2, "cell_clip": None, "proj_clip": None,
             "use_skip_connections": True}


def check_model_config(config, source="config", error=None, strict=True):
    """Checks an `ELMo` config (`ELMo.get_config()`: a preset's config.json, a `.keras`
    file's, an export's assets/elmo_config.json) before any model is built from it.

    Every size is an integer within `LIMITS`, the clips and `l2_coef` are finite, the
    sizes make at most `MAX_PARAMETERS` parameters (with a stateful model's kept
    states), and no key is unknown; errors name `source`, the key, its value and the
    bound.

    Args:
        config: the dict.
        source: the file, for messages.
        error: the exception class to raise (default `OptionsError`).
        strict: refuse unknown keys (False: ignore them, for `ELMo` to refuse).

    Returns:
        The `BiLMOptions` of the architecture.
    """
    error = error or OptionsError
    if not isinstance(config, dict):
        raise error(f"{source}: the ELMo config must be a JSON object, found "
                    f"{type(config).__name__}")
    unknown = sorted(str(k) for k in config
                     if k not in MODEL_ARGUMENTS and k not in _CONFIG_ARGUMENTS)
    if unknown and strict:
        raise error(f"{source}: unknown ELMo config key(s) {', '.join(unknown)[:200]}")
    missing = [k for k in _REQUIRED if k not in config]
    if missing:
        raise error(f"{source}: the ELMo config misses key(s) {', '.join(missing)}")
    c = {**_DEFAULTS, **config}
    key = _config_key
    lstm = LSTMOptions(
        dim=_integer(c["lstm_dim"], "lstm_dim", source, error),
        projection_dim=_integer(c["projection_dim"], "projection_dim", source, error),
        use_skip_connections=c["use_skip_connections"],
        n_layers=_integer(c["n_layers"], "n_layers", source, error),
        cell_clip=_clip(c["cell_clip"], "cell_clip", source, error),
        proj_clip=_clip(c["proj_clip"], "proj_clip", source, error))
    char_cnn = CharCNNOptions(
        filters=_filter_pairs(c["filters"], "filters", source, error),
        embedding_dim=_integer(c["char_embedding_dim"], "char_embedding_dim", source, error),
        n_highway=_integer(c["n_highway"], "n_highway", source, error),
        activation=c["activation"],
        n_characters=N_CHARACTERS,
        max_characters_per_token=_integer(c["max_characters_per_token"],
                                          "max_characters_per_token", source, error))

    def bad(msg):
        raise error(f"{source}: {msg}")

    for name in ("use_skip_connections", "do_layer_norm", "stateful", "trainable"):
        if name in c and not isinstance(c[name], bool):
            bad(f"{name} is {c[name]!r:.60}; expected true or false")
    outputs = _integer(c.get("num_output_representations", 1), "num_output_representations",
                       source, error)
    if outputs < 1:
        bad("num_output_representations must be >= 1")
    _at_most(bad, "num_output_representations", outputs,
             LIMITS["num_output_representations"])
    batch = _integer(c.get("max_batch_size", 128), "max_batch_size", source, error)
    if batch < 1:
        bad("max_batch_size must be >= 1")
    _at_most(bad, "max_batch_size", batch, LIMITS["max_batch_size"])
    l2 = c.get("l2_coef")
    if l2 is not None and (isinstance(l2, bool) or not isinstance(l2, numbers.Real)
                           or not math.isfinite(l2) or l2 < 0):
        bad(f"l2_coef is {l2!r:.60}; expected a finite number >= 0 or null")
    options = BiLMOptions.__new__(BiLMOptions)  # validated below, with config names
    object.__setattr__(options, "lstm", lstm)
    object.__setattr__(options, "char_cnn", char_cnn)
    object.__setattr__(options, "extra", {})
    options.validate(source, key, error)
    count = options.parameter_count(outputs)
    if c.get("stateful"):
        count += 2 * lstm.n_layers * batch * (lstm.dim + lstm.projection_dim)
    if count > MAX_PARAMETERS:
        bad(f"these sizes make a model of {count} values (weights and kept states), "
            f"above the bound {MAX_PARAMETERS}")
    return options


def read_options_json(path):
    """The parsed JSON object of an options file (a regular file of at most 1 MiB,
    `elmo_keras.io.model_files.read_json`), with errors that name the file."""
    return read_json(path, OptionsError, "options file")


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
