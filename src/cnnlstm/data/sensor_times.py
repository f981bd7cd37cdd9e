"""The time axis of a sensor file: which columns hold the times, parsing them, order and gaps.

:class:`~cnnlstm.data.sensors.SensorCSV` finds its time columns with :func:`find_time_columns`
(a datetime column, or a date column beside a time-of-day column), parses them with
:func:`parse_times` (seconds, or dates day first or month first as the whole column reads best,
offsets converted to UTC), and checks them with :func:`check_time_order` (rows in time order;
long steps are gaps, listed and warned of).
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from cnnlstm.data.csv_text import SNIFF_LINES, looks_like_time, units_hint
from cnnlstm.errors import DataError
from cnnlstm.extras import importing

if TYPE_CHECKING:  # pandas loads on first use: `import cnnlstm` stays fast
    import pandas as pd

__all__ = [
    "GAPS_NOTE",
    "GAPS_SHOWN",
    "check_time_order",
    "duration_text",
    "find_time_columns",
    "gap_warning",
    "is_time_name",
    "pair_time_columns",
    "parse_times",
    "read_clock",
    "seconds_from_start",
]

_TIME_NAMES = frozenset(
    {"datetime", "timestamp", "time", "date", "datum", "zeit", "uhrzeit", "zeitstempel"}
)
# a date without a time of day, and a time of day without a date: two columns of one clock
_DATE_ONLY = re.compile(r"\d{1,4}[./-]\d{1,2}[./-]\d{1,4}")
_CLOCK_ONLY = re.compile(r"\d{1,2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?(?:\s*[AaPp][Mm])?")

GAPS_SHOWN = 3
"""The longest gaps in time that SensorCSV's warning lists (:attr:`SensorCSV.gaps` has all)."""
GAPS_NOTE = " (SensorCSV.gaps has them all)"
"""Ends the gap warning when it lists only some gaps; the command line, which has no
``.gaps`` to show, takes it out."""


def is_time_name(name: str) -> bool:
    """Whether a column is named like a time: ``Time (s)``, ``date_time``, ``Timestamp [UTC]``.

    Example:
        >>> is_time_name("Timestamp [UTC]"), is_time_name("Zeit"), is_time_name("Temperature")
        (True, True, False)
    """
    bare = re.sub(r"[\(\[].*?[\)\]]", "", name).lower()  # drop units in brackets
    return re.sub(r"[^a-z0-9]", "", bare) in _TIME_NAMES


def _all_match(column: pd.Series, pattern: re.Pattern[str]) -> bool:
    """Whether the first cells of ``column`` all match ``pattern`` (and there are some)."""
    head = [str(v).strip() for v in column.iloc[:SNIFF_LINES]]
    return bool(head) and all(pattern.fullmatch(v) for v in head)


def find_time_columns(
    frame: pd.DataFrame, datetime_column: str | None, *, columns: list[str], path: Path
) -> list[str]:
    """The column the times are in, or a date column and a time-of-day column.

    Args:
        frame: the file's cells, as :func:`~cnnlstm.data.csv_text.read_table` reads them.
        datetime_column: the datetime column's name, ``"auto"`` (found by its name or its
            values) or ``None`` for none.
        columns: the names of the columns of ``frame``, in order.
        path: the file, for messages.

    Raises:
        DataError: ``datetime_column`` names no column of the file.
    """
    if datetime_column is None:
        return []
    if datetime_column != "auto":
        if datetime_column not in columns:
            raise DataError(
                f"{path}: has no datetime column {datetime_column!r}; its columns are "
                f"{columns}. Pass datetime_column=None for files without one."
            )
        return pair_time_columns(frame, datetime_column, columns=columns)
    named = [name for name in columns if is_time_name(name)]
    if not named:
        head = [str(v).strip() for v in frame[columns[0]].iloc[:SNIFF_LINES]]
        if len(columns) > 1 and head and all(looks_like_time(v) for v in head):
            named = columns[:1]
        else:
            return []
    # a column of dates beside one of times of day: both, the date first
    candidates = list(dict.fromkeys([*named, *columns[:2]]))
    dates = [name for name in candidates if _all_match(frame[name], _DATE_ONLY)]
    clocks = [name for name in candidates if _all_match(frame[name], _CLOCK_ONLY)]
    if dates and clocks and (dates[0] in named or clocks[0] in named):
        return [dates[0], clocks[0]]
    return named[:1]


