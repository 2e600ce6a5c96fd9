"""Every failure of the command line ends with one clear line and exit code 2 (usage or
input), 130 (interrupted) or 1 (unexpected, traceback with --debug); never a traceback
otherwise. In-process (the subprocess cases are in
tests/io/test_embedding_file_reliability.py)."""

import os
import signal

import h5py
import numpy as np
import pytest

from elmo_keras.apps import cli
from elmo_keras.apps.cli import main
from tests.conftest import TINY
from tests.support.interrupts import sigint_inside_a_library_call

MODEL = ["--options", str(TINY / "options.json"), "--weights", str(TINY / "lm_weights.hdf5")]


def _last(capsys):
    err = capsys.readouterr().err
    assert "Traceback" not in err, err
    return err.strip().splitlines()[-1]


def test_usage_errors_exit_2(tmp_path, capsys):
    (tmp_path / "in.txt").write_text("a b\n")
    base = ["embed", str(tmp_path / "in.txt"), str(tmp_path / "o.hdf5"), *MODEL]
    assert main(base + ["--batch-size", "0"]) == 2
    assert _last(capsys) == "error: --batch-size and --chunk-lines must be >= 1, got 0 and 10000"
    assert main(base + ["--stateful", "--resume"]) == 2
    assert "a stateful run cannot resume" in _last(capsys)
    assert main(base + ["--vocab-cache", str(tmp_path / "none.txt")]) == 2
    assert _last(capsys) == f"error: {tmp_path / 'none.txt'}: vocabulary file does not exist"
    assert main(["embed", str(tmp_path / "in.txt"), str(tmp_path / "o.hdf5"), "--weights",
                 MODEL[3]]) == 2
    assert "options (options.json) and weights (weights.hdf5) go together" in _last(capsys)
    assert not list(tmp_path.glob("o.hdf5*"))


def test_huge_stateful_batch_is_said_not_raised(tmp_path, capsys):
    (tmp_path / "in.txt").write_text("a b\nc\n")
    assert main(["embed", str(tmp_path / "in.txt"), str(tmp_path / "o.hdf5"), "--stateful",
                 "--batch-size", "1000000000", *MODEL]) == 2
    assert _last(capsys) == (
        "error: out of memory while building the model for --batch-size 1000000000 with "
        "--stateful (LSTM states are kept for every row); use a smaller --batch-size")


def test_interrupt_unexpected_error_and_debug(tmp_path, capsys, monkeypatch):
    (tmp_path / "in.txt").write_text("a b\n")
    args = ["embed", str(tmp_path / "in.txt"), str(tmp_path / "o.hdf5"), *MODEL]

    def interrupted(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "_load_model", interrupted)
    assert main(args) == 130
    assert _last(capsys) == "interrupted"

    def broken(*a, **k):
        raise RuntimeError("something broke\non two lines")

    monkeypatch.setattr(cli, "_load_model", broken)
    assert main(args) == 1
    assert _last(capsys) == ("error: unexpected RuntimeError: something broke on two lines "
                             "(run with --debug or ELMO_KERAS_DEBUG=1 for the traceback)")
    for extra, env in ((["--debug"], "0"), ([], "1")):
        monkeypatch.setenv("ELMO_KERAS_DEBUG", env)
        assert main(args + extra) == 1
        err = capsys.readouterr().err
        assert "Traceback (most recent call last)" in err and "in broken" in err
        assert err.strip().splitlines()[-1].startswith("error: unexpected RuntimeError")
    monkeypatch.setenv("ELMO_KERAS_DEBUG", "1")
    assert main(["--debug"] + args) == 1  # --debug before the command too


@pytest.fixture
def python_ctrl_c_handler():
    """Python's own Ctrl-C handler while the test runs, as in a terminal (a job started
    in the background inherits SIGINT ignored, and the CLI then leaves it so)."""
    before = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, before)


def test_ctrl_c_turned_into_a_library_error_is_still_the_interruption(
        tmp_path, capsys, monkeypatch, python_ctrl_c_handler):
    """Ctrl-C arriving inside a library call that turns exceptions into its own (NumPy's
    structured-array comparison turns KeyboardInterrupt into a TypeError) is reported
    as the interruption, exit 130, not as "unexpected TypeError", exit 1; and the
    handler is Python's own again afterwards."""
    (tmp_path / "in.txt").write_text("a b\n")
    args = ["embed", str(tmp_path / "in.txt"), str(tmp_path / "o.hdf5"), *MODEL]

    def library_call(*a, **k):
        sigint_inside_a_library_call()
        raise AssertionError("no KeyboardInterrupt")

    monkeypatch.setattr(cli, "_load_model", library_call)
    assert main(args) == 130
    assert _last(capsys) == "interrupted"
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    # A TypeError without Ctrl-C is still unexpected.

    def broken(*a, **k):
        raise TypeError("Cannot compare structured arrays")

    monkeypatch.setattr(cli, "_load_model", broken)
    assert main(args) == 1


