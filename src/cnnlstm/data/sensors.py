"""Delimited sensor files as windows of rows: columns, numbers, NaN policies, scaling, SKAB.

A sensor file is a table with one row per moment: an optional datetime column, numeric sensor
columns, and optional label columns (``anomaly``, ``changepoint``) that are kept apart and never
used as features. :class:`SensorCSV` reads one file and serves windows of ``W`` consecutive rows,
``(window (W, S) float32, labels (W,) int64)``; :class:`SKAB` lists and loads the files of the
SKAB benchmark. How the text is decoded, sniffed and read lives in :mod:`cnnlstm.data.text_encoding`
and :mod:`cnnlstm.data.csv_text`, the time
axis in :mod:`cnnlstm.data.sensor_times`, the scaler in :mod:`cnnlstm.data.scaler`; their public
names can be imported from here too.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

from cnnlstm.data.csv_text import (
    COMMA_DECIMAL,
    MISSING,
    POINT_DECIMAL,
    WHITESPACE,
    Decimal,
    Table,
    TableChunks,
    looks_like_time,
    plain_numbers,
    read_number,
    read_table,
    sniff_decimal,
    sniff_delimiter,
    units_hint,
)
from cnnlstm.data.paths import natural_key
from cnnlstm.data.scaler import StandardScaler
from cnnlstm.data.sensor_times import (
    GAPS_NOTE,
    GAPS_SHOWN,
    check_time_order,
    find_time_columns,
    gap_warning,
    read_clock,
    seconds_from_start,
)
from cnnlstm.data.text_encoding import EncodingNote, check_encoding
from cnnlstm.errors import DataError
from cnnlstm.extras import importing

if TYPE_CHECKING:  # pandas loads on first use: `import cnnlstm` stays fast
    import pandas as pd

__all__ = [
    "GAPS_NOTE",
    "GAPS_SHOWN",
    "SKAB",
    "WHITESPACE",
    "Decimal",
    "EncodingNote",
    "NanPolicy",
    "SensorCSV",
    "SensorChunks",
    "SensorPart",
    "SensorWindows",
    "StandardScaler",
    "read_number",
    "sniff_decimal",
    "sniff_delimiter",
]

NanPolicy = Literal["fail", "ffill", "interpolate"]

_NAN_POLICIES = ("fail", "ffill", "interpolate")
_DECIMALS = ("auto", ".", ",")
_WORDS_SHOWN = 5


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
        self._setup(path, nan_policy, gap_factor, missing_values)
        frame = self._take(read_table(self.path, decimal, encoding))
        time_columns = find_time_columns(
            frame, datetime_column, columns=self.columns, path=self.path
        )
        self._read_times(frame, time_columns)
        self._pick_columns(label_columns, columns)
        raw = self._raw(frame)
        self.missing: np.ndarray = np.isnan(raw)
        self.features = self._apply_nan_policy(raw)
        self.labels: np.ndarray | None = None
        targets = np.zeros(len(self.features), dtype=np.int64)
        if self.label_names:
            self.labels = np.column_stack(
                [self._label_values(frame[c], c) for c in self.label_names]
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

    # -- reading, in steps a file read in chunks (SensorChunks) shares ------------------------

    def _setup(
        self,
        path: str | Path,
        nan_policy: NanPolicy,
        gap_factor: float,
        missing_values: Sequence[str],
    ) -> None:
        self._missing = MISSING | {str(v).strip().lower() for v in missing_values}
        self.path = Path(path)
        self.nan_policy = nan_policy
        self.gap_factor = gap_factor
        self._infinite: dict[tuple[int, str], str] = {}  # (row, column) -> "inf" as written

    def _take(self, table: Table) -> pd.DataFrame:
        """Keep how ``table`` was read; return its cells."""
        frame, self.lines = table.frame, table.lines
        self.encoding = table.encoding
        self.delimiter = table.delimiter
        self.decimal: Literal[".", ","] = table.decimal
        self.units: dict[str, str] = table.units
        self.columns: list[str] = [str(c) for c in frame.columns]
        return frame

    def _read_times(
        self,
        frame: pd.DataFrame,
        time_columns: list[str],
        *,
        dayfirst: bool | None = None,
        step: float | None = None,
        warn: bool = True,
    ) -> None:
        """Parse and check the times of ``time_columns`` (see :func:`parse_times` and
        :func:`check_time_order` for ``dayfirst``, ``step`` and ``warn``)."""
        self.time_columns = time_columns
        self.time_column = self.time_columns[0] if self.time_columns else None
        self.times: np.ndarray | None = None
        self.utc = False
        self._dayfirst: bool | None = None
        self.gaps: list[tuple[int, float]] = []
        if self.time_columns:
            clock = frame[self.time_columns[0]].astype(str).str.strip()
            if len(self.time_columns) == 2:
                clock = clock + " " + frame[self.time_columns[1]].astype(str).str.strip()
            self.times, self.utc, self._dayfirst = read_clock(
                clock,
                time_columns=self.time_columns,
                path=self.path,
                lines=self.lines,
                dayfirst=dayfirst,
            )
            self.gaps = check_time_order(
                self.times,
                path=self.path,
                lines=self.lines,
                time_column=self.time_columns,
                gap_factor=self.gap_factor,
                step=step,
                warn=warn,
            )

    def _pick_columns(self, label_columns: Sequence[str], columns: Sequence[str] | None) -> None:
        """The label and feature columns (:attr:`label_names`, :attr:`feature_names`)."""
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

    def _raw(self, frame: pd.DataFrame) -> np.ndarray:
        """``(N, S)`` the feature cells as float64, NaN for gaps (before the NaN policy)."""
        return np.column_stack([self._numbers(frame[c], c, frame) for c in self.feature_names])

    # -- numbers ---------------------------------------------------------------------------

    def _numbers(
        self, column: pd.Series, name: str, frame: pd.DataFrame | None = None
    ) -> np.ndarray:
        """A column as float64 with NaN for gaps (empty, NaN and infinite cells); text is a
        DataError.

        With ``frame`` (a feature column), the error names the feature columns that do read
        as numbers, the ``columns=`` that would skip the text; infinite cells are kept in
        ``_infinite`` for the NaN policy's message.
        """
        with importing("reading and writing sensor files (cnnlstm.data.sensors)", "sensors"):
            import pandas as pd

        if pd.api.types.is_numeric_dtype(column.dtype) and not pd.api.types.is_bool_dtype(
            column.dtype
        ):
            values: np.ndarray = column.to_numpy(dtype=np.float64, na_value=np.nan, copy=True)
        else:
            text = plain_numbers(column.astype(str).str.strip(), self.decimal)
            parsed = pd.to_numeric(text, errors="coerce")
            values = parsed.to_numpy(dtype=np.float64, na_value=np.nan, copy=True)
        # only the cells that did not come out as finite numbers need a closer look
        odd = np.flatnonzero(~np.isfinite(values))
        if not len(odd):
            return values
        cells = column.iloc[odd].astype(str).str.strip()
        numbers = pd.to_numeric(plain_numbers(cells, self.decimal), errors="coerce").to_numpy(
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
        if self.decimal == "." and COMMA_DECIMAL.fullmatch(cell):
            raise DataError(f"{message} (for numbers with a decimal comma, pass decimal=',').")
        if self.decimal == "," and POINT_DECIMAL.fullmatch(cell):
            raise DataError(
                f"{message}: the file's first lines have decimal commas, so the numbers were "
                f"read with one; pass decimal='.' if the decimal mark is a point."
            )
        hint = units_hint(self.lines, row) if len(text_cells) == 1 else ""
        if frame is None:
            raise DataError(f"{message}.{hint}")
        numeric = [c for c in self.feature_names if self._reads_as_numbers(frame[c])]
        if not numeric:
            raise DataError(
                f"{message}, and no column {self.feature_names} reads as numbers; check "
                f"the delimiter ({self.delimiter!r}).{hint}"
            )
        if looks_like_time(cell):  # a date or time column read as a sensor (no datetime)
            raise _columns_error(
                f"{message}: {name!r} holds dates or times, not readings; leave it out with "
                f"columns={numeric!r}.{hint}",
                numeric,
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
        with importing("reading and writing sensor files (cnnlstm.data.sensors)", "sensors"):
            import pandas as pd

        if pd.api.types.is_numeric_dtype(column.dtype) and not pd.api.types.is_bool_dtype(
            column.dtype
        ):
            return True  # pandas read it as numbers already (its text has no decimal comma)
        text = column.astype(str).str.strip()
        parsed = pd.to_numeric(plain_numbers(text, self.decimal), errors="coerce")
        unread = text[parsed.isna().to_numpy()]
        return bool(unread.str.lower().isin(self._missing).all())

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
        with importing("reading and writing sensor files (cnnlstm.data.sensors)", "sensors"):
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
        position = (
            np.arange(len(raw), dtype=np.float64)
            if self.times is None
            else seconds_from_start(self.times)
        )
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


def _columns_error(message: str, columns: list[str]) -> DataError:
    """A DataError whose message suggests ``columns=<columns>``; the list is kept as
    ``suggested_columns`` so that the command line can say it as ``--columns``."""
    error = DataError(message)
    error.suggested_columns = columns  # type: ignore[attr-defined]
    return error


class SensorPart(NamedTuple):
    """Consecutive rows of a sensor file read in chunks (:class:`SensorChunks`)."""

    start: int
    """The row of the file the part starts at (0-based, in the file's rows)."""
    features: np.ndarray
    """``(n, S)`` float64, after the NaN policy."""
    missing: np.ndarray
    """``(n, S)`` bool: the cells that were gaps before the NaN policy."""
    labels: np.ndarray | None
    """``(n, len(label_names))`` int64, or None without label columns."""
    times: np.ndarray | None
    """``(n,)`` datetime64[ns] or float seconds, or None."""
    lines: np.ndarray
    """``(n,)`` the line of the file each row came from."""


class SensorChunks:
    """One delimited sensor file read in consecutive parts of rows, in bounded memory, as
    :class:`SensorCSV` reads it whole.

    The file is sniffed from its first lines and read chunk by chunk
    (:class:`~cnnlstm.data.csv_text.TableChunks`); each chunk is checked and read column by
    column as :class:`SensorCSV` reads a file (the same messages, naming the file's lines). What
    a part needs from the rows before it is carried over: the time columns and whether dates
    read day first (from the first chunk), the usual step between rows (the first chunk's
    median, for the gaps), the order of the times across the cut, and for ``nan_policy``
    ``"ffill"`` and ``"interpolate"`` the rows from the last one with every sensor known: rows
    with gaps at the end of a chunk wait for the next chunk's values. The gaps in time are
    collected in :attr:`gaps` and warned of once, when the last part has been read.

    Args:
        path: the file.
        cells: each chunk holds about this many cells (rows times columns).
        min_rows: but at least this many rows (wide files: see :class:`TableChunks`).
        **options: as :class:`SensorCSV`'s: ``label_columns``, ``datetime_column``,
            ``nan_policy``, ``columns``, ``gap_factor``, ``decimal``, ``missing_values``,
            ``encoding``.

    Attributes:
        columns, feature_names, label_names, time_column, time_columns, units, decimal,
        delimiter, encoding: as :class:`SensorCSV`'s, known once the object is made.
        utc: whether the times carried offsets (known after the first part).
        gaps: ``(row, seconds)`` of each long step read so far.
        step: the usual step between rows in seconds (None without times).
        rows: the rows handed out so far.

    Raises:
        DataError: as :class:`SensorCSV`, when the part holding the mistake is read.

    Example:
        >>> import tempfile
        >>> path = Path(tempfile.mkdtemp()) / "pump.csv"
        >>> rows = [f"2020-01-01 00:00:{s:02d};{s};{2 * s};0" for s in range(40)]
        >>> _ = path.write_text("\\n".join(["datetime;flow;pressure;anomaly", *rows]))
        >>> chunks = SensorChunks(path, cells=40)
        >>> [len(part.features) for part in chunks], chunks.feature_names
        ([10, 10, 10, 10], ['flow', 'pressure'])
    """

    def __init__(
        self, path: str | Path, *, cells: int = 2_000_000, min_rows: int = 1, **options: Any
    ) -> None:
        allowed = {
            "label_columns",
            "datetime_column",
            "nan_policy",
            "columns",
            "gap_factor",
            "decimal",
            "missing_values",
            "encoding",
        }
        unknown = sorted(set(options) - allowed)
        if unknown:
            raise ValueError(f"SensorChunks takes {sorted(allowed)}, but got {unknown}")
        self._options = {
            "label_columns": ("anomaly", "changepoint"),
            "datetime_column": "auto",
            "nan_policy": "fail",
            "columns": None,
            "gap_factor": 2.0,
            "decimal": "auto",
            "missing_values": (),
            "encoding": "auto",
            **options,
        }
        self.path = Path(path)
        self._tables = TableChunks(
            self.path,
            self._options["decimal"],
            self._options["encoding"],
            cells=cells,
            min_rows=min_rows,
        )
        self._chunks = iter(self._tables)
        self.columns = list(self._tables.columns)
        self.units = self._tables.units
        self.decimal = self._tables.decimal
        self.delimiter = self._tables.delimiter
        self.gaps: list[tuple[int, float]] = []
        self._gap_lines: dict[int, int] = {}
        self.step: float | None = None
        self.utc = False
        self.rows = 0
        self._dayfirst: bool | None = None
        self._noted = False
        self._carry: Table | None = None  # rows waiting for the next chunk, from the anchor
        self._anchored = False  # whether the carry's first row was handed out already
        self._first = self._next_table()
        if self._first is None:
            raise DataError(f"{self.path}: has a header but no rows.")
        probe = SensorCSV.__new__(SensorCSV)
        probe._setup(
            self.path,
            self._options["nan_policy"],
            self._options["gap_factor"],
            self._options["missing_values"],
        )
        frame = probe._take(self._first)
        self.time_columns: list[str] = find_time_columns(
            frame, self._options["datetime_column"], columns=self.columns, path=self.path
        )
        self.time_column = self.time_columns[0] if self.time_columns else None
        probe.time_columns = self.time_columns
        probe.time_column = self.time_column
        probe._pick_columns(self._options["label_columns"], self._options["columns"])
        self.feature_names: list[str] = probe.feature_names
        self.label_names: list[str] = probe.label_names

    @property
    def encoding(self) -> str:
        """The codec the bytes are decoded with."""
        return self._tables.encoding

    def _next_table(self) -> Table | None:
        table = next(self._chunks, None)
        note = self._tables.note
        if note is not None and not self._noted:
            self._noted = True
            warnings.warn(note, EncodingNote, stacklevel=3)
        return table

    def __iter__(self) -> Iterator[SensorPart]:
        """The parts, in order (each chunk's rows, but rows that wait for a later value)."""
        table, self._first = self._first, None
        while table is not None:
            following = self._next_table()
            part = self._part(table, last=following is None)
            if part is not None:
                yield part
            table = following
        if self._carry is not None:  # unreachable: the last chunk takes the carry
            raise DataError(f"{self.path}: rows were left unread at the end.")
        if self.gaps and self.step:
            gap_warning(
                self.gaps,
                self.step,
                path=self.path,
                lines=self._gap_lines,
                gap_factor=self._options["gap_factor"],
            )

    def _part(self, table: Table, *, last: bool) -> SensorPart | None:
        with importing("reading and writing sensor files (cnnlstm.data.sensors)", "sensors"):
            import pandas as pd

        skip = 0
        if self._carry is not None:
            frame = pd.concat([self._carry.frame, table.frame], ignore_index=True)
            lines = np.concatenate([self._carry.lines, table.lines])
            table = table._replace(frame=frame, lines=lines)
            skip = int(self._anchored)
        self._carry = None
        part = SensorCSV.__new__(SensorCSV)
        part._setup(
            self.path,
            self._options["nan_policy"],
            self._options["gap_factor"],
            self._options["missing_values"],
        )
        frame = part._take(table)
        part._read_times(
            frame, self.time_columns, dayfirst=self._dayfirst, step=self.step, warn=False
        )
        if part.times is not None and self.step is None:
            self._dayfirst = part._dayfirst
            steps = np.diff(seconds_from_start(part.times))
            self.step = float(np.median(steps)) if len(steps) else None
            self.utc = part.utc
        start = self.rows - skip  # the file row of the table's first row
        for row, seconds in part.gaps:
            if row >= skip and start + row not in self._gap_lines:
                self.gaps.append((start + row, seconds))
                self._gap_lines[start + row] = int(part.lines[row])
        part.label_names = self.label_names
        part.feature_names = self.feature_names
        raw = part._raw(frame)  # (n, S)
        holes = np.isnan(raw)
        end = len(raw)
        if not last and self._options["nan_policy"] != "fail" and holes.any():
            whole = np.flatnonzero(~holes.any(axis=1))  # rows with every sensor known
            if not len(whole) or whole[-1] < skip:  # nothing to fill from yet: wait
                self._carry, self._anchored = table, bool(skip)
                return None
            end = int(whole[-1]) + 1
            self._carry = table._replace(frame=frame.iloc[end - 1 :], lines=table.lines[end - 1 :])
            self._anchored = True
        elif not last:
            self._carry = table._replace(frame=frame.iloc[-1:], lines=table.lines[-1:])
            self._anchored = True
        if part.times is not None:
            part.times = part.times[:end]
        part.lines = table.lines[:end]
        features = part._apply_nan_policy(raw[:end])
        labels = None
        if self.label_names:
            labels = np.column_stack(
                [part._label_values(frame[c], c)[:end] for c in self.label_names]
            )
        self.rows += end - skip
        return SensorPart(
            start=start + skip,
            features=features[skip:],
            missing=holes[skip:end],
            labels=None if labels is None else labels[skip:],
            times=None if part.times is None else part.times[skip:],
            lines=part.lines[skip:],
        )

    def __repr__(self) -> str:
        return (
            f"SensorChunks({str(self.path)!r}, features={len(self.feature_names)}, "
            f"labels={self.label_names}, rows read={self.rows})"
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
