"""The one way the tests run code in another Python process.

A new Python that imports TensorFlow, JAX or PyTorch spends seconds starting, so a test
gets a fresh process only where the behaviour under test needs one:

- `run_python(code, *args, backend=...)` runs a snippet in a long-lived **worker**, one
  per Keras backend (and per "TensorFlow importable or not") for the whole test session.
  The Keras backend is fixed per process, so code for JAX or PyTorch runs there.
  `fresh=True` (or an `env`) starts a new process instead: for what happens at start-up
  (imports, logical devices, environment variables) or a process that must not have
  imported the package.
- `cli(*args)` runs the `elmo-keras` command line to its end in this process (its exit
  code and output as the script gives them); `start_cli(*args)` and
  `cli(*args, fresh=True)` run the real script in a new process: for signals, start-up
  and what a user's shell sees.
- `run(cmd)` runs any other command (pip, a built wheel's entry points, a benchmark
  script) and checks its exit code.

`NO_TENSORFLOW` makes `import tensorflow` raise ImportError in a worker or fresh process
(a `None` stub in `sys.modules`), as on machines without TensorFlow.
"""

import atexit
import contextlib
import importlib.util
import io
import json
import os
import select
import shutil
import subprocess
import sys
import tempfile
import textwrap

import pytest

from tests.conftest import ROOT

NO_TENSORFLOW = textwrap.dedent("""\
    import sys

    # `import tensorflow` raises ModuleNotFoundError, and importlib.util.find_spec
    # ("tensorflow") is None (what libraries that probe for it expect).
    sys.modules["tensorflow"] = None
    """)

#: Quiet TensorFlow's C++ logging in every child (tests read the children's stderr).
QUIET = {"TF_CPP_MIN_LOG_LEVEL": "3"}

# The worker: reads one JSON request a line on stdin ({"code", "args", "cwd"}), runs the
# code as `python -c` would (`__name__ == "__main__"`, `sys.argv`), and answers on the
# file descriptor given as its argument with {"returncode", "stdout", "stderr"}. Its own
# descriptors 1 and 2 go to a log file (C++ logging there cannot block or mix in).
_WORKER = textwrap.dedent("""\
    import contextlib, io, json, os, sys, traceback
    answers = os.fdopen(int(sys.argv[1]), "w")
    for line in sys.stdin:
        request = json.loads(line)
        out, err, code = io.StringIO(), io.StringIO(), 0
        sys.argv = ["-c", *request["args"]]
        os.chdir(request["cwd"])
        try:
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                exec(compile(request["code"], "<snippet>", "exec"), {"__name__": "__main__"})
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else int(e.code is not None)
            if not isinstance(e.code, (int, type(None))):
                err.write(str(e.code) + "\\n")
        except BaseException:
            err.write(traceback.format_exc())
            code = 1
        finally:
            if "keras" in sys.modules:  # what one snippet sets must not leak into the next
                import keras
                keras.config.set_dtype_policy("float32")
                keras.utils.clear_session()
        answers.write(json.dumps({"returncode": code, "stdout": out.getvalue(),
                                  "stderr": err.getvalue()}) + "\\n")
        answers.flush()
    """)


def installed(module):
    """True if `module` (a backend's package) is importable here."""
    return importlib.util.find_spec(module) is not None


def skip_unless_installed(backend):
    if backend != "tensorflow" and not installed(backend):
        pytest.skip(f"{backend} is not installed")


def child_env(backend="tensorflow", env=None):
    """The environment of a child process: this one's, the checkout importable, the
    Keras backend set, TensorFlow quiet, then `env`."""
    path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    return {**os.environ, **QUIET, "KERAS_BACKEND": backend, "PYTHONPATH": path,
            **(env or {})}


class Result(subprocess.CompletedProcess):
    """What a process (or a worker's snippet) ended with: `returncode`, `stdout`,
    `stderr`."""


def _check(result, what):
    assert result.returncode == 0, (
        f"{what} failed (rc {result.returncode}):\n{result.stdout[-4000:]}\n"
        f"{result.stderr[-6000:]}")
    return result


