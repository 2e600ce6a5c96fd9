"""The run directory's guarantees (issue 22, found by a hostile tester), for every
backend through `run_directory`: one `train` at a time in a directory (a lock that a
killed process does not leave behind), no input overwritten by the run, no silent
restart of a run whose checkpoints are gone, a missing `[train]` extra said before the
first step, and a full disk said as a full disk."""

import errno
import fcntl
import os
import shutil
import signal
import sys

import pytest
import tensorflow as tf

from elmo_keras.io.paths import DiskSpaceError
from elmo_keras.training import train
from elmo_keras.training.errors import TrainingError
from elmo_keras.training.run_directory import (disk_errors, last_checkpoint_step,
                                                prepare_run, record_checkpoint, start_run)
from tests.conftest import FIXTURES
from tests.support.processes import cli, start_cli
from tests.support.training import (TRAIN, options_file, read_history,  # noqa: F401
                                    vocab_file, wait_for_steps)

FIX = FIXTURES / "bilm_training"


def _common(tmp_path, vocab):
    return ["--options", options_file(tmp_path, batch_size=8, unroll_steps=10), "--vocab",
            vocab, "--train", TRAIN, "--log-every", "1"]


def _last_line(result):
    return result.stderr.strip().splitlines()[-1]


def _snapshot(folder):
    """Every file under `folder` with its bytes."""
    found = {}
    for root, _, names in os.walk(folder):
        for name in names:
            path = os.path.join(root, name)
            with open(path, "rb") as f:
                found[os.path.relpath(path, folder)] = f.read()
    return found


def test_a_run_directory_in_use_is_refused_at_once_and_a_dead_holders_lock_is_not(
        tmp_path, vocab_file):
    run = tmp_path / "run"
    run.mkdir()
    # The vocabulary made in the run directory (bilm-tf's marker line in it) is the
    # run's own: read, not overwritten.
    own_vocab = run / "vocab.txt"
    own_vocab.write_text("!!!MAXTERMID\n" + open(vocab_file).read())
    vocab_bytes = own_vocab.read_bytes()
    common = _common(tmp_path, str(own_vocab))
    lock = run / ".lock"
    # Another process holds the directory: here this one, as `locked_run` holds it.
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        os.write(fd, f"{os.getpid()}\n".encode())
        for resume in ([], ["--resume"]):
            result = cli("train", *common, *resume, "--out", run, "--max-steps", "2")
            assert result.returncode == 2, result.stderr
            assert _last_line(result) == (
                f"error: {run}: another elmo-keras train is using this run directory "
                f"(pid {os.getpid()}, lock {lock}); wait for it to finish or choose "
                "another --out")
        assert sorted(os.listdir(run)) == [".lock", "vocab.txt"]
    finally:
        os.close(fd)
    # The lock file is left as a killed holder leaves it (its pid in it, no flock held):
    # it does not block.
    result = cli("train", *common, "--out", run, "--max-steps", "2")
    assert result.returncode == 0, result.stderr
    assert [e["step"] for e in read_history(run)] == [1, 2]
    assert own_vocab.read_bytes() == vocab_bytes
    assert not lock.exists()  # removed by the run that held it


@pytest.mark.slow
def test_two_processes_on_one_run_directory(tmp_path, vocab_file):
    # The tester's case: two `train --out SAME` at once both ran, one died in
    # MergeV2Checkpoints. The second now fails at once, naming the first; once the
    # first is killed, its lock does not block --resume.
    run = tmp_path / "run"
    common = _common(tmp_path, vocab_file)
    proc = start_cli("train", *common, "--out", run, "--max-steps", "400",
                     "--checkpoint-every", "1")
    try:
        wait_for_steps(str(run), 2, proc)
        result = cli("train", "--resume", "--out", run, "--max-steps", "500")
        assert result.returncode == 2, result.stderr
        assert _last_line(result).startswith(
            f"error: {run}: another elmo-keras train is using this run directory "
            f"(pid {proc.pid}, lock {run / '.lock'})")
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=60)
    assert (run / ".lock").exists()  # left by the killed run, with its pid
    step = last_checkpoint_step(str(run))
    result = cli("train", "--resume", "--out", run, "--max-steps", step + 2, "--log-every", "1")
    assert result.returncode == 0, result.stderr
    assert [e["step"] for e in read_history(run)] == list(range(1, step + 3))


