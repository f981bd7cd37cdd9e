"""Reading a sensor table column by column: times, label and feature columns, numbers, gaps.

:class:`SensorColumns` takes the cells of a delimited file (a :class:`~cnnlstm.data.csv_text.Table`)
and reads them as a sensor file: the time columns (parsed and checked for order and gaps,
:mod:`cnnlstm.data.sensor_times`), which columns are labels and which are features, the number in
each cell (text is a :class:`~cnnlstm.errors.DataError` naming the line and column, and the
``columns=`` or ``missing_values=`` that would read the file), and the gaps filled as a NaN policy
says. :class:`~cnnlstm.data.sensors.SensorCSV` reads a whole file with these steps, and
:class:`~cnnlstm.data.sensor_chunks.SensorChunks` each part of a file read in chunks.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np

from cnnlstm.data.csv_text import (
    COMMA_DECIMAL,
    MISSING,
    POINT_DECIMAL,
    Table,
    looks_like_time,
    plain_numbers,
    units_hint,
)
from cnnlstm.data.sensor_times import check_time_order, read_clock, seconds_from_start
from cnnlstm.errors import DataError
from cnnlstm.extras import importing

if TYPE_CHECKING:  # pandas loads on first use: `import cnnlstm` stays fast
    import pandas as pd

__all__ = ["BINARY_LABELS", "NanPolicy", "SensorColumns"]

BINARY_LABELS = ("anomaly", "changepoint")
"""Label columns (by name, any case) that hold 0 and 1 only: a row is normal or it is not."""

NanPolicy = Literal["fail", "ffill", "interpolate"]

_WORDS_SHOWN = 5


class SensorColumns:
    """The columns of one sensor table, read in steps: :meth:`take` the table's cells,
    :meth:`read_times`, :meth:`pick_columns`, then :meth:`raw_features`, :meth:`label_values`
    and :meth:`apply_nan_policy`.

    Each step keeps what it read as attributes, which the later steps use; the error messages
    name :attr:`path` and the file's lines. :class:`~cnnlstm.data.sensors.SensorCSV` is a
    SensorColumns that reads a whole file; :class:`~cnnlstm.data.sensor_chunks.SensorChunks`
    reads each part of a file in a new one, carrying over what the part needs (``dayfirst``,
    ``step``).

    Attributes:
        path: the file, named in the messages.
        nan_policy: ``"fail"``, ``"ffill"`` or ``"interpolate"``.
        gap_factor: steps longer than this many median steps are gaps.
        lines, encoding, delimiter, decimal, units, columns: how the table was read
            (:meth:`take`; as :class:`~cnnlstm.data.csv_text.Table`'s, ``columns`` as names).
        time_columns, time_column, times, utc, gaps: the times (:meth:`read_times`).
        dayfirst: whether the dates were read day first (None: seconds, or dates year first).
        label_names, feature_names: the label and feature columns (:meth:`pick_columns`).

    Args:
        path: the file.
        nan_policy: ``"fail"``, ``"ffill"`` or ``"interpolate"``.
        gap_factor: steps longer than this many median steps are gaps.
        missing_values: texts that mean a gap in a sensor column, beside the empty cell,
            ``nan``, ``n/a``, ``null``, ``none``, ``-`` and ``?`` (any case).

    Example:
        >>> import tempfile
        >>> from cnnlstm.data.csv_text import read_table
        >>> path = Path(tempfile.mkdtemp()) / "pump.csv"
        >>> _ = path.write_text("\\n".join(["time;flow;anomaly", "0;1.5;0", "1;;0", "2;2.5;1"]))
        >>> reader = SensorColumns(path, nan_policy="interpolate")
        >>> frame = reader.take(read_table(path))
        >>> reader.read_times(frame, ["time"])
        >>> reader.pick_columns(["anomaly"], None)
        >>> reader.feature_names, reader.label_names
        (['flow'], ['anomaly'])
        >>> reader.apply_nan_policy(reader.raw_features(frame)).ravel().tolist()
        [1.5, 2.0, 2.5]
        >>> reader.label_values(frame["anomaly"], "anomaly").tolist()
        [0, 0, 1]
    """

    def __init__(
        self,
        path: str | Path,
        *,
        nan_policy: NanPolicy = "fail",
        gap_factor: float = 2.0,
        missing_values: Sequence[str] = (),
    ) -> None:
        self._missing = MISSING | {str(v).strip().lower() for v in missing_values}
        self.path = Path(path)
        self.nan_policy = nan_policy
        self.gap_factor = gap_factor
        self._infinite: dict[tuple[int, str], str] = {}  # (row, column) -> "inf" as written

    def take(self, table: Table) -> pd.DataFrame:
        """Keep how ``table`` was read (:attr:`lines`, :attr:`encoding`, :attr:`delimiter`,
        :attr:`decimal`, :attr:`units`, :attr:`columns`); return its cells."""
        frame, self.lines = table.frame, table.lines
        self.encoding = table.encoding
        self.delimiter = table.delimiter
        self.decimal: Literal[".", ","] = table.decimal
        self.units: dict[str, str] = table.units
        self.columns: list[str] = [str(c) for c in frame.columns]
        return frame

    def read_times(
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
        self.dayfirst: bool | None = None
        self.gaps: list[tuple[int, float]] = []
        if self.time_columns:
            clock = frame[self.time_columns[0]].astype(str).str.strip()
            if len(self.time_columns) == 2:
                clock = clock + " " + frame[self.time_columns[1]].astype(str).str.strip()
            self.times, self.utc, self.dayfirst = read_clock(
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

    def pick_columns(self, label_columns: Sequence[str], columns: Sequence[str] | None) -> None:
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

    def raw_features(self, frame: pd.DataFrame) -> np.ndarray:
        """``(N, S)`` the feature cells as float64, NaN for gaps (before the NaN policy)."""
        return np.column_stack([self._numbers(frame[c], c, frame) for c in self.feature_names])

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

    def label_values(self, column: pd.Series, name: str) -> np.ndarray:
        """The label column ``name`` as int64; a cell that is not a whole number, or in a column
        named ``anomaly`` or ``changepoint`` not 0 or 1, is a DataError naming its line."""
        values = self._numbers(column, name)
        bad = np.flatnonzero(~np.isfinite(values) | (values != np.round(values)))
        if len(bad):
            row = bad[0]
            raise DataError(
                f"{self.path}: line {self.lines[row]}, label column {name!r}: "
                f"{column.iloc[row]!r} is not a whole number; labels are 0/1 (or class ids)."
            )
        if name.strip().lower() in BINARY_LABELS:
            outside = np.flatnonzero((values != 0) & (values != 1))
            if len(outside):
                row = outside[0]
                kind, cell = name.strip().lower(), str(column.iloc[row])
                raise DataError(
                    f"{self.path}: line {self.lines[row]}, label column {name!r}: {cell!r} is "
                    f"neither 0 (normal) nor 1 ({kind}); write the labels as 0/1 (a -1/1 or 1/2 "
                    f"coding as 0/1)."
                )
        return values.astype(np.int64)

    def apply_nan_policy(self, raw: np.ndarray) -> np.ndarray:
        """``raw`` ``(N, S)`` (from :meth:`raw_features`) with its gaps filled as
        :attr:`nan_policy` says: ``"fail"`` raises a DataError naming the first gap's line and
        column, ``"ffill"`` repeats the last value (the first for leading gaps),
        ``"interpolate"`` draws a straight line over :attr:`times` (over rows without them).
        A column with no value at all is a DataError whatever the policy."""
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


def _columns_error(message: str, columns: list[str]) -> DataError:
    """A DataError whose message suggests ``columns=<columns>``; the list is kept as
    ``suggested_columns`` so that the command line can say it as ``--columns``."""
    error = DataError(message)
    error.suggested_columns = columns  # type: ignore[attr-defined]
    return error
