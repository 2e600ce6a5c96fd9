"""The run directory of `train`: its layout, its records and its history.

| file | what |
| --- | --- |
| `train_options.json`, `vocab.txt`, `run.json` | the run's options, vocabulary, data |
| `checkpoints/` | weights, Adagrad state, LSTM states, step (every N steps, at the end) |
| `history.jsonl` | training and validation perplexities, one JSON object a line |
| `logs/` | TensorBoard logs |
| `options.json`, `weights.hdf5`, `softmax.hdf5` | the trained model (`trained_model`) |
| `learning_curve.png` | perplexity against step |
"""

import dataclasses
import json
import os
import re

from elmo_keras.training.errors import TrainingError
from elmo_keras.training.training_options import load_training_options

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
    """

    train_files: list
    valid_files: list | None
    steps_per_epoch: int
    init_weights: str | None = None
    changes: list = dataclasses.field(default_factory=list)

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


def last_checkpoint_step(out_dir):
    """The step of the run's last checkpoint, or None when it has none."""
    path = os.path.join(run_paths(out_dir)["checkpoints"], "checkpoint")
    if not os.path.isfile(path):
        return None
    with open(path, encoding="utf-8") as f:
        m = re.search(r'model_checkpoint_path: ".*?-(\d+)"', f.read())
    return int(m.group(1)) if m else None


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
