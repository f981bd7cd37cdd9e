"""Delimited sensor files as windows of rows: :class:`SensorWindows`, :class:`SensorCSV`, SKAB.

A sensor file is a table with one row per moment: an optional datetime column, numeric sensor
columns, and optional label columns (``anomaly``, ``changepoint``) that are kept apart and never
used as features. :class:`SensorCSV` reads one file and serves windows of ``W`` consecutive rows,
``(window (W, S) float32, labels (W,) int64)``; :class:`SKAB` lists and loads the files of the
SKAB benchmark. How the text is decoded, sniffed and read lives in :mod:`cnnlstm.data.text_encoding`
and :mod:`cnnlstm.data.csv_text`, how its columns are read (times, labels, numbers, gaps) in
:mod:`cnnlstm.data.sensor_columns`, the time axis in :mod:`cnnlstm.data.sensor_times`, the scaler
in :mod:`cnnlstm.data.scaler`; their public names can be imported from here too. A file read in
parts of rows, in bounded memory, is :mod:`cnnlstm.data.sensor_chunks`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

from cnnlstm.data.csv_text import (
    WHITESPACE,
    Decimal,
    read_number,
    read_table,
    sniff_decimal,
    sniff_delimiter,
)
from cnnlstm.data.paths import natural_key
from cnnlstm.data.scaler import StandardScaler
from cnnlstm.data.sensor_columns import NanPolicy, SensorColumns
from cnnlstm.data.sensor_times import GAPS_NOTE, GAPS_SHOWN, find_time_columns
from cnnlstm.data.text_encoding import EncodingNote, check_encoding
from cnnlstm.errors import DataError

__all__ = [
    "GAPS_NOTE",
    "GAPS_SHOWN",
    "SKAB",
    "WHITESPACE",
    "Decimal",
    "EncodingNote",
    "NanPolicy",
    "SensorCSV",
    "SensorWindows",
    "StandardScaler",
    "read_number",
    "sniff_decimal",
    "sniff_delimiter",
]

_NAN_POLICIES = ("fail", "ffill", "interpolate")
_DECIMALS = ("auto", ".", ",")


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


class SensorCSV(SensorWindows, SensorColumns):
    """One delimited sensor file, read and checked, served as windows of rows.

    A :class:`~cnnlstm.data.sensor_columns.SensorColumns` that reads the whole file in its steps,
    then a :class:`SensorWindows` of the rows. Reading:

    - the bytes are decoded with ``encoding``; ``"auto"`` reads a byte order mark (UTF-8,
      UTF-16, UTF-32), else UTF-8, else (a line is not UTF-8) Windows-1252 with an
      :class:`EncodingNote` warning that says so and quotes the line as read
      (:class:`~cnnlstm.data.text_encoding.LineDecoder`). NUL and other control bytes make the file
      binary: a :class:`DataError` that names a gzip, ZIP or Excel file;
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
      (``Date;Time``) is read as one clock, also when ``datetime_column`` names either of them.
      A time column of plain numbers is taken as seconds.
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
        dayfirst: whether the dates were read day first (None: seconds, or dates year first).
        units: the units row under the header, ``{column: unit}``, or ``{}``.
        decimal: the decimal mark numbers were read with, ``"."`` or ``","``.
        encoding: the codec the bytes were decoded with (``"utf-8"``, ``"utf-8-sig"``,
            ``"utf-16"``, ``"cp1252"``...).
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
        encoding: the file's encoding: ``"auto"`` (sniffed) or a codec name (``"utf-8"``,
            ``"cp1252"``, ``"latin-1"``, ``"utf-16"``...).

    Raises:
        DataError: the file is missing, binary or unreadable, its header and rows are
            separated by different delimiters, rows are out of time order, a cell is not a
            number, a NaN with ``nan_policy="fail"``, a requested column is missing, or there
            are fewer rows than one window. The message names the file and the line or column.
        ValueError: an argument cannot be used (``encoding`` names no text encoding, a window
            below 1...).

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
        encoding: str = "auto",
    ) -> None:
        if nan_policy not in _NAN_POLICIES:
            raise ValueError(f"nan_policy has to be one of {_NAN_POLICIES}, but got {nan_policy!r}")
        if decimal not in _DECIMALS:
            raise ValueError(f"decimal has to be one of {_DECIMALS}, but got {decimal!r}")
        check_encoding(encoding)
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
        SensorColumns.__init__(
            self, path, nan_policy=nan_policy, gap_factor=gap_factor, missing_values=missing_values
        )
        frame = self.take(read_table(self.path, decimal, encoding))
        time_columns = find_time_columns(
            frame, datetime_column, columns=self.columns, path=self.path
        )
        self.read_times(frame, time_columns)
        self.pick_columns(label_columns, columns)
        raw = self.raw_features(frame)
        self.missing: np.ndarray = np.isnan(raw)
        self.features = self.apply_nan_policy(raw)
        self.labels: np.ndarray | None = None
        targets = np.zeros(len(self.features), dtype=np.int64)
        if self.label_names:
            self.labels = np.column_stack(
                [self.label_values(frame[c], c) for c in self.label_names]
            )
            present = {c.strip().lower() for c in self.columns}
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

    def __repr__(self) -> str:
        return (
            f"SensorCSV({str(self.path)!r}, rows={len(self.data)}, features="
            f"{len(self.feature_names)}, labels={self.label_names}, window={self.window}, "
            f"stride={self.stride}, windows={len(self)})"
        )


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
