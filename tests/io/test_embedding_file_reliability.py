"""`elmo-keras embed`, `vocab`, `export-hub` as a user meets them, on a temporary
directory. Inputs are never destroyed, results never mixed, disk errors and
interruptions end with one line and the work kept.

A command that runs to its end runs in this process (`cli`: the command line's `main`,
its exit code and output as the `elmo-keras` script gives them), so that each one does
not pay for a TensorFlow start. What needs a process of its own runs the real command
line in one (`start_cli`): Ctrl-C and SIGKILL, start-up, a full or read-only disk in a
mount namespace.
"""

import fcntl
import hashlib
import json
import os
import random
import shutil
import signal
import sys
import time

import h5py
import numpy as np
import pytest

from tests.conftest import TINY
from tests.support import processes
from tests.support.interrupts import sigint_inside_a_library_call
from tests.support.processes import cli, start_cli

OPTIONS, WEIGHTS = TINY / "options.json", TINY / "lm_weights.hdf5"
MODEL = ["--options", str(OPTIONS), "--weights", str(WEIGHTS)]


def last_line(proc):
    """The one line a command ends with on stderr (never a traceback)."""
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    return [line for line in proc.stderr.splitlines() if line.strip()][-1]


def _sha(path):
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


def _words():
    return (TINY / "vocab_test.txt").read_text(encoding="utf-8").split()[3:200]


def _text(n_lines, seed=0):
    rng = random.Random(seed)
    words = _words()
    return "".join(" ".join(rng.choice(words) for _ in range(rng.randrange(1, 5))) + "\n"
                   for _ in range(n_lines))


def _datasets(path):
    with h5py.File(path, "r") as f:
        return {k: f[k][...] for k in f}


def _assert_same_file(a, b):
    got, ref = _datasets(a), _datasets(b)
    assert sorted(got) == sorted(ref)
    for key in ref:
        if key == "sentence_to_index":
            assert got[key][0] == ref[key][0]
        else:
            np.testing.assert_array_equal(got[key], ref[key], err_msg=key)


def test_outputs_never_alias_inputs(tmp_path):
    text = tmp_path / "s.txt"
    text.write_text("The bank .\nA river bank\n")
    before = _sha(text)
    p = cli("embed", text, text, *MODEL)
    assert p.returncode == 2
    assert last_line(p) == (f"error: {text}: the output is the same file as an input; "
                            "refusing to overwrite it, choose another output path")
    weights = tmp_path / "w.hdf5"
    shutil.copy(WEIGHTS, weights)
    os.link(weights, tmp_path / "hard.hdf5")
    os.symlink(text, tmp_path / "link.hdf5")
    (tmp_path / "outdir").mkdir()
    listing = sorted(os.listdir(tmp_path))
    for output, model, said in (
            (tmp_path / "hard.hdf5", ["--options", OPTIONS, "--weights", weights],
             f"the output is the same file as an input ({weights})"),
            (tmp_path / "link.hdf5", MODEL, f"the output is the same file as an input ({text})"),
            (tmp_path / "outdir", MODEL, "is a directory; give a file name for the output")):
        p = cli("embed", text, output, *model)
        assert p.returncode == 2 and said in last_line(p), p.stderr[-2000:]
    assert _sha(text) == before and _sha(weights) == _sha(WEIGHTS)
    assert sorted(os.listdir(tmp_path)) == listing  # nothing written: no .tmp, no .parts


