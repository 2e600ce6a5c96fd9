"""The loop `trainer.train` runs over a backend's step: epochs and their progress bar,
the log entries of `callbacks`, validation after each epoch, checkpoints, and Ctrl-C /
SIGTERM. It holds no backend."""

import math
import time

import keras
import numpy as np

from elmo_keras.training.errors import TrainingInterrupted
from elmo_keras.training.stop_signals import StopSignals


def print_run_start(stats, vocab, run, opts, total_steps, start, changes, where=""):
    """The corpus and the plan of a new run, or where a resumed run continues (and the
    options it changes)."""
    if start == 0:
        print(f"corpus: {stats.n_files} file(s), {stats.n_sentences} sentences, "
              f"{stats.n_tokens} tokens ({stats.n_oov} outside the vocabulary of "
              f"{vocab.size}); {run.steps_per_epoch} steps per epoch of "
              f"{opts.batch_size}x{opts.unroll_steps} tokens; {total_steps} steps in all"
              + (f" ({where})" if where else ""))
    else:
        print(f"resuming at step {start} of {total_steps}")
    if changes:
        print("changed options: " + ", ".join(f"{k} {old} -> {new}"
                                              for k, (old, new) in changes.items()))


def _valid_entry(step, epoch, result):
    entry = {"step": step, "epoch": epoch}
    for prefix, r in (("valid_perplexity", result),
                      ("valid_stateless_perplexity", result["stateless"])):
        entry[prefix] = r["average"]
        entry[prefix + "_forward"] = r["forward"]
        entry[prefix + "_backward"] = r["backward"]
    return entry


def _print_validation(r):
    s = r["stateless"]
    print(f"validation perplexity, stateless (from zero states, as ELMo embeds): "
          f"forward={s['forward']:.2f} backward={s['backward']:.2f} "
          f"average={s['average']:.2f}; stateful (bilm-tf's protocol): "
          f"forward={r['forward']:.2f} backward={r['backward']:.2f} "
          f"average={r['average']:.2f}")


def run_steps(train_step, save, evaluate, callbacks, *, steps_per_epoch, start,
              total_steps, tokens_per_step, log_every, checkpoint_every, verbose):
    """Runs steps `start` .. `total_steps - 1` of a run.

    Args:
        train_step: `train_step(step)` runs step number `step` on the next batch and
            returns `(sums, grad_norm)`: the forward and backward loss sums (2 numbers).
        save: `save()` writes a checkpoint and returns its path.
        evaluate: `evaluate()` returns `evaluation.evaluate_lm`'s result for the
            current weights, or None: the run has no validation files.
        callbacks: objects with `on_log(entry)` and `on_end()` (see `callbacks`).
        steps_per_epoch: the run's (`RunRecord.steps_per_epoch`).
        tokens_per_step: `batch_size * unroll_steps`, the loss sums' denominator.
        log_every, checkpoint_every, verbose: as `trainer.train`.

    Returns:
        dict: `step`, `train_perplexity`, `valid`, `tokens_per_sec`, `seconds`, as
        `trainer.train` returns them.

    Raises:
        TrainingInterrupted: after a SIGINT/SIGTERM, once the checkpoint is written
            and the callbacks ended.
    """
    def log(entry):
        for c in callbacks:
            c.on_log(entry)

    stop = StopSignals()
    step = start
    acc, acc_steps, t_log = np.zeros(2), 0, time.perf_counter()
    t0, last_valid, last_train_ppl, bar = time.perf_counter(), None, None, None
    tokens_per_sec = None
    with stop.installed():
        while step < total_steps:
            epoch, in_epoch = divmod(step, steps_per_epoch)
            epoch_steps = min(steps_per_epoch, total_steps - epoch * steps_per_epoch)
            if bar is None:
                if verbose:
                    print(f"Epoch {epoch + 1}/{math.ceil(total_steps / steps_per_epoch)}")
                bar = keras.utils.Progbar(epoch_steps, verbose=verbose,
                                          stateful_metrics=["ppl", "tok/s"])
            sums, norm = train_step(step)
            step += 1
            sums = np.asarray(sums, np.float64) / tokens_per_step
            acc += sums
            acc_steps += 1
            bar.update(in_epoch + 1, values=[("loss", float(sums.mean())),
                                             ("ppl", float(np.exp(sums.mean())))])
            if step % log_every == 0 or step == total_steps:
                tokens_per_sec = acc_steps * tokens_per_step / (time.perf_counter() - t_log)
                losses = acc / acc_steps
                last_train_ppl = float(np.exp(losses.mean()))
                log({"step": step, "epoch": step / steps_per_epoch,
                     "train_perplexity": last_train_ppl,
                     "train_perplexity_forward": float(np.exp(losses[0])),
                     "train_perplexity_backward": float(np.exp(losses[1])),
                     "grad_norm": float(norm), "tokens_per_sec": tokens_per_sec})
                acc, acc_steps, t_log = np.zeros(2), 0, time.perf_counter()
            if in_epoch + 1 == epoch_steps:
                bar = None
                result = evaluate()
                if result is not None:
                    last_valid = result
                    log(_valid_entry(step, step / steps_per_epoch, result))
                    if verbose:
                        _print_validation(result)
            if step % checkpoint_every == 0 and step < total_steps:
                save()
            if stop.requested:
                path = save()
                for c in callbacks:
                    c.on_end()
                raise TrainingInterrupted(step, path)
    return {"step": step, "train_perplexity": last_train_ppl, "valid": last_valid,
            "tokens_per_sec": tokens_per_sec, "seconds": time.perf_counter() - t0}
