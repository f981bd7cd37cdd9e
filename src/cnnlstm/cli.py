"""The ``cnnlstm`` command line: parse the command, hand it to the module that runs it.

Commands:

- ``fit``, ``validate``, ``test``, ``predict`` run Lightning's ``LightningCLI`` on a YAML config
  (``cnnlstm fit --config digit_clips``: a shipped config by name, or a path), and ``summary``
  prints a config's model stage by stage: :mod:`cnnlstm.commands.train`.
- ``compare`` trains one config with each of several bridges: :mod:`cnnlstm.commands.compare`.
- ``export`` writes a checkpoint's model to ONNX or TorchScript and checks the exported file:
  :mod:`cnnlstm.commands.export`.
- ``configs``, ``demo``, ``generate``, ``detect``, ``benchmark`` (also ``bench``) and
  ``convert`` are :class:`~cnnlstm.commands.Command` s in modules of their own under
  :mod:`cnnlstm.commands`: list or copy the shipped configs, tour the bridges on generated data,
  write the built-in data to files, detect anomalies in a sensor file, run the SKAB protocol,
  convert a saved Keras model.

This module imports none of them until its command runs (the ``Command`` modules import nothing
heavy at the top), so ``cnnlstm --help``, ``cnnlstm detect --stream`` in a pipeline,
``generate``, ``benchmark`` and ``demo`` start without Lightning or jsonargparse, and
``--help`` needs no extra at all.

User mistakes (a bad option, a missing file, an unknown model, a bridge that cannot take the
input, a missing extra) end with one ``cnnlstm: error: ...`` line on stderr and exit code 2
(LightningCLI prints its usage before the line for options it cannot parse). A failed export
check exits with 1.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

import torch

from cnnlstm.commands import COMMAND_EXTRAS, positive_int
from cnnlstm.errors import CNNLSTMError
from cnnlstm.extras import missing_extra

__all__ = ["ALIASES", "COMMAND_EXTRAS", "LIGHTNING_COMMANDS", "build_parser", "main"]

LIGHTNING_COMMANDS = ("fit", "validate", "test", "predict")
"""The commands ``main`` hands to :class:`~cnnlstm.commands.train.CNNLSTMCLI`."""

# ----------------------------------------------------------------------------- argument parsing


class _UsageError(Exception):
    """A mistake on the command line; main() prints it as one line and returns 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise _UsageError(message)


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not value > 0:
        raise argparse.ArgumentTypeError(f"has to be a positive number, but got {text!r}")
    return value


def _names(text: str) -> list[str]:
    names = [name.strip() for name in text.split(",") if name.strip()]
    if not names:
        raise argparse.ArgumentTypeError(f"has to be a comma-separated list, but got {text!r}")
    return names


_LIGHTNING_HELP = {
    "fit": "train a task from a YAML config (LightningCLI; cnnlstm fit --help lists the options)",
    "validate": "evaluate a checkpoint on the validation data (LightningCLI)",
    "test": "evaluate a checkpoint on the test data (LightningCLI)",
    "predict": "write a checkpoint's predictions to runs/<name>/predictions (LightningCLI)",
}

_CONFIG_HELP = "a shipped config's name (cnnlstm configs lists them) or a YAML file, as for fit"
_OVERRIDES = "further --key value options override the config, as they do for cnnlstm fit"


