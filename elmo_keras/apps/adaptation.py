"""Domain adaptation, the ELMo paper's way: train the biLM further, as a language model
in both directions and from its own softmax, on the user's unlabelled text.

`adapt(preset, texts, out_dir=...)` runs it in one call, on the public API only
(`elmo_keras.training.train` and `evaluate`, `ELMo`, `ELMoTokenizer`):

1. the texts are split into tokens by the preset's tokenizer (`tokenizer.json`; the
   shipped `elmo_small_en` records the corpus tokenizer) and written one text a line
   to `out_dir/data/`; unless `valid_texts` are given, every 10th text (the 10th, 20th,
   ...) is held out for the perplexities and the rest trained on;
2. the held-out perplexity of the preset is measured, both protocols of
   `elmo_keras.training.evaluate` (stateless: each text from zero states, as ELMo
   embeds; stateful: bilm-tf's);
3. `train` runs in `out_dir/run` from the preset's weights and softmax (full softmax,
   the preset's other training options), with a progress bar;
4. the held-out perplexity of the adapted biLM is measured, and the adapted model is
   written as a preset to `out_dir/preset` (with its softmax and vocabulary, so it can
   be evaluated or adapted again).

`out_dir/adaptation.json` records the arguments (the texts by their SHA-256) and the
perplexities: a second call with the same arguments resumes an interrupted run (or, if
it finished, returns its result without training), one with other arguments is
refused, naming what changed.

A model needs its softmax (`softmax.hdf5`, with the `vocab.txt` of its rows) to be
trained as a language model. The shipped `elmo_small_en` carries both; AllenNLP's
published models ship no softmax, and adapting one raises `AdaptationError` (pass
`softmax=` and `vocab=` if you have them).
"""

import dataclasses
import glob
import hashlib
import json
import os
import shutil

from elmo_keras.io.paths import atomic_output, atomic_output_dir, check_input_file
from elmo_keras.io.text_lines import iter_lines
from elmo_keras.training import TrainingInterrupted, evaluate, train

RECORD_FILE = "adaptation.json"
#: Every `HOLD_OUT_EVERY`-th text is held out when no `valid_texts` are given.
HOLD_OUT_EVERY = 10
_BILM_FILES = ("options.json", "weights.hdf5")


class AdaptationError(ValueError):
    """Adaptation cannot run as asked (a model without a softmax, no text, another
    adaptation's directory); the message says what to do."""


class AdaptationInterrupted(TrainingInterrupted):
    """Adaptation stopped on a signal after writing a checkpoint; the same call
    resumes it."""

    def __init__(self, error, out_dir):
        super().__init__(error.step, error.checkpoint)
        self.args = (f"interrupted at step {error.step}; checkpoint written in "
                     f"{os.path.join(out_dir, 'run')}; the same adaptation (same arguments "
                     "and out_dir) resumes it",)


@dataclasses.dataclass
class AdaptationResult:
    """What `adapt` returns.

    Attributes:
        model: the adapted `ELMo`.
        perplexity_before, perplexity_after: held-out perplexities of the biLM before
            and after: `{"stateless": {...}, "stateful": {...}, "n_tokens": n}`, each
            protocol with `forward`, `backward` and `average` (see
            `elmo_keras.training.evaluate`).
        steps: training steps taken in all.
        held_out: where the held-out text came from (`"valid_texts"` or
            `"every 10th text"`).
        preset_dir: the adapted preset (`out_dir/preset`).
        out_dir: the adaptation's directory.
    """

    model: object
    perplexity_before: dict
    perplexity_after: dict
    steps: int
    held_out: str
    preset_dir: str
    out_dir: str