def test_inputs_the_run_writes_are_refused_before_anything_is_written(tmp_path):
    common = ["--options", FIX / "options.json", "--vocab", FIX / "vocab.txt",
              "--max-steps", "1"]

    def refused(out, *args):
        before = _snapshot(out)
        result = cli("train", *common, *args, "--out", out)
        assert result.returncode == 2, result.stderr
        assert _snapshot(out) == before  # nothing written, the inputs as they were
        return _last_line(result)

    # `train --init-weights adapt/weights.hdf5 --out adapt` overwrote its input model.
    adapt = tmp_path / "adapt"
    adapt.mkdir()
    shutil.copy(FIX / "initial_weights.hdf5", adapt / "weights.hdf5")
    assert refused(adapt, "--train", TRAIN, "--init-weights", adapt / "weights.hdf5") == (
        f"error: {adapt}: the --init-weights file {adapt / 'weights.hdf5'} is the run's "
        "weights.hdf5, which training writes; refusing to overwrite an input: choose "
        "another --out or move the file")
    # `train --train c4/history.jsonl --out c4` truncated the corpus to 0 lines (a glob
    # that matches it too).
    c4 = tmp_path / "c4"
    c4.mkdir()
    shutil.copy(TRAIN, c4 / "history.jsonl")
    for pattern in (c4 / "history.jsonl", f"{c4}/*"):
        assert refused(c4, "--train", pattern) == (
            f"error: {c4}: the training file {c4 / 'history.jsonl'} is the run's "
            "history.jsonl, which training writes; refusing to overwrite an input: "
            "choose another --out or move the file")
    # Through links (device and inode): a hard link to --init-weights, a symlink to
    # the validation file, both named.
    data = tmp_path / "data"
    data.mkdir()
    shutil.copy(FIX / "initial_weights.hdf5", data / "w.hdf5")
    shutil.copy(TRAIN, data / "valid.txt")
    linked = tmp_path / "linked"
    linked.mkdir()
    os.link(data / "w.hdf5", linked / "softmax.hdf5")
    assert refused(linked, "--train", TRAIN, "--init-weights", data / "w.hdf5") == (
        f"error: {linked}: the --init-weights file {data / 'w.hdf5'} is the run's "
        f"softmax.hdf5 ({linked / 'softmax.hdf5'}), which training writes; refusing to "
        "overwrite an input: choose another --out or move the file")
    os.symlink(data / "valid.txt", linked / "learning_curve.png")
    os.remove(linked / "softmax.hdf5")
    assert f"the validation file {data / 'valid.txt'} is the run's learning_curve.png " \
           f"({linked / 'learning_curve.png'})" in refused(linked, "--train", TRAIN,
                                                           "--valid", data / "valid.txt")
    # A directory made for a refused run is not left behind.
    fresh = tmp_path / "new" / "run"
    result = cli("train", *common, "--train", tmp_path / "none*.txt", "--out", fresh)
    assert result.returncode == 2, result.stderr
    assert not (tmp_path / "new").exists()


def test_resume_is_refused_when_the_checkpoints_are_gone(tmp_path, vocab_file):
    # After `rm -rf RUN/checkpoints`, --resume started again from step 0 without a
    # word and dropped history entries.
    run = tmp_path / "run"
    common = _common(tmp_path, vocab_file)
    result = cli("train", *common, "--out", run, "--max-steps", "4", "--checkpoint-every", "2")
    assert result.returncode == 0, result.stderr
    shutil.rmtree(run / "checkpoints")
    before = _snapshot(run)
    result = cli("train", "--resume", "--out", run, "--max-steps", "6")
    assert result.returncode == 2, result.stderr
    assert _last_line(result) == (
        f"error: {run}: --resume refused: {run / 'history.jsonl'} goes to step 4 but no "
        f"checkpoint is left in {run / 'checkpoints'}; resuming would start again from "
        "step 0 and drop that history. Put the checkpoints back, or start a new run with "
        "another --out (--init-weights to start from this run's weights.hdf5)")
    assert _snapshot(run) == before


def _block(monkeypatch, *packages):
    """Makes `packages` (and their submodules) unimportable, as where they are not
    installed: a None in `sys.modules` makes `import` raise ImportError, also for a
    submodule imported before."""
    for name in list(sys.modules):
        if name.split(".")[0] in packages:
            monkeypatch.setitem(sys.modules, name, None)
    for name in packages:
        monkeypatch.setitem(sys.modules, name, None)


def test_without_the_train_extra_the_run_warns_first_and_goes_on(tmp_path, vocab_file,
                                                                 monkeypatch):
    # Installed without `[train]`, the run took its steps and died at the first log
    # (tf.summary.scalar imports tensorboard then: "unexpected TBNotInstalledError"),
    # writing no checkpoint.
    _block(monkeypatch, "tensorboard", "matplotlib")
    run = tmp_path / "run"
    with pytest.warns(UserWarning) as warned:
        result = cli("train", *_common(tmp_path, vocab_file), "--out", run,
                     "--max-steps", "2")
    assert result.returncode == 0, result.stderr
    said = [str(w.message) for w in warned]
    assert "no TensorBoard logs will be written: writing TensorBoard logs needs " \
           "tensorboard, which is not installed: pip install 'elmo-keras[train]'" in said
    assert "no learning_curve.png will be drawn: drawing the learning curve needs " \
           "matplotlib, which is not installed: pip install 'elmo-keras[train]'" in said
    assert [e["step"] for e in read_history(run)] == [1, 2]
    assert tf.train.latest_checkpoint(str(run / "checkpoints")).endswith("ckpt-2")
    assert (run / "weights.hdf5").exists()
    assert not (run / "logs").exists() and not (run / "learning_curve.png").exists()