def build_parser() -> argparse.ArgumentParser:
    """The ``cnnlstm`` argument parser with its subcommands.

    ``fit``, ``validate``, ``test`` and ``predict`` are listed for ``--help`` only: ``main``
    hands them to :class:`~cnnlstm.commands.train.CNNLSTMCLI` before this parser sees them.
    """
    parser = _Parser(
        prog="cnnlstm",
        description="CNN-LSTM models in PyTorch: train, evaluate, compare and export them.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, text in _LIGHTNING_HELP.items():
        commands.add_parser(name, help=text, add_help=False)

    summary_ = commands.add_parser(
        "summary",
        help="print the model of a config stage by stage, with shapes and parameters",
        description=f"Build the task of a config without training and print every stage's "
        f"output shape and parameters; {_OVERRIDES}.",
    )
    summary_.add_argument("--config", required=True, help=_CONFIG_HELP)

    compare = commands.add_parser(
        "compare",
        help="train one config with each of several bridges; print, plot and save the results",
        description=f"Train the model of a config with each bridge on the same data, seed and "
        f"budget (early stopping off); print the task's metric, parameters and seconds per "
        f"epoch, and write a plot and a JSON to the output folder; {_OVERRIDES}.",
    )
    compare.add_argument("--config", required=True, help=_CONFIG_HELP)
    compare.add_argument(
        "--bridges",
        type=_names,
        required=True,
        help="comma-separated bridges, e.g. temporal,convlstm,single_frame for clips or "
        "columns,raster,pool for images",
    )
    compare.add_argument(
        "--max-epochs", type=positive_int, default=None, help="epochs per run (the config's)"
    )
    compare.add_argument(
        "--output",
        default=None,
        help="folder for the plot, the JSON and the runs (runs/compare-<name>)",
    )

    export = commands.add_parser(
        "export",
        help="export a checkpoint's model to ONNX or TorchScript and check it against PyTorch",
        description="Load the task of a checkpoint, export its model with a dynamic batch axis "
        "(and a dynamic time or width axis where the model allows it), run the exported file on "
        "random inputs and print the largest difference from PyTorch. Exits with 1 when it is "
        "above the tolerance.",
    )
    export.add_argument("--ckpt", required=True, help="a checkpoint written by cnnlstm fit")
    export.add_argument("--format", choices=("onnx", "torchscript"), default="onnx")
    export.add_argument(
        "--output",
        default=None,
        help="the file to write (default: beside the checkpoint, named after it)",
    )
    export.add_argument(
        "--tolerance", type=_positive_float, default=1e-4, help="largest difference allowed (1e-4)"
    )

    for module in _command_modules().values():
        module.add_parser(_WithAliases(commands))

    return parser


_COMMAND_MODULES = ("configs", "demo", "generate", "detect", "benchmark", "convert")
"""Commands in modules of their own (:mod:`cnnlstm.commands`), each with ``add_parser(subparsers)``
and ``run(args) -> int``; the ones that exist are added."""

ALIASES: dict[str, tuple[str, ...]] = {"benchmark": ("bench",)}
"""Other names a command answers to: ``cnnlstm bench`` is ``cnnlstm benchmark`` (DESIGN.md's
name for it)."""

_ALIAS_OF = {alias: name for name, aliases in ALIASES.items() for alias in aliases}


class _WithAliases:
    """The subcommands as a command module sees them: ``add_parser(name, ...)`` adds the
    command with its :data:`ALIASES` (argparse's ``aliases=``)."""

    def __init__(self, subparsers: argparse._SubParsersAction[Any]) -> None:
        self._subparsers = subparsers

    def add_parser(self, name: str, **kwargs: Any) -> argparse.ArgumentParser:
        kwargs.setdefault("aliases", list(ALIASES.get(name, ())))
        parser: argparse.ArgumentParser = self._subparsers.add_parser(name, **kwargs)
        return parser


_COMMANDS = ("demo", *LIGHTNING_COMMANDS, "summary", "compare", "export")
"""The order "choose a command" names them in (the demo first: a tour needs no config), before
the other command modules."""
_TAKES_OVERRIDES = ("summary", "compare")


def _command_modules() -> dict[str, Any]:
    """The modules of :data:`_COMMAND_MODULES` that exist, by command name."""
    modules = {}
    for name in _COMMAND_MODULES:
        if importlib.util.find_spec(f"cnnlstm.commands.{name}") is not None:
            modules[name] = importlib.import_module(f"cnnlstm.commands.{name}")
    return modules


def _one_line(error: BaseException) -> str:
    """The error's message on one line. An error raised in a DataLoader worker comes back as
    "Caught X in DataLoader worker process N. Original Traceback ...": keep its message only."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    if len(lines) > 1 and lines[1].startswith("Original Traceback"):
        kind = type(error)
        heads = (f"{kind.__module__}.{kind.__qualname__}: ", f"{kind.__qualname__}: ")
        starts = [i for i, line in enumerate(lines) if line.startswith(heads)]
        if starts:
            first = lines[starts[-1]]
            lines = [first[first.index(": ") + 2 :], *lines[starts[-1] + 1 :]]
    return " ".join(lines)


def _end_distributed() -> None:
    """Destroy the process group a DDP run started, so that every rank exits cleanly.

    Lightning leaves it initialised after ``fit``; with gloo, its threads still alive at
    interpreter exit can abort a rank ("terminate called without an active exception").
    """
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()


def _run(argv: list[str]) -> int:
    if argv and argv[0] in LIGHTNING_COMMANDS:
        from cnnlstm.commands.train import build_cli

        try:
            build_cli(argv)
        finally:
            _end_distributed()
        return 0
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if args.command is None:
        names = ", ".join(dict.fromkeys([*_COMMANDS, *_command_modules()]))
        parser.error(f"choose a command: {names} (cnnlstm --help lists them)")
    if extra and args.command not in _TAKES_OVERRIDES:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    modules = _command_modules()
    command = _ALIAS_OF.get(args.command, args.command)
    if command in modules:
        code: int = modules[command].run(args)
        return code
    if args.command == "summary":
        from cnnlstm.commands.train import run_summary

        run_summary(args.config, extra)
    elif args.command == "compare":
        from cnnlstm.commands.compare import compare_bridges

        compare_bridges(
            args.config,
            args.bridges,
            max_epochs=args.max_epochs,
            output=args.output,
            overrides=extra,
        )
    elif args.command == "export":
        from cnnlstm.commands.export import export_checkpoint

        report = export_checkpoint(
            args.ckpt, format=args.format, output=args.output, tolerance=args.tolerance
        )
        return 0 if report.ok else 1
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit code (0 ok, 1 a failed check, 2 a user mistake).

    Example:
        >>> main(["demo", "--steps", "0"])
        2
    """
    args = list(sys.argv[1:] if argv is None else argv)
    if args in (["--version"], ["-V"]):
        from cnnlstm import __version__

        print(f"cnnlstm {__version__}")
        return 0
    try:
        return _run(args)
    except _UsageError as error:
        print(f"cnnlstm: error: {error}", file=sys.stderr)
        return 2
    except SystemExit as exit_:  # --help, --print_config, LightningCLI's usage errors
        code = exit_.code
        return code if isinstance(code, int) else (0 if code is None else 2)
    except (CNNLSTMError, FileNotFoundError) as error:  # a MissingExtraError too
        print(f"cnnlstm: error: {_one_line(error)}", file=sys.stderr)
        return 2
    except ModuleNotFoundError as error:  # a package of an extra imported by no importing()
        command = args[0] if args else ""
        missing = missing_extra(error, f"cnnlstm {command}", COMMAND_EXTRAS.get(command))
        if missing is None:
            raise
        print(f"cnnlstm: error: {missing}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("cnnlstm: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