def test_vocab_and_export_outputs_never_alias_inputs(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "a.txt").write_text("x y y\nz y\n")
    (corpus / "b.txt").write_text("y w\n")
    p = cli("vocab", corpus / "a.txt", corpus / "a.txt")
    assert p.returncode == 2 and "same file as an input" in last_line(p)
    assert (corpus / "a.txt").read_text() == "x y y\nz y\n"
    vocabs = []
    for _ in range(2):  # the second run's glob matches the first run's vocabulary
        p = cli("vocab", f"{corpus}/*.txt", corpus / "vocab.txt")
        assert p.returncode == 0, p.stderr[-2000:]
        assert "covering 100.00% of 7 corpus tokens" in p.stderr
        vocabs.append((corpus / "vocab.txt").read_text())
    assert vocabs[0] == vocabs[1] and vocabs[0].startswith("<S>\n</S>\n<UNK>\ny\n")
    assert f"note: {corpus}/*.txt matches the output {corpus / 'vocab.txt'}; not read as " \
        "corpus" in p.stderr
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    shutil.copy(OPTIONS, model_dir / "options.json")
    shutil.copy(WEIGHTS, model_dir / "weights.hdf5")
    p = cli("export-hub", model_dir, "--model", model_dir)
    assert p.returncode == 2 and "overlaps the input" in last_line(p)
    assert sorted(os.listdir(model_dir)) == ["options.json", "weights.hdf5"]


