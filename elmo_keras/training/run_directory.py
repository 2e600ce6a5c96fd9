"""The run directory of `train`: its layout, its records and its history.

| file | what |
| --- | --- |
| `train_options.json`, `vocab.txt`, `run.json` | the run's options, vocabulary, data |
| `checkpoints/` | weights, Adagrad state, LSTM states, step (every N steps, at the end) |
| `history.jsonl` | training and validation perplexities, one JSON object a line |
| `logs/` | TensorBoard logs (the TensorFlow trainer) |
| `options.json`, `weights.hdf5`, `softmax.hdf5` | the trained model (`trained_model`) |
| `learning_curve.png` | perplexity against step |
| `.lock` | held (`flock`) by the process training in the directory |

Checkpoints are `ckpt-<step>` files in the format of the backend that trains (its
`backends` module: TensorFlow's, or arrays `ckpt-<step>.npz` on JAX and PyTorch);
`run.json` records which backend wrote them (`RunRecord.trainer`), and a run resumes on
it only.

The guarantees of a run directory (every backend, as `elmo-keras embed` gives its
output):

- one process at a time (`locked_run`): a second `train` on the same directory fails at
  once, naming the holder's pid; the kernel drops the lock when its process dies, so a
  killed run never blocks `--resume`;
- no input is a file the run writes (`check_inputs`, by device and inode, so links
  count): refused, naming both, before anything is written;
- a run whose checkpoints are gone does not silently start again from step 0
  (`check_resumable`);
- a full disk is said as such (`disk_errors`), not as running out of memory.
"""

import contextlib
import dataclasses
import errno
import glob
import json
import os

from elmo_keras.io.paths import DiskSpaceError, disk_error_reason
from elmo_keras.training.backends import checkpoint_files
from elmo_keras.training.corpus import resolve_files, scan_corpus
from elmo_keras.training.errors import TrainingError
from elmo_keras.training.training_options import load_training_options
from elmo_keras.training.vocabulary import Vocabulary

try:
    import fcntl
