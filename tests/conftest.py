import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import pathlib

import pytest

FIXTURES = pathlib.Path(__file__).parent / "fixtures"
TINY = FIXTURES / "bilm_tiny"


@pytest.fixture(scope="session")
def tiny_dir():
    return TINY
