"""bilm-tf's training options file: options.json plus the training keys.

A bilm-tf training file trains as is; keys it does not know take bilm-tf's defaults,
except `state_reset_prob` (not in bilm-tf): its default fits stateless use; set it to 0
for bilm-tf's exact recipe.
Without a `char_cnn` section the biLM reads token ids (an embedding of
`lstm.projection_dim` per vocabulary entry), as bilm-tf's token-input models do.
The training keys and their defaults:

| key | default | meaning |
| --- | --- | --- |
| `batch_size` | 128 | rows of a batch (global, over all devices) |
| `unroll_steps` | 20 | tokens of a row per batch (truncated BPTT length) |
| `n_epochs` | 10 | passes over the training corpus |
| `n_train_tokens` | counted | tokens per epoch (bilm-tf's way to size an epoch) |
| `learning_rate` | 0.2 | Adagrad learning rate |
| `initial_accumulator_value` | 1.0 | Adagrad initial accumulator |
| `all_clip_norm_val` | 10.0 | global gradient norm clip |
| `dropout` | 0.1 | dropout on each LSTM layer's input and the top layer's output |
| `sample_softmax` | true | sampled softmax in training (evaluation is always full) |
| `n_negative_samples_batch` | 8192 | negatives per batch of the sampled softmax |
| `share_softmax_between_directions` | true | one softmax for both LMs (bilm-tf always shares) |
| `share_embedding_softmax` | false | token inputs: the softmax weights are the token embeddings |
| `n_tokens_vocab` | vocabulary size | must equal the vocabulary's size when given |
| `max_sentence_tokens` | 1000 | longer corpus lines are an error |
| `state_reset_prob` | 0.1 | chance that a row's LSTM states are zeroed before a batch: the biLM also learns to start from zero states, as ELMo embeds (stateless). `0` is bilm-tf's exact recipe (states carried, never reset), which can leave a biLM poor from zero states (docs/training.md) |
| `shuffle` | true | shuffle files and sentences every pass |
| `shuffle_buffer` | 100000 | sentences shuffled together |
| `interleave_files` | 64 | with `shuffle`: files read at once, each sentence drawn from one of them at random in proportion to its size, so every part of a pass mixes all sources; `1` reads one file after another (the stream of runs made before this key, which resume with it) |
| `seed` | 0 | initialisation, shuffling, dropout and sampling |
"""

import dataclasses
import os

from elmo_keras.io.bilm_options import BiLMOptions, OptionsError, read_options_json

_DEFAULTS = {
    "batch_size": 128,
    "unroll_steps": 20,
    "n_epochs": 10,
    "n_train_tokens": None,
    "learning_rate": 0.2,
    "initial_accumulator_value": 1.0,
    "all_clip_norm_val": 10.0,
    "dropout": 0.1,
    "sample_softmax": True,
    "n_negative_samples_batch": 8192,
    "share_softmax_between_directions": True,
    "share_embedding_softmax": False,
    "n_tokens_vocab": None,
    "max_sentence_tokens": 1000,
    "state_reset_prob": 0.1,
    "shuffle": True,
    "shuffle_buffer": 100_000,
    "interleave_files": 64,
    "seed": 0,
}