@pytest.mark.slow  # trainings on a small file system
def test_a_full_disk_is_said_as_such(tmp_path, vocab_file, monkeypatch):
    # The original report was a real full disk: `train` said "out of memory; use a
    # smaller --batch-size", TensorFlow's SaveV2 raising ResourceExhaustedError "No
    # space left on device". Here the checkpoint's save raises that same error (after
    # leaving its temporary folder, as SaveV2 does), without filling a disk.
    run = tmp_path / "run"

    def full_disk(manager, checkpoint_number=None):
        temp = os.path.join(manager.directory, f"ckpt-{checkpoint_number}_temp")
        os.makedirs(temp, exist_ok=True)
        open(os.path.join(temp, "part-00000-of-00001.data-00000-of-00001"), "wb").close()
        raise tf.errors.ResourceExhaustedError(
            None, None, f"{temp}/part-00000-of-00001.data-00000-of-00001.tempstate1; No "
                        "space left on device [Op:SaveV2]")

    monkeypatch.setattr(tf.train.CheckpointManager, "save", full_disk)
    common = _common(tmp_path, vocab_file)
    result = cli("train", *common, "--out", run, "--max-steps", "3", "--checkpoint-every", "2")
    assert result.returncode == 2, result.stderr
    assert _last_line(result) == (
        f"error: no space left on the device while writing {run / 'checkpoints'}; free "
        "some space, then rerun with --resume")
    assert os.listdir(run / "checkpoints") == []  # the failed save's temporary files gone
    # Running out of memory is still said as such.
    def out_of_memory(manager, checkpoint_number=None):
        raise tf.errors.ResourceExhaustedError(None, None, "OOM when allocating tensor")

    monkeypatch.setattr(tf.train.CheckpointManager, "save", out_of_memory)
    result = cli("train", "--resume", "--out", run, "--max-steps", "3",
                 "--checkpoint-every", "2")
    assert _last_line(result) == "error: out of memory; use a smaller --batch-size"
    # With space again, --resume does what the message says (no checkpoint was
    # written: from step 0).
    monkeypatch.undo()
    result = cli("train", "--resume", "--out", run, "--max-steps", "3", "--log-every", "1")
    assert result.returncode == 0, result.stderr
    assert [e["step"] for e in read_history(run)] == [1, 2, 3]


def test_disk_errors_of_python_writes_name_the_path(tmp_path):
    # The array checkpoints of JAX and PyTorch (np.savez) and the history fail with OSError.
    target = tmp_path / "run" / "checkpoints"
    with pytest.raises(DiskSpaceError) as e:
        with disk_errors(target):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(target / "x.npz"))
    assert str(e.value) == (f"no space left on the device while writing {target}; free "
                            "some space, then rerun with --resume")
    assert isinstance(e.value.__cause__, OSError)
    with pytest.raises(KeyError):  # anything else passes through
        with disk_errors(target):
            raise KeyError("x")


def test_the_library_gives_the_command_lines_guarantees(tmp_path, vocab_file):
    # Called as the library, `train` refuses before it builds a model (every backend
    # runs this same code: `trainer.train`).
    trainer = train
    opts = options_file(tmp_path, batch_size=8, unroll_steps=10)
    run = tmp_path / "run"
    run.mkdir()
    shutil.copy(vocab_file, run / "history.jsonl")
    with pytest.raises(TrainingError, match="the vocabulary .* is the run's history.jsonl"):
        trainer(str(run), TRAIN, opts, str(run / "history.jsonl"), verbose=0)
    assert sorted(os.listdir(run)) == ["history.jsonl"]
    # A run that wrote a checkpoint at step 4, none left (and no history).
    gone = str(tmp_path / "gone")
    o, v, record, _, _ = prepare_run(gone, TRAIN, opts, vocab_file, None)
    start_run(gone, o, v, record, 0, {})
    record_checkpoint(gone, record, 4)
    with pytest.raises(TrainingError, match=r"--resume refused: .*run.json records a "
                       "checkpoint at step 4 but no checkpoint is left in"):
        trainer(gone, resume=True, verbose=0)
    fd = os.open(os.path.join(gone, ".lock"), os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        with pytest.raises(TrainingError, match=r"another elmo-keras train is using this "
                           r"run directory \(pid \?, lock "):
            trainer(gone, resume=True, verbose=0)
    finally:
        os.close(fd)