def adapt(preset, texts, *, out_dir, steps=None, epochs=1, batch_size=64,
          learning_rate=None, valid_texts=None, softmax=None, vocab=None, tokenizer=None,
          seed=0, checkpoint_every=500, verbose=1):
    """Adapts an ELMo biLM to unlabelled text: trains it further as a language model,
    both directions, from its own softmax (the ELMo paper's domain adaptation); see the
    module docstring for the steps and the files in `out_dir`.

    Args:
        preset: an ELMo preset whose directory holds the softmax (`"elmo_small_en"`, an
            adapted preset, an `elmo-keras train` directory), or any form
            `ELMo.from_preset` takes (an `ELMo` too) with `softmax=` and `vocab=`.
        texts: the text: a list of strings (one text each), a path or glob pattern (a
            `str` or `os.PathLike`) or a list of `os.PathLike` (one text a line), or a
            `tf.data.Dataset` of strings (scalars or batches). Each text is one
            sequence to the language model, as a task model reads it.
        out_dir: the adaptation's directory (created; the same directory resumes).
        steps: training steps (batches of `batch_size` rows of the preset's
            `unroll_steps` tokens); None: `epochs` passes over the text.
        epochs: passes over the text when `steps` is None.
        batch_size: rows a batch.
        learning_rate: Adagrad's (None: the preset's training options', 0.2).
        valid_texts: held-out text for the perplexities (any form of `texts`); None:
            every 10th text of `texts` is held out and not trained on.
        softmax, vocab: the softmax weights (`softmax/W`, `softmax/b`) and its
            vocabulary, when the preset's directory has none.
        tokenizer: an `ELMoTokenizer` (or a split, `"whitespace"` or `"corpus"`)
            instead of the preset's own.
        seed: training's seed (shuffling, dropout).
        checkpoint_every: steps between checkpoints (a run also checkpoints when it
            ends or is interrupted).
        verbose: 0 silent, 1 progress bars.

    Returns:
        `AdaptationResult`: the adapted `model`, `perplexity_before`,
        `perplexity_after`, `steps`, `held_out`, `preset_dir`, `out_dir`.

    Raises:
        AdaptationError: the model has no softmax, the text is empty or matches no
            file, or `out_dir` holds an adaptation with other arguments.
        AdaptationInterrupted: after Ctrl-C or SIGTERM, once the checkpoint is
            written (the same call resumes).
        TrainingError, CorpusError, PresetError: from training and loading.

    Examples:

    >>> import elmo_keras
    >>> result = elmo_keras.adapt("elmo_small_en", "reviews/*.txt",
    ...                           out_dir="adapted", steps=500)  # doctest: +SKIP
    >>> result.perplexity_before["stateless"]["average"]  # doctest: +SKIP
    >>> result.perplexity_after["stateless"]["average"]  # doctest: +SKIP
    >>> result.model.save_to_preset("my_elmo")  # doctest: +SKIP
    """
    from elmo_keras import ELMo, ELMoTokenizer

    out_dir = os.fspath(out_dir)
    if steps is not None and int(steps) < 1 or int(epochs) < 1 or int(batch_size) < 1:
        raise AdaptationError(f"steps, epochs and batch_size must be >= 1, got {steps}, "
                              f"{epochs}, {batch_size}")
    os.makedirs(out_dir, exist_ok=True)
    base = _base_directory(preset, softmax, vocab, out_dir)
    if tokenizer is None or isinstance(tokenizer, str):
        split = {} if tokenizer is None else {"split": tokenizer}
        tokenizer = ELMoTokenizer.from_preset(
            preset if not isinstance(preset, ELMo) else base, **split)
    options = _training_options(base, steps, epochs, batch_size, learning_rate, seed)
    data = os.path.join(out_dir, "data")
    os.makedirs(data, exist_ok=True)
    train_file, valid_file = os.path.join(data, "train.txt"), os.path.join(data, "valid.txt")
    limit = options["max_sentence_tokens"]
    _keep_texts((train_file, valid_file), keep=False)  # an interrupted call's
    if valid_texts is None:
        digests = _write_texts(_iter_texts(texts), tokenizer, limit, train_file, valid_file)
        held_out = f"every {HOLD_OUT_EVERY}th text"
    else:
        digests = (_write_texts(_iter_texts(texts), tokenizer, limit, train_file)[0],
                   _write_texts(_iter_texts(valid_texts), tokenizer, limit, valid_file)[0])
        held_out = "valid_texts"
    arguments = {
        "model": _digest(os.path.join(base, n) for n in (*_BILM_FILES, "softmax.hdf5",
                                                         "vocab.txt")),
        "train_text": digests[0], "held_out_text": digests[1], "held_out": held_out,
        "tokenizer": tokenizer.split, "steps": None if steps is None else int(steps),
        "epochs": None if steps is not None else int(epochs),
        **{f"option {k}": v for k, v in options.items() if k != "n_epochs"},
    }
    try:
        record = _check_record(out_dir, arguments)
    except AdaptationError:
        _keep_texts((train_file, valid_file), keep=False)
        if base == os.path.join(out_dir, "base.new"):
            shutil.rmtree(base)
        raise
    _keep_texts((train_file, valid_file), keep=True)
    if base == os.path.join(out_dir, "base.new"):  # assembled: now the run's
        shutil.rmtree(os.path.join(out_dir, "base"), ignore_errors=True)
        base = os.path.join(out_dir, "base")
        os.replace(base + ".new", base)
    run_dir = os.path.join(out_dir, "run")
    preset_dir = os.path.join(out_dir, "preset")
    if "perplexity_after" in record and os.path.isdir(preset_dir):
        return AdaptationResult(ELMo.from_preset(preset_dir), record["perplexity_before"],
                                record["perplexity_after"], record["steps"], held_out,
                                preset_dir, out_dir)
    if "perplexity_before" not in record:
        record["perplexity_before"] = _perplexity(base, valid_file, verbose)
        _save_record(out_dir, record)
    options_file = os.path.join(out_dir, "adapt_options.json")
    with atomic_output(options_file, what="adaptation options") as tmp, \
            open(tmp, "w", encoding="utf-8") as f:
        json.dump(options, f, indent=2, sort_keys=True)
    resume = os.path.exists(os.path.join(run_dir, "run.json"))
    try:
        result = train(run_dir, None if resume else train_file, options_file,
                       os.path.join(base, "vocab.txt"), resume=resume,
                       init_weights=None if resume else os.path.join(base, "weights.hdf5"),
                       max_steps=steps, checkpoint_every=checkpoint_every, verbose=verbose)
    except TrainingInterrupted as e:
        raise AdaptationInterrupted(e, out_dir) from None
    record["steps"] = int(result["step"])
    record["perplexity_after"] = _perplexity(run_dir, valid_file, verbose)
    model = ELMo.from_preset(run_dir)
    _write_preset(model, tokenizer, run_dir, preset_dir)
    _save_record(out_dir, record)
    return AdaptationResult(model, record["perplexity_before"], record["perplexity_after"],
                            record["steps"], held_out, preset_dir, out_dir)


