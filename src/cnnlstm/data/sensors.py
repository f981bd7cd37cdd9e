"""Delimited sensor files as windows of rows: sniffing, time checks, NaN policies, scaling, SKAB.

A sensor file is a table with one row per moment: an optional datetime column, numeric sensor
columns, and optional label columns (``anomaly``, ``changepoint``) that are kept apart and never
used as features. :class:`SensorCSV` reads one file and serves windows of ``W`` consecutive rows,
``(window (W, S) float32, labels (W,) int64)``; :class:`SKAB` lists and loads the files of the
SKAB benchmark.
"""

from __future__ import annotations

import csv
import io
import math
import re
import warnings
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

from cnnlstm.data.video import natural_key
from cnnlstm.errors import DataError

if TYPE_CHECKING:  # pandas loads on first use: `import cnnlstm` stays fast
    import pandas as pd

__all__ = [
    "SKAB",
    "Decimal",
    "NanPolicy",
    "SensorCSV",
    "SensorWindows",
    "StandardScaler",
    "read_number",
    "sniff_decimal",
    "sniff_delimiter",
]

NanPolicy = Literal["fail", "ffill", "interpolate"]
Decimal = Literal["auto", ".", ","]

_NAN_POLICIES = ("fail", "ffill", "interpolate")
_DECIMALS = ("auto", ".", ",")
_DELIMITERS = (";", ",", "\t", "|")
WHITESPACE = "whitespace"
_TIME_NAMES = frozenset(
    {"datetime", "timestamp", "time", "date", "datum", "zeit", "uhrzeit", "zeitstempel"}
)
# numbers as plant exports write them: a decimal comma ("1,25", "1.234,5": "." groups
# thousands), or a decimal point with "," grouping thousands ("1,234.5")
_COMMA_DECIMAL = re.compile(r"[+-]?\d[\d.]*,\d+(?:[eE][+-]?\d+)?")
_COMMA_NUMBER = re.compile(r"[+-]?(?:\d{1,3}(?:\.\d{3})+|\d+)(?:,\d+)?(?:[eE][+-]?\d+)?")
_POINT_DECIMAL = re.compile(r"[+-]?\d*\.\d+(?:[eE][+-]?\d+)?")
_DOT_THOUSANDS = re.compile(r"[+-]?\d{1,3}(?:\.\d{3})+")
_COMMA_THOUSANDS = re.compile(r"[+-]?\d{1,3}(?:,\d{3})+(?:\.\d+)?(?:[eE][+-]?\d+)?")
# a date without a time of day, and a time of day without a date: two columns of one clock
_DATE_ONLY = re.compile(r"\d{1,4}[./-]\d{1,2}[./-]\d{1,4}")
_CLOCK_ONLY = re.compile(r"\d{1,2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?(?:\s*[AaPp][Mm])?")
_MISSING = frozenset({"", "nan", "na", "n/a", "null", "none", "-", "?"})
_SNIFF_LINES = 50
_WORDS_SHOWN = 5
GAPS_SHOWN = 3
"""The longest gaps in time that SensorCSV's warning lists (:attr:`SensorCSV.gaps` has all)."""
GAPS_NOTE = " (SensorCSV.gaps has them all)"
"""Ends the gap warning when it lists only some gaps; the command line, which has no
``.gaps`` to show, takes it out."""


