"""``cnnlstm detect`` over many files: a folder or a glob, each file fitted and scored on its own.

::

    cnnlstm detect 'plant/*.csv' --train-rows N --output OUTDIR [--report DIR] [--jobs N]
    cnnlstm detect plant/ --train NORMAL.csv --output OUTDIR

INPUT names a folder (its ``.csv``, ``.tsv`` and ``.txt`` files) or a glob pattern (quoted, so
that the shell leaves it alone; ``**`` reaches into subfolders). Each file is run exactly as
``cnnlstm detect FILE`` would run it alone, with the same flags: fitted on its own first
``--train-rows`` rows (or on ``--train``, or with the ``--load`` detector), scored, and its
outputs written atomically. So a file's OUT is, byte for byte, the one a run on that file alone
writes. The outputs keep the inputs' names and folders below the folder (or the pattern's
common folder): ``OUTDIR/<name>.csv``, ``--report DIR/<name>/``, ``--save DIR/<name>.pt``.

``--jobs N`` runs N files at once, each in a process of its own (a ``forkserver`` or ``spawn``
process, one torch thread each); the results do not depend on N. A line is printed as each file
ends; at the end a table of every file's rows, flagged rows, flagged spans and, for files with
labels, precision, recall, F1, FAR, MAR and NAB (the rows after the training rows, as for one
file), also written to ``OUTDIR/summary.csv`` (FAR and MAR in percent, as in the table, under
``far_percent`` and ``mar_percent``). A file that fails (a bad cell, too few rows...) gets its
one-line error in the table and in ``summary.csv``, and the other files go on; the exit code is
then 1 (2 for mistakes in the flags, found before any file is read, and for a missing optional
package, said once when the first file needs it).
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import csv
import dataclasses
import glob
import io
import math
import multiprocessing
import os
import time
import warnings
from collections.abc import Generator, Sequence
from pathlib import Path
from typing import Any, NamedTuple

from cnnlstm.commands import USER_ERRORS, atomic_file, error_message
from cnnlstm.commands.detect.fitting import huge_pages, new_detector
from cnnlstm.commands.detect.offline import FileSummary, run_file
from cnnlstm.commands.detect.outputs import check_places
from cnnlstm.commands.detect.settings import DetectSettings
from cnnlstm.extras import MissingExtraError

__all__ = [
    "SUFFIXES",
    "SUMMARY",
    "SUMMARY_COLUMNS",
    "FileResult",
    "detect_file",
    "file_settings",
    "find_inputs",
    "run_many",
]

SUFFIXES = (".csv", ".tsv", ".txt")
"""The files of a folder that INPUT names are those with these suffixes."""
SUMMARY = "summary.csv"
"""The table of every file's results, in OUTDIR."""
_METRICS = ("precision", "recall", "f1", "far", "mar", "nab")
_PERCENT = ("far", "mar")
"""The metrics given in percent, as the printed table and ``benchmark``'s tables give them (the
metrics are fractions, NAB 0-100); ``summary.csv`` names their columns ``far_percent``..."""
SUMMARY_COLUMNS = (
    "file",
    "rows",
    "flagged",
    "spans",
    *(f"{key}_percent" if key in _PERCENT else key for key in _METRICS),
    "error",
)
"""The columns of ``summary.csv``: precision, recall and F1 as fractions, FAR and MAR in percent
(as the printed table shows them), NAB from 0 to 100."""


class FileResult(NamedTuple):
    """One file of a run over many: its name below the inputs' folder, what its run counted
    (None when it failed), its one-line error, its warnings, and its seconds."""

    name: str
    summary: FileSummary | None
    error: str | None
    warnings: list[str]
    seconds: float
    missing_extra: tuple[str, str, str] | None = None
    """``(what, module, extra)`` of the :class:`~cnnlstm.extras.MissingExtraError` the file's run
    stopped on: not the file's fault, so the whole run stops on it, once (an exception of its own
    would not come back whole from a worker process)."""


def find_inputs(pattern: str) -> tuple[list[Path], Path] | None:
    """The files INPUT names and the folder their output names are taken below, or None when
    INPUT is one file (or names nothing that exists: the one-file run says so).

    Raises:
        ValueError: a folder without sensor files, or a pattern that matches no file.

    Example:
        >>> import tempfile
        >>> root = Path(tempfile.mkdtemp())
        >>> for name in ("b.csv", "a.csv", "notes.md"):
        ...     _ = (root / name).write_text("x\\n1\\n")
        >>> files, folder = find_inputs(str(root))
        >>> [f.name for f in files], folder == root
        (['a.csv', 'b.csv'], True)
        >>> find_inputs(str(root / "a.csv")) is None
        True
    """
    path = Path(pattern)
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in SUFFIXES)
        if not files:
            raise ValueError(
                f"INPUT {pattern} is a folder without {', '.join(SUFFIXES)} files; name the files "
                f"with a quoted pattern, e.g. '{path / '*' / '*.csv'}' for the files of its "
                f"subfolders"
            )
        return files, path
    if path.exists() or not glob.has_magic(pattern):
        return None
    files = sorted(Path(p) for p in glob.glob(pattern, recursive=True) if Path(p).is_file())
    if not files:
        raise ValueError(f"INPUT {pattern!r} matches no file; check the pattern and its quotes")
    root = Path(os.path.commonpath([str(f.parent) for f in files]))
    return files, root


