"""The detector settings ``cnnlstm benchmark files`` and ``skab`` let a user change.

Each is a default chosen on the development data (the design notes, "Defaults for other
machines") that trades one kind of plant against another, so a user can measure the other
choice on their own files: ``--level-mean`` (round 4), ``--pca-bound`` (round 6) and
``--level-floor`` (round 7). :func:`add_detector_options` adds the flags;
:func:`detector_settings` checks the values and gives the
:class:`~cnnlstm.anomaly.detector.AnomalyDetector` settings they name.
"""

from __future__ import annotations

import argparse
import math
from typing import Any

from cnnlstm.anomaly.held_shift import FAST, FLOOR
from cnnlstm.anomaly.row_checks import PCA_BOUND
from cnnlstm.commands import flag_name, positive_or_off, size_or_off

__all__ = ["add_detector_options", "detector_settings", "settings_label"]


def add_detector_options(parser: argparse.ArgumentParser) -> None:
    """Add ``--level-mean N``, ``--level-floor F`` and ``--pca-bound F|off``."""
    parser.add_argument(
        "--level-mean",
        metavar="N",
        type=int,
        help="the detector families' held-shift level score judges each sensor's mean over the "
        f"last N rows (default {FAST}, as cnnlstm detect; 10 for faults held a long time)",
    )
    parser.add_argument(
        "--level-floor",
        metavar="F|off",
        type=size_or_off,
        help="the level score's smallest unit, in a sensor's training sds (default "
        f"{FLOOR}, as cnnlstm detect; 0 or off: none)",
    )
    parser.add_argument(
        "--pca-bound",
        metavar="F|off",
        type=positive_or_off,
        help="a row moves T2's moving mean at most as a row at F times T2's alarm level would "
        f"(default {PCA_BOUND}, as cnnlstm detect; off: no bound)",
    )


def detector_settings(
    *,
    level_mean: int | None = None,
    level_floor: float | None = None,
    pca_bound: float | str | None = None,
) -> dict[str, Any]:
    """The detector settings the given flags name (None: the detector's default; ``pca_bound``
    ``"off"``: no bound).

    Raises:
        ValueError: a value out of range, named by its flag.

    Example:
        >>> detector_settings(level_mean=10, pca_bound="off")
        {'level_mean': 10, 'pca_bound': None}
    """
    settings: dict[str, Any] = {}
    if level_mean is not None:
        if isinstance(level_mean, bool) or not isinstance(level_mean, int) or level_mean < 1:
            raise ValueError(f"--level-mean has to be a positive int, but got {level_mean!r}")
        settings["level_mean"] = level_mean
    if level_floor is not None:
        if not 0 <= level_floor < math.inf:
            raise ValueError(
                f"--level-floor has to be a finite number >= 0, but got {level_floor!r}"
            )
        settings["level_floor"] = float(level_floor)
    if pca_bound is not None:
        if pca_bound != "off" and (isinstance(pca_bound, str) or not pca_bound > 0):
            raise ValueError(
                f"--pca-bound has to be a positive number or off, but got {pca_bound!r}"
            )
        settings["pca_bound"] = None if pca_bound == "off" else float(pca_bound)
    return settings


def settings_label(settings: dict[str, Any]) -> str:
    """The flags of ``settings`` as typed, for a table's title.

    Example:
        >>> settings_label({"level_mean": 10, "pca_bound": None})
        '--level-mean 10 --pca-bound off'
    """
    flags = []
    for name, value in settings.items():
        shown = "off" if value is None else f"{value:g}"
        flags.append(f"{flag_name(name)} {shown}")
    return " ".join(flags)