except ImportError:  # not POSIX: no lock
    fcntl = None

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
                softmax=j("softmax.hdf5"), curve=j("learning_curve.png"), lock=j(".lock"))


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
        trainer: `"tensorflow"`, `"jax"` or `"torch"`: the backend whose checkpoints
            the run holds (a run resumes on its own backend only).
        last_checkpoint: the step of the last checkpoint written (None: none yet), so
            that a run whose checkpoints were deleted is not taken for one stopped
            before its first.
    """

    train_files: list
    valid_files: list | None
    steps_per_epoch: int
    init_weights: str | None = None
    changes: list = dataclasses.field(default_factory=list)
    trainer: str = "tensorflow"
    last_checkpoint: int | None = None

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
    """The step of the run's last checkpoint (of any backend), or None when it has
    none."""
    found = checkpoint_files(run_paths(out_dir)["checkpoints"])
    return found[-1][0] if found else None


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


def _missing_dirs(path):
    """`path` and its ancestors that do not exist yet, deepest first."""
    missing = []
    path = os.path.abspath(path)
    while not os.path.exists(path):
        missing.append(path)
        parent = os.path.dirname(path)
        if parent == path:
            break
        path = parent
    return missing


def _lock(out_dir, path):
    """The descriptor of `path`, created if needed and `flock`ed; raises
    `TrainingError` naming the holder if another process holds it."""
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 64).decode(errors="replace").strip() or "?"
            os.close(fd)
            raise TrainingError(
                f"{out_dir}: another elmo-keras train is using this run directory (pid "
                f"{holder}, lock {path}); wait for it to finish or choose another "
                "--out") from None
        except BaseException:
            os.close(fd)
            raise
        # The holder removes the file as it ends: a lock taken on a file that is no
        # longer `path` locks nothing, so take the new one.
        try:
            same = os.path.samestat(os.fstat(fd), os.stat(path))
        except FileNotFoundError:
            same = False
        if same:
            return fd
        os.close(fd)


@contextlib.contextmanager
def locked_run(out_dir, enabled=True):
    """Holds the lock of the run directory `out_dir` (created if needed) for the block:
    an exclusive, non-blocking `flock` on its `.lock`, which records the holder's pid.
    The kernel releases it when the process dies, so a killed run's lock never blocks.
    At the end the lock file is removed, and `out_dir` too if this call created it and
    the run wrote nothing there (it was refused).

    Args:
        enabled: False on the other workers of a cluster (the chief holds the lock).

    Raises:
        TrainingError: another process holds the lock (its pid and the lock file
            named), or `out_dir` is a file.
    """
    if not enabled or fcntl is None:
        yield
        return
    if os.path.exists(out_dir) and not os.path.isdir(out_dir):
        raise TrainingError(f"{out_dir}: exists and is not a directory; choose another --out")
    created = _missing_dirs(out_dir)
    os.makedirs(out_dir, exist_ok=True)
    path = run_paths(out_dir)["lock"]
    fd = _lock(out_dir, path)
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        with contextlib.suppress(OSError):
            os.remove(path)  # while still held: see `_lock`
        os.close(fd)  # releases the flock
        for folder in created:  # deepest first; a folder the run wrote in stays
            try:
                os.rmdir(folder)
            except OSError:
                break


def _written(out_dir):
    """The files a run writes in `out_dir` (with the temporary files they are written
    through) and the folders it writes in."""
    p = run_paths(out_dir)
    files = [p[k] for k in ("options", "vocab", "run", "history", "model_options",
                            "weights", "softmax", "curve", "lock")]
    # atomic_json, start_run and trained_model write `<name>.tmp`, the learning curve
    # `<name>.tmp.png`, then rename.
    files += [p[k] + ".tmp" for k in ("options", "vocab", "run", "model_options", "weights",
                                      "softmax")] + [p["curve"] + ".tmp.png"]
    folders = [p["checkpoints"], p["logs"]]
    folders += sorted(glob.glob(os.path.join(glob.escape(os.fspath(out_dir)), ".worker_*")))
    return files, folders


def _identity(path):
    """`(device, inode)` of the file `path` names (through symlinks), or None."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


def _inside(path, folder):
    path, folder = os.path.realpath(path), os.path.realpath(folder)
    return path.startswith(folder.rstrip(os.sep) + os.sep)


def check_inputs(out_dir, inputs, allowed=()):
    """Refuses inputs that the run in `out_dir` would overwrite, before anything is
    written: every input is compared with every file the run writes by device and
    inode (as `os.path.samefile`: a symlink or a hard link counts), and must not lie
    in a folder the run writes in (`checkpoints/`, `logs/`).

    Args:
        inputs: `(what, path)` pairs ("training file", ...); None paths are skipped.
        allowed: `(what, key)` pairs: the input `what` may be the run's file `key` of
            `run_paths` (a run's own records, which it reads whole before it rewrites
            them).

    Raises:
        TrainingError: an input is a file the run writes (both named).
    """
    files, folders = _written(out_dir)
    p = run_paths(out_dir)
    allowed = {(what, p[key]) for what, key in allowed}
    written = {}  # (device, inode) -> the file the run writes, and its folder if any
    for out in files:
        written.setdefault(_identity(out), (out, None))
    for folder in folders:
        for root, _, names in os.walk(folder):
            for name in names:
                written.setdefault(_identity(os.path.join(root, name)),
                                   (os.path.join(root, name), folder))
    written.pop(None, None)
    for what, path in inputs:
        if path is None:
            continue
        path = os.fspath(path)
        out, folder = written.get(_identity(path), (None, None))
        inside = next((f for f in folders if _inside(path, f)), None)
        if inside is not None:
            said = f"lies in {inside}, which training writes in"
        elif folder is not None:
            said = f"is {out}, in {folder}, which training writes in"
        elif out is not None and (what, out) not in allowed:
            same = "" if os.path.abspath(path) == os.path.abspath(out) else f" ({out})"
            said = f"is the run's {os.path.basename(out)}{same}, which training writes"
        else:
            continue
        raise TrainingError(f"{out_dir}: the {what} {path} {said}; refusing to overwrite "
                            "an input: choose another --out or move the file")


