"""A fitted :class:`~cnnlstm.anomaly.detector.AnomalyDetector` as one file, and back.

:func:`detector_state` is what :meth:`AnomalyDetector.save
<cnnlstm.anomaly.detector.AnomalyDetector.save>` writes with ``torch.save``: plain values and
tensors only, so :func:`read_state` loads it with ``weights_only=True`` (no code runs).
:func:`read_state` also completes the settings of a file saved before a setting existed
(:data:`BEFORE`), so an older file scores as it did; :func:`restore_fitted` puts the fitted
parts into a detector built from those settings.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from cnnlstm.anomaly.held_shift import HeldShift
from cnnlstm.anomaly.row_checks import RowChecks
from cnnlstm.data.scaler import StandardScaler
from cnnlstm.errors import DataError

if TYPE_CHECKING:  # the detector saves and loads itself through these: the type alone
    from cnnlstm.anomaly.detector import AnomalyDetector

__all__ = ["BEFORE", "FORMAT", "SETTINGS", "detector_state", "read_state", "restore_fitted"]

FORMAT = "cnnlstm.AnomalyDetector/1"
"""The ``format`` a saved detector's file names."""
SETTINGS = (
    "window", "epochs", "steps", "batch_size", "lr", "threshold", "quantile", "factor",
    "pot_init", "holdout", "smooth", "combine", "scoring", "error_weight", "pca_factor",
    "pca_tau", "pca_bound", "level_mean", "level_floor", "discrete", "seed", "num_threads",
)  # fmt: skip
"""The constructor settings a file keeps (beside ``model`` and ``model_args``)."""
BEFORE: dict[str, Any] = {
    "combine": "mean",
    "steps": None,
    "error_weight": 0.5,
    "pca_factor": None,
    "pca_tau": None,
    "pca_bound": None,
    "level_mean": 10,
    "level_floor": 0.0,
    "discrete": False,
}
"""The settings of files saved before each existed: the sensors' mean, no budget (they are
fitted already), the error at half weight, no row checks, no bound on T²'s moving mean, the level
score's 10-row mean and no floor on its unit."""


def detector_state(detector: AnomalyDetector) -> dict[str, Any]:
    """Everything a fitted detector needs to score again, as plain values and tensors."""
    model = detector.fitted_model()
    optional = {"level_": detector.level_, "checks_": detector.checks_}
    return {
        "format": FORMAT,
        "model": detector.model_name,
        "model_args": {
            k: list(v) if isinstance(v, tuple) else v for k, v in detector.model_args.items()
        },
        "config": {name: getattr(detector, name) for name in SETTINGS},
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "scaler": detector.scaler.state_dict(),
        "threshold_": detector.threshold_,
        "columns_": list(detector.columns_),
        "error_scale_": torch.from_numpy(detector.error_scale_.copy()),
        "train_scores_": torch.from_numpy(detector.train_scores_.copy()),
        "error_threshold_": detector.error_threshold_,
        "level_threshold_": detector.level_threshold_,
        "longest_repeat_": torch.from_numpy(detector.longest_repeat_.copy()),
        **{name: None if part is None else part.state_dict() for name, part in optional.items()},
    }


def read_state(path: Path) -> dict[str, Any]:
    """The state :func:`detector_state` gave, read from ``path``, its settings completed.

    Raises:
        DataError: the file is missing or not a saved detector.
    """
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise DataError(f"{path}: no such file.") from None
    except Exception as error:
        raise DataError(f"{path}: not a saved AnomalyDetector ({error}).") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise DataError(f"{path}: not a saved AnomalyDetector (format {FORMAT}).")
    state["config"] = {**BEFORE, **state["config"]}
    return state


def restore_fitted(detector: AnomalyDetector, state: dict[str, Any], path: Path) -> None:
    """Put the fitted parts of ``state`` into ``detector``, built from its settings.

    Raises:
        DataError: the weights do not fit the model those settings build.
    """
    detector.columns_ = list(state["columns_"])
    detector.n_features_ = len(detector.columns_)
    detector.scaler = StandardScaler().load_state_dict(state["scaler"])
    model = detector.build_model(detector.n_features_)
    try:
        model.load_state_dict(state["state_dict"])
    except RuntimeError as error:  # e.g. saved when the family had other default sizes
        first = str(error).strip().splitlines()[-1].strip()
        raise DataError(
            f"{path}: its weights do not fit a {state['model']!r} built from the saved "
            f"settings ({first}); it was saved by another cnnlstm version: fit it again."
        ) from None
    detector.model_ = model.eval()
    detector.threshold_ = float(state["threshold_"])
    detector.error_scale_ = state["error_scale_"].numpy()
    detector.train_scores_ = state["train_scores_"].numpy()
    detector.error_threshold_ = float(state.get("error_threshold_", detector.threshold_))
    detector.level_threshold_ = float(state.get("level_threshold_", math.nan))
    if state.get("longest_repeat_") is not None:  # saved before it was kept: unknown
        detector.longest_repeat_ = state["longest_repeat_"].numpy()
    if state.get("level_") is not None:
        detector.level_ = HeldShift.from_state_dict(state["level_"])
    if state.get("checks_") is not None:
        detector.checks_ = RowChecks.from_state_dict(state["checks_"])
