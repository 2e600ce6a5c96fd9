"""Running code under another Keras backend, optionally with TensorFlow unimportable.

The Keras backend is fixed per process, so the JAX and PyTorch checks run in
subprocesses. `NO_TENSORFLOW` makes `import tensorflow` raise ImportError (a
`None` stub in `sys.modules`), as on machines without TensorFlow.
"""

import os
import subprocess
import sys
import textwrap

import pytest

from tests.conftest import ROOT

NO_TENSORFLOW = textwrap.dedent("""\
    import sys

    # `import tensorflow` raises ModuleNotFoundError, and importlib.util.find_spec
    # ("tensorflow") is None (what libraries that probe for it expect).
    sys.modules["tensorflow"] = None
    """)


def installed(backend):
    """True if `backend`'s package is importable here."""
    import importlib.util

    return importlib.util.find_spec(backend) is not None


def skip_unless_installed(backend):
    if not installed(backend):
        pytest.skip(f"{backend} is not installed")


def run_python(code, backend, block_tensorflow=True, timeout=900):
    """Runs `code` in a fresh Python with `KERAS_BACKEND=backend`; returns its stdout.

    Raises AssertionError with the subprocess's output when it fails.
    """
    skip_unless_installed(backend)
    path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    env = {**os.environ, "KERAS_BACKEND": backend, "PYTHONPATH": path}
    prelude = NO_TENSORFLOW if block_tensorflow else ""
    proc = subprocess.run([sys.executable, "-c", prelude + textwrap.dedent(code)],
                          capture_output=True, text=True, env=env, cwd=ROOT, timeout=timeout)
    assert proc.returncode == 0, (
        f"KERAS_BACKEND={backend} failed (rc {proc.returncode}):\n"
        f"{proc.stdout[-4000:]}\n{proc.stderr[-6000:]}")
    return proc.stdout


def run_pytest(paths, backend, *args, block_tensorflow=True):
    """Runs pytest on test files under `backend` (TensorFlow blocked by default)."""
    return run_python(
        f"import sys, pytest\nsys.exit(pytest.main(['-q', '-p', 'no:cacheprovider', "
        f"*{list(map(str, paths))!r}, *{list(args)!r}]))", backend, block_tensorflow)
