import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
# The tests' models are tiny: XLA's compile time (JAX, and TensorFlow's jit_compile)
# outweighs their run time, and at optimization level 0 it is about half. Set here, so
# that every process the tests start (workers, the command line) compiles the same way.
os.environ.setdefault("XLA_FLAGS", "--xla_backend_optimization_level=0")

import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent  # the repository
FIXTURES = ROOT / "tests" / "fixtures"
TINY = FIXTURES / "bilm_tiny"


@pytest.fixture(scope="session")
def tiny_dir():
    return TINY
