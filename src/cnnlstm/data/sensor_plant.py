"""A simulated sensor plant: correlated multivariate streams with labelled anomalies, SKAB style.

The plant (fixed by ``seed``) has ``n_sensors`` sensors, each with its own level, gain, lag and
noise. All of them follow one shared load process: a daily-like cycle of ``period`` rows with a
harmonic, plus a slow random (AR(1)) wander. Each sensor adds a small cycle of its own and white
noise. So in normal operation the channels are strongly correlated; the anomalies break that in
the ways real plants do:

========== ===========================================================================
kind       what happens in the segment
========== ===========================================================================
spike      1-5 rows of outliers of 2.5-4 standard deviations on one or two sensors
drift      one sensor drifts off linearly, reaching 2-4 standard deviations at the end
stuck      one sensor freezes at its last value (a flat line)
decouple   one sensor stops following the load (same level and spread, zero correlation)
noise      one or two sensors get 3-5 times their noise
========== ===========================================================================

``generate(rows)`` returns a frame in the layout of SKAB (Skoltech Anomaly Benchmark):
``datetime`` at 1 Hz from ``start``, the sensor columns, then ``anomaly`` (1.0 inside a segment)
and ``changepoint`` (1.0 on the first row of a segment and on the first row after it, as SKAB
marks them). Segments are half-open ``[start, end)`` rows; the first ``normal_rows`` rows are
always clean, for fitting a detector. :meth:`SensorPlant.write_csv` writes that frame the way
SKAB's files are written (``;`` separated, ``YYYY-MM-DD HH:MM:SS`` times).
"""

from __future__ import annotations

import copy
import math
import os
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

from cnnlstm.data.skab_files import SkabWriter, start_time
from cnnlstm.extras import importing

if TYPE_CHECKING:  # pandas loads on first use: `import cnnlstm` stays fast
    import pandas as pd

__all__ = [
    "ANOMALY_KINDS",
    "CHUNK_ROWS",
    "Anomaly",
    "PlantChunk",
    "SensorPlant",
    "sensor_names",
]

ANOMALY_KINDS: tuple[str, ...] = ("spike", "drift", "stuck", "decouple", "noise")
"""The kinds of anomaly :class:`SensorPlant` can inject."""

# segment length in rows, (low, high) inclusive, per kind
_LENGTHS: dict[str, tuple[int, int]] = {
    "spike": (1, 5),
    "drift": (80, 200),
    "stuck": (40, 120),
    "decouple": (100, 200),
    "noise": (60, 150),
}

# name, level, load gain, sign of the load's effect: SKAB's testbed sensors and their scales
_SENSORS: tuple[tuple[str, float, float, float], ...] = (
    ("Accelerometer1RMS", 0.21, 0.012, 1.0),
    ("Accelerometer2RMS", 0.27, 0.016, 1.0),
    ("Current", 2.2, 0.35, 1.0),
    ("Pressure", 0.3, 0.25, -1.0),
    ("Temperature", 88.0, 1.5, 1.0),
    ("Thermocouple", 27.0, 0.5, 1.0),
    ("Voltage", 232.0, 5.0, -1.0),
    ("Volume Flow RateRMS", 122.0, 3.0, 1.0),
)

_MAX_LAG = 6
_AR = 0.995  # the load's slow wander: AR(1) coefficient
_WANDER = 0.5  # and its standard deviation, next to the unit-amplitude daily cycle
_HARMONIC = 0.3
_DUTY = 0.5  # amplitude of the shared fast duty cycle of the load
_OWN_CYCLE = 0.1  # each sensor's own cycle, as a fraction of its gain
_SHOCK = math.sqrt(1.0 - _AR**2)  # the wander's shocks' standard deviation
_SKIP_ROWS = 1 << 16  # random draws are discarded this many at a time
_LOAD_STD = math.sqrt(0.5 + _HARMONIC**2 / 2 + _DUTY**2 / 2 + _WANDER**2)  # std of the load process


class Anomaly(NamedTuple):
    """One injected anomaly: rows ``[start, end)``, its kind, and the sensors it touches."""

    start: int
    end: int
    kind: str
    sensors: tuple[str, ...]


CHUNK_ROWS = 20_000
"""Rows per part of :meth:`SensorPlant.chunks` and :meth:`SensorPlant.write_csv_in_chunks`
(a part grows to hold an anomaly whole)."""