def file_settings(settings: DetectSettings, file: Path, root: Path) -> DetectSettings:
    """The settings of a one-file run of ``file``: its outputs below the folders given, with
    its name below ``root``."""
    name = file.relative_to(root)
    assert settings.output is not None
    return dataclasses.replace(
        settings,
        input=str(file),
        output=settings.output / name,
        report=None if settings.report is None else settings.report / name.with_suffix(""),
        save=None if settings.save is None else settings.save / name.with_suffix(".pt"),
    )


def _check_many(settings: DetectSettings, files: Sequence[Path], root: Path) -> None:
    """Check the places and the detector's settings of a run over many files before any file is
    read: the first file's places as its run checks them, and no output onto an input."""
    check_places(file_settings(settings, files[0], root))
    if settings.fit.load is None:
        new_detector(settings.fit.detector)  # the detector's settings (--window...)
    reads = {os.path.realpath(f) for f in files}
    reads |= {os.path.realpath(p) for p in (settings.fit.train, settings.fit.load) if p is not None}
    assert settings.output is not None
    summary = settings.output / SUMMARY
    for file in files:
        one = file_settings(settings, file, root)
        assert one.output is not None
        for flag, path in (
            ("--output", one.output),
            ("--report", one.report),
            ("--save", one.save),
        ):
            if path is not None and os.path.realpath(path) in reads:
                raise ValueError(
                    f"{flag} has to be a folder apart from the inputs, but {file}'s output would "
                    f"be {path}: the command would write over a file it reads; pass another "
                    f"folder."
                )
        if os.path.realpath(one.output) == os.path.realpath(summary):
            raise ValueError(
                f"{file}'s output would be {summary}, where the table of all files goes; rename "
                f"the file or run it alone."
            )


def run_many(settings: DetectSettings, files: Sequence[Path], root: Path) -> int:
    """Run every file of ``files`` (below ``root``) as ``settings`` say, ``settings.jobs`` at
    once (see the module docstring); 0 when all ran, 1 when any failed.

    Raises:
        ValueError: a place that cannot be written, an output onto an input, or detector
            settings that cannot be (checked before any file is read).
    """
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    _check_many(settings, files, root)
    jobs = min(settings.jobs, len(files))
    console = Console(highlight=False)
    console.print(
        f"{len(files)} files below {root}, each fitted and scored on its own, "
        f"{jobs} at a time; outputs in {settings.output}",
        soft_wrap=True,
    )
    runs = [file_settings(settings, file, root) for file in files]
    names = [str(file.relative_to(root)) for file in files]
    results: list[FileResult | None] = [None] * len(files)
    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        console=console,
        transient=True,
        disable=not console.is_terminal,
    )
    with progress, contextlib.closing(_results(runs, names, jobs)) as ended:
        task = progress.add_task("detect", total=len(files))
        for index, result in ended:
            if result.missing_extra is not None:  # every file would fail so: say it once
                raise MissingExtraError(*result.missing_extra)
            results[index] = result
            progress.advance(task)
            done = sum(r is not None for r in results)
            progress.console.print(f"[{done}/{len(files)}] {_line(result)}", soft_wrap=True)
    finished = [r for r in results if r is not None]
    _print_table(console, finished)
    for result in finished:
        for text in result.warnings:
            console.print(f"warning: {text}", soft_wrap=True, markup=False)
    assert settings.output is not None
    summary = settings.output / SUMMARY
    settings.output.mkdir(parents=True, exist_ok=True)
    with atomic_file(summary) as temp:
        _write_summary(temp, finished)
    failed = sum(r.error is not None for r in finished)
    tail = f"; {failed} of {len(finished)} files failed" if failed else ""
    console.print(f"wrote {summary}{tail}", soft_wrap=True)
    return 1 if failed else 0


def _results(
    runs: Sequence[DetectSettings], names: Sequence[str], jobs: int
) -> Generator[tuple[int, FileResult], None, None]:
    """``(index, result)`` of each file as it ends: in turn in this process with one job, else
    in ``jobs`` processes."""
    if jobs == 1:
        for index, (one, name) in enumerate(zip(runs, names, strict=True)):
            yield index, detect_file(one, name)
        return
    methods = multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")
    pool = concurrent.futures.ProcessPoolExecutor(
        max_workers=jobs, mp_context=context, initializer=_one_thread
    )
    try:
        futures = {
            pool.submit(detect_file, one, name): index
            for index, (one, name) in enumerate(zip(runs, names, strict=True))
        }
        for future in concurrent.futures.as_completed(futures):
            index = futures[future]
            try:
                result = future.result()
            except Exception as error:  # the process died (out of memory, a signal)
                result = FileResult(names[index], None, _one_line(error), [], 0.0)
            yield index, result
    finally:  # closed early (the run stops): the files not started are not run
        pool.shutdown(wait=True, cancel_futures=True)