def _run_inputs(train_files, valid_files, options, vocab, init_weights):
    """The `(what, path)` inputs of a run, for `check_inputs`."""
    inputs = [("training file", f) for f in train_files]
    inputs += [("validation file", f) for f in valid_files or ()]
    if isinstance(options, (str, os.PathLike)):
        inputs.append(("options file", options))
    if isinstance(vocab, (str, os.PathLike)):
        inputs.append(("vocabulary", vocab))
    if init_weights:
        inputs.append(("--init-weights file", init_weights))
        # trained_model.load_initial_weights reads the softmax beside it too
        beside = os.path.join(os.path.dirname(os.path.abspath(init_weights)), "softmax.hdf5")
        inputs.append(("softmax beside --init-weights", beside))
    return inputs


def check_resumable(out_dir, record):
    """Refuses to resume a run whose checkpoints are gone: it would start again from
    step 0 and drop its history (a run stopped before its first checkpoint, which
    `record` shows, does start again from step 0).

    Raises:
        TrainingError: `record` says a checkpoint was written, none is left; or a
            `run.json` of an older elmo-keras (it does not record checkpoints) and a
            history, none left.
    """
    if last_checkpoint_step(out_dir) is not None:
        return
    p = run_paths(out_dir)
    history = read_history(p["history"])
    steps = [e["step"] for e in history if isinstance(e.get("step"), int)]
    if record.last_checkpoint is None:
        with open(p["run"], encoding="utf-8") as f:
            older = "last_checkpoint" not in json.load(f)  # no record of its checkpoints
        if not (older and steps):
            return  # stopped before its first checkpoint: it starts again from step 0
    said = (f"{p['history']} goes to step {max(steps)}" if steps else
            f"{p['run']} records a checkpoint at step {record.last_checkpoint}")
    raise TrainingError(
        f"{out_dir}: --resume refused: {said} but no checkpoint is left in "
        f"{p['checkpoints']}; resuming would start again from step 0 and drop that "
        "history. Put the checkpoints back, or start a new run with another --out "
        "(--init-weights to start from this run's weights.hdf5)")


def record_checkpoint(out_dir, record, step):
    """Records in `run.json` that a checkpoint of `step` was written (see
    `check_resumable`)."""
    record.last_checkpoint = int(step)
    record.save(run_paths(out_dir)["run"])


def _disk_then(reason, then):
    fix = "free some space" if "space" in reason or "quota" in reason else \
        "make it writable"
    return f"{fix}, then {then}"


