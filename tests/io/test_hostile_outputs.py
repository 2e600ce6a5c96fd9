"""The output policy of every writer (`elmo_keras.io.paths`), against a hostile user:
special files are never replaced, no output aliases an input (the model's files
included), no file is deleted through a link or overwritten unless the writer wrote it,
outputs get the mode the umask gives, and each refusal names the real problem in one
line (exit code 2).

Commands run in this process (`cli`); the checks refuse before any model is loaded, so
most cases take milliseconds. Device nodes and FIFOs are made inside `tmp_path`. A case
that could block on a FIFO runs under `_never_blocks_on`, which releases a blocked open
after a while: the test then fails instead of hanging.
"""

import contextlib
import errno
import hashlib
import io
import os
import pathlib
import shutil
import stat
import sys
import threading

import h5py
import numpy as np
import pytest

from elmo_keras.io import paths
from elmo_keras.io.paths import (
    InputFileError,
    PathConflictError,
    atomic_output,
    atomic_output_dir,
    check_output_dir,
)
from tests.conftest import TINY
from tests.support import processes
from tests.support.processes import cli
from tests.support.special_files import NULL, char_device

OPTIONS, WEIGHTS = TINY / "options.json", TINY / "lm_weights.hdf5"
MODEL = ["--options", str(OPTIONS), "--weights", str(WEIGHTS)]
ROOT_USER = os.geteuid() == 0


def last_line(result):
    """The one line a command ends with on stderr (never a traceback)."""
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    return [line for line in result.stderr.splitlines() if line.strip()][-1]


def _sha(path):
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


@contextlib.contextmanager
def _never_blocks_on(fifo, after=20):
    """Fails the test, rather than hanging it, if the block opens `fifo`: after `after`
    seconds a thread opens the FIFO's ends (non-blocking), which releases an open
    blocked on it, and the test is failed."""
    stop, released = threading.Event(), []

    def release():
        while not stop.wait(0.1 if released else after):
            for flags in (os.O_RDONLY | os.O_NONBLOCK, os.O_WRONLY | os.O_NONBLOCK):
                with contextlib.suppress(OSError):
                    os.close(os.open(fifo, flags))
            released.append(True)

    thread = threading.Thread(target=release, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
    assert not released, f"the command blocked opening the FIFO {fifo}"


@pytest.fixture
def umask():
    """Sets the umask for a test (`umask(0o027)`), restored after it."""
    saved = os.umask(0o022)
    os.umask(saved)
    yield lambda mask: os.umask(mask)
    os.umask(saved)


def _mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


# 1. Special files (devices, FIFOs) as outputs: refused, never replaced.

def test_special_files_are_never_replaced(tmp_path):
    (tmp_path / "in.txt").write_text("The bank .\nA river\n")
    null = char_device(tmp_path / "null", NULL)
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    os.symlink(null, tmp_path / "link.hdf5")
    listing = sorted(os.listdir(tmp_path))
    said = "refusing to replace it with the {} (only regular files are written), choose " \
           "another output path"
    with _never_blocks_on(fifo):
        for output, kind in ((null, "a character device"), (fifo, "a FIFO (named pipe)"),
                             (tmp_path / "link.hdf5",
                              f"a character device (a symbolic link to {null})")):
            p = cli("embed", tmp_path / "in.txt", output, *MODEL)
            assert p.returncode == 2
            assert last_line(p) == f"error: {output}: is {kind}; {said.format('output')}"
            p = cli("vocab", tmp_path / "in.txt", output)
            assert p.returncode == 2
            assert last_line(p) == f"error: {output}: is {kind}; " \
                                   f"{said.format('vocabulary file')}"
        # The library refuses too, whoever calls it.
        for target in (null, fifo):
            with pytest.raises(PathConflictError, match="only regular files are written"):
                with atomic_output(target):
                    pass
        with pytest.raises(PathConflictError, match=r"is a FIFO \(named pipe\), not a dir"):
            check_output_dir(fifo, [])
    assert stat.S_ISCHR(os.stat(null).st_mode) and os.stat(null).st_rdev == os.makedev(1, 3)
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)
    assert sorted(os.listdir(tmp_path)) == listing  # no temporary file, no .parts


