"""``cnnlstm fit``, ``validate``, ``test``, ``predict`` and ``summary``: the Lightning side of the
command line.

:class:`CNNLSTMCLI` is Lightning's ``LightningCLI`` with the command line's defaults: every run in
a folder of its own, ``runs/<name>/version_<n>`` (claimed atomically:
:mod:`cnnlstm.commands.run_folders`), with its CSV and TensorBoard logs and its checkpoints
(``checkpoints/last.ckpt``, the last epoch, and ``checkpoints/best.ckpt``, the best by the task's
validation metric); ``runs/<name>/checkpoints`` links to the newest fit's. Early stopping on the
same metric, every epoch seeded from ``(seed, epoch)`` so that a resumed run ends as an
uninterrupted one (the callbacks: :mod:`cnnlstm.commands.callbacks`), a progress bar, and
predictions written to the predict run's own ``runs/<name>/version_<n>/predictions``
(:mod:`cnnlstm.commands.predictions`), which ``runs/<name>/predictions`` links to.
:func:`build_cli` runs it on a command line, :func:`run_summary` builds a config's task without
training and prints its model.

:mod:`cnnlstm.cli` imports this module only for the commands that need it, so that ``cnnlstm
detect``, ``generate``, ``benchmark``, ``demo`` and ``--help`` start without importing Lightning
and jsonargparse.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
import sys
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Literal

import torch

from cnnlstm.extras import importing

with importing("training (cnnlstm fit, validate, test, predict, summary)", "train"):
    import lightning.pytorch as pl
    from lightning.pytorch.callbacks import (
        Callback,
        ModelCheckpoint,
        ProgressBar,
        RichProgressBar,
        TQDMProgressBar,
    )
    from lightning.pytorch.cli import LightningArgumentParser, LightningCLI
    from rich.console import Console

from cnnlstm.commands import run_folders
from cnnlstm.commands.callbacks import (
    BestCheckpoint,
    EpochSeed,
    LastCheckpoint,
    LatestLink,
    TaskEarlyStopping,
)
from cnnlstm.commands.configs import resolve_configs
from cnnlstm.commands.predictions import PredictionWriter
from cnnlstm.commands.run_folders import RUNS_DIR
from cnnlstm.errors import CNNLSTMError, ConfigError
from cnnlstm.summary import Summary, summary

__all__ = [
    "CNNLSTMCLI",
    "build_cli",
    "metric_mode",
    "monitored_metric",
    "quiet_lightning",
    "run_name",
    "run_summary",
]

_LOWER_IS_BETTER = ("loss", "mse", "mae", "cer", "wer", "error")
_HIGHER_IS_BETTER = ("acc", "f1", "ssim", "psnr", "auroc", "precision", "recall")


def metric_mode(metric: str) -> Literal["min", "max"] | None:
    """``"min"`` for a loss or an error, ``"max"`` for a score, ``None`` when the name says neither.

    Example:
        >>> metric_mode("val/loss"), metric_mode("val/acc"), metric_mode("val/thing")
        ('min', 'max', None)
    """
    name = metric.rsplit("/", 1)[-1].lower()
    if any(word in name for word in _LOWER_IS_BETTER):
        return "min"
    if any(word in name for word in _HIGHER_IS_BETTER):
        return "max"
    return None


def monitored_metric(task: type[Any] | object) -> tuple[str, Literal["min", "max"]]:
    """The validation metric a task is judged by, and whether lower or higher is better.

    A task class says so with its ``monitor`` and ``monitor_mode`` class attributes
    (:class:`~cnnlstm.tasks.base.TaskBase`: ``val/loss``, lower is better); a module without
    them is judged by ``val/loss``.

    Example:
        >>> from cnnlstm.tasks import ClassificationTask
        >>> monitored_metric(ClassificationTask)
        ('val/acc', 'max')
    """
    klass = task if isinstance(task, type) else type(task)
    metric, mode = getattr(klass, "monitor", None), getattr(klass, "monitor_mode", None)
    if isinstance(metric, str) and mode in ("min", "max"):
        return metric, mode
    return "val/loss", "min"


def _logger_groups(loggers: Any) -> dict[tuple[str, str], list[Any]]:
    """The ``init_args`` of the configured loggers without a ``version``, by the folder
    ``(save_dir, name)`` they write to."""
    entries = loggers if isinstance(loggers, list) else [loggers]
    groups: dict[tuple[str, str], list[Any]] = {}
    for logger in entries:
        init = getattr(logger, "init_args", None)
        if init is None or getattr(init, "version", "set") is not None:
            continue
        save_dir, name = getattr(init, "save_dir", None), getattr(init, "name", None)
        if isinstance(save_dir, str) and isinstance(name, str | None):
            groups.setdefault((save_dir, name or ""), []).append(init)
    return groups


def _shown(path: str) -> str:
    """``path`` relative to the current folder when it is under it."""
    relative = os.path.relpath(path)
    return path if relative.startswith("..") else relative


def _progress_bar() -> ProgressBar:
    """Rich's progress bar when rich works here, else tqdm's."""
    try:
        return RichProgressBar()
    except (ImportError, ModuleNotFoundError):
        return TQDMProgressBar()


def _import(class_path: str) -> Any:
    module, _, name = class_path.rpartition(".")
    return getattr(importlib.import_module(module), name)


class CNNLSTMCLI(LightningCLI):
    """``LightningCLI`` with the command line's defaults: loggers, checkpoints, early stopping.

    ``model:`` takes any ``LightningModule`` (the tasks of :mod:`cnnlstm.tasks`) and ``data:``
    any ``LightningDataModule``, each as ``class_path`` and ``init_args``.

    Every run gets a folder of its own, ``runs/<name>/version_<n>``, claimed when the config is
    read (:func:`~cnnlstm.commands.run_folders.claim_version`: two runs started together never
    share one). ``trainer.logger`` defaults to a CSV and a TensorBoard logger writing there, and
    the checkpoints go to its ``checkpoints`` folder: ``last.ckpt``, written after every epoch
    (:class:`LastCheckpoint`), and ``best.ckpt``, the best by the task's metric
    (:class:`BestCheckpoint`). ``runs/<name>/checkpoints`` links to the newest ``fit``'s
    checkpoints. ``--ckpt_path last`` and ``--ckpt_path best`` name that file of the newest run
    folder that has one: a resumed run starts a new folder and goes on from there. A
    ``predict`` writes to its folder's ``predictions`` (unless ``prediction_writer.output_dir``
    names another), and ``runs/<name>/predictions`` links to the newest predict's.

    Added to Lightning's options: ``checkpoint`` (:class:`BestCheckpoint`; ``save_last`` adds
    the :class:`LastCheckpoint`), ``early_stopping`` (:class:`TaskEarlyStopping`, patience 5) and
    ``prediction_writer`` (:class:`PredictionWriter`). ``monitor: auto`` and ``mode: auto``
    become the task's metric (:func:`monitored_metric`). A progress bar is added unless
    ``trainer.enable_progress_bar`` is false; with ``seed_everything`` an :class:`EpochSeed`
    seeds every epoch. The task's own ``configure_optimizers`` is used (``lr``, ``scheduler``).

    Args:
        *args: ``LightningCLI``'s.
        run_name: ``<name>`` in the paths above.
        runs_dir: the folder the runs go to.
        extra_callbacks: callbacks added to the trainer (besides the configured ones).
        execute: ``False`` builds the task, data and trainer but does not run the command.
        claim_folder: ``False`` claims no run folder (to build a task without running it).
        **kwargs: ``LightningCLI``'s; ``args=[...]`` takes the command line.
    """

    def __init__(
        self,
        *args: Any,
        run_name: str = "cnnlstm",
        runs_dir: str = RUNS_DIR,
        extra_callbacks: Sequence[Callback] = (),
        execute: bool = True,
        claim_folder: bool = True,
        **kwargs: Any,
    ) -> None:
        self.run_name = run_name
        self.runs_dir = runs_dir
        self.extra_callbacks = list(extra_callbacks)
        self.execute = execute
        self.claim_folder = claim_folder
        self.run_folder: Path | None = None
        """``runs/<name>/version_<n>``: this run's folder, once claimed (or handed down)."""
        self._claimed: list[Path] = []
        self._links_latest = False  # runs/<name>/checkpoints is to point at this run's
        self._links_predictions = False  # runs/<name>/predictions is to point at this run's
        self.monitor: tuple[str, str] = ("val/loss", "min")
        defaults: dict[str, Any] = {
            "model_class": pl.LightningModule,
            "datamodule_class": pl.LightningDataModule,
            "subclass_mode_model": True,
            "subclass_mode_data": True,
            "seed_everything_default": 0,
            "auto_configure_optimizers": False,
            "trainer_defaults": {"logger": self._default_loggers()},
            "save_config_kwargs": {"overwrite": True},
            "parser_kwargs": {"prog": "cnnlstm"},
        }
        super().__init__(*args, **{**defaults, **kwargs})

    @property
    def run_dir(self) -> Path:
        """``runs_dir/run_name``: the folder of this config's run folders."""
        return Path(self.runs_dir) / self.run_name

    def _default_loggers(self) -> list[dict[str, Any]]:
        common = {"save_dir": self.runs_dir, "name": self.run_name}
        return [
            {"class_path": "lightning.pytorch.loggers.CSVLogger", "init_args": common},
            {
                "class_path": "lightning.pytorch.loggers.TensorBoardLogger",
                "init_args": {**common, "default_hp_metric": False},
            },
        ]

    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        parser.add_lightning_class_args(BestCheckpoint, "checkpoint")
        parser.add_lightning_class_args(TaskEarlyStopping, "early_stopping")
        parser.add_lightning_class_args(PredictionWriter, "prediction_writer")
        parser.set_defaults(
            {
                "checkpoint.dirpath": None,  # the run folder's checkpoints
                "checkpoint.filename": "best",
                "checkpoint.monitor": "auto",
                "checkpoint.mode": "auto",
                "checkpoint.save_last": True,
                "checkpoint.save_top_k": 1,
                "early_stopping.monitor": "auto",
                "early_stopping.mode": "auto",
                "early_stopping.patience": 5,
            }
        )

    def _config(self) -> Any:
        return self.config[self.subcommand] if self.subcommand else self.config

    def before_instantiate_classes(self) -> None:
        """Resolve ``monitor: auto`` / ``mode: auto`` to the task's metric, fill default paths."""
        config = self._config()
        class_path = config.model.class_path
        try:
            task_class = _import(class_path)
        except (ImportError, AttributeError):
            raise ConfigError(f"model.class_path {class_path!r} cannot be imported.") from None
        metric, mode = monitored_metric(task_class)
        self.monitor = (metric, mode)
        for key in ("checkpoint", "early_stopping"):
            group = config[key]
            if group.monitor == "auto":
                group.monitor = metric
            if group.mode == "auto":
                guessed = mode if group.monitor == metric else metric_mode(str(group.monitor))
                if guessed is None:
                    raise ConfigError(
                        f"{key}.mode has to be 'min' or 'max' for {key}.monitor="
                        f"{group.monitor!r} (its name does not say which is better), but got "
                        f"'auto'."
                    )
                group.mode = guessed
        _check_sync_batchnorm(config.trainer)
        self._place_run(config)

    def _place_run(self, config: Any) -> None:
        """Claim the run folder, point the loggers and checkpoints at it, resolve ``ckpt_path``.

        The first process claims; the other processes of a DDP run that Lightning started take
        what it handed down; those another launcher started (torchrun) claim nothing and leave
        the folders to Lightning, which uses the first process's.
        """
        groups = _logger_groups(config.trainer.logger)
        handed = run_folders.handed_down()
        if handed is not None:
            run_folder = Path(handed["folder"])
            versions = {(str(s), str(n)): int(v) for s, n, v in handed["loggers"]}
            config.ckpt_path = handed.get("ckpt_path")
        else:
            self._resolve_ckpt_path(config)
            if not self.claim_folder or run_folders.launch_rank() != 0:
                return
            run_folder, versions = self._claim_folders(groups)
            run_folders.hand_down(
                {
                    "folder": str(run_folder),
                    "loggers": [[s, n, v] for (s, n), v in versions.items()],
                    "ckpt_path": config.get("ckpt_path"),
                }
            )
        self.run_folder = run_folder
        for key, inits in groups.items():
            for init in inits:
                init.version = versions.get(key)
        if config.checkpoint.dirpath is None:
            config.checkpoint.dirpath = str(run_folder / "checkpoints")
            self._links_latest = True

    def _claim_folders(
        self, groups: dict[tuple[str, str], list[Any]]
    ) -> tuple[Path, dict[tuple[str, str], int]]:
        """Claim this run's folder, and a ``version_<n>`` for each logger folder elsewhere.

        Returns:
            The run folder, and the version number of each logger folder ``(save_dir, name)`` in
            ``groups`` (the run folder's for loggers that write to :attr:`run_dir`).
        """
        run_folder = run_folders.claim_version(self.run_dir)
        self._claimed.append(run_folder)
        versions: dict[tuple[str, str], int] = {}
        for save_dir, name in groups:
            folder = run_folder
            if not run_folders.same_folder(Path(save_dir) / name, self.run_dir):
                folder = run_folders.claim_version(Path(save_dir) / name)
                self._claimed.append(folder)
            versions[(save_dir, name)] = int(folder.name.removeprefix("version_"))
        return run_folder, versions

    def _resolve_ckpt_path(self, config: Any) -> None:
        """``--ckpt_path last`` / ``best``: that file of the newest run folder that has one.

        A path through ``runs/<name>/checkpoints`` (the link to the newest run) is resolved to
        the file it names now, before this run moves the link.

        Raises:
            ConfigError: ``validate``, ``test`` or ``predict`` with ``last`` or ``best`` and no
                such file (``fit`` starts from scratch then, as Lightning does).
        """
        ckpt = config.get("ckpt_path")
        if not isinstance(ckpt, str) or "://" in ckpt or ckpt == "hpc":
            return
        if ckpt not in ("last", "best"):
            if os.path.realpath(ckpt) != os.path.abspath(ckpt):  # through a link
                config.ckpt_path = os.path.realpath(ckpt)
            return
        filename = "last" if ckpt == "last" else str(config.checkpoint.filename or "{epoch}")
        dirpath = config.checkpoint.dirpath
        found = (
            run_folders.find_checkpoint(self.run_dir, filename)
            if dirpath is None
            else run_folders.newest_match(Path(dirpath), filename)
        )
        where = f"{dirpath}" if dirpath is not None else f"{self.run_dir}/version_*/checkpoints"
        if found is not None:
            config.ckpt_path = str(found)
            if run_folders.launch_rank() == 0:
                doing = "resuming from" if self.subcommand == "fit" else "checkpoint"
                print(f"cnnlstm: --ckpt_path {ckpt}: {doing} {found}", flush=True)
            return
        name = run_folders.checkpoint_pattern(filename)
        if self.subcommand != "fit":
            raise ConfigError(
                f"--ckpt_path {ckpt}: there is no {name} under {where} yet; train first "
                f"(cnnlstm fit with the same config), or pass a .ckpt file."
            )
        config.ckpt_path = None
        if run_folders.launch_rank() == 0:
            print(
                f"cnnlstm: --ckpt_path {ckpt}: no {name} under {where} yet; training starts "
                f"from scratch",
                file=sys.stderr,
                flush=True,
            )

    def instantiate_classes(self) -> None:
        """Build the task, data and trainer; a rejected argument becomes a ``ConfigError``.

        A run that cannot be built gives its claimed folder back (it is empty).
        """
        try:
            self._instantiate_classes()
        except BaseException:
            for folder in self._claimed:
                run_folders.release(folder)
            raise

    def _instantiate_classes(self) -> None:
        try:
            super().instantiate_classes()
        except CNNLSTMError:
            raise
        except (ValueError, TypeError) as error:
            # jsonargparse wraps what a constructor raised in its own ValueError: unwrap it
            root: BaseException = error
            while root.__cause__ is not None:
                root = root.__cause__
            if isinstance(root, CNNLSTMError):
                raise root from None
            raise ConfigError(f"the config cannot be built: {root}") from None

    def instantiate_trainer(self, **kwargs: Any) -> pl.Trainer:
        trainer_config = self._get(self.config_init, "trainer", default={})
        callbacks = trainer_config.get("callbacks") or []
        callbacks = list(callbacks) if isinstance(callbacks, (list, tuple)) else [callbacks]
        callbacks.extend(self.extra_callbacks)
        has_bar = any(isinstance(c, ProgressBar) for c in callbacks)
        if trainer_config.get("enable_progress_bar", True) is not False and not has_bar:
            callbacks.append(_progress_bar())
        seed = self._config().get("seed_everything")
        if isinstance(seed, int) and not isinstance(seed, bool):
            callbacks.append(EpochSeed(seed))
        trainer = super().instantiate_trainer(**{"callbacks": callbacks, **kwargs})
        best = self._get(self.config_init, "checkpoint", default=None)
        if isinstance(best, ModelCheckpoint) and best.save_last:
            # after the best one, so that it stays trainer.checkpoint_callback
            best.save_last = False
            dirpath = None if best.dirpath is None else str(best.dirpath)
            trainer.callbacks.append(LastCheckpoint(dirpath))  # type: ignore[attr-defined]
        if self._links_latest and self.run_folder is not None:
            link = LatestLink(self.run_dir / "checkpoints", self.run_folder / "checkpoints")
            trainer.callbacks.append(link)  # type: ignore[attr-defined]
        writer = self._get(self.config_init, "prediction_writer", default=None)
        has_own = isinstance(writer, PredictionWriter) and writer.output_dir is None
        if has_own and self.run_folder is not None:
            # the run's own folder: another predict never overwrites these (the config keeps null)
            writer.output_dir = str(self.run_folder / "predictions")
            self._links_predictions = True
        return trainer

    def _run_subcommand(self, subcommand: str) -> None:
        """Run the subcommand; one that fails gives back the folders it claimed and wrote nothing
        worth keeping to (:func:`~cnnlstm.commands.run_folders.give_back`), without a word: the
        failure's error line stays the only one."""
        if not self.execute:
            return
        try:
            super()._run_subcommand(subcommand)
        except BaseException:
            for folder in self._claimed:
                run_folders.give_back(folder)
            raise

    def after_predict(self) -> None:
        """Point ``runs/<name>/predictions`` at this run's predictions (or say why not)."""
        if not self._links_predictions or not self.trainer.is_global_zero:
            return
        writers = [c for c in self.trainer.callbacks if isinstance(c, PredictionWriter)]  # type: ignore[attr-defined]
        if not writers or writers[0].path is None or writers[0].output_dir is None:
            return
        alias, target = self.run_dir / "predictions", Path(writers[0].output_dir)
        why = run_folders.link_latest(alias, target)
        if why is None:
            print(f"cnnlstm: {_shown(str(alias))} links to {os.readlink(alias)} (the newest)")
            return
        earlier = alias.is_dir() and not alias.is_symlink()
        print(
            f"cnnlstm: note: {why}, so {alias} does not hold this run's predictions"
            + (
                " (a folder of an earlier cnnlstm, which wrote every predict there: move it "
                "away to make it a link to the newest predict's)"
                if earlier
                else ""
            ),
            file=sys.stderr,
            flush=True,
        )

    def after_fit(self) -> None:
        """Say where the checkpoints and logs are."""
        log_dir = self.trainer.log_dir  # a collective under DDP: every process asks
        if not self.trainer.is_global_zero:
            return
        links = [c for c in self.trainer.callbacks if isinstance(c, LatestLink)]  # type: ignore[attr-defined]
        callback = self.trainer.checkpoint_callback
        if links and links[0].outcome is not None:
            fast = getattr(self.trainer, "fast_dev_run", False)  # set by Lightning, untyped
            why = " (--trainer.fast_dev_run writes none)" if fast else ""
            print(f"cnnlstm: no checkpoint was written{why}; {links[0].outcome}")
            if self.run_folder is not None:
                run_folders.release(self.run_folder)  # removed when nothing was written to it
                if not self.run_folder.exists():
                    return
        elif isinstance(callback, ModelCheckpoint) and callback.dirpath:
            last = [c for c in self.trainer.callbacks if isinstance(c, LastCheckpoint)]  # type: ignore[attr-defined]
            shown = f"{_shown(str(callback.dirpath))}: "
            if last and last[0].best_model_path:
                shown += f"{os.path.basename(last[0].best_model_path)} (the last epoch), "
            best = callback.best_model_path
            shown += (
                f"best {callback.monitor}: {_shown(best)}"
                if best
                else "no best (nothing validated)"
            )
            print(f"cnnlstm: checkpoints in {shown}")
        if log_dir:
            print(f"cnnlstm: logs in {_shown(log_dir)}")