@dataclasses.dataclass(frozen=True)
class TrainingOptions:
    """The architecture (`model`, a `BiLMOptions`) and the training settings."""

    model: BiLMOptions
    batch_size: int
    unroll_steps: int
    n_epochs: int
    n_train_tokens: int | None
    learning_rate: float
    initial_accumulator_value: float
    all_clip_norm_val: float
    dropout: float
    sample_softmax: bool
    n_negative_samples_batch: int
    share_softmax_between_directions: bool
    share_embedding_softmax: bool
    n_tokens_vocab: int | None
    max_sentence_tokens: int | None
    state_reset_prob: float
    shuffle: bool
    shuffle_buffer: int
    interleave_files: int
    seed: int
    source: str = "options"

    @classmethod
    def from_dict(cls, d, source="options", defaults=None):
        """Options from a bilm-tf options dict (`load_training_options` reads files).

        Args:
            d: the dict. source: its name in errors.
            defaults: values of the training keys `d` leaves out (a dict such as
                `to_dict()`'s; only training keys are read); the package's defaults
                for the others.
        """
        if not isinstance(d, dict):
            raise OptionsError(f"{source}: expected a JSON object")
        if d.get("bidirectional", True) is not True:
            raise OptionsError(f"{source}: 'bidirectional' must be true: ELMo needs both LMs")
        if d.get("share_embedding_softmax") and "char_cnn" in d:
            raise OptionsError(
                f"{source}: 'share_embedding_softmax' needs token inputs (no 'char_cnn' "
                "section); this is a character-input model")
        model = BiLMOptions.from_dict(d, source=source, allow_token_inputs=True)
        defaults = defaults or {}
        values = {k: d.get(k, defaults.get(k, v)) for k, v in _DEFAULTS.items()}
        try:
            opts = cls(
                model=model,
                batch_size=int(values["batch_size"]),
                unroll_steps=int(values["unroll_steps"]),
                n_epochs=int(values["n_epochs"]),
                n_train_tokens=_opt_int(values["n_train_tokens"]),
                learning_rate=float(values["learning_rate"]),
                initial_accumulator_value=float(values["initial_accumulator_value"]),
                all_clip_norm_val=float(values["all_clip_norm_val"]),
                dropout=float(values["dropout"]),
                sample_softmax=bool(values["sample_softmax"]),
                n_negative_samples_batch=int(values["n_negative_samples_batch"]),
                share_softmax_between_directions=bool(
                    values["share_softmax_between_directions"]),
                share_embedding_softmax=bool(values["share_embedding_softmax"]),
                n_tokens_vocab=_opt_int(values["n_tokens_vocab"]),
                max_sentence_tokens=_opt_int(values["max_sentence_tokens"]),
                state_reset_prob=float(values["state_reset_prob"]),
                shuffle=bool(values["shuffle"]),
                shuffle_buffer=int(values["shuffle_buffer"]),
                interleave_files=int(values["interleave_files"]),
                seed=int(values["seed"]),
                source=source,
            )
        except (TypeError, ValueError) as e:
            raise OptionsError(f"{source}: bad training value: {e}") from None
        opts.validate()
        return opts

    def validate(self):
        def bad(msg):
            raise OptionsError(f"{self.source}: {msg}")

        for name in ("batch_size", "unroll_steps", "n_epochs", "shuffle_buffer",
                     "interleave_files"):
            if getattr(self, name) < 1:
                bad(f"{name} must be >= 1, got {getattr(self, name)}")
        if not 0.0 <= self.state_reset_prob <= 1.0:
            bad(f"state_reset_prob must be in [0, 1], got {self.state_reset_prob}")
        if not 0.0 <= self.dropout < 1.0:
            bad(f"dropout must be in [0, 1), got {self.dropout}")
        if self.learning_rate <= 0 or self.all_clip_norm_val <= 0:
            bad("learning_rate and all_clip_norm_val must be > 0")
        if self.initial_accumulator_value < 0:
            bad("initial_accumulator_value must be >= 0")
        if self.sample_softmax and self.n_negative_samples_batch < 1:
            bad("n_negative_samples_batch must be >= 1 with sample_softmax")

    def batch_arguments(self):
        """`char_inputs` and `max_characters_per_token` of the run's batches
        (`corpus.StreamBatcher`, `corpus.sentence_batches`)."""
        cnn = self.model.char_cnn
        return {"char_inputs": cnn is not None,
                "max_characters_per_token": cnn.max_characters_per_token if cnn else 50}

    def check_vocabulary(self, vocab):
        """Raises `OptionsError` if `n_tokens_vocab` disagrees with the vocabulary."""
        if self.n_tokens_vocab is not None and self.n_tokens_vocab != vocab.size:
            raise OptionsError(
                f"{self.source}: n_tokens_vocab={self.n_tokens_vocab} but the vocabulary "
                f"{vocab.source} has {vocab.size} tokens; fix n_tokens_vocab or remove it "
                "(it then defaults to the vocabulary's size)")

    def with_updates(self, **changes):
        """A copy with some training values changed (command-line overrides)."""
        opts = dataclasses.replace(self, **{k: v for k, v in changes.items() if v is not None})
        opts.validate()
        return opts

    def to_dict(self, vocab_size=None):
        """The options file: options.json's architecture plus every training key."""
        d = self.model.to_dict()
        for k in _DEFAULTS:
            d[k] = getattr(self, k)
        d["bidirectional"] = True
        if vocab_size is not None:
            d["n_tokens_vocab"] = vocab_size
        return d


def _opt_int(v):
    return None if v is None else int(v)


def load_training_options(path, defaults=None):
    """Reads a (bilm-tf) training options file (or dict); errors name the file and the
    key. `defaults`: as `TrainingOptions.from_dict`."""
    if isinstance(path, TrainingOptions):
        return path
    if isinstance(path, dict):
        return TrainingOptions.from_dict(path, defaults=defaults)
    return TrainingOptions.from_dict(read_options_json(path), source=os.fspath(path),
                                     defaults=defaults)