# ----------------------------------------------------------------------------- the model
def _base_directory(preset, softmax, vocab, out_dir):
    """A directory with the biLM's `options.json`, `weights.hdf5`, `softmax.hdf5` and
    `vocab.txt`: the preset's own when it has them all, else assembled in
    `out_dir/base.new` (`adapt` renames it to `out_dir/base` once the record is
    checked)."""
    from elmo_keras import ELMo
    from elmo_keras.models.elmo.elmo_preset_loader import resolve_preset
    from elmo_keras.models.elmo.elmo_presets import PUBLISHED

    if isinstance(preset, str) and preset in PUBLISHED and softmax is None:
        raise AdaptationError(
            f"{preset}: AllenNLP's published models ship no softmax, and adaptation trains "
            "the biLM as a language model through its softmax; adapt elmo_small_en (which "
            "ships its softmax), or pass softmax= and vocab= (the softmax.hdf5 and "
            "vocab.txt the model was trained with)")
    directory = None if isinstance(preset, ELMo) else resolve_preset(preset, ELMo)[1]
    own = {}
    if directory is not None and os.path.isdir(directory):
        own = {n: os.path.join(directory, n) for n in (*_BILM_FILES, "softmax.hdf5",
                                                       "vocab.txt")
               if os.path.isfile(os.path.join(directory, n))}
    given = {k: os.fspath(v) for k, v in (("softmax.hdf5", softmax), ("vocab.txt", vocab))
             if v is not None}
    files = {**own, **given}
    missing = [n for n in ("softmax.hdf5", "vocab.txt") if n not in files]
    if missing:
        where = "the given model" if directory is None else f"{directory}"
        raise AdaptationError(
            f"{where}: has no {' or '.join(missing)}; adaptation trains the biLM as a "
            "language model through its softmax (softmax.hdf5, with the vocab.txt of its "
            "rows); pass softmax= and vocab= (elmo-keras adapt --softmax --vocab), or "
            "adapt a model that ships them (elmo_small_en, an elmo-keras train directory)")
    for name in given:
        check_input_file(files[name], name)
    if not given and all(n in own for n in _BILM_FILES):
        return os.fspath(directory)
    base = os.path.join(out_dir, "base.new")
    if os.path.isdir(base):
        shutil.rmtree(base)  # an interrupted call's
    with atomic_output_dir(base, what="model directory") as tmp:
        if all(n in own for n in _BILM_FILES):
            for name in _BILM_FILES:
                shutil.copy(own[name], tmp)
        else:
            model = preset if isinstance(preset, ELMo) else ELMo.from_preset(preset)
            from elmo_keras import save_bilm

            save_bilm(model, os.path.join(tmp, "options.json"),
                      os.path.join(tmp, "weights.hdf5"))
        for name in ("softmax.hdf5", "vocab.txt"):
            shutil.copy(files[name], os.path.join(tmp, name))
    return base