# 2. OUTPUT.parts: never a link, never someone else's files.

def test_parts_folder_is_never_followed_nor_emptied_of_foreign_files(tmp_path):
    (tmp_path / "in.txt").write_text("The bank .\nA river\n")
    user = tmp_path / "user"
    user.mkdir()
    (user / "00000000.hdf5").write_text("my own file")
    (user / "fingerprint.json").write_text('{"format": 1}')
    out = tmp_path / "out.hdf5"
    os.symlink(user, tmp_path / "out.hdf5.parts")
    for extra in ([], ["--resume"]):
        p = cli("embed", tmp_path / "in.txt", out, *MODEL, *extra)
        assert p.returncode == 2
        assert last_line(p) == (
            f"error: {out}.parts: is a symbolic link (to {user}); the parts directory "
            "(OUTPUT.parts) is a folder elmo-keras deletes its own files from, so it never "
            "follows a link there: remove the link or choose another output")
    assert sorted(os.listdir(user)) == ["00000000.hdf5", "fingerprint.json"]
    assert (user / "00000000.hdf5").read_text() == "my own file"
    os.remove(tmp_path / "out.hdf5.parts")
    # A real folder holding chunk-named files without a run's fingerprint: not ours.
    parts = tmp_path / "out.hdf5.parts"
    parts.mkdir()
    (parts / "00000000.hdf5").write_text("my own file")
    p = cli("embed", tmp_path / "in.txt", out, *MODEL)
    assert p.returncode == 2
    assert last_line(p) == (
        f"error: {parts}: holds chunk files (00000000.hdf5) but no readable fingerprint.json, "
        "so what made them is unknown and elmo-keras neither resumes nor deletes them: move "
        "them away or choose another output")
    assert (parts / "00000000.hdf5").read_text() == "my own file"
    # Links inside it (a chunk name, the lock) are someone else's: never followed.
    os.remove(parts / "00000000.hdf5")
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    os.symlink(victim, parts / "00000001.hdf5")
    p = cli("embed", tmp_path / "in.txt", out, *MODEL)
    assert p.returncode == 2
    assert last_line(p) == (f"error: {parts}: holds files elmo-keras did not write "
                            "(00000001.hdf5); move them away or choose another output")
    os.remove(parts / "00000001.hdf5")
    os.remove(parts / ".lock")  # the earlier runs' (a run leaves it when it fails)
    os.symlink(victim, parts / ".lock")
    p = cli("embed", tmp_path / "in.txt", out, *MODEL)
    assert p.returncode == 2
    assert last_line(p) == (f"error: {parts / '.lock'}: is not a regular file, so elmo-keras "
                            "did not write it; move it away or choose another output")
    assert victim.read_text() == "keep me" and not out.exists()


# 3. Every output against every input, the model's files included.

def test_plots_of_the_library_go_through_the_output_policy(tmp_path):
    """`ScalarMixHistory.plot` and the learning curve of `train` are saved by
    `save_figure`: a FIFO there is refused (not opened: nobody reads it), a PNG is
    written whole."""
    from elmo_keras.callbacks import ScalarMixHistory
    from elmo_keras.training.plots import plot_learning_curve

    history = ScalarMixHistory()
    history.weights, history.gammas = [np.array([0.2, 0.3, 0.5])] * 2, [1.0, 1.5]
    os.mkfifo(tmp_path / "fifo.png")
    for draw in (history.plot, lambda path: plot_learning_curve(
            [{"step": 1, "train_perplexity": 90.0}, {"step": 2, "train_perplexity": 40.0}],
            path)):
        with _never_blocks_on(tmp_path / "fifo.png"), pytest.raises(PathConflictError,
                                                                   match="is a FIFO"):
            draw(tmp_path / "fifo.png")
        draw(tmp_path / "plot.png")
        assert open(tmp_path / "plot.png", "rb").read(4) == b"\x89PNG"
    assert stat.S_ISFIFO(os.stat(tmp_path / "fifo.png").st_mode)
    assert sorted(os.listdir(tmp_path)) == ["fifo.png", "plot.png"]


