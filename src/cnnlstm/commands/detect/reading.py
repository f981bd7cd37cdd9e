"""``cnnlstm detect``'s sensor files read with its reading flags, and the reader's messages said
in those flags.

INPUT is read in parts of rows (:class:`~cnnlstm.data.sensors.SensorChunks`, :func:`open_chunks`,
:func:`parts`), so memory stays bounded whatever its length; the rows a fit needs come first
(:func:`read_head`). ``--train`` is read whole (:func:`read_file`). The reader names its own
arguments in its messages (``nan_policy='ffill'``, ``columns=[...]``); a command line user reads
the flags instead (``--nan ffill``, ``--columns a,b``): :func:`in_flags`, :func:`said_in_flags`.
"""

from __future__ import annotations

import re
import shlex
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from cnnlstm.commands.detect.notes import Notes
from cnnlstm.commands.detect.settings import ReadOptions
from cnnlstm.data.sensor_times import GAPS_NOTE
from cnnlstm.data.sensors import SensorChunks, SensorCSV, SensorPart
from cnnlstm.data.text_encoding import EncodingNote
from cnnlstm.errors import DataError

__all__ = [
    "CELLS_PER_CHUNK",
    "MIN_CHUNK_ROWS",
    "Head",
    "columns_flag",
    "in_flags",
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


def read_file(path: Path, options: ReadOptions, notes: Notes) -> SensorCSV:
    """A whole file (``--train``) as :class:`~cnnlstm.data.sensors.SensorCSV` reads it with
    ``options``; its messages said in flags."""
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            data = SensorCSV(path, window=1, **_reader_options(options))
    except DataError as error:
        raise said_in_flags(error, options.missing) from None
    _pass_on(caught, notes)
    return data


def open_chunks(path: Path, options: ReadOptions, notes: Notes) -> SensorChunks:
    """INPUT as :class:`~cnnlstm.data.sensors.SensorChunks`, read with ``options`` in parts of
    :data:`CELLS_PER_CHUNK` cells (at least :data:`MIN_CHUNK_ROWS` rows)."""
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            chunks = SensorChunks(
                path, cells=CELLS_PER_CHUNK, min_rows=MIN_CHUNK_ROWS, **_reader_options(options)
            )
    except DataError as error:
        raise said_in_flags(error, options.missing) from None
    _pass_on(caught, notes)
    return chunks


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
    """Read parts until ``rows`` rows (or the end); the head and the parts read."""
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
    return head, read