@contextlib.contextmanager
def disk_errors(path, then="rerun with --resume"):
    """Turns a disk error in the block (no space, read-only file system, quota:
    `io.paths.disk_error_reason`, which also reads TensorFlow's `ResourceExhaustedError`
    "No space left on device" of `SaveV2`) into one `DiskSpaceError` naming `path`;
    running out of memory stays what it is.

    Args:
        path: what the block writes (a file or a folder of the run).
        then: what to do once the disk is fixed.
    """
    try:
        yield
    except DiskSpaceError:
        raise
    except Exception as e:
        reason = disk_error_reason(e)
        if reason is None:
            raise
        code = e.errno if isinstance(e, OSError) and e.errno else errno.ENOSPC
        raise DiskSpaceError(f"{reason} while writing {path}; "
                             f"{_disk_then(reason, then)}", code) from e


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
    dict or `TrainingOptions`; a training key a file or dict leaves out keeps the run's
    value), with command-line `overrides` (`n_epochs`, `batch_size`, None: unchanged).

    Returns:
        `(options, changes)`: `changes` maps each changed key of `RESUMABLE_OPTIONS`
        to `[old, new]`.

    Raises:
        TrainingError: another key changed (named, with both values).
    """
    # A training key the file leaves out keeps the run's value (so the options file of a
    # run made before the key existed resumes it unchanged).
    new = saved if options is None else load_training_options(options,
                                                                defaults=saved.to_dict())
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


def _saved_options(path):
    """A run's own options file; a run made before `interleave_files` existed read its
    files one after another, and resumes so (the same data stream)."""
    return load_training_options(path, defaults={"interleave_files": 1})


_TRAINER_NAMES = {"tensorflow": "TensorFlow", "jax": "JAX", "torch": "PyTorch"}


def prepare_run(out_dir, train_files, options, vocab, valid_files, *, epochs=None,
                batch_size=None, resume=False, init_weights=None, trainer="tensorflow",
                chief=True):
    """The options, vocabulary, data and record of a run, all checked; nothing written
    (see `start_run`). Every run starts here (holding `locked_run`), so runs
    follow the same rules: a new run's directory holds no run (`check_fresh_run`), a
    resumed run still has its checkpoints (`check_resumable`), and no input is a file
    the run writes (`check_inputs`).

    Args:
        out_dir, train_files, options, vocab, valid_files, epochs, batch_size, resume,
            init_weights: as `trainer.train`.
        trainer: the backend's `NAME` (`backends`), recorded in a new run; a resumed
            run must have been trained by it.
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
    vocab_file = None if isinstance(vocab, Vocabulary) else vocab
    vocab = vocab if isinstance(vocab, Vocabulary) else Vocabulary.load(vocab)
    if resume:
        run = RunRecord.load(p["run"])
        if run.trainer != trainer:
            raise TrainingError(
                f"{out_dir}: trained with the {_TRAINER_NAMES.get(run.trainer, run.trainer)} "
                f"trainer, whose checkpoints the {_TRAINER_NAMES[trainer]} trainer cannot "
                f"read; resume it with --backend {run.trainer}")
        if chief:
            check_resumable(out_dir, run)
        saved = _saved_options(p["options"])
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
        # The run's own records are read whole, then rewritten.
        check_inputs(out_dir, _run_inputs(run.train_files, run.valid_files, options,
                                          vocab_file, run.init_weights),
                     allowed=[("vocabulary", "vocab"), ("options file", "options")])
        stats = scan_corpus(run.train_files, vocab, opts.max_sentence_tokens)
        return opts, vocab, run, stats, changes
    opts = load_training_options(options).with_updates(n_epochs=epochs, batch_size=batch_size)
    opts.check_vocabulary(vocab)
    files = resolve_files(train_files)
    valid = resolve_files(valid_files) if valid_files else None
    # A vocabulary already in the run directory is the run's (not written again).
    check_inputs(out_dir, _run_inputs(files, valid, options, vocab_file, init_weights),
                 allowed=[("vocabulary", "vocab")])
    stats = scan_corpus(files, vocab, opts.max_sentence_tokens)
    if valid:
        scan_corpus(valid, vocab, opts.max_sentence_tokens)
    tokens_per_epoch = opts.n_train_tokens or stats.n_lm_tokens
    steps_per_epoch = max(1, tokens_per_epoch // (opts.batch_size * opts.unroll_steps))
    init = os.path.abspath(init_weights) if init_weights else None
    return opts, vocab, RunRecord(files, valid, steps_per_epoch, init, trainer=trainer), \
        stats, {}


def start_run(out_dir, opts, vocab, record, start_step, changes):
    """Writes the run's options, vocabulary and record once everything is checked
    (the chief's job), recording the options a resume `changes` at `start_step`. Each
    file is written whole, then renamed; `vocab.txt` is left as it is when it already
    holds the vocabulary (a resumed run's, or one made in the directory)."""
    p = run_paths(out_dir)
    os.makedirs(out_dir, exist_ok=True)
    if changes:
        record.changes.append({"step": start_step, "options": changes})
    atomic_json(opts.to_dict(vocab.size), p["options"])
    if not _holds_vocabulary(p["vocab"], vocab):
        vocab.save(p["vocab"] + ".tmp")
        os.replace(p["vocab"] + ".tmp", p["vocab"])
    record.save(p["run"])


def _holds_vocabulary(path, vocab):
    try:
        return Vocabulary.load(path).tokens == vocab.tokens
    except (ValueError, OSError):  # none, or not a vocabulary
        return False