def test_demo_plot_never_overwrites_the_model(tmp_path):
    model = tmp_path / "m"
    model.mkdir()
    shutil.copy(OPTIONS, model / "options.json")
    shutil.copy(WEIGHTS, model / "weights.hdf5")
    os.symlink("weights.hdf5", model / "plot.png")
    (tmp_path / "corpus.txt").write_text("a b\n")
    os.link(tmp_path / "corpus.txt", tmp_path / "hard.png")
    for args, said in (
            (["--model", model, "--plot", model / "plot.png"],
             f"error: {model / 'plot.png'}: the plot is the same file as an input "
             f"({model / 'weights.hdf5'}); refusing to overwrite it, choose another output path"),
            (["--model", model, "--corpus", tmp_path / "corpus.txt", "--plot",
              tmp_path / "hard.png"],
             f"error: {tmp_path / 'hard.png'}: the plot is the same file as an input "
             f"({tmp_path / 'corpus.txt'}); refusing to overwrite it, choose another output "
             "path")):
        p = cli("demo", *args)
        assert p.returncode == 2 and last_line(p) == said
    assert _sha(model / "weights.hdf5") == _sha(WEIGHTS)
    assert (tmp_path / "corpus.txt").read_text() == "a b\n"


# 4. export-hub writes only into a new or empty directory, whole or not at all.

def test_export_hub_never_overwrites_a_users_directory(tmp_path):
    hub = tmp_path / "hub"
    (hub / "variables").mkdir(parents=True)
    (hub / "variables" / "variables.index").write_text("my own file")
    p = cli("export-hub", hub, *MODEL)
    assert p.returncode == 2
    assert last_line(p) == (
        f"error: {hub}: is not empty (holds variables); the export directory must be a new "
        "or empty directory so that no file of yours is overwritten, choose another")
    assert (hub / "variables" / "variables.index").read_text() == "my own file"
    assert sorted(os.listdir(tmp_path)) == ["hub"]  # no temporary directory left
    # The library refuses too, without building anything.
    from elmo_keras import load_bilm
    from elmo_keras.models.elmo.elmo_hub_export import export_hub

    with pytest.raises(PathConflictError, match="is not empty"):
        export_hub(load_bilm(OPTIONS, WEIGHTS), hub)


def test_atomic_output_dir(tmp_path, umask):
    umask(0o027)
    for kind in ("new", "empty", "link"):
        out = tmp_path / kind
        if kind != "new":
            (tmp_path / "target").mkdir(exist_ok=True)
        if kind == "empty":
            out.mkdir()
        if kind == "link":
            os.symlink(tmp_path / "target", out)
        with atomic_output_dir(out) as staging:
            assert os.path.dirname(staging) == str(tmp_path) and not os.path.exists(out / "x")
            pathlib.Path(staging, "x").write_text(kind)
        assert (out / "x").read_text() == kind and _mode(os.path.realpath(out)) == 0o750
        if kind == "link":
            assert os.path.islink(out)
    # Failing in the block or finding the target filled meanwhile: nothing written, the
    # staging folder gone.
    with pytest.raises(RuntimeError):
        with atomic_output_dir(tmp_path / "failed") as staging:
            pathlib.Path(staging, "x").write_text("half")
            raise RuntimeError("export broke")
    (tmp_path / "raced").mkdir()
    with pytest.raises(PathConflictError, match="raced: is not empty any more"):
        with atomic_output_dir(tmp_path / "raced"):
            (tmp_path / "raced" / "theirs").write_text("theirs")
    assert os.listdir(tmp_path / "raced") == ["theirs"]
    assert sorted(os.listdir(tmp_path)) == ["empty", "link", "new", "raced", "target"]


# 5. Outputs get the mode the umask gives, not 0600.

