"""``cnnlstm compare``: one config trained with each of several bridges, side by side.

The answer to "which strategy for my data": the same model family, data, seed and budget (the
config's epochs or ``--max-epochs``, early stopping off so every run gets the whole budget), with
only ``model_args.bridge`` changed. Every bridge is built before any training, so a bridge the
model family does not take, or one that cannot take the input, fails at once with the valid
names. The result is a table (bridge, the best value of the task's validation metric,
parameters, seconds per epoch), a plot and a JSON in the output folder, which also holds each
run's logs and checkpoints (``<output>/<bridge>/...``).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from cnnlstm.commands.run_folders import RUNS_DIR
from cnnlstm.commands.train import CNNLSTMCLI, build_cli, quiet_lightning, run_name
from cnnlstm.errors import CNNLSTMError, ConfigError
from cnnlstm.extras import importing
from cnnlstm.models.registry import list_models, model_info
from cnnlstm.reports.plots import plot_bridge_comparison

with importing("cnnlstm compare", "train"):
    import lightning.pytorch as pl
    from rich.console import Console
    from rich.table import Table

__all__ = ["BridgeResult", "Comparison", "EpochTimer", "compare_bridges"]


class EpochTimer(pl.Callback):
    """Records the wall time of every training epoch (its validation included) in ``seconds``."""

    def __init__(self) -> None:
        super().__init__()
        self.seconds: list[float] = []
        self._start: float | None = None

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._start = time.perf_counter()

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self._start is not None:
            self.seconds.append(time.perf_counter() - self._start)
            self._start = None


@dataclass(frozen=True)
class BridgeResult:
    """One bridge's run.

    Attributes:
        bridge: the ``model_args.bridge`` of the run.
        value: the best value of the task's validation metric (``None`` if never validated).
        params: the model's parameters.
        seconds_per_epoch: the mean wall time of a training epoch, validation included.
        epochs: the epochs run.
        checkpoint: the best checkpoint's path (``""`` when none was written).
    """

    bridge: str
    value: float | None
    params: int
    seconds_per_epoch: float
    epochs: int
    checkpoint: str


@dataclass(frozen=True)
class Comparison:
    """What :func:`compare_bridges` found and wrote.

    Attributes:
        config: the config file.
        model: the model family (registry name).
        metric: the task's validation metric, e.g. ``"val/acc"``.
        mode: ``"max"`` when higher is better, ``"min"`` when lower is.
        results: one :class:`BridgeResult` per bridge, in the order asked for.
        plot: the PNG written.
        json: the JSON written.
    """

    config: str
    model: str
    metric: str
    mode: Literal["min", "max"]
    results: tuple[BridgeResult, ...]
    plot: Path
    json: Path

    @property
    def best(self) -> BridgeResult | None:
        """The bridge with the best metric, or ``None`` when no run was validated."""
        scored = [r for r in self.results if r.value is not None and math.isfinite(r.value)]
        if not scored:
            return None
        pick = min if self.mode == "min" else max
        return pick(scored, key=lambda r: r.value or 0.0)


def _bridge_models() -> list[str]:
    return [name for name in list_models() if "bridge" in model_info(name).defaults]


def _model_name(cli: CNNLSTMCLI) -> str:
    name = getattr(cli.model, "hparams", {}).get("model")
    if not isinstance(name, str):
        raise ConfigError(
            f"compare: the task has to take a registry model name (model: ...), as the tasks of "
            f"cnnlstm.tasks do, but got a {type(cli.model).__name__} without one."
        )
    return name


def _build_runs(
    config: str,
    bridges: Sequence[str],
    common: Sequence[str],
    output: Path,
) -> tuple[str, dict[str, tuple[CNNLSTMCLI, EpochTimer]]]:
    """Build (not train) one run per bridge; ConfigError naming every bridge that fails."""
    with quiet_lightning():
        base = build_cli(["fit", "--config", config, *common], execute=False, runs_dir=str(output))
    model = _model_name(base)
    if "bridge" not in model_info(model).defaults:
        raise ConfigError(
            f"compare: model {model!r} has to take a bridge argument to compare bridges, but it "
            f"has none. Models with a bridge: {', '.join(_bridge_models())}."
        )
    runs: dict[str, tuple[CNNLSTMCLI, EpochTimer]] = {}
    failures: list[tuple[str, str]] = []
    for bridge in bridges:
        timer = EpochTimer()
        argv = ["fit", "--config", config, *common, "--model.init_args.model_args.bridge", bridge]
        try:
            with quiet_lightning():
                cli = build_cli(
                    argv,
                    execute=False,
                    run_name=bridge,
                    runs_dir=str(output),
                    extra_callbacks=[timer],
                )
        except CNNLSTMError as error:
            failures.append((bridge, " ".join(str(error).split())))
            continue
        runs[bridge] = (cli, timer)
    if failures:
        names = ", ".join(repr(bridge) for bridge, _ in failures)
        raise ConfigError(
            f"compare: {model} cannot be built with bridge {names} for {config}: {failures[0][1]}"
        )
    return model, runs


def _run_one(bridge: str, cli: CNNLSTMCLI, timer: EpochTimer, metric: str) -> BridgeResult:
    pl.seed_everything(cli.config.fit.seed_everything, workers=True, verbose=False)
    cli.trainer.fit(cli.model, datamodule=cli.datamodule)
    callback = cli.trainer.checkpoint_callback
    score: Any = getattr(callback, "best_model_score", None)
    if score is None:
        score = cli.trainer.callback_metrics.get(metric)
    value = None if score is None else float(score)
    seconds = sum(timer.seconds) / len(timer.seconds) if timer.seconds else float("nan")
    return BridgeResult(
        bridge=bridge,
        value=value,
        params=sum(p.numel() for p in cli.model.parameters()),
        seconds_per_epoch=seconds,
        epochs=len(timer.seconds),
        checkpoint=str(getattr(callback, "best_model_path", "") or ""),
    )


def _table(comparison: Comparison) -> Table:
    best = comparison.best
    arrow = "higher is better" if comparison.mode == "max" else "lower is better"
    table = Table(title=f"{comparison.model} on {comparison.config}: bridges compared")
    table.add_column("bridge")
    table.add_column(f"best {comparison.metric}", justify="right")
    table.add_column("parameters", justify="right")
    table.add_column("s / epoch", justify="right")
    table.add_column("epochs", justify="right")
    table.add_column("")
    for r in comparison.results:
        value = "n/a" if r.value is None else f"{r.value:.4f}"
        mark = "best" if best is not None and r.bridge == best.bridge else ""
        table.add_row(
            r.bridge,
            value,
            f"{r.params:,}",
            f"{r.seconds_per_epoch:.2f}",
            str(r.epochs),
            mark,
        )
    table.caption = f"{comparison.metric}: {arrow}; s / epoch includes the validation"
    return table


def compare_bridges(
    config: str,
    bridges: Sequence[str],
    *,
    max_epochs: int | None = None,
    output: str | Path | None = None,
    overrides: Sequence[str] = (),
    console: Console | None = None,
) -> Comparison:
    """Train the model of ``config`` with each bridge; print a table, write a plot and a JSON.

    Args:
        config: a YAML config as ``cnnlstm fit`` takes it, of a task whose ``model`` takes a
            ``bridge`` (``clip_classifier``, ``image_sequence_classifier``).
        bridges: the ``model_args.bridge`` values to compare.
        max_epochs: the epochs of every run (default: the config's ``trainer.max_epochs``).
        output: the folder for ``comparison.png``, ``comparison.json`` and the runs (default
            ``runs/compare-<config name>``).
        overrides: further ``--key value`` options, as for ``cnnlstm fit``, for every run.
        console: where to print the table (the terminal by default).

    Returns:
        The :class:`Comparison`.

    Raises:
        ConfigError: a model family without a bridge, or a bridge it does not take or that
            cannot take the input (before any training); an empty or repeating list of bridges.
        FileNotFoundError: ``config`` is not there.
    """
    console = console or Console()
    bridges = list(bridges)
    if not bridges or len(set(bridges)) != len(bridges):
        raise ConfigError(
            f"compare: bridges has to list each bridge once, but got {','.join(bridges) or '()'}"
        )
    folder = (
        Path(output)
        if output is not None
        else Path(RUNS_DIR) / f"compare-{run_name(['--config', config])}"
    )
    common = [*overrides, "--early_stopping.enabled", "false"]
    if max_epochs is not None:
        common += ["--trainer.max_epochs", str(max_epochs)]
    model, runs = _build_runs(config, bridges, common, folder)
    first = next(iter(runs.values()))[0]
    metric, mode = first.monitor
    results = []
    for bridge, (cli, timer) in runs.items():
        console.rule(f"[bold]bridge: {bridge}[/bold]")
        results.append(_run_one(bridge, cli, timer, metric))

    plot = plot_bridge_comparison(
        [r.bridge for r in results],
        [r.value for r in results],
        [r.seconds_per_epoch for r in results],
        folder / "comparison.png",
        metric=metric,
        mode="min" if mode == "min" else "max",
        title=f"{model} on {Path(config).name}: bridges compared",
    )
    comparison = Comparison(
        config=str(config),
        model=model,
        metric=metric,
        mode="min" if mode == "min" else "max",
        results=tuple(results),
        plot=plot,
        json=folder / "comparison.json",
    )
    best = comparison.best
    payload = {
        "config": comparison.config,
        "model": model,
        "metric": metric,
        "mode": comparison.mode,
        "seed": first.config.fit.seed_everything,
        "max_epochs": first.config.fit.trainer.max_epochs,
        "max_steps": first.config.fit.trainer.max_steps,
        "best": None if best is None else best.bridge,
        "results": [asdict(r) for r in results],
    }
    comparison.json.write_text(json.dumps(payload, indent=2, allow_nan=True) + "\n")
    console.print(_table(comparison))
    if best is not None and best.value is not None:
        console.print(f"best: {best.bridge} ({metric} {best.value:.4f})")
    console.print(f"wrote {comparison.plot} and {comparison.json}")
    return comparison