def _ar1(shocks: np.ndarray, *, previous: float, first: float | None) -> np.ndarray:
    """``w[k] = AR * w[k - 1] + shocks[k]`` from ``w[-1] = previous`` (or ``w[0] = first``, its
    shock unused), in Python floats: the same double arithmetic as numpy's scalars, faster."""
    values = shocks.tolist()
    start = 0
    if first is not None and values:
        values[0], previous, start = first, first, 1
    for k in range(start, len(values)):
        previous = _AR * previous + values[k]
        values[k] = previous
    return np.asarray(values, dtype=np.float64)


class PlantChunk(NamedTuple):
    """Consecutive rows of a recording made in parts (:meth:`SensorPlant.chunks`)."""

    start: int
    """The recording's row of the part's first row."""
    values: np.ndarray
    """``(n, S)`` float64 sensor values."""
    anomaly: np.ndarray
    """``(n,)`` float64 0/1 labels, as :meth:`SensorPlant.generate`'s ``anomaly`` column."""
    changepoint: np.ndarray
    """``(n,)`` float64 0/1, as its ``changepoint`` column."""
    anomalies: list[Anomaly]
    """The anomalies that start in the part (each lies in it whole)."""


def sensor_names(n_sensors: int) -> list[str]:
    """Column names: SKAB's eight sensor names, then ``Name_2``, ``Name_3``... for more units.

    Example:
        >>> sensor_names(10)[-2:]
        ['Accelerometer1RMS_2', 'Accelerometer2RMS_2']
    """
    names = []
    for s in range(n_sensors):
        base = _SENSORS[s % len(_SENSORS)][0]
        unit = s // len(_SENSORS) + 1
        names.append(base if unit == 1 else f"{base}_{unit}")
    return names


def _bounds(
    rows: int, chunk_rows: int, segments: Sequence[tuple[int, int]]
) -> list[tuple[int, int]]:
    """Consecutive ``[a, b)`` parts of about ``chunk_rows`` rows; a part that would end inside a
    segment (or at its first row) ends at the segment's end instead.

    Example:
        >>> _bounds(10, 4, [(3, 6)])
        [(0, 6), (6, 10)]
    """
    bounds, a = [], 0
    while a < rows:
        b = min(a + chunk_rows, rows)
        for start, end in segments:
            if start <= b < end:
                b = end
        bounds.append((a, b))
        a = b
    return bounds