def _config_paths(argv: Sequence[str]) -> list[str]:
    """The values of ``--config`` / ``-c`` in ``argv``."""
    paths = []
    for i, arg in enumerate(argv):
        if arg in ("-c", "--config") and i + 1 < len(argv):
            paths.append(argv[i + 1])
        elif arg.startswith("--config="):
            paths.append(arg.split("=", 1)[1])
    return paths


def _option(argv: Sequence[str], name: str) -> str | None:
    """The last value of ``--name value`` or ``--name=value`` in ``argv``."""
    value = None
    for i, arg in enumerate(argv):
        if arg == name and i + 1 < len(argv):
            value = argv[i + 1]
        elif arg.startswith(f"{name}="):
            value = arg.split("=", 1)[1]
    return value


def _check_sync_batchnorm(trainer: Any) -> None:
    """``trainer.sync_batchnorm`` needs CUDA; on CPU say what to use instead of a traceback."""
    if not trainer.get("sync_batchnorm"):
        return
    accelerator = str(trainer.get("accelerator") or "auto")
    if accelerator == "cpu" or (accelerator == "auto" and not torch.cuda.is_available()):
        raise ConfigError(
            "trainer.sync_batchnorm has to run on GPUs (SyncBatchNorm is CUDA-only), but the "
            f"accelerator is {accelerator!r} on a machine without CUDA; on CPU drop it and set "
            "the model's norm to 'group' or 'instance' (model_args: {norm: group})."
        )