def _training_options(base, steps, epochs, batch_size, learning_rate, seed):
    """The preset's options with adaptation's: full softmax, the batch size, the
    learning rate, and enough epochs for `steps`."""
    with open(os.path.join(base, "options.json"), encoding="utf-8") as f:
        options = json.load(f)
    options.update(batch_size=int(batch_size), sample_softmax=False, seed=int(seed),
                   n_train_tokens=None,
                   # each epoch is a step at least: `steps` are always reached
                   n_epochs=int(steps) if steps is not None else int(epochs))
    if learning_rate is not None:
        options["learning_rate"] = float(learning_rate)
    options.setdefault("max_sentence_tokens", 1000)
    return options


def _write_preset(model, tokenizer, run_dir, preset_dir):
    """The adapted model as a preset, with the softmax and vocabulary it was trained
    with (so that it can be evaluated and adapted again)."""
    if os.path.isdir(preset_dir):
        shutil.rmtree(preset_dir)  # a half-finished earlier call's
    with atomic_output_dir(preset_dir, what="adapted preset") as tmp:
        model.save_to_preset(tmp, tokenizer)
        for name in ("softmax.hdf5", "vocab.txt"):
            shutil.copy(os.path.join(run_dir, name), os.path.join(tmp, name))


def _perplexity(model_dir, valid_file, verbose):
    r = evaluate(model_dir, valid_file, verbose=verbose)
    keys = ("forward", "backward", "average")
    return {"stateless": {k: r["stateless"][k] for k in keys},
            "stateful": {k: r[k] for k in keys}, "n_tokens": r["n_tokens"]}


# ----------------------------------------------------------------------------- the text
def _iter_texts(texts):
    """The texts of any accepted form, as `str`."""
    if isinstance(texts, (str, os.PathLike)) or (
            isinstance(texts, (list, tuple)) and texts
            and all(isinstance(t, os.PathLike) for t in texts)):
        patterns = [texts] if isinstance(texts, (str, os.PathLike)) else texts
        return _file_lines(patterns)
    if hasattr(texts, "as_numpy_iterator"):  # a tf.data.Dataset
        return _dataset_texts(texts)
    if isinstance(texts, (list, tuple)):
        bad = [t for t in texts if not isinstance(t, str)]
        if bad:
            raise AdaptationError(f"texts: a list of strings (or of os.PathLike files) "
                                  f"expected, found a {type(bad[0]).__name__}")
        return iter(texts)
    raise AdaptationError(f"texts: a list of strings, a file path or glob pattern, or a "
                          f"tf.data.Dataset of strings expected, got {type(texts).__name__}")


def _file_lines(patterns):
    for pattern in patterns:
        pattern = os.fspath(pattern)
        if glob.has_magic(pattern):
            files = sorted(p for p in glob.glob(pattern) if os.path.isfile(p))
        else:
            files = [check_input_file(pattern, "text file")] if os.path.exists(pattern) else []
        if not files:
            raise AdaptationError(f"{pattern}: no file matches (a str is a file path or glob "
                                  "pattern; pass a list of strings for text)")
        for path in files:
            yield from iter_lines(path)


