"""Shared test settings, for the tests and for the doctests in src/.

- Keras (used by the interop tests as the reference) runs on the torch backend.
- torch runs on one thread: the tests use tiny tensors, where OpenMP's thread start-up costs more
  than it saves, and a second thread makes timings swing on a shared 2-core machine.
- Every test starts from the same torch seed.
- Temporary files (the doctests' ``tempfile.mkdtemp()``, the subprocesses' ``TMPDIR``) go under
  pytest's own temporary root, which keeps the last three runs, instead of piling up in /tmp.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator

os.environ.setdefault("KERAS_BACKEND", "torch")

import pytest
import torch

torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


@pytest.fixture(autouse=True, scope="session")
def _temporary_root(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    root = str(tmp_path_factory.mktemp("tempfile"))
    saved = tempfile.tempdir, os.environ.get("TMPDIR")
    tempfile.tempdir = os.environ["TMPDIR"] = root
    yield
    tempfile.tempdir = saved[0]
    if saved[1] is None:
        del os.environ["TMPDIR"]
    else:
        os.environ["TMPDIR"] = saved[1]