class StandardScaler:
    """Per-feature standardisation, ``(x - mean) / std``, fitted on training rows only.

    ``std`` is the population standard deviation; a constant feature gets ``std = 1`` so it maps
    to 0 instead of dividing by zero. Works on NumPy arrays and torch tensors ``(..., S)``.

    Example:
        >>> scaler = StandardScaler().fit(np.array([[1.0, 10.0], [3.0, 10.0]]))
        >>> scaler.transform(np.array([[2.0, 10.0], [5.0, 11.0]])).tolist()
        [[0.0, 0.0], [3.0, 1.0]]
        >>> scaler.transform(torch.zeros(4, 7, 2)).shape
        torch.Size([4, 7, 2])
    """

    def __init__(self) -> None:
        self.mean: np.ndarray | None = None
        self.std: np.ndarray | None = None

    @property
    def fitted(self) -> bool:
        return self.mean is not None and self.std is not None

    def fit(self, x: np.ndarray | Tensor) -> StandardScaler:
        """Learn the mean and std of each feature of ``x`` ``(N, S)``; returns ``self``."""
        values = np.asarray(x.detach().cpu().numpy() if isinstance(x, Tensor) else x, np.float64)
        if values.ndim != 2 or values.shape[0] == 0:
            raise ValueError(
                f"x has to be (N, S) rows with N >= 1, but got shape {tuple(values.shape)}"
            )
        if not np.isfinite(values).all():
            raise ValueError("x has to be finite to fit a scaler, but got NaN or inf values")
        self.mean = values.mean(axis=0)
        std = values.std(axis=0)
        self.std = np.where(std > 0, std, 1.0)
        return self

    def _params(self, width: int) -> tuple[np.ndarray, np.ndarray]:
        if self.mean is None or self.std is None:
            raise ValueError("StandardScaler has to be fitted first (call fit), but it is not")
        if width != self.mean.shape[0]:
            raise ValueError(
                f"x has to have {self.mean.shape[0]} features (the scaler was fitted on that "
                f"many), but got {width}"
            )
        return self.mean, self.std

    def transform(self, x: Any) -> Any:
        """``(x - mean) / std`` over the last axis; NumPy in, NumPy out; tensor in, tensor out."""
        mean, std = self._params(int(x.shape[-1]))
        if isinstance(x, Tensor):
            m = torch.as_tensor(mean, dtype=x.dtype, device=x.device)
            s = torch.as_tensor(std, dtype=x.dtype, device=x.device)
            return (x - m) / s
        return (np.asarray(x) - mean) / std

    def inverse_transform(self, x: Any) -> Any:
        """``x * std + mean``: back to the units of the file."""
        mean, std = self._params(int(x.shape[-1]))
        if isinstance(x, Tensor):
            m = torch.as_tensor(mean, dtype=x.dtype, device=x.device)
            s = torch.as_tensor(std, dtype=x.dtype, device=x.device)
            return x * s + m
        return np.asarray(x) * std + mean

    def state_dict(self) -> dict[str, Tensor]:
        """``{"mean": (S,), "std": (S,)}`` float64 tensors, to save with a model."""
        if self.mean is None or self.std is None:
            raise ValueError("StandardScaler has to be fitted first (call fit), but it is not")
        return {
            "mean": torch.from_numpy(self.mean.copy()),
            "std": torch.from_numpy(self.std.copy()),
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> StandardScaler:
        """Restore what :meth:`state_dict` saved; returns ``self``."""
        if set(state) != {"mean", "std"}:
            raise ValueError(f"state has to hold 'mean' and 'std', but got keys {sorted(state)}")
        self.mean = np.asarray(torch.as_tensor(state["mean"]).cpu().numpy(), np.float64)
        self.std = np.asarray(torch.as_tensor(state["std"]).cpu().numpy(), np.float64)
        return self

    def __repr__(self) -> str:
        size = "unfitted" if self.mean is None else f"features={self.mean.shape[0]}"
        return f"StandardScaler({size})"


def _field_counts(lines: Sequence[str], delimiter: str) -> list[int]:
    if delimiter == WHITESPACE:
        return [len(line.split()) for line in lines]
    return [len(row) for row in csv.reader(lines, delimiter=delimiter)]


def sniff_delimiter(lines: Sequence[str]) -> str | None:
    """The delimiter of a few lines of a table: ``; , \\t |``, ``"whitespace"`` or ``None``.

    ``csv.Sniffer`` guesses first, among ``; , \\t |``; its guess is kept when it splits the
    header into more than one field and the other lines into as many. Otherwise the candidate
    that splits the most lines like the header wins, then runs of whitespace. ``None`` means one
    column.

    Example:
        >>> sniff_delimiter(["time;a;b", "2020-01-01 10:00:00;1,5;2"])
        ';'
        >>> sniff_delimiter(["a  b  c", "1 2 3"])
        'whitespace'
    """
    lines = [line for line in lines if line.strip()]
    if not lines:
        return None
    try:
        guess = csv.Sniffer().sniff("\n".join(lines), delimiters="".join(_DELIMITERS)).delimiter
    except csv.Error:
        guess = None
    if guess is not None:
        counts = _field_counts(lines, guess)
        if counts[0] > 1 and all(c == counts[0] for c in counts):
            return guess
    best, best_share = None, 0.0
    for candidate in (*_DELIMITERS, WHITESPACE):
        counts = _field_counts(lines, candidate)
        if counts[0] < 2:
            continue
        share = sum(c == counts[0] for c in counts) / len(counts)
        if share > best_share:
            best, best_share = candidate, share
    return best


def sniff_decimal(cells: Iterable[str], delimiter: str | None) -> Literal[".", ","]:
    """The decimal mark of a table's cells: ``","`` or ``"."``.

    A comma is the decimal mark when the table is not comma-separated, some cell is written
    with a decimal comma (``1,25``; ``1.234,5`` with ``.`` grouping thousands) and no cell with
    a decimal point (``0.5``; ``1.234`` could group thousands, so it does not count). Anything
    else reads with a decimal point (``1,234.5`` is then a thousand and more). Text, dates and
    times match neither, so the cells of a whole row can be given.

    Example:
        >>> sniff_decimal(["12.01.2021 23:55:00", "0,192", "-1,5", "2"], ";")
        ','
        >>> sniff_decimal(["0.192", "1,234.5"], ";"), sniff_decimal(["1,5"], ",")
        ('.', '.')
    """
    if delimiter == ",":
        return "."
    comma = False
    for cell in cells:
        text = cell.strip()
        if _COMMA_DECIMAL.fullmatch(text) and _COMMA_NUMBER.fullmatch(text):
            comma = True
        elif _POINT_DECIMAL.fullmatch(text) and not _DOT_THOUSANDS.fullmatch(text):
            return "."
    return "," if comma else "."


def _plain_numbers(text: pd.Series, decimal: str) -> pd.Series:
    """Cells written with ``decimal`` and grouped thousands, rewritten as Python reads
    numbers (``1.234,5`` -> ``1234.5`` with ``","``; ``1,234.5`` -> ``1234.5`` with ``"."``).
    With ``","`` any other cell with a point (``0.5``) is made text; other cells are left."""
    if decimal == ",":
        if not text.str.contains(".", regex=False).any():  # no points: the common case, fast
            return text.str.replace(",", ".", regex=False)
        marked = text.str.fullmatch(_COMMA_NUMBER.pattern).fillna(False).astype(bool)
        plain = text.str.replace(".", "", regex=False).str.replace(",", ".", regex=False)
        pointed = ~marked & text.str.contains(".", regex=False).fillna(False).astype(bool)
        return text.where(~marked, plain).where(~pointed, "#" + text)
    marked = text.str.fullmatch(_COMMA_THOUSANDS.pattern).fillna(False).astype(bool)
    return text.where(~marked, text.str.replace(",", "", regex=False))


def read_number(text: str, decimal: str = ".") -> float:
    """One cell as a float: NaN for an empty or missing-value cell (``""``, ``nan``, ``n/a``,
    ``-``...), the number with ``decimal`` as its mark (and grouped thousands) otherwise.

    Raises:
        ValueError: the cell is text, not a number.

    Example:
        >>> read_number("1.234,5", ","), read_number("1,234.5"), read_number(" n/a ")
        (1234.5, 1234.5, nan)
    """
    value = text.strip()
    if value.lower() in _MISSING:
        return math.nan
    if decimal == "," and _COMMA_NUMBER.fullmatch(value):
        value = value.replace(".", "").replace(",", ".")
    elif decimal == "," and "." in value:
        raise ValueError(f"{value!r} has a decimal point, but the decimal mark is a comma")
    elif decimal == "." and _COMMA_THOUSANDS.fullmatch(value):
        value = value.replace(",", "")
    return float(value)


def _is_number(text: str, decimal: str = ".") -> bool:
    if decimal == "," and _COMMA_NUMBER.fullmatch(text):
        return True
    try:
        float(text)
    except ValueError:
        return False
    return True


def _looks_like_time(text: str) -> bool:
    import pandas as pd

    if _is_number(text, ",") or _is_number(text) or not any(ch.isdigit() for ch in text):
        return False  # "1,5" is a number with a decimal comma, not the 5th of January
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return not pd.isna(pd.to_datetime(text, errors="coerce"))


class SensorWindows(Dataset[tuple[Tensor, Tensor]]):
    """Windows of ``window`` consecutive rows of an ``(N, S)`` array, ``stride`` rows apart.

    Only rows ``start`` to ``stop`` are used, so windows of a time split never reach across it.
    Items are ``(window (W, S) float32, labels (W,) int64)``.

    Example:
        >>> data = SensorWindows(np.zeros((100, 3)), np.zeros(100), window=16, stride=4)
        >>> len(data), data[0][0].shape
        (22, torch.Size([16, 3]))
    """

    def __init__(
        self,
        data: np.ndarray,
        targets: np.ndarray,
        *,
        window: int = 64,
        stride: int = 1,
        start: int = 0,
        stop: int | None = None,
        source: str = "rows",
    ) -> None:
        if window < 1:
            raise ValueError(f"window has to be a positive int, but got {window}")
        if stride < 1:
            raise ValueError(f"stride has to be a positive int, but got {stride}")
        stop = len(data) if stop is None else stop
        if not 0 <= start <= stop <= len(data):
            raise ValueError(
                f"start and stop have to satisfy 0 <= start <= stop <= {len(data)}, but got "
                f"start={start}, stop={stop}"
            )
        if stop - start < window:
            raise DataError(
                f"{source}: rows {start} to {stop} are {stop - start} rows, fewer than one window "
                f"of {window}; use a smaller window or more rows."
            )
        self.window = window
        self.stride = stride
        self.start = start
        self.stop = stop
        self._data = torch.from_numpy(np.ascontiguousarray(data, dtype=np.float32))  # (N, S)
        self._targets = torch.from_numpy(np.asarray(targets, dtype=np.int64))  # (N,)
        self.window_starts = np.arange(start, stop - window + 1, stride, dtype=np.int64)

    def __len__(self) -> int:
        return len(self.window_starts)

    def __getitem__(self, index: int) -> tuple[Tensor, Tensor]:
        """Window ``index``: ``(rows (W, S) float32, labels (W,) int64)``."""
        first = int(self.window_starts[index])
        rows = slice(first, first + self.window)
        return self._data[rows].clone(), self._targets[rows].clone()


class SensorCSV(SensorWindows):
    """One delimited sensor file, read and checked, served as windows of rows.

    Reading:

    - the delimiter is sniffed from the first lines (``; , \\t |`` or whitespace); a first line
      of numbers (and dates) is data, not a header, and columns are then named ``column0``...;
      blank lines are skipped; a line of units under the header (``degC;bar;...``: text in two
      or more cells and no number) is skipped and kept in :attr:`units`;
    - numbers have the ``decimal`` mark; ``"auto"`` reads a decimal comma (``1,25``) when the
      first lines are written so (:func:`sniff_decimal`). With a decimal comma ``.`` may group
      thousands (``1.234,5``), with a decimal point ``,`` may (``1,234.5``);
    - the datetime column is ``datetime_column``, or with ``"auto"`` the first column named
      datetime / timestamp / time / date (in any case, with ``_`` or units in brackets:
      ``Time (s)``, ``date_time``; also Datum / Zeit / Uhrzeit / Zeitstempel), else the first
      column when its values read as dates. A column of dates beside one of times of day
      (``Date;Time``) is read as one clock. A time column of plain numbers is taken as seconds.
      Day-first dates (``13.01.2021``) are told from month-first ones by which reading parses
      every row in time order (dates with dots are day-first when both do); times with an
      offset (``+02:00``) are converted to UTC. Rows have to be in time order; steps longer than
      ``gap_factor`` times the median step are listed in :attr:`gaps` and warned of;
    - label columns (``label_columns`` present in the file) are kept apart, never features;
    - the features are ``columns``, or every other column; a cell that is not a number is a
      :class:`DataError` naming the line and column. An empty, NaN or infinite cell (``inf``:
      an overflowed reading) is a gap that follows ``nan_policy``: ``"fail"`` raises,
      ``"ffill"`` repeats the last value (the first value for leading gaps), ``"interpolate"``
      draws a straight line between the neighbours over time (over rows without a datetime
      column; ends take the nearest value). A column with no value at all is a
      :class:`DataError` whatever the policy;
    - a fitted ``scaler`` is applied as it is; an unfitted one, or a new one when only
      ``train_rows`` is given, is fitted on the first ``train_rows`` rows (all rows when
      ``None``). The scaler never sees rows after ``train_rows``.

    Attributes:
        columns: every column name of the file, in order.
        feature_names: the ``S`` feature columns.
        features: ``(N, S)`` float64 feature values after the NaN policy, before scaling.
        data: ``(N, S)`` float32 values windows are cut from (scaled when there is a scaler).
        label_names: label columns found, in ``label_columns`` order.
        labels: ``(N, len(label_names))`` int64, or ``None`` without label columns.
        targets: ``(N,)`` int64: the first label column found (``anomaly``), else zeros.
        times: ``(N,)`` ``datetime64[ns]`` (or float seconds), or ``None``.
        time_column: the name of the datetime column (the date's, when a date and a time
            column make the clock), or ``None``.
        time_columns: the one or two columns the times are read from (``[]`` without).
        utc: whether the times carried offsets and were converted to UTC.
        units: the units row under the header, ``{column: unit}``, or ``{}``.
        decimal: the decimal mark numbers were read with, ``"."`` or ``","``.
        missing: ``(N, S)`` bool: the feature cells that were gaps before the NaN policy.
        gaps: ``(row, seconds)`` for each long step: the row after it and its length.
        lines: ``(N,)`` the line of the file each row came from (1-based).
        delimiter: the sniffed delimiter (``"whitespace"`` for runs of blanks, ``None`` for one
            column).
        scaler: the scaler in use, or ``None``.

    Args:
        path: the file.
        window: ``W``, rows per window.
        stride: rows between window starts.
        label_columns: names of label columns.
        datetime_column: the datetime column's name, ``"auto"`` or ``None`` for none.
        nan_policy: ``"fail"``, ``"ffill"`` or ``"interpolate"``.
        scaler: a :class:`StandardScaler`, fitted or not; ``None`` scales only with
            ``train_rows``.
        train_rows: the first rows, the ones a scaler may be fitted on.
        columns: the feature columns to use (default: all but time and label columns).
        gap_factor: steps longer than this many median steps are gaps.
        decimal: the decimal mark: ``"."``, ``","`` or ``"auto"`` (sniffed).
        missing_values: texts that mean a gap in a sensor column, beside the empty cell,
            ``nan``, ``n/a``, ``null``, ``none``, ``-`` and ``?`` (any case): e.g. a historian's
            ``"Bad Input"`` or ``"No Data"``.

    Raises:
        DataError: the file is missing or unreadable, rows are out of time order, a cell is not a
            number, a NaN with ``nan_policy="fail"``, a requested column is missing, or there
            are fewer rows than one window. The message names the file and the line or column.

    Example:
        >>> import tempfile
        >>> path = Path(tempfile.mkdtemp()) / "pump.csv"
        >>> rows = [f"2020-01-01 00:00:{s:02d};{s};{2 * s};0" for s in range(40)]
        >>> _ = path.write_text("\\n".join(["datetime;flow;pressure;anomaly", *rows]))
        >>> data = SensorCSV(path, window=8, stride=4)
        >>> data.feature_names, len(data)
        (['flow', 'pressure'], 9)
        >>> data[0][0].shape
        torch.Size([8, 2])
    """

    def __init__(
        self,
        path: str | Path,
        *,
        window: int = 64,
        stride: int = 1,
        label_columns: Sequence[str] = ("anomaly", "changepoint"),
        datetime_column: str | None = "auto",
        nan_policy: NanPolicy = "fail",
        scaler: StandardScaler | None = None,
        train_rows: int | None = None,
        columns: Sequence[str] | None = None,
        gap_factor: float = 2.0,
        decimal: Decimal = "auto",
        missing_values: Sequence[str] = (),
    ) -> None:
        if nan_policy not in _NAN_POLICIES:
            raise ValueError(f"nan_policy has to be one of {_NAN_POLICIES}, but got {nan_policy!r}")
        if decimal not in _DECIMALS:
            raise ValueError(f"decimal has to be one of {_DECIMALS}, but got {decimal!r}")
        if window < 1 or stride < 1:
            raise ValueError(
                f"window and stride have to be positive ints, but got window={window}, "
                f"stride={stride}"
            )
        if train_rows is not None and train_rows < 1:
            raise ValueError(f"train_rows has to be a positive int or None, but got {train_rows}")
        if not gap_factor > 1:
            raise ValueError(f"gap_factor has to be above 1, but got {gap_factor}")
        if isinstance(label_columns, str):
            raise ValueError(
                f"label_columns has to be a sequence of names, but got {label_columns!r}"
            )
        if isinstance(columns, str):
            raise ValueError(f"columns has to be a list of names, but got the string {columns!r}")
        if isinstance(missing_values, str):
            raise ValueError(
                f"missing_values has to be a list of cell texts, but got the string "
                f"{missing_values!r}"
            )
        self._missing = _MISSING | {str(v).strip().lower() for v in missing_values}
        self.path = Path(path)
        self.nan_policy = nan_policy
        self.gap_factor = gap_factor
        self.units: dict[str, str] = {}
        frame, self.lines = self._read_table(decimal)
        self.columns: list[str] = [str(c) for c in frame.columns]

        self.time_columns = self._find_time_columns(frame, datetime_column)
        self.time_column = self.time_columns[0] if self.time_columns else None
        self.times: np.ndarray | None = None
        self.utc = False
        self.gaps: list[tuple[int, float]] = []
        if self.time_columns:
            clock = frame[self.time_columns[0]].astype(str).str.strip()
            if len(self.time_columns) == 2:
                clock = clock + " " + frame[self.time_columns[1]].astype(str).str.strip()
            self.times = self._parse_times(clock)
            self._check_order_and_gaps()

        wanted_labels = {name.strip().lower(): name for name in label_columns}
        present = {c.strip().lower(): c for c in self.columns}
        self.label_names = [present[key] for key in wanted_labels if key in present]
        reserved = set(self.label_names) | set(self.time_columns)
        if columns is not None:
            for name in columns:
                if name not in self.columns:
                    raise DataError(
                        f"{self.path}: has no column {name!r}; its columns are {self.columns}."
                    )
                if name in reserved:
                    kind = "the datetime" if name in self.time_columns else "a label"
                    raise DataError(
                        f"{self.path}: column {name!r} is {kind} column and cannot be a feature; "
                        f"label columns are only used to score."
                    )
            self.feature_names = list(columns)
        else:
            self.feature_names = [c for c in self.columns if c not in reserved]
        if not self.feature_names:
            raise DataError(
                f"{self.path}: no sensor columns left after the datetime column "
                f"({self.time_column}) and the label columns ({self.label_names}); columns are "
                f"{self.columns}."
            )

        self._infinite: dict[tuple[int, str], str] = {}  # (row, column) -> "inf" as written
        raw = np.column_stack([self._numbers(frame[c], c, frame) for c in self.feature_names])
        self.missing: np.ndarray = np.isnan(raw)
        self.features = self._apply_nan_policy(raw)
        self.labels: np.ndarray | None = None
        targets = np.zeros(len(self.features), dtype=np.int64)
        if self.label_names:
            self.labels = np.column_stack(
                [self._label_values(frame[c], c) for c in self.label_names]
            )
            if label_columns and label_columns[0].strip().lower() in present:
                targets = self.labels[:, 0]  # the anomaly column
        self.targets = targets

        self.train_rows = train_rows
        if train_rows is not None and train_rows > len(self.features):
            raise DataError(
                f"{self.path}: train_rows={train_rows} but the file has {len(self.features)} rows."
            )
        if scaler is None and train_rows is not None:
            scaler = StandardScaler()
        if scaler is not None and not scaler.fitted:
            scaler.fit(self.features[: train_rows or len(self.features)])
        fitted_width = None if scaler is None or scaler.mean is None else scaler.mean.shape[0]
        if fitted_width is not None and fitted_width != len(self.feature_names):
            raise DataError(
                f"{self.path}: has {len(self.feature_names)} sensor columns "
                f"{self.feature_names} but the scaler was fitted on {fitted_width}; pick the "
                f"same columns with columns=[...]."
            )
        self.scaler = scaler
        scaled = self.features if scaler is None else scaler.transform(self.features)
        self.data = np.asarray(scaled, dtype=np.float32)
        super().__init__(self.data, targets, window=window, stride=stride, source=str(self.path))

    # -- reading -----------------------------------------------------------------------------

    def _read_table(self, decimal: Decimal) -> tuple[pd.DataFrame, np.ndarray]:
        import pandas as pd

        try:
            text = self.path.read_text(encoding="utf-8-sig")
        except FileNotFoundError:
            raise DataError(
                f"{self.path}: no such file; expected a delimited sensor file."
            ) from None
        except (OSError, UnicodeDecodeError) as err:
            raise DataError(f"{self.path}: cannot read as text ({type(err).__name__}).") from None
        all_lines = text.splitlines()
        sample = [line for line in all_lines[: 4 * _SNIFF_LINES] if line.strip()]
        if not sample:
            raise DataError(f"{self.path}: the file is empty; expected a header and rows.")
        delimiter = sniff_delimiter(sample[:_SNIFF_LINES])
        self.delimiter = delimiter
        # a blank line holds nothing but blanks; in a tab-separated file tabs are cells
        blanks = " \r\n\f\v" if delimiter == "\t" else None
        numbers = [i + 1 for i, line in enumerate(all_lines) if line.strip(blanks)]
        kept = [all_lines[i - 1] for i in numbers]
        if decimal == "auto":  # the first line may be the header: names are no numbers
            head = kept[1 : 4 * _SNIFF_LINES] or kept[:1]
            decimal = sniff_decimal(
                (c for line in head for c in _split(line, delimiter)), delimiter
            )
        self.decimal: Literal[".", ","] = decimal
        first = _split(kept[0], delimiter)
        has_header = not all(
            _is_number(f.strip(), decimal) or _looks_like_time(f.strip()) for f in first
        )
        if has_header and len(kept) > 2:
            below = _split(kept[1], delimiter)
            if _is_units_row(below, decimal) and not _is_units_row(
                _split(kept[2], delimiter), decimal
            ):
                self.units = {
                    name.strip(): unit.strip()
                    for name, unit in zip(first, below, strict=False)
                    if unit.strip()
                }
                del kept[1], numbers[1]
        options: dict[str, Any] = {
            "na_filter": False,  # "" and "nan" stay text here; _numbers decides what they mean
            "low_memory": False,
            "skip_blank_lines": False,
            "header": 0 if has_header else None,
            "index_col": False,
        }
        if decimal == ",":  # pandas leaves "1.234" and "0.5" as text: _numbers reads them
            options["decimal"] = ","
        if delimiter == WHITESPACE:
            options["sep"] = r"\s+"
        else:
            options["sep"] = delimiter or "\x1f"  # one column: a separator that never occurs
            options["skipinitialspace"] = True
        try:
            frame = pd.read_csv(io.StringIO("\n".join(kept)), **options)
        except pd.errors.ParserError as err:
            message = str(err).strip().splitlines()[-1]
            match = re.search(r"line (\d+)", message)
            where = f"line {numbers[int(match.group(1)) - 1]}: " if match else ""
            raise DataError(
                f"{self.path}: {where}rows have different numbers of fields "
                f"(delimiter {delimiter!r}): {message}"
            ) from None
        except (pd.errors.EmptyDataError, ValueError) as err:
            raise DataError(f"{self.path}: cannot read as a table ({err}).") from None
        if not has_header:
            frame.columns = [f"column{i}" for i in range(frame.shape[1])]
        if has_header:
            names = [f.strip() for f in first]
            duplicates = sorted({n for n in names if names.count(n) > 1})
            if duplicates:
                raise DataError(f"{self.path}: the header repeats the column names {duplicates}.")
            if len(names) == frame.shape[1]:
                frame.columns = names  # pandas would rename repeats and keep blanks
        frame.columns = [str(c).strip() for c in frame.columns]
        if len(frame) == 0:
            raise DataError(f"{self.path}: has a header but no rows.")
        lines = np.asarray(numbers[1:] if has_header else numbers, dtype=np.int64)
        return frame, lines

    def _find_time_columns(self, frame: pd.DataFrame, datetime_column: str | None) -> list[str]:
        """The column the times are in, or a date column and a time-of-day column."""
        if datetime_column is None:
            return []
        if datetime_column != "auto":
            if datetime_column not in self.columns:
                raise DataError(
                    f"{self.path}: has no datetime column {datetime_column!r}; its columns are "
                    f"{self.columns}. Pass datetime_column=None for files without one."
                )
            return [datetime_column]
        named = [name for name in self.columns if _time_name(name)]
        if not named:
            head = [str(v).strip() for v in frame[self.columns[0]].iloc[:_SNIFF_LINES]]
            if len(self.columns) > 1 and head and all(_looks_like_time(v) for v in head):
                named = self.columns[:1]
            else:
                return []
        # a column of dates beside one of times of day: both, the date first
        candidates = list(dict.fromkeys([*named, *self.columns[:2]]))
        dates = [name for name in candidates if _all_match(frame[name], _DATE_ONLY)]
        clocks = [name for name in candidates if _all_match(frame[name], _CLOCK_ONLY)]
        if dates and clocks and (dates[0] in named or clocks[0] in named):
            return [dates[0], clocks[0]]
        return named[:1]

    def _parse_times(self, column: pd.Series) -> np.ndarray:
        import pandas as pd

        text = column.fillna("").astype(str).str.strip()
        shown = " and ".join(repr(c) for c in self.time_columns)
        empty = np.flatnonzero((text == "").to_numpy())
        if len(empty):
            raise DataError(
                f"{self.path}: line {self.lines[empty[0]]}, column {shown} is empty; every row "
                f"needs its time.{self._units_hint(int(empty[0])) if len(empty) == 1 else ''}"
            )
        seconds = pd.to_numeric(text, errors="coerce")
        if not seconds.isna().any():
            return np.asarray(seconds.to_numpy(dtype=np.float64))
        stamps = self._datetimes(text)
        bad = np.flatnonzero(stamps.isna().to_numpy())
        if len(bad):
            row = bad[0]
            raise DataError(
                f"{self.path}: line {self.lines[row]}, column {shown}: {text.iloc[row]!r} is not "
                f"a date and time like the rows before it (first row: {text.iloc[0]!r})."
                f"{self._units_hint(int(row)) if len(bad) == 1 else ''}"
            )
        return np.asarray(stamps.dt.tz_localize(None).to_numpy(dtype="datetime64[ns]"))

    def _datetimes(self, text: pd.Series) -> pd.Series:
        """Parse a column of date-times, day first or month first as the column reads best."""
        import pandas as pd

        def parse(**options: Any) -> pd.Series:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # pandas warns when it infers a format
                stamps = pd.to_datetime(text, errors="coerce", utc=True, **options)
                failed = stamps.isna().to_numpy()
                if failed.any():  # a format that changes within the column ("00:00:00.5")
                    again = pd.to_datetime(
                        text[failed], errors="coerce", utc=True, format="mixed", **options
                    )
                    stamps[failed] = again
            return stamps

        first = text.iloc[0]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                self.utc = pd.Timestamp(first).tzinfo is not None
            except (ValueError, TypeError, OverflowError):
                self.utc = False
        if re.match(r"\d{4}[-/.]", first):  # the year first: never day first (ISO 8601)
            return parse()
        readings = [parse(dayfirst=False), parse(dayfirst=True)]
        ranks = [
            (int(r.isna().sum()), not r.dropna().is_monotonic_increasing, _longest_step(r))
            for r in readings
        ]
        if ranks[0] != ranks[1]:
            return readings[int(ranks[1] < ranks[0])]
        if readings[0].equals(readings[1]):
            return readings[0]
        dayfirst = "." in first.split()[0]  # 13.01.2021: dates with dots are day first
        chosen = readings[int(dayfirst)]
        other = readings[1 - int(dayfirst)]
        warnings.warn(
            f"{self.path}: the dates in column {self.time_column!r} read as day first or as "
            f"month first; they were read {'day' if dayfirst else 'month'} first ({first!r} is "
            f"{chosen.iloc[0]:%Y-%m-%d}, not {other.iloc[0]:%Y-%m-%d}). Write them year first "
            f"(2021-05-06) to be sure.",
            stacklevel=4,
        )
        return chosen

    def _check_order_and_gaps(self) -> None:
        assert self.times is not None
        seconds = self._seconds()
        steps = np.diff(seconds)
        backwards = np.flatnonzero(steps < 0)
        if len(backwards):
            row = int(backwards[0]) + 1
            back = -float(steps[row - 1])
            clock = (
                f" The clock goes back {back:g} s: from summer to winter time? Export the times "
                f"in UTC or with their offset (2021-10-31T02:30:00+01:00)."
                if 1800 <= back <= 7200
                else ""
            )
            raise DataError(
                f"{self.path}: line {self.lines[row]}: time {self._show_time(row)} comes before "
                f"{self._show_time(row - 1)} on line {self.lines[row - 1]}; rows have to be in "
                f"time order (sort the file by {self.time_column!r}, or pass "
                f"datetime_column=None to read the rows in file order without their times)."
                f"{clock}"
            )
        positive = steps[steps > 0]
        if len(positive) == 0:
            return
        typical = float(np.median(steps))
        if typical <= 0:
            return
        long = np.flatnonzero(steps > self.gap_factor * typical)
        self.gaps = [(int(i) + 1, float(steps[i])) for i in long]
        if self.gaps:
            warnings.warn(self._gap_message(typical), stacklevel=3)

    def _gap_message(self, typical: float) -> str:
        """One line on :attr:`gaps`: how many, and the (up to) :data:`GAPS_SHOWN` longest."""
        count = len(self.gaps)
        longest = sorted(self.gaps, key=lambda gap: (-gap[1], gap[0]))[:GAPS_SHOWN]
        listed = ", ".join(
            f"{seconds:g} s before line {self.lines[row]}" for row, seconds in longest
        )
        head = (
            f"{self.path}: {count} gap{'s' if count > 1 else ''} in time longer than "
            f"{self.gap_factor:g} x the usual step of {typical:g} s"
        )
        if count <= GAPS_SHOWN:
            return f"{head}: {listed}."
        return f"{head}; the {GAPS_SHOWN} longest: {listed}{GAPS_NOTE}."

    def _seconds(self) -> np.ndarray:
        """The times as float seconds from the first row."""
        assert self.times is not None
        if np.issubdtype(self.times.dtype, np.datetime64):
            nanos = self.times.astype("datetime64[ns]").astype(np.int64)
            return np.asarray((nanos - nanos[0]) / 1e9, dtype=np.float64)
        return np.asarray(self.times - self.times[0], dtype=np.float64)

    def _show_time(self, row: int) -> str:
        import pandas as pd

        assert self.times is not None
        value = self.times[row]
        return str(pd.Timestamp(value)) if isinstance(value, np.datetime64) else f"{value:g}"

    def _numbers(
        self, column: pd.Series, name: str, frame: pd.DataFrame | None = None
    ) -> np.ndarray:
        """A column as float64 with NaN for gaps (empty, NaN and infinite cells); text is a
        DataError.

        With ``frame`` (a feature column), the error names the feature columns that do read
        as numbers, the ``columns=`` that would skip the text; infinite cells are kept in
        ``_infinite`` for the NaN policy's message.
        """
        import pandas as pd

        if pd.api.types.is_numeric_dtype(column.dtype) and not pd.api.types.is_bool_dtype(
            column.dtype
        ):
            values: np.ndarray = column.to_numpy(dtype=np.float64, na_value=np.nan, copy=True)
        else:
            text = _plain_numbers(column.astype(str).str.strip(), self.decimal)
            parsed = pd.to_numeric(text, errors="coerce")
            values = parsed.to_numpy(dtype=np.float64, na_value=np.nan, copy=True)
        # only the cells that did not come out as finite numbers need a closer look
        odd = np.flatnonzero(~np.isfinite(values))
        if not len(odd):
            return values
        cells = column.iloc[odd].astype(str).str.strip()
        numbers = pd.to_numeric(_plain_numbers(cells, self.decimal), errors="coerce").to_numpy(
            dtype=np.float64, na_value=np.nan
        )
        infinite = np.isinf(numbers)
        gaps = cells.str.lower().isin(self._missing).to_numpy() | infinite
        values[odd] = np.nan
        if frame is not None:
            for row, cell in zip(odd[infinite], cells[infinite], strict=True):
                self._infinite.setdefault((int(row), name), cell)
        text_cells = np.flatnonzero(~gaps)
        if not len(text_cells):
            return values
        row, cell = int(odd[text_cells[0]]), str(cells.iloc[text_cells[0]])
        message = (
            f"{self.path}: line {self.lines[row]}, column {name!r}: {cell!r} is not a finite "
            f"number; expected numbers in this column"
        )
        if self.decimal == "." and _COMMA_DECIMAL.fullmatch(cell):
            raise DataError(f"{message} (for numbers with a decimal comma, pass decimal=',').")
        if self.decimal == "," and _POINT_DECIMAL.fullmatch(cell):
            raise DataError(
                f"{message}: the file's first lines have decimal commas, so the numbers were "
                f"read with one; pass decimal='.' if the decimal mark is a point."
            )
        hint = self._units_hint(row) if len(text_cells) == 1 else ""
        if frame is None:
            raise DataError(f"{message}.{hint}")
        numeric = [c for c in self.feature_names if self._reads_as_numbers(frame[c])]
        if not numeric:
            raise DataError(
                f"{message}, and no column {self.feature_names} reads as numbers; check "
                f"the delimiter ({self.delimiter!r}).{hint}"
            )
        if len(text_cells) * 2 < len(column):  # mostly numbers: a few readings went wrong
            words = list(dict.fromkeys(str(c) for c in cells.iloc[text_cells]))[:_WORDS_SHOWN]
            error = _columns_error(
                f"{message}; {len(text_cells)} of its {len(column)} cells "
                f"{'is' if len(text_cells) == 1 else 'are'} text. Read them as gaps with "
                f"missing_values={words!r} (then nan_policy fills them), or leave the column "
                f"out with columns={numeric!r}.{hint}",
                numeric,
            )
            error.suggested_missing = words  # type: ignore[attr-defined]
            raise error
        raise _columns_error(
            f"{message} (pick the sensor columns with columns={numeric!r}).{hint}", numeric
        )

    def _reads_as_numbers(self, column: pd.Series) -> bool:
        """Whether every cell of ``column`` is a number or a missing-value marker."""
        import pandas as pd

        text = column.astype(str).str.strip()
        parsed = pd.to_numeric(_plain_numbers(text, self.decimal), errors="coerce")
        unread = text[parsed.isna().to_numpy()]
        return bool(unread.str.lower().isin(self._missing).all())

    def _units_hint(self, row: int) -> str:
        """For a cell on the first row: the file may have a second header line."""
        if row != 0 or len(self.lines) < 2:
            return ""
        return (
            f" If line {self.lines[0]} is a second header line (units, descriptions), delete it:"
            f" one header line is read (and one line of units under it)."
        )

    def _label_values(self, column: pd.Series, name: str) -> np.ndarray:
        values = self._numbers(column, name)
        bad = np.flatnonzero(~np.isfinite(values) | (values != np.round(values)))
        if len(bad):
            row = bad[0]
            raise DataError(
                f"{self.path}: line {self.lines[row]}, label column {name!r}: "
                f"{column.iloc[row]!r} is not a whole number; labels are 0/1 (or class ids)."
            )
        return values.astype(np.int64)

    def _apply_nan_policy(self, raw: np.ndarray) -> np.ndarray:
        import pandas as pd

        holes = np.isnan(raw)
        if not holes.any():
            return raw
        empty = np.flatnonzero(holes.all(axis=0))
        if len(empty):
            kept = [c for j, c in enumerate(self.feature_names) if j not in set(empty.tolist())]
            names = [self.feature_names[j] for j in empty]
            what = f"column {names[0]!r} has" if len(names) == 1 else f"columns {names} have"
            raise _columns_error(
                f"{self.path}: {what} no values at all; leave "
                f"{'it' if len(names) == 1 else 'them'} out with columns={kept!r}.",
                kept,
            )
        if self.nan_policy == "fail":
            rows, cols = np.nonzero(holes)  # row-major: the first hole by line
            row, column = int(rows[0]), int(cols[0])
            name = self.feature_names[column]
            written = self._infinite.get((row, name))
            what = (
                "is empty (NaN)" if written is None else f"holds {written!r}, not a finite number"
            )
            count, columns = int(holes.sum()), int(holes.any(axis=0).sum())
            if count > 1:
                what += f" ({count} such cells in {columns} column{'s' if columns > 1 else ''})"
            start = int(np.argmin(holes[:, column]))  # the column's first value
            leave = ""
            if start > 1:  # filling would copy that value back over all the rows before it
                kept = [c for c in self.feature_names if c != name]
                leave = (
                    f"; {name!r} has no value before line {self.lines[start]}: leave it out "
                    f"with columns={kept!r} rather than fill it"
                )
                raise _columns_error(
                    f"{self.path}: line {self.lines[row]}, column {name!r} {what}; pass "
                    f"nan_policy='ffill' or 'interpolate' to fill the gaps{leave}.",
                    kept,
                )
            raise DataError(
                f"{self.path}: line {self.lines[row]}, column {name!r} {what}; pass "
                f"nan_policy='ffill' or 'interpolate' to fill the gaps."
            )
        if self.nan_policy == "ffill":
            filled = pd.DataFrame(raw).ffill().bfill().to_numpy(dtype=np.float64)
            return np.asarray(filled)
        position = np.arange(len(raw), dtype=np.float64) if self.times is None else self._seconds()
        out: np.ndarray = raw.copy()
        for j in np.flatnonzero(holes.any(axis=0)):
            known = ~holes[:, j]
            out[holes[:, j], j] = np.interp(position[holes[:, j]], position[known], raw[known, j])
        return out

    def __repr__(self) -> str:
        return (
            f"SensorCSV({str(self.path)!r}, rows={len(self.data)}, features="
            f"{len(self.feature_names)}, labels={self.label_names}, window={self.window}, "
            f"stride={self.stride}, windows={len(self)})"
        )


def _all_match(column: pd.Series, pattern: re.Pattern[str]) -> bool:
    """Whether the first cells of ``column`` all match ``pattern`` (and there are some)."""
    head = [str(v).strip() for v in column.iloc[:_SNIFF_LINES]]
    return bool(head) and all(pattern.fullmatch(v) for v in head)


def _longest_step(stamps: pd.Series) -> int:
    """The longest step between parsed times, in ns (0 for fewer than two)."""
    nanos = stamps.dropna().to_numpy(dtype="datetime64[ns]").astype(np.int64)
    return int(np.abs(np.diff(nanos)).max()) if len(nanos) > 1 else 0


def _is_units_row(cells: Sequence[str], decimal: str) -> bool:
    """Whether a line's cells are units (``s;degC;bar``): text in two or more cells and no
    number, date or time in any."""
    texts = 0
    for cell in cells:
        text = cell.strip()
        if _is_number(text, decimal) or _looks_like_time(text):
            return False
        texts += text.lower() not in _MISSING
    return texts >= 2


def _columns_error(message: str, columns: list[str]) -> DataError:
    """A DataError whose message suggests ``columns=<columns>``; the list is kept as
    ``suggested_columns`` so that the command line can say it as ``--columns``."""
    error = DataError(message)
    error.suggested_columns = columns  # type: ignore[attr-defined]
    return error


def _time_name(name: str) -> bool:
    """Whether a column is named like a time: ``Time (s)``, ``date_time``, ``Timestamp [UTC]``."""
    bare = re.sub(r"[\(\[].*?[\)\]]", "", name).lower()  # drop units in brackets
    return re.sub(r"[^a-z0-9]", "", bare) in _TIME_NAMES


def _split(line: str, delimiter: str | None) -> list[str]:
    if delimiter is None:
        return [line]
    if delimiter == WHITESPACE:
        return line.split()
    return next(csv.reader([line], delimiter=delimiter))


class SKAB:
    """The SKAB benchmark's files (Skoltech Anomaly Benchmark), read where they lie.

    The layout is ``valve1/0..15.csv``, ``valve2/0..3.csv`` and ``other/1..14.csv`` (34 files with
    ``anomaly`` and ``changepoint`` labels) and ``anomaly-free/anomaly-free.csv`` (no labels),
    ``;``-separated with a ``datetime`` column. SKAB is GPL-3.0 licensed data: read it from the
    user's copy, never bundle it.

    Args:
        root: the SKAB data folder.
        **options: passed to every :class:`SensorCSV` (``window``, ``stride``, ``nan_policy``...).

    Example:
        >>> import tempfile
        >>> root = Path(tempfile.mkdtemp())
        >>> (root / "valve1").mkdir()
        >>> rows = [f"2020-03-09 10:14:{s:02d};{s / 10};{s % 3};0;0" for s in range(50)]
        >>> text = "\\n".join(["datetime;Current;Pressure;anomaly;changepoint", *rows])
        >>> _ = (root / "valve1" / "0.csv").write_text(text)
        >>> skab = SKAB(root, window=32)
        >>> skab.files
        ['valve1/0.csv']
        >>> skab.load("valve1/0")[0][0].shape
        torch.Size([32, 2])
    """

    FOLDERS = ("valve1", "valve2", "other")
    ANOMALY_FREE = "anomaly-free/anomaly-free.csv"

    def __init__(self, root: str | Path, **options: Any) -> None:
        self.root = Path(root)
        self.options = options
        if not self.root.is_dir():
            raise DataError(f"SKAB: {self.root} is not a folder; expected the SKAB data folder.")
        self.files: list[str] = []
        for folder in self.FOLDERS:
            names = sorted((p.name for p in (self.root / folder).glob("*.csv")), key=natural_key)
            self.files.extend(f"{folder}/{name}" for name in names)
        if not self.files:
            raise DataError(
                f"SKAB: {self.root} has no {', '.join(f'{f}/*.csv' for f in self.FOLDERS)} files; "
                f"expected the SKAB layout."
            )
        self.anomaly_free: str | None = (
            self.ANOMALY_FREE if (self.root / self.ANOMALY_FREE).is_file() else None
        )

    def path(self, name: str) -> Path:
        """The file of ``name`` (``"valve1/0.csv"``, ``"valve1/0"`` or ``"anomaly-free"``)."""
        if name in ("anomaly-free", self.ANOMALY_FREE):
            if self.anomaly_free is None:
                raise DataError(f"SKAB: {self.root / self.ANOMALY_FREE} is missing.")
            return self.root / self.ANOMALY_FREE
        key = name if name.endswith(".csv") else f"{name}.csv"
        if key not in self.files:
            raise DataError(
                f"SKAB: no file {name!r} under {self.root}; the files are {self.files}."
            )
        return self.root / key

    def load(self, name: str, **options: Any) -> SensorCSV:
        """Read one file as a :class:`SensorCSV`; ``options`` override the ones given to SKAB."""
        return SensorCSV(self.path(name), **{**self.options, **options})

    def __len__(self) -> int:
        return len(self.files)

    def __iter__(self) -> Iterator[SensorCSV]:
        """The labelled files in order, each read as a :class:`SensorCSV`."""
        for name in self.files:
            yield self.load(name)

    def __repr__(self) -> str:
        return f"SKAB({str(self.root)!r}, files={len(self.files)})"