def _check_files(argv: Sequence[str]) -> None:
    """FileNotFoundError for a config or checkpoint file named in ``argv`` that is not there."""
    for path in _config_paths(argv):
        if path.endswith((".yaml", ".yml", ".json")) and not Path(path).is_file():
            raise FileNotFoundError(f"config file {path} does not exist")
    ckpt = _option(argv, "--ckpt_path")
    keywords = ("last", "best", "hpc", "null", "None")
    if ckpt and ckpt not in keywords and "://" not in ckpt and not Path(ckpt).is_file():
        raise FileNotFoundError(
            f"checkpoint file {ckpt} does not exist (--ckpt_path takes a file, 'last' or 'best')"
        )


def run_name(argv: Sequence[str]) -> str:
    """The name a run's folder gets: the first config file's name without suffix, or cnnlstm.

    Example:
        >>> run_name(["fit", "--config", "mine/clips.yaml"]), run_name(["-c", "text_lines"])
        ('clips', 'text_lines')
    """
    for path in _config_paths(resolve_configs(argv)):
        if path.endswith((".yaml", ".yml", ".json")):
            return Path(path).stem
    return "cnnlstm"


def build_cli(argv: Sequence[str], **kwargs: Any) -> CNNLSTMCLI:
    """Run (or with ``execute=False`` only build) ``cnnlstm fit|validate|test|predict ...``.

    Args:
        argv: the command and its options, e.g. ``["fit", "--config", "digit_clips"]``: a
            ``--config`` that is not a file may name a shipped config
            (:func:`~cnnlstm.commands.configs.resolve_configs`).
        **kwargs: :class:`CNNLSTMCLI`'s (``run_name`` defaults to the config file's name).

    Raises:
        FileNotFoundError: a config or checkpoint file that is not there.
    """
    argv = resolve_configs(argv)
    _check_files(argv)
    _log_to_current_stderr()
    if argv and argv[0] in ("validate", "test", "predict") and not _option(argv, "--ckpt_path"):
        print(
            f"cnnlstm: warning: {argv[0]} without --ckpt_path runs the model as the config "
            f"builds it, untrained; pass --ckpt_path best (or last: the newest run's "
            f"best.ckpt or last.ckpt) or a .ckpt file",
            file=sys.stderr,
            flush=True,
        )
    # "Seed set to 0" would come before anything else, even before a config's one-line error
    logging.getLogger("lightning.fabric.utilities.seed").setLevel(logging.WARNING)
    # the tasks and DataModules are imported so that short names find them: --model ForecastTask
    importlib.import_module("cnnlstm.tasks")
    importlib.import_module("cnnlstm.data.datamodules")
    importlib.import_module("cnnlstm.data.text_folder")  # so --data TextLineDataModule resolves
    kwargs.setdefault("run_name", run_name(argv))
    with warnings.catch_warnings():
        # LightningCLI warns when sys.argv has arguments too (under pytest, or for compare)
        warnings.filterwarnings("ignore", message="LightningCLI's args parameter")
        return CNNLSTMCLI(args=list(argv), **kwargs)