def _one_thread() -> None:
    """A worker process's start: one torch thread (the files run side by side), large tensors
    on huge pages (:func:`~cnnlstm.commands.detect.fitting.huge_pages`)."""
    import torch

    huge_pages()
    torch.set_num_threads(1)


def _one_line(error: BaseException) -> str:
    """The error as ``cnnlstm detect`` says it, on one line (other errors with their type)."""
    if isinstance(error, USER_ERRORS):
        message = error_message(error)
    else:
        message = f"{type(error).__name__}: {error}"
    return " ".join(message.split())


def detect_file(settings: DetectSettings, name: str) -> FileResult:
    """Run ``cnnlstm detect`` on one file as a run on it alone would (its printing kept out of
    the way): what it counted, or its one-line error, and its warnings."""
    started = time.perf_counter()
    summary, error, missing = None, None, None
    printed = io.StringIO()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            with contextlib.redirect_stdout(printed):
                summary = run_file(settings)
        except MissingExtraError as failure:  # not the file's fault: the run stops on it
            error = _one_line(failure)
            missing = (failure.what, failure.name or "", failure.extra)
        except Exception as failure:  # a bad file fails alone; the others go on
            error = _one_line(failure)
    noted = [
        " ".join(str(w.message).split()) for w in caught if issubclass(w.category, UserWarning)
    ]
    return FileResult(name, summary, error, noted, time.perf_counter() - started, missing)


def _line(result: FileResult) -> str:
    if result.summary is None:
        return f"{result.name}: error: {result.error}"
    s = result.summary
    f1 = "" if not s.metrics else f", F1 {s.metrics['f1']:.3f}"
    spans = f"{s.spans} span{'' if s.spans == 1 else 's'}"
    return (
        f"{result.name}: {s.rows} rows, {s.flagged} flagged in {spans}{f1} ({result.seconds:.1f} s)"
    )


def _cells(result: FileResult) -> dict[str, str]:
    """One file's row of ``summary.csv`` (:data:`SUMMARY_COLUMNS`): FAR and MAR in percent."""
    cells = dict.fromkeys(SUMMARY_COLUMNS, "")
    cells["file"] = result.name
    if result.summary is not None:
        cells.update(
            rows=str(result.summary.rows),
            flagged=str(result.summary.flagged),
            spans=str(result.summary.spans),
        )
        for key, value in (result.summary.metrics or {}).items():
            if key in _PERCENT:
                key, value = f"{key}_percent", 100 * value
            if key in cells:
                cells[key] = "" if math.isnan(value) else f"{value:.6g}"
    cells["error"] = result.error or ""
    return cells


def _write_summary(path: Path, results: Sequence[FileResult]) -> None:
    with open(path, "w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(SUMMARY_COLUMNS)
        for result in results:
            cells = _cells(result)
            writer.writerow(cells[column] for column in SUMMARY_COLUMNS)


def _print_table(console: Any, results: Sequence[FileResult]) -> None:
    from rich.measure import Measurement
    from rich.table import Table

    labelled = any(r.summary is not None and r.summary.metrics for r in results)
    failed = any(r.error is not None for r in results)
    table = Table(title="each file, fitted and scored on its own", title_justify="left")
    for column in ("file", "rows", "flagged", "spans"):
        table.add_column(column, justify="left" if column == "file" else "right")
    shown = {"precision": "precision", "recall": "recall", "f1": "F1", "far": "FAR, %"}
    shown.update(mar="MAR, %", nab="NAB")
    if labelled:
        for key in _METRICS:
            table.add_column(shown[key], justify="right")
    if failed:
        table.add_column("error")  # said in full under the table
    for result in results:
        s = result.summary
        row = [result.name, "", "", ""]
        if s is not None:
            row = [result.name, str(s.rows), str(s.flagged), str(s.spans)]
        if labelled:
            metrics = (s.metrics if s is not None else None) or {}
            for key in _METRICS:
                value = metrics.get(key)
                if value is None or math.isnan(value):
                    row.append("")
                elif key in ("far", "mar"):
                    row.append(f"{100 * value:.2f}")
                else:
                    row.append(f"{value:.3f}" if key != "nab" else f"{value:.2f}")
        if failed:
            row.append("" if result.error is None else "failed")
        table.add_row(*row)
    if not console.is_terminal:  # a file or a pipe: as wide as the table, never folded
        from rich.console import Console

        wide = Measurement.get(console, console.options.update_width(400), table).maximum
        console = Console(file=console.file, width=max(console.width, wide), highlight=False)
    console.print(table)
    for result in results:
        if result.error is not None:
            console.print(f"{result.name}: error: {result.error}", soft_wrap=True, markup=False)
