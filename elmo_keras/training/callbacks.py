"""What a run reports at each log interval and validation: `history.jsonl` with its
learning curve, and TensorBoard logs (the TensorFlow trainer's: TensorFlow is imported
by `TensorBoardLog` only, so the JAX trainer runs without it). Only the chief of a
cluster writes them."""

import os
import warnings

from elmo_keras.training.plots import plot_learning_curve
from elmo_keras.training.run_directory import append_history, read_history, write_history


class HistoryLog:
    """`history.jsonl` (one JSON object per log interval or validation) and
    `learning_curve.png`, drawn at the end and on an interruption (with a warning
    instead where matplotlib is not installed).

    Args:
        paths: the run's `run_directory.run_paths`.
        start_step: a resumed run keeps the entries up to its checkpoint's step.
        enabled: write files (the chief) or only keep the entries.
    """

    def __init__(self, paths, start_step, enabled=True):
        self.path, self.curve, self.enabled = paths["history"], paths["curve"], enabled
        self.entries = read_history(self.path, start_step)
        if enabled:
            write_history(self.path, self.entries)

    def on_log(self, entry):
        self.entries.append(entry)
        if self.enabled:
            append_history(self.path, entry)

    def on_end(self):
        if self.enabled and self.entries:
            try:
                plot_learning_curve(self.entries, self.curve)
            except ImportError as e:  # no matplotlib: the run's results stand without it
                warnings.warn(f"no {os.path.basename(self.curve)}: {e}", stacklevel=2)


class TensorBoardLog:
    """TensorBoard scalars: every numeric key of a training entry under `logs/train`,
    the validation perplexities under `logs/valid`."""

    def __init__(self, logs_dir, enabled=True):
        import tensorflow as tf  # the TensorFlow trainer's only

        self._tf = tf

        def writer(name):
            if not enabled:
                return tf.summary.create_noop_writer()
            return tf.summary.create_file_writer(os.path.join(logs_dir, name))

        self.train, self.valid = writer("train"), writer("valid")

    def on_log(self, entry):
        is_valid = any(k.startswith("valid_") for k in entry)
        with (self.valid if is_valid else self.train).as_default(step=entry["step"]):
            for k, v in entry.items():
                if k not in ("step", "epoch"):
                    self._tf.summary.scalar(k[len("valid_"):] if is_valid else k, v)

    def on_end(self):
        self.train.flush()
        self.valid.flush()