class SensorPlant(Dataset[tuple[Tensor, Tensor]], SkabWriter):
    """Generator of correlated sensor streams with labelled anomalies (see the module docstring).

    The plant's sensors (levels, gains, lags, noise) are fixed by ``seed``; each recording
    ``index`` draws a new load and noise from ``(seed, index)``. :meth:`generate` makes a
    recording with anomalies, :meth:`normal` an anomaly-free one (a different recording of the
    same plant, as SKAB's ``anomaly-free.csv`` is). As a ``Dataset``, item ``i`` is recording
    ``i`` of ``rows`` rows as tensors.

    Args:
        n_sensors: sensors, 8 to 64.
        seed: fixes the plant and, with the index, each recording.
        anomaly_kinds: the kinds to inject, from :data:`ANOMALY_KINDS`; each recording cycles
            through them in a random order.
        n_anomalies: anomalies per recording.
        normal_rows: the clean rows at the start of each recording, for fitting.
        min_gap: the fewest normal rows between two anomalies (and after the last one).
        period: the length in rows (seconds) of the load's daily-like cycle.
        rows: the rows of the recordings the ``Dataset`` items hold.
        num_samples: the length of the ``Dataset``.
        start: the time of the first row.

    Raises:
        ValueError: for counts or kinds out of range, or ``rows`` below :attr:`min_rows`.

    Example:
        >>> plant = SensorPlant(n_sensors=8, seed=0)
        >>> frame = plant.generate(1500)
        >>> frame.shape
        (1500, 11)
    """

    def __init__(
        self,
        *,
        n_sensors: int = 8,
        seed: int = 0,
        anomaly_kinds: Sequence[str] = ANOMALY_KINDS,
        n_anomalies: int = 5,
        normal_rows: int = 400,
        min_gap: int = 60,
        period: int = 600,
        rows: int = 2000,
        num_samples: int = 16,
        start: str = "2021-01-01 00:00:00",
    ) -> None:
        with importing("reading and writing sensor files (cnnlstm.data.sensor_plant)", "sensors"):
            import pandas  # noqa: F401  (a missing extra is said when the generator is made)

        super().__init__()
        if not 8 <= n_sensors <= 64:
            raise ValueError(f"n_sensors has to be in [8, 64], but got {n_sensors}")
        kinds = tuple(anomaly_kinds)
        unknown = [k for k in kinds if k not in ANOMALY_KINDS]
        if unknown or (n_anomalies > 0 and not kinds) or len(set(kinds)) != len(kinds):
            raise ValueError(
                f"anomaly_kinds has to be distinct kinds from {ANOMALY_KINDS}, but got {kinds}"
            )
        if n_anomalies < 0:
            raise ValueError(f"n_anomalies has to be >= 0, but got {n_anomalies}")
        if normal_rows < 0:
            raise ValueError(f"normal_rows has to be >= 0, but got {normal_rows}")
        if min_gap < 1:
            raise ValueError(f"min_gap has to be >= 1, but got {min_gap}")
        if period < 10:
            raise ValueError(f"period has to be at least 10 rows, but got {period}")
        if num_samples < 1:
            raise ValueError(f"num_samples has to be at least 1, but got {num_samples}")
        self.start = start_time(start)
        self.n_sensors = n_sensors
        self.seed = seed
        self.anomaly_kinds = kinds
        self.n_anomalies = n_anomalies
        self.normal_rows = normal_rows
        self.min_gap = min_gap
        self.period = period
        self.sensor_names = sensor_names(n_sensors)
        self.anomalies: list[Anomaly] = []
        """The anomalies of the last :meth:`generate` call."""
        if rows < self.min_rows:
            raise ValueError(
                f"rows has to be at least min_rows={self.min_rows} for {n_anomalies} anomalies "
                f"after {normal_rows} normal rows, but got {rows}"
            )
        self.rows = rows
        self.num_samples = num_samples

        plant = np.random.default_rng([seed, 0])
        bases = [_SENSORS[s % len(_SENSORS)] for s in range(n_sensors)]
        self._level = np.array([b[1] for b in bases]) * plant.uniform(0.95, 1.05, n_sensors)
        self._gain = np.array([b[2] for b in bases]) * plant.uniform(0.8, 1.25, n_sensors)
        self._sign = np.array([b[3] for b in bases])
        self._lag = plant.integers(0, _MAX_LAG + 1, n_sensors)
        self._sigma = self._gain * plant.uniform(0.1, 0.2, n_sensors)  # noise std
        self._own_period = plant.uniform(20.0, 45.0, n_sensors)
        self._load_period = period * plant.uniform(0.9, 1.1)
        self._duty_period = plant.uniform(50.0, 90.0)
        # a sensor's standard deviation in normal operation: the unit of spikes and drifts
        own = self._gain * _OWN_CYCLE / math.sqrt(2.0)
        self._std = np.sqrt((self._gain * _LOAD_STD) ** 2 + own**2 + self._sigma**2)

    @property
    def min_rows(self) -> int:
        """The fewest rows that fit ``n_anomalies`` of the longest kinds after the clean rows."""
        if self.n_anomalies == 0:
            return 1
        longest = sorted((_LENGTHS[k][1] for k in self.anomaly_kinds), reverse=True)
        total = sum(longest[i % len(longest)] for i in range(self.n_anomalies))
        return self.normal_rows + total + (self.n_anomalies + 1) * self.min_gap

    def __len__(self) -> int:
        return self.num_samples

    def _load(self, rng: np.random.Generator, rows: int) -> np.ndarray:
        """``(rows + max lag,)``: the shared load, row ``k`` being time ``k - max lag``."""
        n = rows + _MAX_LAG
        phases = rng.uniform(0.0, 2.0 * math.pi, 3)
        shocks = rng.normal(0.0, _SHOCK, n)
        first = float(rng.normal())
        wander = _ar1(shocks, previous=0.0, first=first)
        return self._cycle(np.arange(n, dtype=np.float64), phases) + _WANDER * wander

    def _cycle(self, t: np.ndarray, phases: np.ndarray) -> np.ndarray:
        """The load's cycles at load rows ``t`` (time ``t - max lag``), value for value the same
        for any part of the rows."""
        phase, phase2, phase3 = phases
        cycle = np.sin(2.0 * math.pi * t / self._load_period + phase)
        cycle += _HARMONIC * np.sin(4.0 * math.pi * t / self._load_period + phase2)
        cycle += _DUTY * np.sin(2.0 * math.pi * t / self._duty_period + phase3)
        return np.asarray(cycle)

    def _lagged(self, load: np.ndarray, rows: int) -> np.ndarray:
        """``(rows, S)``: the load each sensor sees, delayed by its lag (``load[0]`` is the
        first row's time minus the max lag)."""
        idx = np.arange(rows)[:, None] + _MAX_LAG - self._lag[None, :]  # (rows, S)
        return np.asarray(load[idx])

    def _recording(self, rng: np.random.Generator, rows: int) -> tuple[np.ndarray, np.ndarray]:
        """``(values (rows, S), load (rows, S))``: one clean recording and the load each sensor
        saw (lagged)."""
        lagged = self._lagged(self._load(rng, rows), rows)
        t = np.arange(rows, dtype=np.float64)[:, None]
        phases = rng.uniform(0.0, 2.0 * math.pi, self.n_sensors)
        noise = rng.normal(0.0, 1.0, (rows, self.n_sensors))
        return self._values(t, lagged, phases, noise), lagged

    def _values(
        self, t: np.ndarray, lagged: np.ndarray, phases: np.ndarray, noise: np.ndarray
    ) -> np.ndarray:
        """``(n, S)`` sensor values at rows ``t`` ``(n, 1)`` from the load they saw, their own
        cycles' phases and standard normal noise ``(n, S)``."""
        own = _OWN_CYCLE * np.sin(2.0 * math.pi * t / self._own_period + phases)  # (n, S)
        signal = self._sign * self._gain * (lagged + own)
        return np.asarray(self._level + signal + noise * self._sigma)

    def _recording_parts(
        self, rng: np.random.Generator, rows: int, bounds: Sequence[tuple[int, int]]
    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """:meth:`_recording`'s rows ``[a, b)`` for each of ``bounds`` (consecutive, from 0),
        value for value, in memory bounded by the longest part.

        :meth:`_recording` draws, from one generator: the load's 3 phases, its ``rows + max lag``
        shocks, the wander's first value, the sensors' phases, then the noise row by row. Here a
        copy of the generator stays where the shocks begin and the original is moved past them
        (drawn and discarded), so each part draws its shocks and its noise in step."""
        n = rows + _MAX_LAG
        load_phases = rng.uniform(0.0, 2.0 * math.pi, 3)
        shocks = copy.deepcopy(rng)  # at the shocks
        for done in range(0, n, _SKIP_ROWS):  # the original past them
            rng.normal(0.0, _SHOCK, min(_SKIP_ROWS, n - done))
        first = float(rng.normal())
        phases = rng.uniform(0.0, 2.0 * math.pi, self.n_sensors)
        load = np.zeros(0)  # the load of rows [a - max lag, b): load rows [a, b + max lag)
        previous, made = 0.0, 0  # the wander's last value, the load rows made
        for a, b in bounds:
            wander = _ar1(
                shocks.normal(0.0, _SHOCK, b + _MAX_LAG - made),
                previous=previous,
                first=first if made == 0 else None,
            )
            t = np.arange(made, b + _MAX_LAG, dtype=np.float64)
            fresh = self._cycle(t, load_phases) + _WANDER * wander
            load = np.concatenate([load[len(load) - _MAX_LAG :], fresh]) if made else fresh
            previous, made = float(wander[-1]), b + _MAX_LAG
            lagged = self._lagged(load, b - a)  # (b - a, S)
            noise = rng.normal(0.0, 1.0, (b - a, self.n_sensors))
            times = np.arange(a, b, dtype=np.float64)[:, None]
            yield self._values(times, lagged, phases, noise), lagged

    def _place(self, rng: np.random.Generator, rows: int) -> list[tuple[int, int, str]]:
        """Draw the kinds, lengths and places of the anomalies: ``(start, end, kind)``."""
        if self.n_anomalies == 0:
            return []
        order = [str(k) for k in rng.permutation(np.array(self.anomaly_kinds))]
        kinds = [order[i % len(order)] for i in range(self.n_anomalies)]
        lengths = [int(rng.integers(_LENGTHS[k][0], _LENGTHS[k][1] + 1)) for k in kinds]
        slack = rows - self.normal_rows - sum(lengths) - (self.n_anomalies + 1) * self.min_gap
        cuts = np.sort(rng.integers(0, slack + 1, self.n_anomalies))
        extra = np.diff(np.concatenate([[0], cuts]))  # (n,): extra gap before each anomaly
        placed, at = [], self.normal_rows
        for kind, length, more in zip(kinds, lengths, extra, strict=True):
            at += self.min_gap + int(more)
            placed.append((at, at + length, kind))
            at += length
        return placed

    def _decoupled(self, rng: np.random.Generator, seen: np.ndarray) -> np.ndarray:
        """A load of the same level and spread as ``seen`` but with zero sample correlation."""
        n = len(seen)
        other = self._load(rng, n)[_MAX_LAG:]
        centred = seen - seen.mean()
        other = other - other.mean()
        denom = float(centred @ centred)
        if denom > 0.0:
            other = other - (other @ centred) / denom * centred  # orthogonal to the true load
        spread = other.std()
        scale = seen.std() / spread if spread > 0.0 else 0.0
        return np.asarray(seen.mean() + scale * other)

    def _inject(
        self, rng: np.random.Generator, values: np.ndarray, load: np.ndarray
    ) -> list[Anomaly]:
        return [
            self._inject_one(rng, values, load, start, end, kind)
            for start, end, kind in self._place(rng, len(values))
        ]

    def _inject_one(
        self,
        rng: np.random.Generator,
        values: np.ndarray,
        load: np.ndarray,
        start: int,
        end: int,
        kind: str,
        *,
        offset: int = 0,
    ) -> Anomaly:
        """Inject one anomaly into rows ``[start, end)`` of ``values`` (and the row before it,
        which ``stuck`` copies, has to be in ``values`` too); ``offset`` is the recording's row
        of ``values[0]``, for the record."""
        many = kind in ("spike", "noise") and self.n_sensors > 1 and rng.random() < 0.5
        chosen = rng.choice(self.n_sensors, size=2 if many else 1, replace=False)
        n = end - start
        for s in chosen:
            if kind == "spike":
                signs = rng.choice(np.array([-1.0, 1.0]), n)
                values[start:end, s] += signs * rng.uniform(2.5, 4.0, n) * self._std[s]
            elif kind == "drift":
                ramp = np.arange(1, n + 1) / n
                size = rng.choice(np.array([-1.0, 1.0])) * rng.uniform(2.0, 4.0)
                values[start:end, s] += size * self._std[s] * ramp
            elif kind == "stuck":
                values[start:end, s] = values[start - 1, s]
            elif kind == "decouple":
                seen = load[start:end, s]
                values[start:end, s] += (
                    self._sign[s] * self._gain[s] * (self._decoupled(rng, seen) - seen)
                )
            else:  # noise
                factor = rng.uniform(3.0, 5.0)
                extra = math.sqrt(factor**2 - 1.0) * self._sigma[s]
                values[start:end, s] += rng.normal(0.0, extra, n)
        names = tuple(self.sensor_names[int(s)] for s in sorted(chosen))
        return Anomaly(start + offset, end + offset, kind, names)

    def _frame(self, values: np.ndarray, *, before: bool = False) -> pd.DataFrame:
        """The rows with their times at 1 Hz from ``start``, or ending a second before it."""
        with importing("reading and writing sensor files (cnnlstm.data.sensor_plant)", "sensors"):
            import pandas as pd

        first = self.start - pd.Timedelta(seconds=len(values)) if before else self.start
        times = pd.date_range(first, periods=len(values), freq="s")
        frame = pd.DataFrame(values, columns=self.sensor_names)
        frame.insert(0, "datetime", times)
        return frame

    def _check_rows(self, rows: int, anomalies: bool) -> None:
        if rows < 1:
            raise ValueError(f"rows has to be at least 1, but got {rows}")
        if anomalies and rows < self.min_rows:
            raise ValueError(
                f"rows has to be at least min_rows={self.min_rows} for {self.n_anomalies} "
                f"anomalies after {self.normal_rows} normal rows, but got {rows}"
            )

    def _generate(
        self, rows: int, anomalies: bool, index: int
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[Anomaly]]:
        self._check_rows(rows, anomalies)
        # the anomalies have a stream of their own, so injecting them changes nothing else
        values, seen = self._recording(np.random.default_rng([self.seed, 1, index]), rows)
        rng = np.random.default_rng([self.seed, 3, index])
        records = self._inject(rng, values, seen) if anomalies else []
        anomaly = np.zeros(rows)
        changepoint = np.zeros(rows)
        for record in records:
            anomaly[record.start : record.end] = 1.0
            changepoint[record.start] = 1.0
            if record.end < rows:
                changepoint[record.end] = 1.0
        return values, anomaly, changepoint, records

    def generate(self, rows: int, *, anomalies: bool = True, index: int = 0) -> pd.DataFrame:
        """One recording with labelled anomalies, in SKAB's layout.

        ``anomalies=False`` gives the same recording without the anomalies (every value
        outside the segments is identical), for comparison. The injected segments are stored
        in :attr:`anomalies` and in ``frame.attrs["anomalies"]``.

        Args:
            rows: the rows (seconds) of the recording, at least :attr:`min_rows`.
            anomalies: inject the anomalies.
            index: which recording of this plant.

        Returns:
            Columns ``datetime``, the sensors, ``anomaly`` and ``changepoint`` (float 0/1).

        Raises:
            ValueError: when ``rows`` is below :attr:`min_rows` (with ``anomalies``).

        Example:
            >>> SensorPlant(seed=1).generate(1500).columns[[0, -2, -1]].tolist()
            ['datetime', 'anomaly', 'changepoint']
        """
        values, anomaly, changepoint, records = self._generate(rows, anomalies, index)
        frame = self._frame(values)
        frame["anomaly"] = anomaly
        frame["changepoint"] = changepoint
        frame.attrs["anomalies"] = list(records)
        self.anomalies = list(records)
        return frame

    def normal(self, rows: int, *, index: int = 0) -> pd.DataFrame:
        """An anomaly-free recording of the plant: ``datetime`` and the sensors, no labels.

        It is a recording of its own (not :meth:`generate`'s with the anomalies left out), as
        SKAB's ``anomaly-free.csv`` is, for fitting a detector on data it is not tested on. It
        ends one second before ``start``, where :meth:`generate`'s begins: last month's normal
        rows, then this week's, as a detector's warm start expects them.

        Example:
            >>> SensorPlant().normal(100).shape
            (100, 9)
        """
        self._check_rows(rows, False)
        values, _ = self._recording(np.random.default_rng([self.seed, 2, index]), rows)
        return self._frame(values, before=True)

    def chunks(
        self,
        rows: int,
        *,
        anomalies: bool = True,
        index: int = 0,
        normal: bool = False,
        chunk_rows: int = CHUNK_ROWS,
    ) -> Iterator[PlantChunk]:
        """:meth:`generate`'s recording (or with ``normal``, :meth:`normal`'s) in consecutive
        parts, in memory bounded by the part: the same values, labels and anomalies, bit for bit,
        whatever ``chunk_rows``.

        Each random stream of the recording (the load's shocks, the noise, the anomalies) is
        drawn in step with the parts; a part ends at about ``chunk_rows`` rows, or at the end of
        an anomaly it would cut, so every anomaly is injected whole into one part (with the row
        before it, which ``stuck`` holds). :attr:`anomalies` holds them once all parts are read.

        Args:
            rows: the rows of the recording.
            anomalies: inject the anomalies (ignored with ``normal``).
            index: which recording of this plant.
            normal: :meth:`normal`'s anomaly-free recording instead (labels all 0).
            chunk_rows: rows per part, at least 1.

        Raises:
            ValueError: ``rows`` below :attr:`min_rows` (with anomalies), ``chunk_rows`` < 1.

        Example:
            >>> plant = SensorPlant(seed=1)
            >>> parts = list(plant.chunks(1500, chunk_rows=400))
            >>> whole = plant.generate(1500)
            >>> values = np.concatenate([part.values for part in parts])
            >>> bool((values == whole[plant.sensor_names].to_numpy()).all())
            True
        """
        with_anomalies = anomalies and not normal
        self._check_rows(rows, with_anomalies)
        if isinstance(chunk_rows, bool) or not isinstance(chunk_rows, int) or chunk_rows < 1:
            raise ValueError(f"chunk_rows has to be a positive int, but got {chunk_rows!r}")
        rng = np.random.default_rng([self.seed, 3, index])
        placed = self._place(rng, rows) if with_anomalies else []
        bounds = _bounds(rows, chunk_rows, [(a, b) for a, b, _ in placed])
        stream = np.random.default_rng([self.seed, 2 if normal else 1, index])
        records: list[Anomaly] = []
        upcoming = iter(placed)
        following = next(upcoming, None)
        parts = self._recording_parts(stream, rows, bounds)
        for (a, b), (values, lagged) in zip(bounds, parts, strict=True):
            anomaly, changepoint = np.zeros(b - a), np.zeros(b - a)
            injected = []
            while following is not None and following[0] < b:
                start, end, kind = following
                record = self._inject_one(rng, values, lagged, start - a, end - a, kind, offset=a)
                injected.append(record)
                following = next(upcoming, None)
            for start, end, _ in placed:  # labels, also where a change ends in this part
                anomaly[max(start, a) - a : max(min(end, b) - a, 0)] = 1.0
                for row in (start, end):
                    if a <= row < b:
                        changepoint[row - a] = 1.0
            records += injected
            if not normal:
                self.anomalies = list(records)
            yield PlantChunk(a, values, anomaly, changepoint, injected)

    def write_csv_in_chunks(
        self,
        path: str | Path,
        rows: int,
        *,
        anomalies: bool = True,
        index: int = 0,
        normal: bool = False,
        chunk_rows: int = CHUNK_ROWS,
        progress: Callable[[int], None] | None = None,
    ) -> list[Anomaly]:
        """Write :meth:`write_csv`'s file (or with ``normal``, :meth:`write_normal_csv`'s), byte
        for byte, part by part (:meth:`chunks`): any number of rows in bounded memory.

        Args:
            path: the file to write.
            rows: the rows of the recording.
            anomalies: inject the anomalies (ignored with ``normal``).
            index: which recording of this plant.
            normal: the anomaly-free recording, without label columns.
            chunk_rows: rows per part.
            progress: called with the rows of each part once it is written.

        Returns:
            The anomalies injected (also in :attr:`anomalies`); none with ``normal``.
        """
        stamp = self.start.tz_localize(None) if self.start.tzinfo is not None else self.start
        origin = np.datetime64(stamp.to_datetime64(), "s")
        if normal:  # the normal recording ends a second before start, as normal() does
            origin = origin - np.timedelta64(rows, "s")
        labels = "" if normal else ";anomaly;changepoint"
        row_format = "%s" + ";%.6g" * self.n_sensors + (";%.1f;%.1f" if not normal else "")
        newline = os.linesep  # as pandas' to_csv ends its lines
        with open(path, "w", encoding="utf-8", newline="") as out:
            out.write(";".join(["datetime", *self.sensor_names]) + labels + newline)
            for part in self.chunks(
                rows, anomalies=anomalies, index=index, normal=normal, chunk_rows=chunk_rows
            ):
                n = len(part.values)
                seconds = origin + np.arange(part.start, part.start + n)  # datetime64[s]
                times = np.char.replace(np.datetime_as_string(seconds, unit="s"), "T", " ")
                cells = [times.tolist(), *part.values.T.tolist()]
                if not normal:
                    cells += [part.anomaly.tolist(), part.changepoint.tolist()]
                out.write(newline.join(row_format % row for row in zip(*cells, strict=True)))
                out.write(newline)
                if progress is not None:
                    progress(n)
        return [] if normal else list(self.anomalies)

    def __getitem__(self, index: int) -> tuple[Tensor, Tensor]:
        """Recording ``index``: ``(values (rows, S) float32, anomaly (rows,) float32)``."""
        if not 0 <= index < self.num_samples:
            raise IndexError(f"index {index} is out of range for {self.num_samples} samples")
        values, anomaly, _, _ = self._generate(self.rows, True, index)
        return (
            torch.from_numpy(values.astype(np.float32)),
            torch.from_numpy(anomaly.astype(np.float32)),
        )

    def __repr__(self) -> str:
        return (
            f"SensorPlant(n_sensors={self.n_sensors}, seed={self.seed}, "
            f"anomaly_kinds={self.anomaly_kinds}, n_anomalies={self.n_anomalies}, "
            f"normal_rows={self.normal_rows}, min_gap={self.min_gap}, period={self.period})"
        )
