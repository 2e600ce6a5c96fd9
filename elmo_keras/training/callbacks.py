"""What a run reports at each log interval and validation: `history.jsonl` with its
learning curve, and TensorBoard logs (the TensorFlow trainer's: TensorFlow is imported
by `TensorBoardLog` only, so the JAX trainer runs without it). Only the chief of a
cluster writes them.

The learning curve needs matplotlib and the TensorBoard logs need tensorboard (the
`[train]` extra): where one is missing, a warning says so when the callback is made,
before the first step, and the run goes on without that output.
"""

import os
import warnings

from elmo_keras.extras import require
from elmo_keras.training.plots import plot_learning_curve
from elmo_keras.training.run_directory import append_history, read_history, write_history


def _missing(module, purpose):
    """The ImportError of `extras.require` if `module` cannot be imported, else None."""
    try:
        require(module, "train", purpose)
    except ImportError as e:
        return e
    return None


class HistoryLog:
    """`history.jsonl` (one JSON object per log interval or validation) and
    `learning_curve.png`, drawn at the end and on an interruption (with a warning
    at the start instead where matplotlib is not installed).

    Args:
        paths: the run's `run_directory.run_paths`.
        start_step: a resumed run keeps the entries up to its checkpoint's step.
        enabled: write files (the chief) or only keep the entries.
    """

    def __init__(self, paths, start_step, enabled=True):
        self.path, self.curve, self.enabled = paths["history"], paths["curve"], enabled
        self.plot = enabled
        if enabled:
            error = _missing("matplotlib", "drawing the learning curve")
            if error is not None:  # the run's results stand without it
                warnings.warn(f"no {os.path.basename(self.curve)} will be drawn: {error}",
                              stacklevel=2)
                self.plot = False
        self.entries = read_history(self.path, start_step)
        if enabled:
            write_history(self.path, self.entries)

    def on_log(self, entry):
        self.entries.append(entry)
        if self.enabled:
            append_history(self.path, entry)

    def on_end(self):
        if self.plot and self.entries:
            plot_learning_curve(self.entries, self.curve)


class TensorBoardLog:
    """TensorBoard scalars: every numeric key of a training entry under `logs/train`,
    the validation perplexities under `logs/valid` (none, with a warning at the start,
    where tensorboard is not installed: TensorFlow writes scalars through it)."""

    def __init__(self, logs_dir, enabled=True):
        import tensorflow as tf  # the TensorFlow trainer's only

        self._tf = tf
        self.train = self.valid = None
        if not enabled:
            return
        # tf.summary.scalar imports tensorboard at its first call, and would fail then.
        error = _missing("tensorboard.summary.v2", "writing TensorBoard logs")
        if error is not None:
            warnings.warn(f"no TensorBoard logs will be written: {error}", stacklevel=2)
            return
        self.train, self.valid = (tf.summary.create_file_writer(os.path.join(logs_dir, name))
                                  for name in ("train", "valid"))

    def on_log(self, entry):
        if self.train is None:
            return
        is_valid = any(k.startswith("valid_") for k in entry)
        with (self.valid if is_valid else self.train).as_default(step=entry["step"]):
            for k, v in entry.items():
                if k not in ("step", "epoch"):
                    self._tf.summary.scalar(k[len("valid_"):] if is_valid else k, v)

    def on_end(self):
        if self.train is not None:
            self.train.flush()
            self.valid.flush()
