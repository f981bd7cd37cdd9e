"""The optional dependencies ("extras") of cnnlstm, and the error that names the one to install.

``pip install cnnlstm`` gives the core (layers, ``CNNLSTM``, the registry, ``summary``) on torch,
einops and numpy. The application around it needs more, installed as extras:

- ``video``: PyAV and Pillow, to read videos and folders of frames;
- ``train``: Lightning, torchmetrics, jsonargparse, TensorBoard, rich and Pillow, for the tasks,
  the DataModules, the built-in generators and the ``cnnlstm`` commands that train;
- ``sensors``: pandas, to read sensor files (SKAB too) and write the plant generator's;
- ``plots``: matplotlib, for plots and reports;
- ``detect``: pandas, matplotlib and rich, for ``cnnlstm detect`` and ``cnnlstm benchmark``;
- ``keras``: Keras 3, for :func:`~cnnlstm.interop.keras.from_keras` and ``cnnlstm convert``;
- ``export``: ONNX and onnxruntime, to export to ONNX and check the exported file;
- ``all``: all of them.

A module that needs an extra imports its packages inside :func:`importing`, so a missing one
ends in a :class:`MissingExtraError` that says what needed it and the pip command, raised where
the package was first needed.

Example:
    >>> extra_for("pandas"), extra_for("lightning.pytorch"), extra_for("torch") is None
    ('sensors', 'train', True)
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from cnnlstm.errors import CNNLSTMError

__all__ = [
    "EXTRAS",
    "MissingExtraError",
    "extra_for",
    "importing",
    "install_command",
    "missing_extra",
]

EXTRAS: dict[str, tuple[str, ...]] = {
    "video": ("av", "PIL"),
    "train": (
        "lightning",
        "pytorch_lightning",
        "lightning_utilities",
        "torchmetrics",
        "jsonargparse",
        "docstring_parser",
        "typeshed_client",
        "yaml",
        "tensorboard",
        "rich",
        "PIL",
    ),
    "sensors": ("pandas",),
    "plots": ("matplotlib",),
    "detect": ("pandas", "matplotlib", "rich"),
    "keras": ("keras", "h5py"),
    "export": ("onnx", "onnxruntime"),
}
"""Each extra and the top-level modules (import names) it installs; ``all`` installs them all."""


class MissingExtraError(CNNLSTMError, ModuleNotFoundError):
    """A package of an extra is not installed; the message names the pip command.

    A ``ModuleNotFoundError`` too, so code that catches ``ImportError`` keeps working.

    Example:
        >>> error = MissingExtraError("reading videos", "av", "video")
        >>> str(error).endswith('install it with: pip install "cnnlstm[video]"')
        True
        >>> isinstance(error, ImportError), error.name, error.extra
        (True, 'av', 'video')
    """

    def __init__(self, what: str, module: str, extra: str) -> None:
        super().__init__(
            f"{what} needs the package {module!r}, which is not installed; install it with: "
            f"{install_command(extra)}",
            name=module,
        )
        self.what = what
        self.extra = extra


def install_command(extra: str) -> str:
    """The command that installs ``extra``.

    Example:
        >>> install_command("video")
        'pip install "cnnlstm[video]"'
    """
    return f'pip install "cnnlstm[{extra}]"'


def extra_for(module: str) -> str | None:
    """The first extra that installs ``module`` (a dotted name works), or ``None``."""
    top = module.split(".")[0]
    return next((extra for extra, modules in EXTRAS.items() if top in modules), None)


@contextlib.contextmanager
def importing(what: str, extra: str | None = None) -> Iterator[None]:
    """Turn a ``ModuleNotFoundError`` for a package of an extra into a :class:`MissingExtraError`.

    Args:
        what: what needs the packages, for the message (``"reading videos"``).
        extra: the extra to name; ``None`` names the first that installs the missing package.

    Raises:
        MissingExtraError: when a module imported inside the block is missing and belongs to
            an extra. Other errors, and missing modules of no extra, pass unchanged.

    Example:
        >>> import sys
        >>> sys.modules["av"], saved = None, sys.modules.get("av")  # as if PyAV were missing
        >>> try:
        ...     with importing("reading videos"):
        ...         import av
        ... except MissingExtraError as error:
        ...     print(error.extra)
        ... finally:
        ...     del sys.modules["av"]
        ...     if saved is not None:
        ...         sys.modules["av"] = saved
        video
    """
    try:
        yield
    except MissingExtraError:
        raise
    except ModuleNotFoundError as error:
        missing = missing_extra(error, what, extra)
        if missing is None:
            raise
        raise missing from None


def missing_extra(
    error: ModuleNotFoundError, what: str, extra: str | None = None
) -> MissingExtraError | None:
    """The :class:`MissingExtraError` for ``error``, or ``None`` when the missing module belongs
    to no extra.

    Args:
        error: the error an import raised.
        what: what needed the module, for the message.
        extra: the extra to name when it installs the module (the one a command needs); else
            the first extra that does.

    Example:
        >>> missing_extra(ModuleNotFoundError(name="pandas"), "cnnlstm detect", "detect").extra
        'detect'
        >>> missing_extra(ModuleNotFoundError(name="pandas"), "reading sensors").extra
        'sensors'
        >>> missing_extra(ModuleNotFoundError(name="torchvision"), "a model") is None
        True
    """
    module = (error.name or "").split(".")[0]
    found = extra_for(module)
    if found is None:
        return None
    chosen = extra if extra is not None and module in EXTRAS.get(extra, ()) else found
    return MissingExtraError(what, module, chosen)
