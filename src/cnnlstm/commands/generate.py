"""``cnnlstm generate``: write the built-in generated data to files, so every command can run on it.

::

    cnnlstm generate sensor-plant plant.csv [--rows 2000] [--anomalies 5] [--clean-rows 400]
                                            [--sensors 8] [--seed 0] [--normal-rows N]
    cnnlstm generate pick-place machine.csv [--anomalies 4] (the same options, no --sensors)
    cnnlstm generate moving-digits digits.npz [--samples 256] [--seed 0]
    cnnlstm generate digit-clips clips.npz | clips/ [--samples 256] [--seed 0]
    cnnlstm generate text-lines lines.npz | lines/ [--samples 256] [--seed 0]

What each writes, and what reads it back:

=============== ============================================================ ===================
name            file                                                         read back with
=============== ============================================================ ===================
sensor-plant    :class:`~cnnlstm.data.sensor_plant.SensorPlant`'s recording  ``cnnlstm detect``,
                in SKAB's layout: ``;``-separated, ``datetime``, the         :class:`SensorCSV`,
                sensors, ``anomaly``, ``changepoint``; no anomaly in the     :class:`SKAB`
                first ``--clean-rows`` rows; ``--normal-rows N``: N rows of
                an anomaly-free recording in ``<name>-normal.csv`` too
pick-place      :class:`~cnnlstm.data.pick_place.PickPlace`'s, as above: 5   ``cnnlstm detect``
                motor and 13 PLC (0/1) signals, no ``--sensors``
moving-digits   ``.npz``: ``x`` the 10 input frames ``(N, 10, 1, 64, 64)``,  :class:`ArrayDataset`
                ``y`` the 10 frames that follow (float32 in [0, 1])
digit-clips     ``.npz``: ``x`` clips ``(N, 10, 1, 32, 32)``, ``y`` the     :class:`ArrayDataset`
                digit ``(N,)``; or, for a path without a suffix, a folder    :class:`FrameFolder`
                ``<digit>/clip<i>/frame<t>.png`` (8-bit grayscale)           (``grayscale=True``)
text-lines      ``.npz``: ``x`` images ``(N, 1, 32, 128)``, ``y`` the        :class:`ArrayDataset`
                targets ``(N, max_length)`` padded with 0 (the CTC blank, so
                ``TextLines.decode`` drops it), ``lengths`` ``(N,)`` and
                ``alphabet``; or, for a path without a suffix, a folder      :class:`TextLineFolder`
                ``line<i>.png`` (8-bit grayscale, 32 x 128, bright ink on    (the ``text_folder``
                black) and ``labels.tsv``, one ``line<i>.png<TAB>text``      config)
                line per image (UTF-8), texts of ``0-9a-z`` (the config's
                alphabet)
=============== ============================================================ ===================

Every output appears whole or not at all; sensor-plant writes in bounded memory.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from cnnlstm.commands import (
    USER_ERRORS,
    Command,
    atomic_file,
    atomic_folder,
    flag_name,
    user_error,
)

__all__ = [
    "DEFAULT_SAMPLES",
    "GENERATORS",
    "add_parser",
    "build_parser",
    "main",
    "normal_path",
    "run",
]

COMMAND = "generate"
GENERATORS = ("sensor-plant", "pick-place", "moving-digits", "digit-clips", "text-lines")
"""The names ``cnnlstm generate`` takes."""
DEFAULT_SAMPLES = 256
"""Samples the image generators write without ``--samples``."""
_FOLDERS = {"digit-clips": "PNG frames", "text-lines": "PNG line images and labels.tsv"}
"""The generators that also write a folder (an OUTPUT without a suffix), and what it holds."""

_PLANT_DEFAULTS = {"rows": 2000, "anomalies": 5, "clean_rows": 400, "sensors": 8}
_MACHINE_DEFAULTS = {"rows": 2000, "anomalies": 4, "clean_rows": 400}
"""pick-place's defaults: 4 anomalies, one of each kind."""
_PLANT_FLAGS = ("rows", "anomalies", "clean_rows", "sensors", "normal_rows")
_RECORDINGS = ("sensor-plant", "pick-place")
"""The generators that write a CSV of sensor rows and take the flags of ``_PLANT_FLAGS``
(pick-place all but --sensors)."""
_HELP = "write built-in generated data (sensor plant, pick-and-place, digits, text) to files"


