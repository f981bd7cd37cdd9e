"""What ``cnnlstm benchmark``'s protocols share: the models a run may name, and files run in order.

A protocol runs detector families (:data:`~cnnlstm.models.detectors.DETECTOR_FAMILIES`, fitted as
:class:`~cnnlstm.anomaly.detector.AnomalyDetector`) and the classic baselines
(:data:`~cnnlstm.anomaly.baselines.BASELINES`: ``pca``, ``zscore``), chosen with ``--model`` and
``--models`` (:func:`add_model_options`, :func:`chosen_models`). :func:`in_order` runs one
function per file, in this process or in processes of their own (one torch thread each), and
yields the results in the files' order, so a table does not depend on ``--jobs``.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import multiprocessing
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

from cnnlstm.anomaly.baselines import BASELINES
from cnnlstm.models.detectors import DETECTOR_FAMILIES

__all__ = [
    "BASELINE_MODELS",
    "MODELS",
    "add_model_options",
    "check_jobs",
    "chosen_models",
    "in_order",
    "one_thread",
]

BASELINE_MODELS: tuple[str, ...] = tuple(BASELINES)
"""The baselines a run may name: ``pca`` (Hotelling T²) and ``zscore`` (the largest |z|)."""
MODELS: tuple[str, ...] = (*DETECTOR_FAMILIES, *BASELINE_MODELS)
"""Every model a run may name: the detector families, then the baselines."""

_R = TypeVar("_R")


def add_model_options(
    parser: argparse.ArgumentParser, default: Sequence[str], *, unit: str = "files"
) -> None:
    """Add ``--model NAME`` (repeatable), ``--models A,B``, ``--seed`` and ``--jobs N`` (how
    many ``unit`` run at once)."""
    parser.add_argument(
        "--model",
        action="append",
        metavar="NAME",
        help=f"a model to run (repeat for several): a detector family "
        f"({', '.join(DETECTOR_FAMILIES)}) or a baseline ({', '.join(BASELINE_MODELS)}); "
        f"default: {', '.join(default)}",
    )
    parser.add_argument(
        "--models",
        metavar="A,B",
        help="models to run, comma-separated (added to any --model)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seeds every detector (default 0)")
    parser.add_argument(
        "--jobs",
        "-j",
        metavar="N",
        type=int,
        default=1,
        help=f"{unit} run at once, each in its own process (default 1); the figures do not "
        "depend on it, only the seconds",
    )


def chosen_models(args: argparse.Namespace, default: Sequence[str]) -> tuple[str, ...]:
    """The models ``--model`` and ``--models`` name, in order and once each, else ``default``.

    Raises:
        ValueError: a name that is neither a detector family nor a baseline.

    Example:
        >>> chosen_models(argparse.Namespace(model=["pca"], models="zscore, pca"), ["mscred"])
        ('pca', 'zscore')
    """
    chosen = list(args.model or [])
    chosen += [n.strip() for n in (getattr(args, "models", None) or "").split(",") if n.strip()]
    models = tuple(dict.fromkeys(chosen)) if chosen else tuple(default)
    unknown = [name for name in models if name not in MODELS]
    if unknown:
        named = (("--model", args.model), ("--models", getattr(args, "models", None)))
        given = [flag for flag, value in named if value] or ["--model"]
        flags = " and ".join(given) + (" have" if len(given) > 1 else " has")
        raise ValueError(
            f"{flags} to name the detector families {', '.join(DETECTOR_FAMILIES)} or "
            f"the baselines {', '.join(BASELINE_MODELS)}, but got {', '.join(unknown)}"
        )
    return models


def check_jobs(jobs: object) -> int:
    """``jobs`` when it is a positive int.

    Raises:
        ValueError: anything else.
    """
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise ValueError(f"--jobs has to be a positive int, but got {jobs!r}")
    return jobs


def in_order(
    function: Callable[..., _R], arguments: Sequence[tuple[Any, ...]], jobs: int
) -> Iterator[_R]:
    """``function(*a)`` for each ``a`` of ``arguments``, yielded in their order: in this process
    with one job, else ``jobs`` at once in processes of their own (``forkserver`` or ``spawn``,
    one torch thread each). ``function`` has to be a module-level function (it is pickled)."""
    if check_jobs(jobs) == 1 or len(arguments) <= 1:
        for item in arguments:
            yield function(*item)
        return
    methods = multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")
    with concurrent.futures.ProcessPoolExecutor(
        max_workers=min(jobs, len(arguments)), mp_context=context, initializer=one_thread
    ) as pool:
        yield from pool.map(function, *zip(*arguments, strict=True))


def one_thread() -> None:
    """Set torch to one thread (the initializer of :func:`in_order`'s processes)."""
    import torch

    torch.set_num_threads(1)
