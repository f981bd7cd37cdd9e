"""The model registry: ``@register_model``, ``create_model(name, **kwargs)``, ``list_models``.

Each model family is a factory function registered under its name (timm's pattern). A factory
takes keyword-only, typed arguments that all have defaults (LightningCLI and ``cnnlstm`` build
their options from them) and returns an ``nn.Module`` with timm's interface:
``forward_features``, ``forward_head``, ``num_features``, and ``example_input_shape`` (one
example's shape without the batch axis, so the command line and the tests can build inputs).

A factory spells out every argument with its default, also where it passes them on unchanged to
a class with the same defaults (``crnn`` and ``CRNN``, ``convlstm_forecaster`` and
``ConvLSTMForecaster``): the signature is the registry's record of the family. ``create_model``
checks a config's ``model_args`` against it, and ``model_info``, ``cnnlstm`` and
``cnnlstm compare`` read the arguments and defaults from it, so ``**kwargs`` would hide them
(``register_model`` refuses it). The tests check that such defaults agree.

Registering a name twice raises (as torchvision does; timm only warns). An unknown name or
argument raises :class:`~cnnlstm.errors.ConfigError` with the known ones and the closest match.

The built-in families (:mod:`cnnlstm.models.classifiers`, :mod:`cnnlstm.models.crnn`,
:mod:`cnnlstm.models.forecaster`) register themselves when imported; every function here imports
them first, so the registry is complete however it was reached.
"""

from __future__ import annotations

import difflib
import fnmatch
import importlib
import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from torch import nn

from cnnlstm import functional
from cnnlstm.errors import ConfigError

__all__ = ["ModelInfo", "create_model", "list_models", "model_info", "register_model"]

Factory = TypeVar("Factory", bound=Callable[..., nn.Module])

_REGISTRY: dict[str, Callable[..., nn.Module]] = {}

_BUILTIN_MODULES = (
    "cnnlstm.models.detectors",
    "cnnlstm.models.signatures",
    "cnnlstm.models.classifiers",
    "cnnlstm.models.crnn",
    "cnnlstm.models.forecaster",
)


def _load_builtin() -> None:
    """Import the modules whose factories register the built-in families (once; cached)."""
    for module in _BUILTIN_MODULES:
        importlib.import_module(module)


def _check_factory(name: str, factory: Callable[..., Any]) -> None:
    """Raise ``ValueError`` unless every argument of ``factory`` is keyword-only, typed, default."""
    try:
        parameters = inspect.signature(factory).parameters.values()
    except (TypeError, ValueError):
        raise ValueError(
            f"register_model({name!r}): the factory has to be a function with an inspectable "
            f"signature, but got {factory!r}."
        ) from None
    for parameter in parameters:
        problem = None
        if parameter.kind is not inspect.Parameter.KEYWORD_ONLY:
            problem = f"keyword-only (put '*' before it), but {parameter.name!r} is not"
        elif parameter.annotation is inspect.Parameter.empty:
            problem = f"typed, but {parameter.name!r} has no type hint"
        elif parameter.default is inspect.Parameter.empty:
            problem = f"given a default, but {parameter.name!r} has none"
        if problem is not None:
            raise ValueError(
                f"register_model({name!r}): every argument of a model factory has to be "
                f"{problem}. The command line builds its options from these arguments."
            )


def register_model(name: str | None = None) -> Callable[[Factory], Factory]:
    """Register a model factory under ``name`` (default: the function's name).

    The factory's arguments have to be keyword-only, typed and have defaults; its docstring's
    first line is the summary :func:`model_info` and ``cnnlstm`` show.

    Args:
        name: the registry name; defaults to ``factory.__name__``.

    Returns:
        A decorator that registers the factory and returns it unchanged.

    Raises:
        ValueError: the name is empty or taken, or an argument of the factory is positional,
            untyped or has no default.

    Example:
        >>> import torch
        >>> @register_model("doc_tiny_linear")
        ... def tiny_linear(*, features: int = 4) -> nn.Module:
        ...     '''A linear layer (an example).'''
        ...     return nn.Linear(features, 2)
        >>> create_model("doc_tiny_linear", features=3)(torch.zeros(5, 3)).shape
        torch.Size([5, 2])
        >>> _ = _REGISTRY.pop("doc_tiny_linear")
    """
    if name is not None and (not isinstance(name, str) or not name.strip()):
        raise ValueError(f"register_model: name has to be a non-empty string, but got {name!r}.")

    def decorator(factory: Factory) -> Factory:
        key = name if name is not None else getattr(factory, "__name__", "")
        if not key:
            raise ValueError(
                f"register_model: name has to be given for a factory without a __name__, but "
                f"got {factory!r}."
            )
        if key in _REGISTRY:
            existing = _REGISTRY[key]
            raise ValueError(
                f"register_model: name has to be unused, but got {key!r}, which is already "
                f"registered by {existing.__module__}.{existing.__qualname__}. Pick another name."
            )
        _check_factory(key, factory)
        _REGISTRY[key] = factory
        return factory

    return decorator