def _default_sigint():
    """A background shell starts jobs with SIGINT ignored; Ctrl-C is what is tested."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _wait_for(condition, process, timeout=600):
    start = time.time()
    while not condition():
        assert process.poll() is None, process.communicate()[1][-3000:]
        assert time.time() - start < timeout
        time.sleep(0.02)


def _chunks(parts):
    return sorted(p.name for p in parts.glob("*.hdf5"))


@pytest.mark.slow  # new processes, each starting TensorFlow
def test_interrupt_resume_fingerprint_and_lock(tmp_path):
    from elmo_keras import load_bilm
    from elmo_keras.apps.embedding_file import embed_file

    (tmp_path / "in.txt").write_text(_text(600))
    out, parts = tmp_path / "out.hdf5", tmp_path / "out.hdf5.parts"
    args = ["embed", tmp_path / "in.txt", out, "--chunk-lines", "2", "--batch-size", "2"]
    # Ctrl-C: exit 130, one line, the finished chunks kept.
    run = start_cli(*args, *MODEL, preexec_fn=_default_sigint)
    _wait_for(lambda: (parts / "00000001.hdf5").exists(), run)
    run.send_signal(signal.SIGINT)
    _, err = run.communicate(timeout=300)
    assert run.returncode == 130, err[-3000:]
    assert "Traceback" not in err
    assert err.strip().splitlines()[-1] == (
        f"interrupted: the finished chunks are kept in {parts}; rerun the same command "
        "with --resume to continue")
    kept = {name: _sha(parts / name) for name in _chunks(parts)}
    assert len(kept) >= 2 and not out.exists()
    # --resume onto other work (edited input, other model, other format): refused, and
    # says what differs; the parts are untouched.
    (tmp_path / "edited.txt").write_text(_text(600).replace("\n", " x\n", 1))
    weights = tmp_path / "other.hdf5"
    shutil.copy(WEIGHTS, weights)
    with h5py.File(weights, "r+") as f:
        f["char_embed"][0, 0] += 1.0
    p = cli("embed", tmp_path / "edited.txt", out, "--chunk-lines", "2", "--batch-size", "2",
            "--resume", "--output-format", "top", "--options", OPTIONS, "--weights", weights)
    assert p.returncode == 2
    line = last_line(p)
    assert line.startswith(f"error: {parts}: --resume refused: the finished chunks were "
                           "made from other work: input (was sha256 ")
    assert "model (was sha256 " in line and "output_format (was 'all', now 'top')" in line
    assert "input_lines" not in line  # same number of lines: not said
    assert {name: _sha(parts / name) for name in _chunks(parts)} == kept
    # A second writer while one holds the lock fails at once, naming the holder.
    with open(parts / ".lock", "r+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        lock.truncate(0)
        lock.write(f"{os.getpid()}\n")
        lock.flush()
        p = cli(*args, "--resume", *MODEL)
    assert p.returncode == 2
    assert last_line(p) == (
        f"error: {out}: another elmo-keras embed is writing this output (pid {os.getpid()}, "
        f"lock {parts / '.lock'}); wait for it to finish or choose another output")
    # A resumed run killed (SIGKILL) leaves its lock file: it does not block --resume.
    run = start_cli(*args, "--resume", *MODEL)
    _wait_for(lambda: len(_chunks(parts)) > len(kept) + 1, run)
    run.kill()
    run.communicate()
    assert (parts / ".lock").exists()
    p = cli(*args, "--resume", *MODEL)
    assert p.returncode == 0, p.stderr[-3000:]
    assert not parts.exists()
    model = load_bilm(OPTIONS, WEIGHTS)
    embed_file(model, tmp_path / "in.txt", tmp_path / "ref.hdf5", batch_size=2, chunk_lines=2,
               progress=False)
    _assert_same_file(out, tmp_path / "ref.hdf5")


def test_lines_are_read_byte_exactly(tmp_path):
    from elmo_keras import load_bilm
    from elmo_keras.models.elmo.elmo_embedder import Embedder

    lines = ["The bank ." , "a\rb c", "river\u2028bank\x85x", "", "last one"]
    data = b"\xef\xbb\xbf" + "\r\n".join(lines[:3]).encode() + ("\n" + "\n".join(lines[3:])
                                                               ).encode()
    (tmp_path / "in.txt").write_bytes(data)
    out = tmp_path / "out.hdf5"
    p = cli("embed", tmp_path / "in.txt", out, *MODEL)
    assert p.returncode == 0, p.stderr[-3000:]
    assert f"note: {tmp_path / 'in.txt'}: a UTF-8 byte order mark at the start was dropped" \
        in p.stderr
    got = _datasets(out)
    assert sorted(got) == sorted([str(i) for i in range(len(lines))] + ["sentence_to_index"])
    index = json.loads(got["sentence_to_index"][0])
    assert index == {line: str(i) for i, line in enumerate(lines)}
    ref = Embedder(load_bilm(OPTIONS, WEIGHTS))([line.split() for line in lines])
    for i, r in enumerate(ref):
        np.testing.assert_allclose(got[str(i)], r, atol=1e-5)
    assert got["1"].shape == (3, 3, 32)  # "a\rb c": one line of three tokens
    # Invalid UTF-8 far down the file: its line number, before any work.
    (tmp_path / "bad.txt").write_bytes(b"a b\n" * 15000 + b"caf\xe9\n" + b"a\n" * 10)
    p = cli("embed", tmp_path / "bad.txt", tmp_path / "bad.hdf5", *MODEL)
    assert p.returncode == 2
    assert last_line(p).startswith(f"error: {tmp_path / 'bad.txt'}:15001: not UTF-8 text "
                                   "(byte 0xe9 at column 4")
    assert not (tmp_path / "bad.hdf5").exists() and not (tmp_path / "bad.hdf5.parts").exists()


# The disk fills after `embed` has checked the space (as when another process fills
# it): two runs in one process whose free-space checks find room, so that the writes
# fail, inside HDF5 (which used to crash the process: SIGSEGV after dozens of
# "Exception ignored in h5py ObjectID.__dealloc__ ... errno = 28") and then in the
# merge (which used to exit 1, "unexpected RuntimeError").
# Run by `unshare -rm` (a mount namespace of its own, where a small tmpfs can fill up), one
# Python for every case (one TensorFlow start, not four): the command line's `main` as
# the script runs it, its exit code printed as `case=code`, its stderr in `T/case.err`.
# a: the disk fills before a chunk is written; h and m: the space goes while HDF5 writes
# a chunk, and while the chunks are merged (the free-space checks made blind); b: --resume
# with room; c: a read-only file system.
_DISK_SCRIPT = r"""
import contextlib, os, shutil, subprocess, sys
import elmo_keras.apps.embedding_file as ef
from elmo_keras.apps.cli import main