def _log_to_current_stderr() -> None:
    """Point Lightning's console log handlers at today's ``sys.stderr``.

    Lightning adds them when it is first imported, bound to the ``sys.stderr`` of that moment; a
    host that swaps the stream later (a notebook, a test runner, a caller that captured output)
    would leave them writing to a stale or closed stream.
    """
    names = [
        "lightning",
        *(n for n in logging.Logger.manager.loggerDict if n.startswith("lightning.")),
    ]
    for name in names:
        for handler in logging.getLogger(name).handlers:
            if type(handler) is logging.StreamHandler and handler.stream is not sys.stderr:
                handler.stream = sys.stderr  # not setStream: it would flush the stale stream


@contextlib.contextmanager
def quiet_lightning() -> Iterator[None]:
    """Hide Lightning's info messages (seed, accelerators, tips) while building, not training."""
    loggers = [logging.getLogger(name) for name in ("lightning.pytorch", "lightning.fabric")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


def run_summary(
    config: str, overrides: Sequence[str] = (), *, console: Console | None = None
) -> Summary:
    """Build the task of a config without training and print its model stage by stage.

    Args:
        config: a YAML config as ``cnnlstm fit`` takes it.
        overrides: further ``--key value`` options, as for ``cnnlstm fit``.
        console: where to print (the terminal by default).

    Returns:
        The :class:`~cnnlstm.summary.Summary` of the model for a batch of two examples.

    Raises:
        ConfigError: the task's model has no ``example_input_shape``.
    """
    console = console or Console()
    with quiet_lightning():
        cli = build_cli(["fit", "--config", config, *overrides], execute=False, claim_folder=False)
    task = cli.model
    model = getattr(task, "model", task)
    shape = getattr(model, "example_input_shape", None)
    if shape is None:
        raise ConfigError(
            f"summary: the model of {config} ({type(model).__name__}) has to say its input with "
            f"example_input_shape, as the models of cnnlstm.models do, but it has none."
        )
    name = getattr(task, "hparams", {}).get("model", type(model).__name__)
    metric, mode = cli.monitor
    console.print(
        f"[bold]{config}[/bold]: {type(task).__name__} with model {name!r}; "
        f"checkpoints keep the best {metric} ({mode})"
    )
    result = summary(model, (2, *shape))
    console.print(result)
    return result
