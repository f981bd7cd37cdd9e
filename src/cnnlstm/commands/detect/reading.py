"""``cnnlstm detect``'s sensor files read with its reading flags, and the reader's messages said
in those flags.

INPUT is read in parts of rows (:class:`~cnnlstm.data.sensor_chunks.SensorChunks`,
:func:`open_chunks`, :func:`parts`), so memory stays bounded whatever its length; the rows a fit
needs come first (:func:`read_head`). ``--train`` is read whole (:func:`read_file`).

A column named as an index (:data:`INDEX_NAMES`: ``row``, which ``cnnlstm detect`` itself
writes, ``index``, pandas' ``Unnamed: 0``, or no name: pandas writes its index so) that counts
the rows 0, 1, 2, ... (or 1, 2, 3, ...) is the rows' index, not a sensor: it is left out, with a
note (:func:`index_columns`); one that does not count so stays a sensor, and the note says why.

The reader names its own arguments in its messages (``nan_policy='ffill'``,
``columns=[...]``); a command line user reads the flags instead (``--nan ffill``, ``--columns
a,b``): :func:`in_flags`, :func:`said_in_flags`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import re
import shlex
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from cnnlstm.commands.detect.notes import Notes
from cnnlstm.commands.detect.settings import ReadOptions
from cnnlstm.data.sensor_chunks import SensorChunks, SensorPart
from cnnlstm.data.sensor_times import GAPS_NOTE
from cnnlstm.data.sensors import SensorCSV
from cnnlstm.data.text_encoding import EncodingNote
from cnnlstm.errors import DataError

__all__ = [
    "CELLS_PER_CHUNK",
    "INDEX_NAMES",
    "MIN_CHUNK_ROWS",
    "Head",
    "columns_flag",
    "in_flags",
    "index_columns",
    "open_chunks",
    "parts",
    "read_file",
    "read_head",
    "said_in_flags",
]

CELLS_PER_CHUNK = 500_000
"""INPUT is read in parts of about this many cells (rows x columns)..."""
MIN_CHUNK_ROWS = 2000
"""... but at least this many rows (2,000 sensors: 14 s to read 20,000 rows in parts of 250
rows, 6 s in parts of 2,000)."""

INDEX_NAMES = ("row", "index", "unnamed: 0", "")
"""Column names (in any case) that an index of the rows is written under (``""``: a header cell
left empty, as pandas writes an index without a name): a column so named that counts the rows
is not a sensor (:func:`index_columns`)."""

_FLAGS = (
    ("pass nan_policy='ffill' or 'interpolate'", "pass --nan ffill or --nan interpolate"),
    ("then nan_policy fills them", "then --nan ffill or --nan interpolate fills them"),
    ("pass decimal=','", "pass --decimal ,"),
    ("pass decimal='.'", "pass --decimal ."),
    ("pass datetime_column=None", "pass --datetime none"),
    ("Pass datetime_column=None", "Pass --datetime none"),
)
"""What SensorCSV's messages say, and what the command line says instead."""
_ENCODING_ARGUMENT = re.compile(r"encoding='([^']+)'")


def columns_flag(names: Sequence[str]) -> str:
    """``--columns a,b`` as a user would type it (quoted when a name has a blank).

    Example:
        >>> columns_flag(["flow", "Volume Flow"])
        "--columns 'flow,Volume Flow'"
    """
    return f"--columns {shlex.quote(','.join(names))}"


def in_flags(message: str) -> str:
    """A message of the reader's in the command line's words: ``--nan ffill`` for
    ``nan_policy='ffill'``, ``--encoding cp1252`` for ``encoding='cp1252'``...

    Example:
        >>> in_flags("or pass decimal=','")
        'or pass --decimal ,'
    """
    for said, flag in _FLAGS:
        message = message.replace(said, flag)
    return _ENCODING_ARGUMENT.sub(r"--encoding \1", message)


def said_in_flags(error: DataError, missing: Sequence[str] = ()) -> DataError:
    """The reader's error in the command line's words: it names its own arguments; on the
    command line they are ``--nan``, ``--columns``, ``--missing`` (added to the ``missing``
    texts already given)..."""
    message = in_flags(str(error))
    suggested = getattr(error, "suggested_columns", None)
    if suggested:
        message = message.replace(f"columns={suggested!r}", columns_flag(suggested))
    words = getattr(error, "suggested_missing", None)
    if words:
        flag = f"--missing {shlex.quote(','.join([*missing, *words]))}"
        message = message.replace(f"missing_values={words!r}", flag)
    return DataError(message)


