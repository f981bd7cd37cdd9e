"""Shared test settings, for the tests and for the doctests in src/.

- Keras (used by the interop tests as the reference) runs on the torch backend.
- torch runs on one thread: the tests use tiny tensors, where OpenMP's thread start-up costs more
  than it saves, and a second thread makes timings swing on a shared 2-core machine.
- Every test starts from the same torch seed.
"""

from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "torch")

import pytest
import torch

torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)