def pair_time_columns(frame: pd.DataFrame, name: str, *, columns: list[str]) -> list[str]:
    """``name`` with its partner when it is one half of a date and a time-of-day pair.

    A column of dates (``13.01.2021``) beside a column of times of day (``10:00:00``) is one
    clock: naming either gives ``[date, time]``; any other column is ``[name]``.

    Example:
        >>> import pandas as pd
        >>> frame = pd.DataFrame({"Datum": ["13.01.2021"], "Uhrzeit": ["10:00:00"], "a": [1]})
        >>> pair_time_columns(frame, "Uhrzeit", columns=list(frame.columns))
        ['Datum', 'Uhrzeit']
    """
    others = [c for c in columns if c != name]
    if _all_match(frame[name], _CLOCK_ONLY):
        dates = [c for c in others if _all_match(frame[c], _DATE_ONLY)]
        if dates:
            return [dates[0], name]
    elif _all_match(frame[name], _DATE_ONLY):
        clocks = [c for c in others if _all_match(frame[c], _CLOCK_ONLY)]
        if clocks:
            return [name, clocks[0]]
    return [name]


def parse_times(
    column: pd.Series,
    *,
    time_columns: list[str],
    path: Path,
    lines: np.ndarray,
    dayfirst: bool | None = None,
) -> tuple[np.ndarray, bool]:
    """The times of ``column``: float seconds when every cell is a number, else datetimes.

    Args:
        column: one text cell a row (a date and a time of day joined by a blank).
        time_columns: the one or two columns the cells come from, for messages.
        path: the file, for messages.
        lines: ``(N,)`` the line of the file each row came from, for messages.
        dayfirst: read dates that are not year first day first (True) or month first
            (False); None: as the column reads best. A file read in chunks passes its first
            chunk's choice on to the rest.

    Returns:
        ``(times, utc)``: ``(N,)`` float64 seconds or ``datetime64[ns]``, and whether the times
        carried offsets and were converted to UTC.

    Raises:
        DataError: a cell is empty, or is not a date and time (like the rows before it).

    Example:
        >>> import pandas as pd
        >>> cells = pd.Series(["2021-03-01 10:00:00+01:00", "2021-03-01 10:00:01+01:00"])
        >>> times, utc = parse_times(
        ...     cells, time_columns=["time"], path=Path("a.csv"), lines=np.array([2, 3])
        ... )
        >>> str(times[0]), utc, times.shape
        ('2021-03-01T09:00:00.000000000', True, (2,))
    """
    times, utc, _ = read_clock(
        column, time_columns=time_columns, path=path, lines=lines, dayfirst=dayfirst
    )
    return times, utc


def read_clock(
    column: pd.Series,
    *,
    time_columns: list[str],
    path: Path,
    lines: np.ndarray,
    dayfirst: bool | None = None,
) -> tuple[np.ndarray, bool, bool | None]:
    """:func:`parse_times`, and whether the dates were read day first (None: seconds, or
    dates year first), to read the rest of a file read in chunks the same way."""
    with importing("reading and writing sensor files (cnnlstm.data.sensor_times)", "sensors"):
        import pandas as pd

    text = column.fillna("").astype(str).str.strip()
    shown = " and ".join(repr(c) for c in time_columns)
    empty = np.flatnonzero((text == "").to_numpy())
    if len(empty):
        raise DataError(
            f"{path}: line {lines[empty[0]]}, column {shown} is empty; every row "
            f"needs its time.{units_hint(lines, int(empty[0])) if len(empty) == 1 else ''}"
        )
    seconds = pd.to_numeric(text, errors="coerce")
    if not seconds.isna().any():
        return np.asarray(seconds.to_numpy(dtype=np.float64)), False, None
    stamps, utc, chosen = _datetimes(
        text, path=path, time_column=time_columns[0], dayfirst=dayfirst
    )
    bad = np.flatnonzero(stamps.isna().to_numpy())
    if len(bad):
        row = int(bad[0])
        like = f" like the rows before it (first row: {text.iloc[0]!r})" if row else ""
        raise DataError(
            f"{path}: line {lines[row]}, column {shown}: {text.iloc[row]!r} is not "
            f"a date and time{like}.{units_hint(lines, row) if len(bad) == 1 else ''}"
        )
    times = np.asarray(stamps.dt.tz_localize(None).to_numpy(dtype="datetime64[ns]"))
    return times, utc, chosen