def _reader_options(options: ReadOptions) -> dict[str, Any]:
    """The reader's arguments for the flags."""
    return {
        "nan_policy": options.nan,
        "columns": None if options.columns is None else list(options.columns),
        "decimal": options.decimal,
        "datetime_column": options.datetime,
        "missing_values": list(options.missing),
        "encoding": options.encoding,
    }


def _pass_on(caught: Sequence[warnings.WarningMessage], notes: Notes) -> None:
    """The reader's warnings in flags: a note on the encoding at once (what the run reads), the
    others warned again for the command to print (without the hint to ``SensorCSV.gaps``, which
    a command line user has not got)."""
    for warning in caught:
        text = in_flags(str(warning.message).replace(GAPS_NOTE, ""))
        if issubclass(warning.category, EncodingNote):
            notes.say(f"note: {text}")
            continue
        warnings.warn_explicit(text, warning.category, warning.filename, warning.lineno)


def index_columns(
    path: Path, names: Sequence[str], features: np.ndarray, missing: np.ndarray, *, whole: bool
) -> tuple[list[str], list[str]]:
    """The columns of ``names`` that are an index of the rows, and the notes that say which
    columns named as an index (:data:`INDEX_NAMES`) are one and which are read as sensors.

    A column is an index when it is named so and counts the rows ``(N, S)`` ``features`` holds,
    0, 1, 2, ... or 1, 2, 3, ..., with no gap (``missing``); ``whole`` says whether they are all
    the file's rows or its first ones. A file whose only column is so named keeps it as its
    sensor.

    Example:
        >>> rows = np.array([[0.0, 5.1], [1.0, 4.9], [2.0, 5.0]])
        >>> index, notes = index_columns(Path("a.csv"), ["row", "flow"], rows, rows < 0, whole=True)
        >>> index, notes[0][:46]
        (['row'], "note: a.csv: column 'row' counts the rows (0, ")
    """
    index: list[str] = []
    notes: list[str] = []
    rows = len(features)
    which = f"its {rows} rows" if whole else f"its first {rows} rows"
    for j, name in enumerate(names):
        if name.strip().lower() not in INDEX_NAMES:
            continue
        shown = repr(name) if name.strip() else f"{name!r} (no name in the header)"
        values = features[:, j]
        start = values[0] if rows else 0.0
        counting = np.arange(rows) + start
        wrong = np.flatnonzero(missing[:, j] | (values != counting))
        if start in (0.0, 1.0) and not len(wrong) and len(names) > len(index) + 1:
            index.append(name)
            first = int(start)
            notes.append(
                f"note: {path}: column {shown} counts the rows ({first}, {first + 1}, "
                f"{first + 2}, ... down {which}): it is read as their index, not as a sensor."
            )
            continue
        if len(names) == 1:
            why = "it is the file's only column"
        elif start not in (0.0, 1.0):
            why = f"it starts at {start:g}, not at 0 or 1"
        elif missing[wrong[0], j]:
            why = f"its row {wrong[0]} is empty"
        else:
            why = f"its row {wrong[0]} holds {values[wrong[0]]:g}, not {counting[wrong[0]]:g}"
        notes.append(
            f"note: {path}: column {shown} is named like an index of the rows, but {why}, so "
            f"it is read as a sensor; leave it out with "
            f"{columns_flag([c for c in names if c != name])} if it is not one."
        )
    return index, notes


def read_file(path: Path, options: ReadOptions, notes: Notes) -> SensorCSV:
    """A whole file (``--train``) as :class:`~cnnlstm.data.sensors.SensorCSV` reads it with
    ``options``, without a column that indexes its rows (:func:`index_columns`); its messages
    said in flags."""
    data, caught = _read_whole(path, options)
    if options.columns is None and _named_as_index(data.feature_names):
        index, said = index_columns(
            data.path, data.feature_names, data.features, data.missing, whole=True
        )
        for text in said:
            notes.say(text)
        if index:
            kept = tuple(c for c in data.feature_names if c not in index)
            data, caught = _read_whole(path, dataclasses.replace(options, columns=kept))
    _pass_on(caught, notes)
    return data


