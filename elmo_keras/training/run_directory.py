"""The run directory of `train`: its layout, its records and its history.

| file | what |
| --- | --- |
| `train_options.json`, `vocab.txt`, `run.json` | the run's options, vocabulary, data |
| `checkpoints/` | weights, Adagrad state, LSTM states, step (every N steps, at the end) |
| `history.jsonl` | training and validation perplexities, one JSON object a line |
| `logs/` | TensorBoard logs (the TensorFlow trainer) |
| `options.json`, `weights.hdf5`, `softmax.hdf5` | the trained model (`trained_model`) |
| `learning_curve.png` | perplexity against step |

Checkpoints are TensorFlow's, or the JAX trainer's `ckpt-<step>.npz`; `run.json`
records which trainer wrote them (`RunRecord.trainer`), and a run resumes on it only.
"""

import dataclasses
import json
import os
import re

from elmo_keras.training.corpus import resolve_files, scan_corpus
from elmo_keras.training.errors import TrainingError
from elmo_keras.training.training_options import load_training_options
from elmo_keras.training.vocabulary import Vocabulary

# Options a resumed run may change: they steer the rest of the run, not the model's
# shapes or the data stream (batch layout, shuffling, epoch size) the run is part way
# through. Any other change is refused, by name.
RESUMABLE_OPTIONS = ("n_epochs", "learning_rate", "all_clip_norm_val", "dropout",
                     "sample_softmax", "n_negative_samples_batch", "state_reset_prob",
                     "max_sentence_tokens")


def run_paths(out_dir):
    """The path of each file of a run directory, by key (see the module)."""
    j = lambda *p: os.path.join(out_dir, *p)  # noqa: E731
    return dict(options=j("train_options.json"), vocab=j("vocab.txt"), run=j("run.json"),
                checkpoints=j("checkpoints"), history=j("history.jsonl"), logs=j("logs"),
                model_options=j("options.json"), weights=j("weights.hdf5"),
                softmax=j("softmax.hdf5"), curve=j("learning_curve.png"))


def atomic_json(obj, path):
    """Writes `obj` as JSON to a temporary file, then renames it over `path`."""
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(obj, f, indent=2, sort_keys=True)
        f.write("\n")
    os.replace(tmp, path)


@dataclasses.dataclass
class RunRecord:
    """What a run directory records (`run.json`) so that `--resume` needs nothing else.

    Attributes:
        train_files, valid_files: the corpus files (absolute paths).
        steps_per_epoch: fixed at the start (the data position depends on it).
        init_weights: the weights the run started from (None: random).
        changes: `{"step": s, "options": {key: [old, new]}}` for each resume that
            changed options.
        trainer: `"tensorflow"` or `"jax"`: the trainer whose checkpoints the run
            holds (a run resumes on its own trainer only).
    """

    train_files: list
    valid_files: list | None
    steps_per_epoch: int
    init_weights: str | None = None
    changes: list = dataclasses.field(default_factory=list)
    trainer: str = "tensorflow"

    @classmethod
    def load(cls, path):
        with open(path, encoding="utf-8") as f:
            d = json.load(f)
        return cls(**{k.name: d[k.name] for k in dataclasses.fields(cls) if k.name in d})

    def save(self, path):
        atomic_json(dataclasses.asdict(self), path)


def read_history(path, last_step=None):
    """History entries (a torn last line from a kill is skipped), up to `last_step`."""
    entries = []
    if os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            for line in f:
                try:
                    e = json.loads(line)
                except json.JSONDecodeError:
                    continue
                if last_step is None or e["step"] <= last_step:
                    entries.append(e)
    return entries


def write_history(path, entries):
    """Rewrites `history.jsonl` with `entries` (a resumed run drops what came after
    its checkpoint)."""
    with open(path, "w", encoding="utf-8") as f:
        for e in entries:
            f.write(json.dumps(e) + "\n")


