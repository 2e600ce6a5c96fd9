"""The tests' process helper (`tests/support/processes.py`): a worker runs snippets as
`python -c` would, one snippet's settings do not leak into the next, and a worker that
dies is reported with its log and replaced."""

import pytest

from tests.support import processes
from tests.support.processes import cli, run_python


def test_worker_runs_snippets_like_python_c(tmp_path):
    out = run_python("""
        import os, sys
        print(sys.argv[1:], os.getcwd(), __name__)
        print("to stderr", file=sys.stderr)
        """, "a", 2, cwd=tmp_path)
    assert out.stdout.split() == ["['a',", "'2']", str(tmp_path), "__main__"]
    assert out.stderr.strip() == "to stderr"
    assert run_python("import sys; sys.exit(3)", check=False).returncode == 3
    failed = run_python("raise ValueError('boom')", check=False)
    assert failed.returncode == 1 and "ValueError: boom" in failed.stderr
    with pytest.raises(AssertionError, match="ValueError: boom"):
        run_python("raise ValueError('boom')")


def test_a_snippet_settings_do_not_leak_into_the_next():
    run_python("import keras; keras.config.set_dtype_policy('mixed_bfloat16')")
    out = run_python("import keras; print(keras.config.dtype_policy().name)")
    assert out.stdout.strip() == "float32"


def test_a_dead_worker_is_reported_and_replaced():
    pid = run_python("import os; print(os.getpid())").stdout.strip()
    with pytest.raises(AssertionError, match="worker process died"):
        run_python("import os; os._exit(9)")
    again = run_python("import os; print(os.getpid())").stdout.strip()
    assert again != pid


def test_tensorflow_is_blocked_in_other_backends_workers():
    processes.skip_unless_installed("jax")
    out = run_python("""
        import importlib.util, keras
        print(keras.backend.backend(), importlib.util.find_spec("tensorflow"))
        """, backend="jax")
    assert out.stdout.split() == ["jax", "None"]


def test_cli_in_this_process_gives_the_exit_code_and_output(tmp_path):
    result = cli("embed", tmp_path / "missing.txt", tmp_path / "out.hdf5")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].startswith("error: ")
    assert "missing.txt" in result.stderr