def _named_as_index(names: Sequence[str]) -> bool:
    return any(name.strip().lower() in INDEX_NAMES for name in names)


def _read_whole(path: Path, options: ReadOptions) -> tuple[SensorCSV, list[Any]]:
    """:class:`SensorCSV` of ``path`` read with ``options``, and its warnings."""
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            data = SensorCSV(path, window=1, **_reader_options(options))
    except DataError as error:
        raise said_in_flags(error, options.missing) from None
    return data, caught


def open_chunks(path: Path, options: ReadOptions, notes: Notes) -> SensorChunks:
    """INPUT as :class:`~cnnlstm.data.sensor_chunks.SensorChunks`, read with ``options`` in parts of
    :data:`CELLS_PER_CHUNK` cells (at least :data:`MIN_CHUNK_ROWS` rows), without a column that
    indexes its rows (:func:`index_columns`, judged on its first part)."""
    chunks, caught = _open(path, options)
    if options.columns is None and _named_as_index(chunks.feature_names):
        first, more = None, True
        # a first look (a mistake in these rows is said when the run reads them for itself)
        with contextlib.suppress(DataError), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            source = iter(chunks)
            first = next(source, None)
            more = next(source, None) is not None
        if first is not None:
            names = chunks.feature_names
            index, said = index_columns(
                chunks.path, names, first.features, first.missing, whole=not more
            )
            for text in said:
                notes.say(text)
            kept = tuple(c for c in names if c not in index)
            read = dataclasses.replace(options, columns=kept) if index else options
            chunks, caught = _open(path, read)
    _pass_on(caught, notes)
    return chunks


def _open(path: Path, options: ReadOptions) -> tuple[SensorChunks, list[Any]]:
    """:class:`SensorChunks` of ``path`` read with ``options``, and its warnings."""
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            chunks = SensorChunks(
                path, cells=CELLS_PER_CHUNK, min_rows=MIN_CHUNK_ROWS, **_reader_options(options)
            )
    except DataError as error:
        raise said_in_flags(error, options.missing) from None
    return chunks, caught


def parts(chunks: SensorChunks, options: ReadOptions, notes: Notes) -> Iterator[SensorPart]:
    """The parts of INPUT, read as they are asked for; the reader's messages said in flags."""
    source = iter(chunks)
    while True:
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                part = next(source, None)
        except DataError as error:
            raise said_in_flags(error, options.missing) from None
        _pass_on(caught, notes)
        if part is None:
            return
        yield part


class Head(NamedTuple):
    """The first rows of INPUT, read to fit on: what
    :func:`~cnnlstm.commands.detect.fitting.fit_detector` needs of a file."""

    path: Path
    features: np.ndarray
    missing: np.ndarray
    lines: np.ndarray
    feature_names: list[str]
    total: int
    """The rows of the file when all were read, else a number above any (the file goes on)."""


def read_head(
    chunks: SensorChunks, source: Iterator[SensorPart], rows: int
) -> tuple[Head, list[SensorPart]]:
    """Read parts until ``rows`` rows (or the end); the head and the parts read.

    One part more is read, unless the end came first, to know whether the head is the whole
    file (:attr:`Head.total`, and the log's "N rows" rather than "the first N rows"); it is
    among the parts returned, to be scored with them, not in the head.
    """
    read: list[SensorPart] = []
    count = 0
    ended = False
    while count < rows:
        part = next(source, None)
        if part is None:
            ended = True
            break
        read.append(part)
        count += len(part.features)
    after = None if ended else next(source, None)
    ended = ended or after is None
    width = len(chunks.feature_names)

    def joined(name: str, shape: tuple[int, ...], dtype: Any) -> np.ndarray:
        if not read:
            return np.zeros(shape, dtype=dtype)
        return np.concatenate([getattr(part, name) for part in read])

    head = Head(
        path=chunks.path,
        features=joined("features", (0, width), np.float64),
        missing=joined("missing", (0, width), bool),
        lines=joined("lines", (0,), np.int64),
        feature_names=list(chunks.feature_names),
        total=count if ended else np.iinfo(np.int64).max,
    )
    return head, read if after is None else [*read, after]
