"""A sensor file read in consecutive parts of rows, in bounded memory: :class:`SensorChunks`.

Each part (a :class:`SensorPart`) holds the rows of a chunk of the file
(:class:`~cnnlstm.data.csv_text.TableChunks`), read by a
:class:`~cnnlstm.data.sensor_columns.SensorColumns` as :class:`~cnnlstm.data.sensors.SensorCSV`
reads a whole file, with what a part needs from the rows before it carried over.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from cnnlstm.data.csv_text import Table, TableChunks
from cnnlstm.data.sensor_columns import SensorColumns
from cnnlstm.data.sensor_times import find_time_columns, gap_warning, seconds_from_start
from cnnlstm.data.text_encoding import EncodingNote
from cnnlstm.errors import DataError
from cnnlstm.extras import importing

__all__ = ["SensorChunks", "SensorPart"]


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
    :class:`~cnnlstm.data.sensors.SensorCSV` reads it whole.

    The file is sniffed from its first lines and read chunk by chunk
    (:class:`~cnnlstm.data.csv_text.TableChunks`); each chunk is checked and read column by
    column as :class:`~cnnlstm.data.sensors.SensorCSV` reads a file (a
    :class:`~cnnlstm.data.sensor_columns.SensorColumns` each part: the same messages, naming the
    file's lines). What a part needs from the rows before it is carried over: the time columns
    and whether dates read day first (from the first chunk), the usual step between rows (the
    first chunk's median, for the gaps), the order of the times across the cut, and for
    ``nan_policy`` ``"ffill"`` and ``"interpolate"`` the rows from the last one with every sensor
    known: rows with gaps at the end of a chunk wait for the next chunk's values. The gaps in
    time are collected in :attr:`gaps` and warned of once, when the last part has been read.

    Args:
        path: the file.
        cells: each chunk holds about this many cells (rows times columns).
        min_rows: but at least this many rows (wide files: see :class:`TableChunks`).
        **options: as :class:`~cnnlstm.data.sensors.SensorCSV`'s: ``label_columns``,
            ``datetime_column``, ``nan_policy``, ``columns``, ``gap_factor``, ``decimal``,
            ``missing_values``, ``encoding``.

    Attributes:
        columns, feature_names, label_names, time_column, time_columns, units, decimal,
        delimiter, encoding: as :class:`~cnnlstm.data.sensors.SensorCSV`'s, known once the
        object is made.
        utc: whether the times carried offsets (known after the first part).
        gaps: ``(row, seconds)`` of each long step read so far.
        step: the usual step between rows in seconds (None without times).
        rows: the rows handed out so far.

    Raises:
        DataError: as :class:`~cnnlstm.data.sensors.SensorCSV`, when the part holding the
            mistake is read.

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
        self.dayfirst: bool | None = None
        self._noted = False
        self._carry: Table | None = None  # rows waiting for the next chunk, from the anchor
        self._anchored = False  # whether the carry's first row was handed out already
        self._first = self._next_table()
        if self._first is None:
            raise DataError(f"{self.path}: has a header but no rows.")
        probe = SensorColumns(
            self.path,
            nan_policy=self._options["nan_policy"],
            gap_factor=self._options["gap_factor"],
            missing_values=self._options["missing_values"],
        )
        frame = probe.take(self._first)
        self.time_columns: list[str] = find_time_columns(
            frame, self._options["datetime_column"], columns=self.columns, path=self.path
        )
        self.time_column = self.time_columns[0] if self.time_columns else None
        probe.time_columns = self.time_columns
        probe.time_column = self.time_column
        probe.pick_columns(self._options["label_columns"], self._options["columns"])
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
        part = SensorColumns(
            self.path,
            nan_policy=self._options["nan_policy"],
            gap_factor=self._options["gap_factor"],
            missing_values=self._options["missing_values"],
        )
        frame = part.take(table)
        part.read_times(
            frame, self.time_columns, dayfirst=self.dayfirst, step=self.step, warn=False
        )
        if part.times is not None and self.step is None:
            self.dayfirst = part.dayfirst
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
        raw = part.raw_features(frame)  # (n, S)
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
        features = part.apply_nan_policy(raw[:end])
        labels = None
        if self.label_names:
            labels = np.column_stack(
                [part.label_values(frame[c], c)[:end] for c in self.label_names]
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