def test_outputs_honour_the_umask(tmp_path, umask):
    from elmo_keras.apps.demo import plot_similarities

    (tmp_path / "in.txt").write_text("The bank .\nA river\n")
    for mask in (0o022, 0o002, 0o077):
        umask(mask)
        p = cli("vocab", tmp_path / "in.txt", tmp_path / f"v{mask:o}.txt")
        assert p.returncode == 0, p.stderr[-2000:]
        assert _mode(tmp_path / f"v{mask:o}.txt") == 0o666 & ~mask
    umask(0o027)
    (tmp_path / "out.hdf5").write_text("an earlier output, replaced")
    os.chmod(tmp_path / "out.hdf5", 0o600)
    p = cli("embed", tmp_path / "in.txt", tmp_path / "out.hdf5", *MODEL)
    assert p.returncode == 0, p.stderr[-2000:]
    assert _mode(tmp_path / "out.hdf5") == 0o640
    with h5py.File(tmp_path / "out.hdf5", "r") as f:
        assert sorted(f) == ["0", "1", "sentence_to_index"]
    results = {"bank": ([("river", ["a"]), ("money", ["b"])],
                        np.random.default_rng(0).normal(size=(2, 2, 4)), None, None)}
    plot_similarities(results, ["0 char CNN", "1 LSTM 1"], tmp_path / "plot.png")
    assert open(tmp_path / "plot.png", "rb").read(4) == b"\x89PNG"
    assert _mode(tmp_path / "plot.png") == 0o640
    with atomic_output(tmp_path / "plain.txt") as tmp:
        assert _mode(tmp) == 0o640  # created so, before anything is written
    assert not [n for n in os.listdir(tmp_path) if n.endswith(".tmp")]


# 6. Messages that name the real problem.

def test_inputs_that_are_not_regular_files_are_said_for_what_they_are(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "a.txt").write_text("a b\n")
    fifo = tmp_path / "fifo.txt"
    os.mkfifo(fifo)
    with _never_blocks_on(fifo):
        for args, said in (
                (["embed", data, data / "o.hdf5", *MODEL],
                 f"error: {data}: input file is a directory, not a file; give the "
                 "input file itself"),
                (["embed", data, tmp_path / "o.hdf5", *MODEL],
                 f"error: {data}: input file is a directory, not a file; give the "
                 "input file itself"),
                (["embed", fifo, tmp_path / "o.hdf5", *MODEL],
                 f"error: {fifo}: input file is a FIFO (named pipe), not a regular file; "
                 "refusing to read it"),
                (["embed", data / "a.txt", tmp_path / "o.hdf5", "--vocab-cache", fifo, *MODEL],
                 f"error: {fifo}: vocabulary file is a FIFO (named pipe), not a regular file; "
                 "refusing to read it"),
                (["vocab", fifo, tmp_path / "v.txt"],
                 f"error: {fifo}: corpus file is a FIFO (named pipe), not a regular file; "
                 "refusing to read it"),
                (["vocab", data, tmp_path / "v.txt"],
                 f"error: {data}: corpus file is a directory, not a file; give the "
                 "corpus file itself"),
                (["demo", "--corpus", fifo, *MODEL],
                 f"error: {fifo}: corpus file is a FIFO (named pipe), not a regular file; "
                 "refusing to read it"),
                (["evaluate", data, "--test", fifo],
                 f"error: {fifo}: test file is a FIFO (named pipe), not a regular file; "
                 "refusing to read it")):
            p = cli(*args)
            assert p.returncode == 2 and last_line(p) == said, (args, p.stderr[-2000:])
        from elmo_keras import load_bilm
        from elmo_keras.apps.embedding_file import embed_file

        with pytest.raises(InputFileError, match="is a FIFO"):
            embed_file(load_bilm(OPTIONS, WEIGHTS), fifo, tmp_path / "o.hdf5", progress=False)
    assert sorted(os.listdir(tmp_path)) == ["data", "fifo.txt"]
    assert os.listdir(data) == ["a.txt"]


def test_evaluate_batch_size_zero(tmp_path):
    (tmp_path / "test.txt").write_text("a b\n")
    for flag in ("--batch-size", "--unroll-steps"):
        p = cli("evaluate", tmp_path, "--test", tmp_path / "test.txt", flag, "0")
        assert p.returncode == 2
        got = ("0 and 1") if flag == "--batch-size" else ("256 and 0")
        assert last_line(p) == f"error: --batch-size and --unroll-steps must be >= 1, got {got}"