def test_interrupted_embedding_keeps_its_chunks(tmp_path, capsys, monkeypatch):
    import elmo_keras.apps.embedding_file as ef

    (tmp_path / "in.txt").write_text("a b\nc d\ne\n")
    real, calls = ef._embed_chunk, []

    def interrupted(*args):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        real(*args)

    monkeypatch.setattr(ef, "_embed_chunk", interrupted)
    out = tmp_path / "o.hdf5"
    assert main(["embed", str(tmp_path / "in.txt"), str(out), "--chunk-lines", "1",
                 *MODEL]) == 130
    assert _last(capsys) == (f"interrupted: the finished chunks are kept in {out}.parts; "
                             "rerun the same command with --resume to continue")
    assert sorted(p.name for p in (tmp_path / "o.hdf5.parts").iterdir()) == [
        ".lock", "00000000.hdf5", "fingerprint.json"]


def test_merge_part_by_part_when_space_is_short(tmp_path, caplog, monkeypatch):
    import logging

    import elmo_keras.apps.embedding_file as ef
    from elmo_keras import load_bilm

    model = load_bilm(*MODEL[1::2])
    (tmp_path / "in.txt").write_text("The bank .\nA river\n\nHi there you\n" * 3)
    ef.embed_file(model, tmp_path / "in.txt", tmp_path / "ref.hdf5", chunk_lines=3,
                  progress=False)
    removed = []
    real_remove = os.remove

    def remove(path):
        removed.append(os.path.basename(path))
        real_remove(path)

    monkeypatch.setattr(ef.os, "remove", remove)
    monkeypatch.setattr(ef, "free_bytes", lambda path: 1 << 20)  # < parts + merged + margin
    caplog.set_level(logging.INFO, logger="elmo_keras")  # the library's notes: logged
    ef.embed_file(model, tmp_path / "in.txt", tmp_path / "out.hdf5", chunk_lines=3,
                  progress=False)
    assert "merging chunk by chunk, deleting each once copied" in caplog.text
    assert removed[:4] == ["00000000.hdf5", "00000001.hdf5", "00000002.hdf5", "00000003.hdf5"]
    with h5py.File(tmp_path / "ref.hdf5") as a, h5py.File(tmp_path / "out.hdf5") as b:
        assert sorted(a) == sorted(b)
        for key in a:
            np.testing.assert_array_equal(a[key][...], b[key][...])
    # Too little space even part by part: one error before the merge, the parts kept.
    import elmo_keras.io.paths as paths

    monkeypatch.setattr(ef, "free_bytes", lambda path: 1000)
    monkeypatch.setattr(paths, "free_bytes", lambda path: 1 << 30 if "parts" in path else 1000)
    with pytest.raises(ef.DiskSpaceError, match=r"not enough disk space to merge the chunks "
                                                r"into .*out2\.hdf5: needs about 1\.\d MB"):
        ef.embed_file(model, tmp_path / "in.txt", tmp_path / "out2.hdf5", chunk_lines=3,
                      progress=False, resume=True)
    assert len(list((tmp_path / "out2.hdf5.parts").glob("0*.hdf5"))) == 4


def test_one_error_policy_maps_each_named_error():
    """`error_exit` is the one place errors become exit codes and lines."""
    import errno

    from elmo_keras.extras import MissingExtraError
    from elmo_keras.io.paths import DiskSpaceError
    from elmo_keras.training.errors import TrainingInterrupted

    full = OSError(errno.ENOSPC, "No space left on device", "out.hdf5")
    assert cli.error_exit(full) == (2, "error: disk full: out.hdf5: No space left on device")
    assert cli.error_exit(DiskSpaceError("no space left on the device while writing x")) == (
        2, "error: no space left on the device while writing x")
    assert cli.error_exit(MissingExtraError("plots need matplotlib: pip install x")) == (
        2, "error: plots need matplotlib: pip install x")
    assert cli.error_exit(MemoryError()) == (2, "error: out of memory; use a smaller "
                                                "--batch-size")
    assert cli.error_exit(TrainingInterrupted(3, "ckpt-3"))[0] == 130
    doing = cli._Doing()
    doing.interrupted = lambda: "kept"
    assert cli.error_exit(KeyboardInterrupt(), doing) == (130, "interrupted: kept")
    assert cli.error_exit(ImportError("no module named x"))[0] == 1  # a bug, not an extra


def test_train_reruns_the_same_command_line_on_another_backend(monkeypatch, tmp_path):
    """`train --backend B` on another backend runs the same arguments again in a process
    with KERAS_BACKEND=B (no argparse internals)."""
    import subprocess

    import keras

    other = "jax" if keras.backend.backend() != "jax" else "tensorflow"
    seen = {}

    def run(argv, env):
        seen.update(argv=argv, backend=env["KERAS_BACKEND"])
        return subprocess.CompletedProcess(argv, 0)

    monkeypatch.setattr(subprocess, "run", run)
    args = ["train", "--out", str(tmp_path / "run"), "--max-steps", "2", "--backend", other]
    assert main(args) == 0
    assert seen["argv"][1:] == ["-m", "elmo_keras", *args] and seen["backend"] == other