def _factory(name: str) -> Callable[..., nn.Module]:
    """The factory registered as ``name``; ConfigError with the known names otherwise."""
    _load_builtin()
    if not isinstance(name, str) or name not in _REGISTRY:
        known = sorted(_REGISTRY)
        close = difflib.get_close_matches(str(name), known, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ConfigError(
            f"Unknown model {name!r}.{hint} Known models: {', '.join(known) or '(none)'}."
        )
    return _REGISTRY[name]


def create_model(name: str, **kwargs: Any) -> nn.Module:
    """Build the model registered as ``name`` with the factory's keyword arguments.

    Args:
        name: a name from :func:`list_models`.
        **kwargs: arguments of that factory (see :func:`model_info`).

    Returns:
        The model, with ``forward_features``, ``forward_head``, ``num_features`` and
        ``example_input_shape``.

    Raises:
        ConfigError: an unknown name (the message lists the known ones and the closest
            match), an argument the factory does not take (the message lists the ones it does),
            or argument values the factory rejects.

    Example:
        >>> import torch
        >>> model = create_model("clip_classifier", num_classes=5, channels=(4, 8),
        ...                      hidden_size=8, frames=4, image_size=(16, 16))
        >>> model(torch.zeros(2, *model.example_input_shape)).shape
        torch.Size([2, 5])
    """
    factory = _factory(name)
    accepted = list(inspect.signature(factory).parameters)
    for key in kwargs:
        if key not in accepted:
            close = difflib.get_close_matches(key, accepted, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise ConfigError(
                f"create_model({name!r}): unknown argument {key!r}.{hint} {name} takes: "
                f"{', '.join(accepted) or '(no arguments)'}."
            )
    return factory(**kwargs)


def list_models(pattern: str = "*") -> list[str]:
    """The registered names that match ``pattern`` (shell-style: ``*``, ``?``, ``[ab]``), sorted.

    Example:
        >>> list_models("clip_*")
        ['clip_classifier']
    """
    _load_builtin()
    return sorted(n for n in _REGISTRY if fnmatch.fnmatchcase(n, pattern))


@dataclass(frozen=True)
class ModelInfo:
    """What :func:`model_info` tells about a registered model.

    Attributes:
        name: the registry name.
        summary: the first line of the factory's docstring.
        signature: the factory's signature, e.g. ``(*, num_classes: int = 10, ...) -> nn.Module``.
        defaults: each argument's default value, in the signature's order.
    """

    name: str
    summary: str
    signature: str
    defaults: dict[str, Any]

    def __str__(self) -> str:
        return f"{self.name}{self.signature}\n    {self.summary}"


def model_info(name: str) -> ModelInfo:
    """The summary (docstring's first line), signature and defaults of a registered model.

    Raises:
        ConfigError: an unknown name.

    Example:
        >>> model_info("crnn").defaults["num_layers"]
        2
    """
    factory = _factory(name)
    try:  # resolve the string annotations of ``from __future__ import annotations``
        signature = inspect.signature(factory, eval_str=True)
    except Exception:
        signature = inspect.signature(factory)
    doc = inspect.getdoc(factory) or ""
    summary = doc.strip().splitlines()[0] if doc.strip() else ""
    defaults = {key: p.default for key, p in signature.parameters.items()}
    return ModelInfo(name=name, summary=summary, signature=str(signature), defaults=defaults)


# --- Argument checks the factories share: ConfigError, worded "has to be X, but got Y" ---------


def check_choice(who: str, name: str, value: object, choices: Sequence[object]) -> None:
    """Raise ConfigError naming the valid ``choices`` unless ``value`` is one of them.

    :func:`cnnlstm.functional.check_choice`'s check and message, as a ConfigError.
    """
    functional.check_choice(name, value, choices, who, error=ConfigError)


def check_positive_int(who: str, name: str, value: object) -> int:
    """Return ``value`` if it is a positive int, else raise ConfigError."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{who}: {name} has to be a positive int, but got {value!r}.")
    return value


def check_ints(who: str, name: str, value: object, *, size: int | None = None) -> tuple[int, ...]:
    """Return a sequence of positive ints (of ``size`` entries if given) as a tuple."""
    if not isinstance(value, (str, bytes)) and isinstance(value, Sequence):
        items = tuple(value)
        if (len(items) == size if size is not None else len(items) > 0) and all(
            isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in items
        ):
            return tuple(int(v) for v in items)
    what = f"{size} positive ints" if size is not None else "a non-empty sequence of positive ints"
    raise ConfigError(f"{who}: {name} has to be {what}, but got {value!r}.")


def check_probability(who: str, name: str, value: object) -> float:
    """Return ``value`` as a float if it is in [0, 1), else raise ConfigError."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
        raise ConfigError(f"{who}: {name} has to be a probability in [0, 1), but got {value!r}.")
    return float(value)
