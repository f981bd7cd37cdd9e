"""``cnnlstm benchmark``: run a benchmark protocol and print our detectors' results as tables.

::

    cnnlstm benchmark skab DATA_DIR [--models A,B] [--scoring level,error] [--output DIR] [--jobs N]
    cnnlstm benchmark files DATA [DATA ...] [--models A,B] [--output DIR] [--jobs N]

One module per protocol: :mod:`~cnnlstm.commands.benchmark.skab`, SKAB's outlier and changepoint
protocol beside its published leaderboard, and :mod:`~cnnlstm.commands.benchmark.files`, the
detectors and the classic baselines on a user's own labelled files, counted per row and per
event. What they share (the models a run may name, files run in processes) is
:mod:`~cnnlstm.commands.benchmark.runs`. This module is the command: the parser with a
subcommand per protocol, and :func:`run`, which runs the chosen one and turns a user's mistake
into one ``cnnlstm benchmark: error: ...`` line and exit code 2.
"""

from __future__ import annotations

import argparse

from cnnlstm.commands import USER_ERRORS, Command, user_error
from cnnlstm.commands.benchmark import files, skab
from cnnlstm.commands.benchmark.skab import (
    DEFAULT_MODELS,
    FLOOR,
    QUICK_EPOCHS,
    SCORINGS,
    TRAIN_ROWS,
    SkabRun,
    false_alarm_table,
    run_skab,
)

__all__ = [
    "DEFAULT_MODELS",
    "FLOOR",
    "QUICK_EPOCHS",
    "SCORINGS",
    "TRAIN_ROWS",
    "SkabRun",
    "add_parser",
    "build_parser",
    "false_alarm_table",
    "main",
    "run",
    "run_skab",
]

COMMAND = "benchmark"
_HELP = (
    "run a benchmark protocol (SKAB's, or your own labelled files) and print the detectors' "
    "results beside the baselines'"
)


def _configure(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    protocols = parser.add_subparsers(dest="protocol", metavar="PROTOCOL", required=True)
    skab.configure(protocols)
    files.configure(protocols)
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> int:
    """Run the chosen protocol; user mistakes print one error line and return 2."""
    try:
        code: int = args.protocol_run(args)
    except USER_ERRORS as error:
        return user_error(COMMAND, error)
    return code


_COMMAND = Command(COMMAND, _HELP, _configure, run)
add_parser = _COMMAND.add_parser
build_parser = _COMMAND.build_parser
main = _COMMAND.main
