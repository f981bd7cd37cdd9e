"""The checks of :class:`~cnnlstm.anomaly.detector.AnomalyDetector`'s settings, made when it is
built, so a bad setting stops a run before any row is read.

Each message names the setting as the constructor spells it (``level_mean has to be ...``);
``cnnlstm detect`` turns that name into its flag.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from cnnlstm.anomaly.row_checks import check_pca_settings

__all__ = ["check_settings"]


def _is_count(value: object, least: int) -> bool:
    """An int (not a bool) of at least ``least``."""
    return isinstance(value, int) and not isinstance(value, bool) and value >= least


def check_settings(
    *,
    model_args: Mapping[str, Any],
    window: int,
    epochs: int,
    steps: int | None,
    batch_size: int,
    lr: float,
    threshold: str,
    quantile: float,
    factor: float,
    pot_init: float,
    holdout: float,
    smooth: int,
    combine: str,
    scoring: str,
    error_weight: float,
    pca_factor: float | None,
    pca_tau: int | None,
    pca_bound: float | None,
    level_mean: int,
    level_floor: float,
    num_threads: int,
) -> None:
    """Raise ``ValueError`` for the first setting out of its range (see ``AnomalyDetector``).

    Example:
        >>> from cnnlstm.anomaly.detector import AnomalyDetector
        >>> AnomalyDetector(level_mean=0)
        Traceback (most recent call last):
        ...
        ValueError: level_mean has to be a positive int, but got 0
    """
    counts = {
        "window": window,
        "epochs": epochs,
        "batch_size": batch_size,
        "smooth": smooth,
        "level_mean": level_mean,
    }
    for name, value in counts.items():
        if not _is_count(value, 1):
            raise ValueError(f"{name} has to be a positive int, but got {value!r}")
    rules: tuple[tuple[str, object, bool, str], ...] = (
        ("steps", steps, steps is None or _is_count(steps, 1), "a positive int or None"),
        ("window", window, window >= 2, "at least 2"),
        ("lr", lr, lr > 0, "positive"),
        ("combine", combine, combine in ("max", "mean"), "'max' or 'mean'"),
        ("threshold", threshold, threshold in ("quantile", "pot"), "'quantile' or 'pot'"),
        ("quantile", quantile, 0 < quantile < 1, "in (0, 1)"),
        (
            "pot_init",
            pot_init,
            threshold != "pot" or 0 < pot_init < quantile,
            f"in (0, quantile) = (0, {quantile})",
        ),
        ("num_threads", num_threads, _is_count(num_threads, 0), "a non-negative int"),
        ("holdout", holdout, 0 <= holdout < 1, "in [0, 1)"),
        ("factor", factor, factor > 0, "positive"),
        ("scoring", scoring, scoring in ("error", "level"), "'error' or 'level'"),
        ("error_weight", error_weight, error_weight > 0, "positive"),
        ("level_floor", level_floor, 0 <= level_floor < math.inf, "a finite number >= 0"),
    )
    for setting, given, ok, want in rules:
        if not ok:
            raise ValueError(f"{setting} has to be {want}, but got {given!r}")
    check_pca_settings(pca_factor, pca_tau, pca_bound)
    for key in ("n_sensors", "window"):
        if key in model_args:
            raise ValueError(
                f"model_args has to leave out {key!r} (the detector sets it), but got "
                f"{key}={model_args[key]!r}"
            )