D, T = os.environ["D"], os.environ["T"]
MODEL = os.environ["MODEL"].split()

def mount(*options):
    subprocess.run(["mount", *options, D], check=True)

def case(name, *args):
    with open(f"{T}/{name}.err", "w") as err, contextlib.redirect_stderr(err):
        print(f"{name}={main(['embed', os.environ['IN'], *args, *MODEL])}", flush=True)
    if os.path.isdir(f"{D}/out.hdf5.parts"):
        with open(f"{T}/{name}.parts", "w") as f:
            f.write(" ".join(sorted(os.listdir(f"{D}/out.hdf5.parts"))))

subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1400k", "tmpfs", D], check=True)
case("a", f"{D}/out.hdf5", "--chunk-lines", "100")
checks = ef.check_free_space, ef.free_bytes
ef.check_free_space = lambda *args, **kwargs: None
ef.free_bytes = lambda path: 1 << 40  # the merge is not done part by part
for name, size in (("h", "600k"), ("m", "1400k")):  # 7 parts of ~130 KB, merged ~850 KB
    mount("-o", f"remount,size={size}")
    case(name, f"{D}/out.hdf5", "--chunk-lines", "100", "--resume")
ef.check_free_space, ef.free_bytes = checks
mount("-o", "remount,size=20m")
case("b", f"{D}/out.hdf5", "--chunk-lines", "100", "--resume")
shutil.copy(f"{D}/out.hdf5", f"{T}/out.hdf5")
os.remove(f"{D}/out.hdf5")
mount("-o", "remount,ro")
case("c", f"{D}/ro.hdf5")
"""


@pytest.mark.slow  # a new process (in a mount namespace), starting TensorFlow
@pytest.mark.skipif(not processes.unshare_works(), reason="needs unshare -rm to mount a small tmpfs")
def test_disk_full_and_read_only(tmp_path):
    from elmo_keras import load_bilm
    from elmo_keras.apps.embedding_file import embed_file

    (tmp_path / "in.txt").write_text(_text(700, seed=1))
    (tmp_path / "disk").mkdir()
    env = processes.child_env(env=dict(
        D=str(tmp_path / "disk"), T=str(tmp_path), IN=str(tmp_path / "in.txt"),
        MODEL=" ".join(MODEL)))
    p = processes.run(["unshare", "-rm", sys.executable, "-c", _DISK_SCRIPT], env=env,
                      timeout=1800, check=False)
    codes = dict(line.split("=") for line in p.stdout.split())
    err = {k: (tmp_path / f"{k}.err").read_text() for k in ("a", "h", "m", "b", "c")
           if (tmp_path / f"{k}.err").exists()}
    assert codes == {"a": "2", "h": "2", "m": "2", "b": "0", "c": "2"}, (
        p.stderr, {k: v[-3000:] for k, v in err.items()})
    for k, text in err.items():
        for bad in ("Traceback", "HDF5-DIAG", "Exception ignored", "errno = 28"):
            assert bad not in text, (k, text[-3000:])
    disk = tmp_path / "disk"
    a = err["a"].strip().splitlines()[-1]
    assert a.startswith(f"error: {disk}/out.hdf5.parts: not enough disk space to write chunk ")
    assert "needs about " in a and " MB free; the finished chunks are kept: free some " \
        "space, then rerun with --resume" in a
    kept = (tmp_path / "a.parts").read_text().split()
    assert "00000000.hdf5" in kept and "fingerprint.json" in kept
    # The space goes while HDF5 writes a chunk: one line, the finished chunks kept, the
    # torn one gone.
    h = err["h"].strip().splitlines()[-1]
    assert h.startswith(f"error: {disk}/out.hdf5.parts/0000000") and h.endswith(
        ".hdf5: no space left on the device while writing it; the finished chunks are "
        "kept: free some space, then rerun with --resume"), h
    kept = (tmp_path / "h.parts").read_text().split()
    assert len(kept) > len((tmp_path / "a.parts").read_text().split()), kept
    assert not [n for n in kept if n.endswith(".tmp")], kept
    # Every chunk written, the space goes during the merge: one line, exit 2.
    m = err["m"].strip().splitlines()[-1]
    assert m.startswith(f"error: {disk}/out.hdf5: no space left on the device while merging "
                        "the chunks (needs about ") and m.endswith(
        "; the finished chunks are kept: free some space, then rerun with --resume"), m
    assert len([n for n in (tmp_path / "m.parts").read_text().split()
                if n.endswith(".hdf5")]) == 7
    # With room, --resume gives the file a run never stopped gives.
    model = load_bilm(OPTIONS, WEIGHTS)
    embed_file(model, tmp_path / "in.txt", tmp_path / "ref.hdf5", chunk_lines=100,
               progress=False)
    _assert_same_file(tmp_path / "out.hdf5", tmp_path / "ref.hdf5")
    assert err["c"].strip().splitlines()[-1] == (
        f"error: {disk}/ro.hdf5: cannot write the output: read-only file system ({disk})")


@pytest.mark.slow  # new processes, each starting TensorFlow
def test_ctrl_c_during_startup(tmp_path):
    """Ctrl-C while the command is still starting (importing TensorFlow, loading the
    model) ends it with exit code 130 and one line, no traceback, no output file: the
    `elmo-keras` script imports only the standard library before the command line's
    handler is in place. At 0.5 s TensorFlow is still importing (seconds), so at least
    that run is interrupted; a later one may finish first."""
    (tmp_path / "in.txt").write_text("a b\n")
    interrupted = 0
    for delay in (0.5, 1.5, 3.0):
        out = tmp_path / f"o{delay}.hdf5"
        proc = start_cli("embed", tmp_path / "in.txt", out, *MODEL,
                         preexec_fn=_default_sigint)
        time.sleep(delay)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=300)
        if proc.returncode == 0:
            continue  # finished before the signal came
        assert proc.returncode == 130 and "Traceback" not in err, err[-3000:]
        assert err.strip().splitlines()[-1].startswith("interrupted"), err[-3000:]
        assert not out.exists()
        interrupted += 1
    assert interrupted >= 1


def test_ctrl_c_inside_a_library_call_stops_between_sentences(tmp_path, monkeypatch):
    """Ctrl-C becomes a flag while a file is embedded, and the run stops between two
    sentences with KeyboardInterrupt: raised where it arrived, inside a library call
    that turns exceptions into its own (as NumPy's structured-array comparison turns one
    into a TypeError), it came out as "unexpected TypeError", exit 1."""
    from elmo_keras import load_bilm
    from elmo_keras.apps import embedding_file

    (tmp_path / "in.txt").write_text(_text(8, seed=3))
    real = embedding_file.format_layers
    calls = []

    def library_call(layers, output_format):
        calls.append(1)
        if len(calls) == 3:
            sigint_inside_a_library_call()  # embed's handler only sets its flag
        return real(layers, output_format)

    monkeypatch.setattr(embedding_file, "format_layers", library_call)
    before = signal.getsignal(signal.SIGINT)
    with pytest.raises(KeyboardInterrupt):
        embedding_file.embed_file(load_bilm(OPTIONS, WEIGHTS), tmp_path / "in.txt",
                                  tmp_path / "out.hdf5", chunk_lines=2, progress=False)
    assert len(calls) == 3  # stopped right after the sentence in hand
    assert signal.getsignal(signal.SIGINT) is before
    assert _chunks(tmp_path / "out.hdf5.parts") == ["00000000.hdf5"]
    # ... and the chunk it was writing leaves no torn temporary file.
    assert not list((tmp_path / "out.hdf5.parts").glob("*.tmp")), os.listdir(
        tmp_path / "out.hdf5.parts")
