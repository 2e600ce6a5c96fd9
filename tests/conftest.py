import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
# The tests' models are tiny: XLA's compile time (JAX, and TensorFlow's jit_compile)
# outweighs their run time, and at optimization level 0 it is about half. Set here, so
# that every process the tests start (workers, the command line) compiles the same way.
os.environ.setdefault("XLA_FLAGS", "--xla_backend_optimization_level=0")
if os.environ.get("PYTEST_XDIST_WORKER"):
    # `pytest -n 2` on 2 cores: one compute thread a worker (TensorFlow, XLA and JAX,
    # OpenMP) and in the processes it starts, rather than each taking every core.
    os.environ.setdefault("TF_NUM_INTRAOP_THREADS", "1")
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    os.environ["XLA_FLAGS"] += " --xla_cpu_multi_thread_eigen=false"

import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent  # the repository
FIXTURES = ROOT / "tests" / "fixtures"
TINY = FIXTURES / "bilm_tiny"
#: A small two-layer architecture (random weights) for checks that build their own model.
SMALL_OPTIONS = {
    "char_cnn": {"activation": "relu", "embedding": {"dim": 4},
                 "filters": [[1, 4], [2, 8]], "max_characters_per_token": 50,
                 "n_characters": 262, "n_highway": 1},
    "lstm": {"cell_clip": 3, "dim": 16, "n_layers": 2, "proj_clip": 3,
             "projection_dim": 8, "use_skip_connections": True},
}


def pytest_collection_modifyitems(config, items):
    """For `pytest -n` (`--dist loadgroup`, in pyproject.toml):

    - the modules with a test marked slow run first (each module's tests together and
      in their order), so that the workers end on short tests, not one on a minute-long
      test while the other waits;
    - a test module with a module-scoped fixture of its own runs on one worker, so
      that the fixture (a trained run, an export, worker processes) is made once, not
      on each worker its tests reach."""
    slow = {item.module.__name__ for item in items if item.get_closest_marker("slow")}
    items.sort(key=lambda item: item.module.__name__ not in slow)  # stable
    for item in items:
        defs = getattr(item, "_fixtureinfo", None)
        defs = defs.name2fixturedefs.values() if defs else ()
        if any(d[-1].scope == "module" and d[-1].func.__module__ == item.module.__name__
               for d in defs):
            item.add_marker(pytest.mark.xdist_group(item.module.__name__))


@pytest.fixture(scope="session")
def tiny_dir():
    return TINY


@pytest.fixture(autouse=True)
def _sigint_handler_left_as_found():
    """A test that leaves another Ctrl-C handler in place changes what later tests in
    the same process see (the CLI installs its own only over Python's default): fail
    the test that did it, naming it, and put the handler back."""
    import signal

    before = signal.getsignal(signal.SIGINT)
    yield
    after = signal.getsignal(signal.SIGINT)
    if after is not before:
        signal.signal(signal.SIGINT, before)
        pytest.fail(f"the test left SIGINT's handler {after!r} in place of {before!r}")
