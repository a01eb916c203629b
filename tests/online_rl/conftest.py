"""Online RL tests run torch on one CPU thread: small networks are fastest there, and the shared test machine
is not oversubscribed (the online loop does the same through `train.num_threads`)."""

import pytest


@pytest.fixture(autouse=True)
def one_torch_thread(one_torch_thread):  # tests/conftest.py's fixture, automatic in this folder
    yield