def append_history(path, entry):
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps(entry) + "\n")


_NPZ_CHECKPOINT = re.compile(r"^ckpt-(\d+)\.npz$")


def npz_checkpoints(folder):
    """The JAX trainer's checkpoints (`ckpt-<step>.npz`) in `folder`, by step."""
    found = []
    if os.path.isdir(folder):
        for name in os.listdir(folder):
            m = _NPZ_CHECKPOINT.match(name)
            if m:
                found.append((int(m.group(1)), os.path.join(folder, name)))
    return [path for _, path in sorted(found)]


def last_checkpoint_step(out_dir):
    """The step of the run's last checkpoint (either trainer's), or None when it has
    none."""
    folder = run_paths(out_dir)["checkpoints"]
    path = os.path.join(folder, "checkpoint")  # TensorFlow's index of its checkpoints
    if os.path.isfile(path):
        with open(path, encoding="utf-8") as f:
            m = re.search(r'model_checkpoint_path: ".*?-(\d+)"', f.read())
        if m:
            return int(m.group(1))
    found = npz_checkpoints(folder)
    return int(_NPZ_CHECKPOINT.match(os.path.basename(found[-1])).group(1)) if found else None


def check_fresh_run(out_dir):
    """Raises `TrainingError`, saying what to do, if `out_dir` already holds a run."""
    if not os.path.exists(run_paths(out_dir)["run"]):
        return
    step = last_checkpoint_step(out_dir)
    if step is None:
        raise TrainingError(
            f"{out_dir} holds a run that stopped before its first checkpoint; pass --resume "
            "to start it again from step 0 (with its recorded options and files), or "
            "choose another directory")
    raise TrainingError(f"{out_dir} already holds a run (last checkpoint at step {step}); "
                        "pass --resume to continue it or choose another directory")


def _flat(d):
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update({f"{k}.{kk}": vv for kk, vv in _flat(v).items()})
        else:
            out[k] = v
    return out


def resumed_options(out_dir, saved, options=None, **overrides):
    """The options of a resumed run: the run's own (`saved`), or `options` (a file,
    dict or `TrainingOptions`), with command-line `overrides` (`n_epochs`,
    `batch_size`, None: unchanged).

    Returns:
        `(options, changes)`: `changes` maps each changed key of `RESUMABLE_OPTIONS`
        to `[old, new]`.

    Raises:
        TrainingError: another key changed (named, with both values).
    """
    new = saved if options is None else load_training_options(options)
    new = new.with_updates(n_epochs=overrides.get("epochs"),
                           batch_size=overrides.get("batch_size"))
    old_d, new_d = _flat(saved.to_dict()), _flat(new.to_dict())
    diff = {k: [old_d.get(k), new_d.get(k)] for k in sorted(set(old_d) | set(new_d))
            if k != "n_tokens_vocab" and old_d.get(k) != new_d.get(k)}
    refused = {k: v for k, v in diff.items() if k not in RESUMABLE_OPTIONS}
    if refused:
        raise TrainingError(
            f"{out_dir}: --resume cannot change "
            + ", ".join(f"{k} ({a!r} -> {b!r})" for k, (a, b) in refused.items())
            + ": they fix the model's shapes or the data stream of the run; train a new "
            "run (another --out, --init-weights to start from this one) for them. A "
            "resumed run may change " + ", ".join(RESUMABLE_OPTIONS))
    return new, diff


_TRAINER_NAMES = {"tensorflow": "TensorFlow", "jax": "JAX"}