class _Worker:
    """A long-lived Python process that runs snippets (see the module docstring)."""

    def __init__(self, backend, block_tensorflow):
        self.log = tempfile.TemporaryFile()
        answers, self._answers_w = os.pipe()
        prelude = NO_TENSORFLOW if block_tensorflow else ""
        self.proc = subprocess.Popen(
            [sys.executable, "-c", prelude + _WORKER, str(self._answers_w)],
            stdin=subprocess.PIPE, stdout=self.log, stderr=self.log, text=True,
            env=child_env(backend), cwd=ROOT, pass_fds=(self._answers_w,))
        os.close(self._answers_w)
        self.answers = os.fdopen(answers, "r")

    def run(self, code, args, cwd, timeout):
        request = {"code": code, "args": [str(a) for a in args], "cwd": str(cwd)}
        self.proc.stdin.write(json.dumps(request) + "\n")
        self.proc.stdin.flush()
        ready, _, _ = select.select([self.answers], [], [], timeout)
        line = self.answers.readline() if ready else ""
        if not line:  # timed out or died: its log says why
            self.close()
            self.log.seek(0)
            log = self.log.read().decode(errors="replace")
            raise AssertionError(f"worker process {'timed out' if not ready else 'died'} "
                                 f"(rc {self.proc.returncode}):\n{log[-6000:]}")
        return Result(self.proc.args, **json.loads(line))

    def alive(self):
        return self.proc.poll() is None

    def close(self):
        if self.alive():
            self.proc.kill()
        self.proc.wait()


_workers = {}


@atexit.register
def _close_workers():
    for worker in _workers.values():
        worker.close()


def run_python(code, *args, backend="tensorflow", block_tensorflow=None, fresh=False,
               env=None, cwd=ROOT, timeout=900, check=True):
    """Runs `code` (dedented) with `sys.argv[1:] == args` under `backend`; returns a
    `Result` (its stdout and stderr as text).

    Args:
        backend: the Keras backend.
        block_tensorflow: make TensorFlow unimportable (default: on for JAX and
            PyTorch, as where they run without it).
        fresh: a new process rather than the session's worker for this backend. `env`
            (extra environment variables) implies it.
        check: raise AssertionError with the output unless it exited with status 0.
    """
    skip_unless_installed(backend)
    if block_tensorflow is None:
        block_tensorflow = backend != "tensorflow"
    code = textwrap.dedent(code)
    if fresh or env:
        prelude = NO_TENSORFLOW if block_tensorflow else ""
        proc = subprocess.run([sys.executable, "-c", prelude + code, *map(str, args)],
                              capture_output=True, text=True, env=child_env(backend, env),
                              cwd=cwd, timeout=timeout)
        result = Result(proc.args, proc.returncode, proc.stdout, proc.stderr)
    else:
        key = (backend, block_tensorflow)
        if key not in _workers or not _workers[key].alive():
            _workers[key] = _Worker(backend, block_tensorflow)
        result = _workers[key].run(code, args, cwd, timeout)
    return _check(result, f"KERAS_BACKEND={backend} python") if check else result


def run_pytest(paths, backend, *args):
    """Runs pytest on test files in `backend`'s worker (TensorFlow unimportable there);
    returns its report."""
    code = (f"import sys, pytest\nsys.exit(pytest.main(['-q', '-p', 'no:cacheprovider', "
            f"*{list(map(str, paths))!r}, *{list(args)!r}]))")
    return run_python(code, backend=backend).stdout


def cli_command(*args):
    """The `elmo-keras` command line as its installed script runs it (the entry point
    `elmo_keras_cli:main`, which imports only the standard library before the command
    line's handlers are in place)."""
    return [sys.executable, "-c", "import sys, elmo_keras_cli; sys.exit(elmo_keras_cli.main())",
            *map(str, args)]


def start_cli(*args, env=None, **popen):
    """`elmo-keras ARGS` in a new process (stdout and stderr piped as text)."""
    return subprocess.Popen(cli_command(*args), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True,
                            env=env or child_env(), **popen)


def cli(*args, fresh=False, env=None, timeout=900):
    """`elmo-keras ARGS` run to its end; its `Result` (exit code, stdout, stderr; not
    checked).

    By default in this process (the command line's `main`, which gives the script's
    exit code, with stdout and stderr captured), so that a command does not pay for a
    TensorFlow start. `fresh=True` (or an `env`) runs the real script in a new process.
    """
    args = [str(a) for a in args]
    if fresh or env:
        proc = subprocess.run(cli_command(*args), capture_output=True, text=True,
                              env=child_env(env=env), timeout=timeout)
        return Result(proc.args, proc.returncode, proc.stdout, proc.stderr)
    from elmo_keras.apps.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(args)
    return Result(["elmo-keras", *args], code, out.getvalue(), err.getvalue())


def run(cmd, cwd=ROOT, env=None, timeout=900, check=True):
    """Runs a command (a list) to its end; its `Result`, checked unless `check=False`."""
    proc = subprocess.run([str(c) for c in cmd], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout)
    result = Result(proc.args, proc.returncode, proc.stdout, proc.stderr)
    return _check(result, " ".join(map(str, cmd))) if check else result


def unshare_works():
    """True if `unshare -rm` can mount a small tmpfs here (the disk-full and read-only
    file system tests run their commands in such a mount namespace)."""
    return shutil.which("unshare") is not None and run(
        ["unshare", "-rm", "sh", "-c", "mount -t tmpfs -o size=64k tmpfs /mnt"],
        check=False).returncode == 0
