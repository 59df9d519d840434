"""Shared fixtures: paths to the known-answer files in tests/vectors/."""
import json
import pathlib

import pytest

VECTORS = pathlib.Path(__file__).parent / "vectors"


def load_vector(name):
    """Load tests/vectors/<name> as JSON."""
    with open(VECTORS / name, encoding="utf-8") as f:
        return json.load(f)


@pytest.fixture(scope="session")
def vectors_dir():
    return VECTORS