def _datetimes(
    text: pd.Series, *, path: Path, time_column: str, dayfirst: bool | None = None
) -> tuple[pd.Series, bool, bool | None]:
    """Parse a column of date-times, day first or month first as the column reads best (or as
    ``dayfirst`` says); also whether the first one carries an offset (the times are then in
    UTC), and whether they were read day first (None: year first)."""
    with importing("reading and writing sensor files (cnnlstm.data.sensor_times)", "sensors"):
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
            if options.get("dayfirst"):  # a year-first date is never day first (ISO 8601)
                iso = text.astype(str).str.match(r"\s*\d{4}[-/.]").to_numpy()
                if iso.any():
                    stamps[iso] = pd.to_datetime(
                        text[iso], errors="coerce", utc=True, format="mixed"
                    )
        return stamps

    first = text.iloc[0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            utc = pd.Timestamp(first).tzinfo is not None
        except (ValueError, TypeError, OverflowError):
            utc = False
    if re.match(r"\d{4}[-/.]", first):  # the year first: never day first (ISO 8601)
        stamps = parse()
        dotted = text.astype(str).str.match(r"\s*\d{1,2}\.\d{1,2}\.\d{2,4}").to_numpy()
        if dotted.any():  # a column that mixes in 13.01.2021: dates with dots are day first
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                stamps[dotted] = pd.to_datetime(
                    text[dotted], errors="coerce", utc=True, dayfirst=True, format="mixed"
                )
        return stamps, utc, None
    if dayfirst is not None:
        return parse(dayfirst=dayfirst), utc, dayfirst
    readings = [parse(dayfirst=False), parse(dayfirst=True)]
    ranks = [
        (int(r.isna().sum()), not r.dropna().is_monotonic_increasing, _longest_step(r))
        for r in readings
    ]
    if ranks[0] != ranks[1]:
        return readings[int(ranks[1] < ranks[0])], utc, bool(ranks[1] < ranks[0])
    if readings[0].equals(readings[1]):
        return readings[0], utc, "." in first.split()[0]
    dayfirst = "." in first.split()[0]  # 13.01.2021: dates with dots are day first
    chosen = readings[int(dayfirst)]
    other = readings[1 - int(dayfirst)]
    warnings.warn(
        f"{path}: the dates in column {time_column!r} read as day first or as "
        f"month first; they were read {'day' if dayfirst else 'month'} first ({first!r} is "
        f"{chosen.iloc[0]:%Y-%m-%d}, not {other.iloc[0]:%Y-%m-%d}). Write them year first "
        f"(2021-05-06) to be sure.",
        stacklevel=4,  # _datetimes, parse_times, SensorCSV.__init__, and who made the SensorCSV
    )
    return chosen, utc, dayfirst


def _longest_step(stamps: pd.Series) -> int:
    """The longest step between parsed times, in ns (0 for fewer than two)."""
    nanos = stamps.dropna().to_numpy(dtype="datetime64[ns]").astype(np.int64)
    return int(np.abs(np.diff(nanos)).max()) if len(nanos) > 1 else 0


def check_time_order(
    times: np.ndarray,
    *,
    path: Path,
    lines: np.ndarray,
    time_column: str | Sequence[str] | None,
    gap_factor: float,
    step: float | None = None,
    warn: bool = True,
) -> list[tuple[int, float]]:
    """Check that the rows are in time order; return the gaps, and warn of them.

    Args:
        times: ``(N,)`` the times, as :func:`parse_times` gives them.
        path: the file, for messages.
        lines: ``(N,)`` the line of the file each row came from, for messages.
        time_column: the datetime column's name (or the date's and the time's), for messages.
        gap_factor: steps longer than this many median steps are gaps.
        step: the usual step in seconds (default: the median of these times' steps); a file
            read in chunks passes its first chunk's on.
        warn: warn of the gaps (a file read in chunks warns once, at its end:
            :func:`gap_warning`).

    Returns:
        ``(row, seconds)`` for each long step: the row after it and its length.

    Raises:
        DataError: a time comes before the one on the row before it.

    Example:
        >>> check_time_order(
        ...     np.array([0.0, 1.0, 2.0, 3.0]), path=Path("a.csv"), lines=np.arange(2, 6),
        ...     time_column="t", gap_factor=2.0,
        ... )
        []
    """
    seconds = seconds_from_start(times)
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
        names = (
            [time_column] if time_column is None or isinstance(time_column, str) else time_column
        )
        shown = " and ".join(repr(name) for name in names)
        raise DataError(
            f"{path}: line {lines[row]}: time {_show_time(times, row)} comes before "
            f"{_show_time(times, row - 1)} on line {lines[row - 1]}; rows have to be in "
            f"time order (sort the file by {shown}, or pass "
            f"datetime_column=None to read the rows in file order without their times)."
            f"{clock}"
        )
    positive = steps[steps > 0]
    if len(positive) == 0:
        return []
    typical = float(np.median(steps)) if step is None else step
    if typical <= 0:
        return []
    long = np.flatnonzero(steps > gap_factor * typical)
    gaps = [(int(i) + 1, float(steps[i])) for i in long]
    if gaps and warn:
        warnings.warn(
            _gap_message(gaps, typical, path=path, lines=lines, gap_factor=gap_factor),
            stacklevel=3,  # check_time_order, SensorCSV.__init__, and who made the SensorCSV
        )
    return gaps


def gap_warning(
    gaps: list[tuple[int, float]],
    typical: float,
    *,
    path: Path,
    lines: dict[int, int],
    gap_factor: float,
) -> None:
    """Warn once of all the gaps of a file read in chunks (``lines`` maps each gap's row to its
    line), as :func:`check_time_order` warns of a whole file's."""
    if gaps:
        warnings.warn(
            _gap_message(gaps, typical, path=path, lines=lines, gap_factor=gap_factor),
            stacklevel=3,
        )


def _gap_message(
    gaps: list[tuple[int, float]],
    typical: float,
    *,
    path: Path,
    lines: np.ndarray | dict[int, int],
    gap_factor: float,
) -> str:
    """One line on the gaps: how many, and the (up to) :data:`GAPS_SHOWN` longest."""
    count = len(gaps)
    longest = sorted(gaps, key=lambda gap: (-gap[1], gap[0]))[:GAPS_SHOWN]
    listed = ", ".join(
        f"{duration_text(seconds)} before line {lines[row]}" for row, seconds in longest
    )
    head = (
        f"{path}: {count} gap{'s' if count > 1 else ''} in time longer than "
        f"{gap_factor:g} x the usual step of {typical:g} s"
    )
    if count <= GAPS_SHOWN:
        return f"{head}: {listed}."
    return f"{head}; the {GAPS_SHOWN} longest: {listed}{GAPS_NOTE}."


def duration_text(seconds: float) -> str:
    """A length of time as people say it: seconds up to 2 minutes, then minutes, hours, days.

    Example:
        >>> [duration_text(s) for s in (7, 247.5, 7201, 3 * 86400)]
        ['7 s', '4.1 min', '2.0 h', '3.0 days']
    """
    if seconds < 120:
        return f"{seconds:g} s"
    if seconds < 2 * 3600:
        return f"{seconds / 60:.1f} min"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


def seconds_from_start(times: np.ndarray) -> np.ndarray:
    """The times as float seconds from the first row.

    Example:
        >>> times = np.array(["2020-01-01T00:00:00", "2020-01-01T00:00:01.5"], "datetime64[ns]")
        >>> seconds_from_start(times).tolist()
        [0.0, 1.5]
    """
    if np.issubdtype(times.dtype, np.datetime64):
        nanos = times.astype("datetime64[ns]").astype(np.int64)
        return np.asarray((nanos - nanos[0]) / 1e9, dtype=np.float64)
    return np.asarray(times - times[0], dtype=np.float64)


def _show_time(times: np.ndarray, row: int) -> str:
    with importing("reading and writing sensor files (cnnlstm.data.sensor_times)", "sensors"):
        import pandas as pd

    value = times[row]
    return str(pd.Timestamp(value)) if isinstance(value, np.datetime64) else f"{value:g}"
