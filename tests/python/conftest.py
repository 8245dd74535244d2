"""pytest setup: the package must import (from the build tree or an installed wheel); never skip."""
import os

import numpy as np
import pytest

import neural_arch  # noqa: F401  (an ImportError here fails the whole run, on purpose)


@pytest.fixture(autouse=True)
def _seed():
    """Every test starts from the same generator state, in neural_arch and NumPy."""
    neural_arch.manual_seed(0)
    np.random.seed(0)
    yield


@pytest.fixture(scope="session")
def torch():
    """Debian's python3-torch, the in-process reference (a hard requirement, like the C++ references)."""
    import torch as t

    t.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "2")))
    return t
