"""Online RL tests run torch on one CPU thread: small networks are fastest there, and the shared test machine
is not oversubscribed (the online loop does the same through `train.num_threads`)."""

import pytest
import torch


@pytest.fixture(autouse=True)
def one_torch_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