def prepare_run(out_dir, train_files, options, vocab, valid_files, *, epochs=None,
                batch_size=None, resume=False, init_weights=None, trainer="tensorflow",
                chief=True):
    """The options, vocabulary, data and record of a run, all checked; nothing written
    (see `start_run`). Both trainers start here, so their runs follow the same rules.

    Args:
        out_dir, train_files, options, vocab, valid_files, epochs, batch_size, resume,
            init_weights: as `trainer.train`.
        trainer: `"tensorflow"` or `"jax"`, recorded in a new run; a resumed run must
            have been trained by it.
        chief: False on the other workers of a cluster (they do not check that
            `out_dir` is new: the chief does).

    Returns:
        `(opts, vocab, record, stats, changes)`: the `TrainingOptions`, the
        `Vocabulary`, the `RunRecord`, the training corpus' `scan_corpus` statistics
        and, for a resumed run, the options it changes (see `resumed_options`).

    Raises:
        TrainingError, OptionsError, VocabularyError, CorpusError.
    """
    p = run_paths(out_dir)
    if not resume and chief:
        check_fresh_run(out_dir)
    if resume:
        if not os.path.exists(p["run"]):
            raise TrainingError(f"{out_dir}: nothing to resume (no run.json); start the "
                                "run without --resume")
        vocab = vocab or p["vocab"]
    if (options is None and not resume) or vocab is None or \
            (train_files is None and not resume):
        raise TrainingError("train needs options, vocab and training files")
    vocab = vocab if isinstance(vocab, Vocabulary) else Vocabulary.load(vocab)
    if resume:
        run = RunRecord.load(p["run"])
        if run.trainer != trainer:
            raise TrainingError(
                f"{out_dir}: trained with the {_TRAINER_NAMES.get(run.trainer, run.trainer)} "
                f"trainer, whose checkpoints the {_TRAINER_NAMES[trainer]} trainer cannot "
                f"read; resume it with --backend {run.trainer}")
        saved = load_training_options(p["options"])
        opts, changes = resumed_options(out_dir, saved, options, epochs=epochs,
                                        batch_size=batch_size)
        opts.check_vocabulary(vocab)
        if vocab.tokens != Vocabulary.load(p["vocab"]).tokens:
            raise TrainingError(f"{out_dir}: --resume must use the run's own vocabulary "
                                f"({p['vocab']})")
        if train_files is not None and resolve_files(train_files) != run.train_files:
            raise TrainingError(f"{out_dir}: --resume must train on the run's own files "
                                f"{run.train_files}")
        if valid_files is not None and resolve_files(valid_files) != run.valid_files:
            raise TrainingError(f"{out_dir}: --resume must validate on the run's own files "
                                f"{run.valid_files}")
        if init_weights is not None and os.path.abspath(init_weights) != run.init_weights:
            raise TrainingError(f"{out_dir}: --resume continues from the run's checkpoint "
                                "(or its own --init-weights); leave out --init-weights")
        stats = scan_corpus(run.train_files, vocab, opts.max_sentence_tokens)
        return opts, vocab, run, stats, changes
    opts = load_training_options(options).with_updates(n_epochs=epochs, batch_size=batch_size)
    opts.check_vocabulary(vocab)
    files = resolve_files(train_files)
    stats = scan_corpus(files, vocab, opts.max_sentence_tokens)
    valid = resolve_files(valid_files) if valid_files else None
    if valid:
        scan_corpus(valid, vocab, opts.max_sentence_tokens)
    tokens_per_epoch = opts.n_train_tokens or stats.n_lm_tokens
    steps_per_epoch = max(1, tokens_per_epoch // (opts.batch_size * opts.unroll_steps))
    init = os.path.abspath(init_weights) if init_weights else None
    return opts, vocab, RunRecord(files, valid, steps_per_epoch, init, trainer=trainer), \
        stats, {}


def start_run(out_dir, opts, vocab, record, start_step, changes):
    """Writes the run's options, vocabulary and record once everything is checked
    (the chief's job), recording the options a resume `changes` at `start_step`."""
    p = run_paths(out_dir)
    os.makedirs(out_dir, exist_ok=True)
    if changes:
        record.changes.append({"step": start_step, "options": changes})
    atomic_json(opts.to_dict(vocab.size), p["options"])
    vocab.save(p["vocab"])
    record.save(p["run"])
