"""``cnnlstm configs``: the YAML configs that ship with cnnlstm, by name.

::

    cnnlstm configs                      list them: name and what each trains
    cnnlstm configs copy NAME DEST       write one to DEST (a file, or a folder) to edit

The configs are package data (``cnnlstm/configs/*.yaml``), so they are there wherever cnnlstm is
installed. ``cnnlstm fit --config digit_clips`` (also ``validate``, ``test``, ``predict``,
``summary`` and ``compare``) takes a shipped config by its name: a ``--config`` value that is not
a file and names no folder is looked up here (:func:`resolve_configs`); a path works as always.
A copy is a starting point of one's own: ``cnnlstm configs copy video_folder my_videos.yaml``,
edit it, then ``cnnlstm fit --config my_videos.yaml`` (its runs go to ``runs/my_videos/``).
User mistakes exit 2 with one ``cnnlstm configs: error: ...`` line.
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path

from cnnlstm.commands import USER_ERRORS, Command, user_error

__all__ = [
    "CONFIGS_DIR",
    "add_parser",
    "build_parser",
    "config_path",
    "config_title",
    "copy_config",
    "main",
    "resolve_configs",
    "run",
    "shipped_configs",
]

CONFIGS_DIR = Path(__file__).resolve().parents[1] / "configs"
"""The folder of the shipped configs, inside the installed package."""

COMMAND = "configs"
_HELP = "list the configs that ship with cnnlstm, or copy one to edit"
_SUFFIXES = (".yaml", ".yml")
_NAME = re.compile(r"[\w.-]+")  # a bare name: no folder, no inline YAML


def shipped_configs() -> dict[str, Path]:
    """The shipped configs, name (the file's stem) -> path, in name order.

    Example:
        >>> "digit_clips" in shipped_configs()
        True
    """
    paths = sorted(p for p in CONFIGS_DIR.iterdir() if p.suffix in _SUFFIXES)
    return {path.stem: path for path in paths}


def config_title(path: Path) -> str:
    """The first comment line of a config, which says what it trains (``""`` without one).

    Example:
        >>> config_title(config_path("digit_clips")).startswith("Clip classification")
        True
    """
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("#") and line.lstrip("#").strip():
            return line.lstrip("#").strip()
        if line.strip() and not line.startswith("#"):
            break
    return ""


def _unknown(name: str) -> str:
    known = ", ".join(shipped_configs())
    return f"no shipped config is named {name!r}; the shipped configs are {known} (cnnlstm configs)"


def config_path(name: str) -> Path:
    """The path of the shipped config ``name`` (with or without ``.yaml``).

    Raises:
        FileNotFoundError: for a name no shipped config has, listing the ones there are.

    Example:
        >>> config_path("digit_clips.yaml").name
        'digit_clips.yaml'
    """
    stem = name.removesuffix(".yaml").removesuffix(".yml")
    configs = shipped_configs()
    if stem not in configs:
        raise FileNotFoundError(_unknown(name))
    return configs[stem]


def resolve_configs(argv: Sequence[str]) -> list[str]:
    """``argv`` with each ``--config NAME`` (``-c``, ``--config=``) of a shipped config made its
    path; a value that is a file, names a folder or holds inline YAML stays as it is.

    Raises:
        FileNotFoundError: for a bare name that is neither a file here nor a shipped config.

    Example:
        >>> argv = resolve_configs(["fit", "--config", "digit_clips", "--trainer.max_epochs=1"])
        >>> Path(argv[2]) == config_path("digit_clips"), argv[3]
        (True, '--trainer.max_epochs=1')
    """
    out = list(argv)
    for i, arg in enumerate(out):
        if arg in ("-c", "--config") and i + 1 < len(out):
            out[i + 1] = _resolve(out[i + 1])
        elif arg.startswith("--config="):
            out[i] = f"--config={_resolve(arg.split('=', 1)[1])}"
    return out


def _resolve(value: str) -> str:
    if Path(value).is_file() or not _NAME.fullmatch(value):
        return value  # a file, a path in a folder (a missing one is said later), inline YAML
    try:
        return str(config_path(value))
    except FileNotFoundError:
        raise FileNotFoundError(
            f"config file {value} does not exist here ({Path.cwd()}), and {_unknown(value)}"
        ) from None


def copy_config(name: str, dest: str | Path) -> Path:
    """Write the shipped config ``name`` to ``dest`` (into it, when it is a folder).

    Returns:
        The file written.

    Raises:
        FileNotFoundError: for an unknown name.
        FileExistsError: when the file is there already: a copy never overwrites.

    Example:
        >>> import tempfile
        >>> copy_config("digit_clips", Path(tempfile.mkdtemp())).name
        'digit_clips.yaml'
    """
    source = config_path(name)
    target = Path(dest)
    if target.is_dir():
        target = target / source.name
    if target.exists():
        raise FileExistsError(
            f"{target} exists; cnnlstm configs copy never overwrites a file: remove it or name "
            f"another"
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target)
    return target


def _configure(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    actions = parser.add_subparsers(dest="action", metavar="ACTION")
    actions.add_parser("list", help="list the shipped configs (the default)")
    copy = actions.add_parser(
        "copy",
        help="write a shipped config to a file to edit",
        description="Write the shipped config NAME to DEST (a file, or a folder to put NAME.yaml "
        "in); an existing file is never overwritten.",
    )
    copy.add_argument("name", help="the config's name, as cnnlstm configs lists it")
    copy.add_argument("dest", type=Path, help="the file (or folder) to write")
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> int:
    """List the shipped configs, or copy one; returns the exit code."""
    try:
        if getattr(args, "action", None) == "copy":
            target = copy_config(args.name, args.dest)
            print(f"wrote {target}: edit it, then cnnlstm fit --config {target}")
            return 0
        configs = shipped_configs()
        width = max(len(name) for name in configs)
        for name, path in configs.items():
            print(f"{name:<{width}}  {config_title(path)}")
        print(
            "\ncnnlstm fit --config NAME trains one; cnnlstm configs copy NAME FILE writes one to "
            "edit."
        )
        return 0
    except USER_ERRORS as error:
        return user_error(COMMAND, error)


_COMMAND = Command(COMMAND, _HELP, _configure, run)
add_parser = _COMMAND.add_parser
build_parser = _COMMAND.build_parser
main = _COMMAND.main

if __name__ == "__main__":
    sys.exit(main())