def _configure(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument("name", metavar="NAME", choices=GENERATORS, help=", ".join(GENERATORS))
    parser.add_argument(
        "output",
        metavar="OUTPUT",
        type=Path,
        help="the file to write: .csv for sensor-plant and pick-place, .npz for the others; "
        "digit-clips and text-lines also take a folder, a path without a suffix (PNG frames; PNG "
        "line images and labels.tsv)",
    )
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    plant = parser.add_argument_group("sensor-plant, pick-place")
    plant.add_argument(
        "--rows",
        type=int,
        help=f"rows (seconds) of the recording (default {_PLANT_DEFAULTS['rows']})",
    )
    plant.add_argument(
        "--anomalies",
        type=int,
        help=f"anomalies to inject (default {_PLANT_DEFAULTS['anomalies']}; pick-place "
        f"{_MACHINE_DEFAULTS['anomalies']})",
    )
    plant.add_argument(
        "--clean-rows",
        type=int,
        help=f"rows at the start with no anomaly, to fit a detector on "
        f"(default {_PLANT_DEFAULTS['clean_rows']})",
    )
    plant.add_argument(
        "--sensors",
        type=int,
        help=f"sensor-plant's sensors, 8 to 64 (default {_PLANT_DEFAULTS['sensors']})",
    )
    plant.add_argument(
        "--normal-rows",
        type=int,
        metavar="N",
        help="also write N anomaly-free rows of the same plant or machine to <name>-normal.csv "
        "beside OUTPUT",
    )
    images = parser.add_argument_group("moving-digits, digit-clips, text-lines")
    images.add_argument("--samples", type=int, help=f"samples to write (default {DEFAULT_SAMPLES})")
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> int:
    """Write the data; user mistakes print one error line and return 2."""
    try:
        _check_args(args)
        if args.name == "sensor-plant":
            _sensor_plant(args)
        elif args.name == "pick-place":
            _pick_place(args)
        else:
            _images(args)
    except USER_ERRORS as error:
        return user_error(COMMAND, error)
    return 0


def normal_path(output: str | Path) -> Path:
    """Where ``--normal-rows`` writes the anomaly-free file: ``<stem>-normal<suffix>`` beside
    ``output``.

    Example:
        >>> normal_path("data/plant.csv").as_posix()
        'data/plant-normal.csv'
    """
    path = Path(output)
    return path.with_name(f"{path.stem}-normal{path.suffix or '.csv'}")


# ----------------------------------------------------------------------------- checks


def _check_args(args: argparse.Namespace) -> None:
    if args.name in _RECORDINGS:
        if args.samples is not None:
            raise ValueError(
                f"--samples is for moving-digits, digit-clips and text-lines; {args.name} takes "
                f"--rows"
            )
        if args.name == "pick-place" and args.sensors is not None:
            raise ValueError(
                "--sensors is for sensor-plant; pick-place always has 5 motor and 13 PLC signals"
            )
        for name in ("rows", "normal_rows"):
            value = getattr(args, name)
            if value is not None and value < 1:
                raise ValueError(f"{flag_name(name)} has to be a positive int, but got {value}")
        for name in ("anomalies", "clean_rows"):
            value = getattr(args, name)
            if value is not None and value < 0:
                raise ValueError(f"{flag_name(name)} has to be a non-negative int, but got {value}")
        if args.sensors is not None and not 8 <= args.sensors <= 64:
            raise ValueError(f"--sensors has to be in [8, 64], but got {args.sensors}")
    else:
        given = [flag_name(name) for name in _PLANT_FLAGS if getattr(args, name) is not None]
        if given:
            raise ValueError(
                f"{', '.join(given)} {'is' if len(given) == 1 else 'are'} for sensor-plant and "
                f"pick-place; "
                f"{args.name} takes --samples and --seed"
            )
        if args.samples is not None and args.samples < 1:
            raise ValueError(f"--samples has to be a positive int, but got {args.samples}")
    output = Path(args.output)
    holds = _FOLDERS.get(args.name)
    folder = holds is not None and not output.suffix
    wanted = ".csv" if args.name in _RECORDINGS else ".npz"
    if not folder and output.suffix.lower() != wanted:
        also = f" or a folder (no suffix) for {holds}" if holds is not None else ""
        raise ValueError(
            f"OUTPUT has to be a {wanted} file for {args.name}{also}, but got {str(output)!r}"
        )
    if folder:
        if output.exists() and (not output.is_dir() or any(output.iterdir())):
            raise ValueError(
                f"OUTPUT has to be a new or empty folder for {args.name} {holds}, but "
                f"{str(output)!r} {'is a file' if not output.is_dir() else 'holds files'}; "
                f"name a new folder, or a .npz file"
            )
    elif output.is_dir():
        raise ValueError(f"OUTPUT has to be a file, but got the folder {str(output)!r}")


# ----------------------------------------------------------------------------- writing


def _console(stderr: bool = False) -> Any:
    from rich.console import Console

    return Console(stderr=stderr, highlight=False)


def _plant_option(args: argparse.Namespace, name: str) -> int:
    value = getattr(args, name)
    return int(_PLANT_DEFAULTS[name] if value is None else value)


def _sensor_plant(args: argparse.Namespace) -> None:
    from rich.table import Table

    from cnnlstm.data.sensor_plant import SensorPlant

    rows = _plant_option(args, "rows")
    anomalies = _plant_option(args, "anomalies")
    clean = _plant_option(args, "clean_rows")

    def plant_of(length: int) -> SensorPlant:
        return SensorPlant(
            n_sensors=_plant_option(args, "sensors"),
            seed=args.seed,
            n_anomalies=anomalies,
            normal_rows=clean,
            rows=length,
        )

    least = plant_of(sys.maxsize).min_rows  # the length only has to pass the plant's check
    if rows < least:
        raise ValueError(
            f"--rows has to be at least {least} for {anomalies} anomalies after {clean} clean "
            f"rows (the longest anomalies and the gaps between them), but got {rows}; pass more "
            f"--rows, or fewer --anomalies or --clean-rows"
        )
    plant = plant_of(rows)
    output = Path(args.output)
    with atomic_file(output) as temp, _rows_bar(output, rows) as advance:
        injected = plant.write_csv_in_chunks(temp, rows, progress=advance)
    console = _console()
    console.print(
        f"wrote {output}: {rows} rows of {plant.n_sensors} sensors at 1 Hz, "
        f"{len(injected)} labelled anomalies after {clean} clean rows "
        f"(fit on them: cnnlstm detect {output} --train-rows {clean} ...)",
        soft_wrap=True,
    )
    if injected:
        table = Table(title_justify="left")
        for column in ("rows", "kind", "sensors"):
            table.add_column(column)
        for anomaly in injected:
            table.add_row(
                f"{anomaly.start}-{anomaly.end - 1}", anomaly.kind, ", ".join(anomaly.sensors)
            )
        console.print(table)
    if args.normal_rows is not None:
        normal = normal_path(output)
        with atomic_file(normal) as temp, _rows_bar(normal, args.normal_rows) as advance:
            plant.write_csv_in_chunks(temp, args.normal_rows, normal=True, progress=advance)
        console.print(
            f"wrote {normal}: {args.normal_rows} anomaly-free rows of the same plant, no labels "
            f"(fit on them: cnnlstm detect {output} --train {normal} ...)",
            soft_wrap=True,
        )


def _pick_place(args: argparse.Namespace) -> None:
    from rich.table import Table

    from cnnlstm.data.pick_place import ANALOGUE_SIGNALS, BINARY_SIGNALS, PickPlace

    options = {
        name: int(default if getattr(args, name) is None else getattr(args, name))
        for name, default in _MACHINE_DEFAULTS.items()
    }
    rows, anomalies, clean = options["rows"], options["anomalies"], options["clean_rows"]
    machine = PickPlace(seed=args.seed, n_anomalies=anomalies, normal_rows=clean)
    if rows < machine.min_rows:
        raise ValueError(
            f"--rows has to be at least {machine.min_rows} for {anomalies} anomalies after "
            f"{clean} clean rows (the longest anomalies and the gaps between them), but got "
            f"{rows}; pass more --rows, or fewer --anomalies or --clean-rows"
        )
    output = Path(args.output)
    with atomic_file(output) as temp:
        machine.write_csv(temp, rows)
    console = _console()
    console.print(
        f"wrote {output}: {rows} rows of a pick-and-place machine at 1 Hz, "
        f"{len(ANALOGUE_SIGNALS)} motor signals and {len(BINARY_SIGNALS)} PLC signals (0/1), "
        f"{len(machine.anomalies)} labelled anomalies after {clean} clean rows "
        f"(fit on them: cnnlstm detect {output} --train-rows {clean} ...)",
        soft_wrap=True,
    )
    if machine.anomalies:
        table = Table(title_justify="left")
        for column in ("rows", "kind", "what"):
            table.add_column(column)
        for anomaly in machine.anomalies:
            table.add_row(f"{anomaly.start}-{anomaly.end - 1}", anomaly.kind, anomaly.detail)
        console.print(table)
    if args.normal_rows is not None:
        normal = normal_path(output)
        with atomic_file(normal) as temp:
            machine.write_normal_csv(temp, args.normal_rows)
        console.print(
            f"wrote {normal}: {args.normal_rows} anomaly-free rows of the same machine, no "
            f"labels (fit on them: cnnlstm detect {output} --train {normal} ...)",
            soft_wrap=True,
        )


@contextlib.contextmanager
def _rows_bar(path: Path, rows: int) -> Iterator[Callable[[int], None]]:
    """A rich progress bar of the rows written to ``path`` (on standard error, drawn only on a
    terminal); yields the function that advances it."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    console = _console(stderr=True)
    text = f"writing {path.name}"
    columns = (TextColumn(text), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, console=console, disable=not console.is_terminal) as progress:
        task = progress.add_task(text, total=rows)
        yield lambda done: progress.advance(task, done)


def _images(args: argparse.Namespace) -> None:
    samples = DEFAULT_SAMPLES if args.samples is None else int(args.samples)
    output = Path(args.output)
    writers: dict[str, Callable[[int, int, Path], str]] = {
        "moving-digits": _moving_digits,
        "digit-clips": _digit_clips_npz,
        "text-lines": _text_lines,
    }
    folders: dict[str, Callable[[int, int, Path], str]] = {
        "digit-clips": _digit_clips_folder,
        "text-lines": _text_lines_folder,
    }
    if args.name in folders and not output.suffix:
        with atomic_folder(output) as temp:
            what = folders[args.name](samples, args.seed, temp)
    else:
        with atomic_file(output) as temp:
            what = writers[args.name](samples, args.seed, temp)
    _console().print(f"wrote {output}: {what}", soft_wrap=True)


def _fill(dataset: Any, samples: int, text: str, keep: Callable[[int, Any], None]) -> None:
    """Draw items ``0..samples-1`` of ``dataset``, handing each to ``keep``, with a rich progress
    bar on standard error (drawn only on a terminal)."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    console = _console(stderr=True)
    columns = (TextColumn(text), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, console=console, disable=not console.is_terminal) as progress:
        task = progress.add_task(text, total=samples)
        for index in range(samples):
            keep(index, dataset[index])
            progress.advance(task)


def _moving_digits(samples: int, seed: int, path: Path) -> str:
    from cnnlstm.data.moving_digits import MovingDigits

    data = MovingDigits(num_samples=samples, seed=seed)
    inputs, targets = data[0]
    x = np.empty((samples, *inputs.shape), dtype=np.float32)  # (N, T_in, 1, H, W)
    y = np.empty((samples, *targets.shape), dtype=np.float32)  # (N, T_out, 1, H, W)

    def keep(index: int, item: Any) -> None:
        x[index], y[index] = item[0].numpy(), item[1].numpy()

    _fill(data, samples, "moving-digits", keep)
    np.savez_compressed(path, x=x, y=y)
    return (
        f"x {tuple(x.shape)} input frames, y {tuple(y.shape)} the frames that follow "
        f"(read with cnnlstm.data.ArrayDataset)"
    )


def _digit_clips_npz(samples: int, seed: int, path: Path) -> str:
    from cnnlstm.data.moving_digits import DigitClips

    data = DigitClips(num_samples=samples, seed=seed)
    clip, _ = data[0]
    x = np.empty((samples, *clip.shape), dtype=np.float32)  # (N, T, 1, H, W)
    y = np.empty(samples, dtype=np.int64)  # (N,)

    def keep(index: int, item: Any) -> None:
        x[index], y[index] = item[0].numpy(), int(item[1])

    _fill(data, samples, "digit-clips", keep)
    np.savez_compressed(path, x=x, y=y)
    return f"x {tuple(x.shape)} clips, y {tuple(y.shape)} digits (read with ArrayDataset)"


def _digit_clips_folder(samples: int, seed: int, root: Path) -> str:
    from PIL import Image

    from cnnlstm.data.moving_digits import DigitClips

    data = DigitClips(num_samples=samples, seed=seed)
    width = len(str(samples - 1))
    frames = 0

    def keep(index: int, item: Any) -> None:
        nonlocal frames
        clip, label = item
        folder = root / str(int(label)) / f"clip{index:0{width}d}"
        folder.mkdir(parents=True)
        pixels = np.rint(clip[:, 0].numpy() * 255.0).astype(np.uint8)  # (T, H, W)
        for t, frame in enumerate(pixels):
            Image.fromarray(frame, mode="L").save(folder / f"frame{t}.png")
        frames = len(pixels)

    _fill(data, samples, "digit-clips", keep)
    return (
        f"{samples} clips of {frames} PNG frames as <digit>/clip<i>/frame<t>.png "
        f"(read with cnnlstm.data.FrameFolder(..., grayscale=True))"
    )


def _text_lines(samples: int, seed: int, path: Path) -> str:
    from cnnlstm.data.text_lines import TextLines

    data = TextLines(num_samples=samples, seed=seed)
    image, _ = data[0]
    x = np.empty((samples, *image.shape), dtype=np.float32)  # (N, 1, H, W)
    y = np.zeros((samples, data.max_length), dtype=np.int64)  # (N, max_length), 0-padded
    lengths = np.empty(samples, dtype=np.int64)  # (N,)

    def keep(index: int, item: Any) -> None:
        target = item[1].numpy()
        x[index], y[index, : len(target)], lengths[index] = item[0].numpy(), target, len(target)

    _fill(data, samples, "text-lines", keep)
    np.savez_compressed(path, x=x, y=y, lengths=lengths, alphabet=np.array(data.alphabet))
    return (
        f"x {tuple(x.shape)} images, y {tuple(y.shape)} targets padded with 0 (the CTC blank), "
        f"lengths, alphabet (read with ArrayDataset)"
    )


def _text_lines_folder(samples: int, seed: int, root: Path) -> str:
    """``line<i>.png`` and ``labels.tsv`` in ``root``: the layout :class:`TextLineFolder` reads."""
    from PIL import Image

    from cnnlstm.data.text_lines import TextLines

    data = TextLines(num_samples=samples, seed=seed)
    width = len(str(samples - 1))
    labels: list[str] = []

    def keep(index: int, item: Any) -> None:
        image, target = item
        name = f"line{index:0{width}d}.png"
        pixels = np.rint(image[0].numpy() * 255.0).astype(np.uint8)  # (H, W)
        Image.fromarray(pixels, mode="L").save(root / name)
        labels.append(f"{name}\t{data.decode(target)}\n")

    _fill(data, samples, "text-lines", keep)
    (root / "labels.tsv").write_text("".join(labels), encoding="utf-8")
    return (
        f"{samples} line images of {data.height} x {data.width} pixels as line<i>.png and "
        f"their texts in labels.tsv, characters of {data.alphabet!r} "
        f"(read with cnnlstm.data.TextLineFolder, as the text_folder config does)"
    )


_COMMAND = Command(COMMAND, _HELP, _configure, run)
add_parser = _COMMAND.add_parser
build_parser = _COMMAND.build_parser
main = _COMMAND.main

if __name__ == "__main__":
    sys.exit(main())