def test_vocab_cache_with_a_byte_order_mark(tmp_path, monkeypatch):
    """The BOM of a --vocab-cache file is dropped (as for every text input), so it never
    sticks to the first token."""
    import elmo_keras.apps.embedding_file as ef

    (tmp_path / "in.txt").write_text("The bank .\n")
    (tmp_path / "vocab.txt").write_bytes(b"\xef\xbb\xbfThe\nbank\n")
    seen, real = [], ef.embed_file
    monkeypatch.setattr(ef, "embed_file", lambda *a, **k: seen.append(k["vocab"]) or real(*a, **k))
    p = cli("embed", tmp_path / "in.txt", tmp_path / "o.hdf5", "--vocab-cache",
            tmp_path / "vocab.txt", *MODEL)
    assert p.returncode == 0, p.stderr[-2000:]
    assert seen == [["The", "bank"]]


def test_unwritable_outputs_are_named(tmp_path):
    (tmp_path / "in.txt").write_text("a b\n")
    # The temporary file's error names the output.
    with pytest.raises(OSError) as caught:
        with atomic_output(tmp_path / "none" / "v.txt"):
            pass
    assert caught.value.filename == str(tmp_path / "none" / "v.txt")
    assert "No such file or directory" in str(caught.value)
    with pytest.raises(NotADirectoryError) as caught:
        with atomic_output(tmp_path / "v.txt") as tmp:
            os.open(tmp, os.O_RDONLY | os.O_DIRECTORY)
    assert caught.value.filename == str(tmp_path / "v.txt")
    if ROOT_USER:
        pytest.skip("permission bits do not stop root (the read-only file system case runs "
                    "in test_read_only_file_system_is_named)")
    ro = tmp_path / "ro"
    ro.mkdir()
    (ro / "v.txt").write_text("theirs")
    os.chmod(ro / "v.txt", 0o444)
    try:
        p = cli("vocab", tmp_path / "in.txt", ro / "v.txt")
        assert p.returncode == 2
        assert last_line(p) == (f"error: {ro / 'v.txt'}: is read-only (no write permission); "
                                "refusing to replace it with the vocabulary file, make it "
                                "writable or choose another output path")
        os.chmod(ro, 0o555)
        p = cli("vocab", tmp_path / "in.txt", ro / "new.txt")
        assert p.returncode == 2
        assert last_line(p) == (f"error: {ro / 'new.txt'}: cannot write the vocabulary file: "
                                f"permission denied (no write permission on the directory "
                                f"{ro}); choose another output path")
    finally:
        os.chmod(ro, 0o755)
    assert (ro / "v.txt").read_text() == "theirs"


_READ_ONLY = r"""
set -u
mount -t tmpfs -o size=64k tmpfs "$D" && echo theirs > "$D/v.txt" && mount -o remount,ro "$D"
"$PY" -m elmo_keras vocab "$IN" "$D/v.txt" 2>"$T/ro.err"
echo "$?"
"""


@pytest.mark.skipif(not processes.unshare_works(), reason="needs unshare -rm to mount a small tmpfs")
def test_read_only_file_system_is_named(tmp_path):
    """A new process (about 5 s): a read-only tmpfs in a mount namespace of its own."""
    (tmp_path / "in.txt").write_text("a b\n")
    disk = tmp_path / "disk"
    disk.mkdir()
    env = processes.child_env(env=dict(D=str(disk), T=str(tmp_path), PY=sys.executable,
                                       IN=str(tmp_path / "in.txt")))
    p = processes.run(["unshare", "-rm", "sh", "-c", _READ_ONLY], env=env, timeout=300,
                      check=False)
    err = (tmp_path / "ro.err").read_text()
    assert p.stdout.split() == ["2"], (p.stderr, err)
    assert "Traceback" not in err
    assert err.strip().splitlines()[-1] == (
        f"error: {disk}/v.txt: cannot write the vocabulary file: read-only file system "
        f"({disk})")