def _dataset_texts(dataset):
    import numpy as np

    for element in dataset.as_numpy_iterator():
        for value in np.asarray(element, dtype=object).reshape(-1):
            yield value.decode("utf-8") if isinstance(value, bytes) else str(value)


def _write_texts(texts, tokenizer, limit, train_file, valid_file=None):
    """Writes the texts' tokens one text a line (a text longer than `limit` tokens
    over several lines) to `train_file + ".new"`, every `HOLD_OUT_EVERY`-th to
    `valid_file + ".new"` when a `valid_file` is given (`_keep_texts` renames them once
    the record is checked).

    Returns:
        The SHA-256 of each file written.
    """
    outputs = [train_file] + ([valid_file] if valid_file else [])
    hashes = [hashlib.sha256() for _ in outputs]
    counts = [0] * len(outputs)
    files = [open(p + ".new", "wb") for p in outputs]
    try:
        n = 0
        for text in texts:
            tokens = tokenizer.tokenize(text)
            if not tokens:
                continue
            n += 1
            k = 1 if valid_file and n % HOLD_OUT_EVERY == 0 else 0
            for i in range(0, len(tokens), limit):
                line = (" ".join(tokens[i:i + limit]) + "\n").encode("utf-8")
                files[k].write(line)
                hashes[k].update(line)
            counts[k] += 1
    finally:
        for f in files:
            f.close()
    for path, count in zip(outputs, counts):
        if count == 0:
            what = "held out" if path == valid_file else "to train on"
            raise AdaptationError(
                f"no text {what}: {n} non-empty text(s) given"
                + (f"; every {HOLD_OUT_EVERY}th is held out, so give {HOLD_OUT_EVERY} at "
                   "least, or valid_texts" if valid_file else ""))
    return [h.hexdigest() for h in hashes]


def _keep_texts(paths, keep):
    """The texts `_write_texts` wrote: renamed into place (`keep`) or removed."""
    for path in paths:
        if keep:
            os.replace(path + ".new", path)
        elif os.path.exists(path + ".new"):
            os.remove(path + ".new")


# ----------------------------------------------------------------------------- the record
def _digest(paths):
    """The SHA-256 of the files' contents: an HDF5 file's by its datasets (names and
    values, not the file's bytes, which also hold when it was written)."""
    import h5py

    h = hashlib.sha256()
    for path in paths:
        if path.endswith(".hdf5"):
            with h5py.File(path, "r") as f:
                names = []
                f.visititems(lambda n, o: names.append(n) if isinstance(o, h5py.Dataset)
                             else None)
                for name in sorted(names):
                    h.update(name.encode("utf-8"))
                    h.update(f[name][()].tobytes())
            continue
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
    return h.hexdigest()


def _check_record(out_dir, arguments):
    """The record of `out_dir` (new, or an earlier call's with the same arguments)."""
    path = os.path.join(out_dir, RECORD_FILE)
    if not os.path.exists(path):
        if os.path.exists(os.path.join(out_dir, "run", "run.json")):
            raise AdaptationError(f"{out_dir}: holds a training run but no {RECORD_FILE}; "
                                  "choose another out_dir")
        record = {"arguments": arguments}
        _save_record(out_dir, record)
        return record
    with open(path, encoding="utf-8") as f:
        record = json.load(f)
    old = record.get("arguments", {})
    changed = [k if "text" in k or k == "model" else f"{k} ({old.get(k)!r} -> "
               f"{arguments.get(k)!r})"[:120]
               for k in sorted(set(old) | set(arguments)) if old.get(k) != arguments.get(k)]
    if changed:
        raise AdaptationError(
            f"{out_dir}: holds an adaptation with other arguments (changed: "
            f"{', '.join(changed)}); the same arguments resume it, or choose another "
            "out_dir")
    return record


def _save_record(out_dir, record):
    with atomic_output(os.path.join(out_dir, RECORD_FILE), what="adaptation record") as tmp, \
            open(tmp, "w", encoding="utf-8") as f:
        json.dump(record, f, indent=2, sort_keys=True)
        f.write("\n")
