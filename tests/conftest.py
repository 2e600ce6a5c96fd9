import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent  # the repository
FIXTURES = ROOT / "tests" / "fixtures"
TINY = FIXTURES / "bilm_tiny"


@pytest.fixture(scope="session")
def tiny_dir():
    return TINY