# 7. A full disk during the merge: one line, exit 2, resumable.

_ENOSPC_COPY = ("Unable to synchronously copy object (file write failed: time = Thu Dec  3 "
                "12:47:57 2026\n, filename = '{}', file descriptor = 3, errno = 28, error "
                "message = 'No space left on device', buf = 0x56038c5cc488, total write size "
                "= 139904, bytes this sub-write = 139904, offset = 262144)")


class _FillingDisk(io.FileIO):
    """A file on a disk that is full after `room` bytes; a write takes at most `most`."""

    room, most = 4096, None

    def write(self, data):
        data = memoryview(data).cast("B")[:self.most]
        if self.tell() + len(data) > self.room:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return super().write(data)


def test_disk_full_during_the_merge(tmp_path, monkeypatch):
    """The disk fills while the chunks are merged: HDF5 writes the merged file through
    a `LatchedFile`, which keeps the ENOSPC (HDF5 never sees a failed write, which could
    crash it); the merge ends with a `DiskSpaceError`, and `--resume` finishes without
    embedding again. (tests/apps/test_disk_full.py fills a real tmpfs.) h5py's own
    ENOSPC, a RuntimeError when copying objects (the message above, h5py 3.14's from a
    full tmpfs), is still read as a disk error where it can arise."""
    import elmo_keras.apps.embedding_file as ef

    (tmp_path / "in.txt").write_text("The bank .\nA river\nHi there\n")
    out = tmp_path / "out.hdf5"
    args = ["embed", tmp_path / "in.txt", out, "--chunk-lines", "2", *MODEL]
    real_init = paths.LatchedFile.__init__

    def on_a_filling_disk(self, path):
        real_init(self, path)
        if os.path.basename(path).startswith(".out.hdf5."):  # the merged file
            self._raw.close()
            self._raw = _FillingDisk(path, "w+")

    with monkeypatch.context() as m:
        m.setattr(paths.LatchedFile, "__init__", on_a_filling_disk)
        p = cli(*args)
    assert p.returncode == 2
    line = last_line(p)
    assert line.startswith(f"error: {out}: no space left on the device while merging the "
                           "chunks (needs about ")
    assert line.endswith("; the finished chunks are kept: free some space, then rerun with "
                         "--resume")
    assert sorted(os.listdir(tmp_path / "out.hdf5.parts")) == [
        ".lock", "00000000.hdf5", "00000001.hdf5", "fingerprint.json"]
    assert sorted(os.listdir(tmp_path)) == ["in.txt", "out.hdf5.parts"]  # no temporary file
    embedded = []
    real = ef._embed_chunk
    monkeypatch.setattr(ef, "_embed_chunk", lambda *a: embedded.append(1) or real(*a))
    p = cli(*args, "--resume")
    assert p.returncode == 0, p.stderr[-2000:]
    assert embedded == [] and not (tmp_path / "out.hdf5.parts").exists()
    with h5py.File(out, "r") as f:
        assert sorted(f) == ["0", "1", "2", "sentence_to_index"]
    assert paths.disk_error_reason(RuntimeError(_ENOSPC_COPY)) == "no space left on the device"


class _SmallDisk(_FillingDisk):
    room, most = 8, 3


def test_a_latched_file_writes_whole_and_keeps_the_first_error(tmp_path, monkeypatch):
    path = tmp_path / "f"
    real_init = paths.LatchedFile.__init__

    def on_disk(self, name):
        real_init(self, name)
        self._raw.close()
        self._raw = _SmallDisk(name, "w+")

    monkeypatch.setattr(paths.LatchedFile, "__init__", on_disk)
    with pytest.raises(OSError) as caught:
        with paths.latched_output(path) as f:
            assert f.write(b"abcde") == 5  # in two writes of 3 and 2 bytes
            assert f.write(b"fghij") == 5  # 3 written, then the disk is full: kept
            assert f.error is not None and f.tell() == 10
            assert f.write(b"klm") == 3  # dropped
            f.check()
    assert (caught.value.errno, caught.value.filename) == (errno.ENOSPC, str(path))
    assert path.read_bytes() == b"abcdefgh"
