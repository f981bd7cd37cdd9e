"""Training a detector family on windows of rows, within a budget of optimisation steps.

:func:`train_windows` runs Adam over shuffled batches of the windows of the training rows,
epoch by epoch, until the epochs are done or the budget of steps is spent. When the budget binds
and held-out windows are given, it measures their loss :data:`CHECKS` times over the budget and
stops once the loss has not improved by 0.1 % for :data:`PATIENCE` measurements, so a large
training set costs bounded time.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any, NamedTuple

import torch
from torch import Tensor, nn

__all__ = [
    "CHECKS",
    "CHECK_WINDOWS",
    "DEFAULT_STEPS",
    "LOG_LINES",
    "MIN_WIDE_STEPS",
    "PATIENCE",
    "WIDE_SENSORS",
    "Training",
    "check_windows",
    "said_in_lines",
    "step_budget",
    "train_windows",
]

CHECKS = 10
"""With a binding budget, the held-out loss is measured this many times over the budget."""
PATIENCE = 3
"""... and training stops after this many measurements without a 0.1 % improvement."""
LOG_LINES = 10
"""``train_windows(log=...)`` is called this many times over the budget (the last time at its
end)."""


class Training(NamedTuple):
    """What :func:`train_windows` ran."""

    steps: int
    """The optimisation steps (batches) run."""
    train_loss: list[float]
    """Each epoch's mean training loss (the last epoch's over the steps it ran)."""
    holdout_loss: list[float]
    """The held-out loss at each measurement (empty when none was measured)."""


DEFAULT_STEPS = 500
"""The fit's budget of optimisation steps (batches). A small training set runs all its epochs
within it (SKAB's 400 rows: 5 batches x 40 epochs = 200 steps), so it trains as it did before
there was a budget; a large one stops at the budget, or earlier when the held-out calibration
loss stops improving, so a fit costs bounded time whatever the number of training rows."""

WIDE_SENSORS = 64
"""Up to this many sensors the fit's budget is :data:`DEFAULT_STEPS` steps; a step costs in
proportion to the sensors, so past it the budget is the work of those steps on this many sensors
(:func:`step_budget`): 2,000 sensors get 20 steps. Few steps detect as well as
many on wide plants (the design notes have the figures): the level score carries most of the
detection, and a few steps of the predictor learn the rows' persistence."""
MIN_WIDE_STEPS = 20
"""The fewest steps a wide fit gets."""
CHECK_WINDOWS = 1024
"""The held-out windows the loss is measured on (evenly spaced), at most."""


def step_budget(steps: int | None, sensors: int) -> int:
    """The fit's budget of steps for ``sensors`` sensors: ``steps`` up to :data:`WIDE_SENSORS`
    sensors; past that the work of ``steps`` steps of :data:`WIDE_SENSORS` sensors (a step costs
    in proportion to the sensors), but at least :data:`MIN_WIDE_STEPS` (or ``steps``, when
    fewer). Without a budget (``steps`` None) a large number.

    Example:
        >>> [step_budget(500, 20), step_budget(500, 640), step_budget(500, 2000)]
        [500, 50, 20]
        >>> step_budget(5, 2000)
        5
    """
    if steps is None:
        return 2**63 - 1
    if sensors <= WIDE_SENSORS:
        return steps
    return max(min(steps, MIN_WIDE_STEPS), steps * WIDE_SENSORS // sensors)


def check_windows(held_out: Tensor, window: int) -> Tensor | None:
    """Up to :data:`CHECK_WINDOWS` windows of ``(N, S)`` held-out rows, evenly spaced (fewer when
    the sensors are many: the work of that many windows of :data:`WIDE_SENSORS` sensors, at least
    16), or None when the rows hold no whole window."""
    if len(held_out) < window:
        return None
    windows = held_out.unfold(0, window, 1).permute(0, 2, 1)  # (K, W, S)
    count = CHECK_WINDOWS * WIDE_SENSORS // max(WIDE_SENSORS, windows.shape[-1])
    count = max(count, CHECK_WINDOWS // 64)
    step = max(1, len(windows) // count)
    return windows[::step][:count].contiguous()


def train_windows(
    model: nn.Module,
    rows: Tensor,
    *,
    window: int,
    epochs: int,
    batch_size: int,
    lr: float,
    seed: int,
    budget: int,
    checks: Tensor | None = None,
    progress: str | None = None,
    log: Callable[[int, int, float], None] | None = None,
) -> Training:
    """Fit ``model`` (a detector family: it has ``loss(windows)``) on the windows of ``rows``.

    Args:
        model: the family, trained in place and left in eval mode.
        rows: ``(N, S)`` standardised training rows, ``N >= window``, on the model's device.
        window: ``W``, the rows of a window; a batch is ``(B, W, S)``.
        epochs: passes over the ``N - W + 1`` windows, each in a new order.
        batch_size: ``B``, windows per optimisation step.
        lr: Adam's learning rate.
        seed: seeds the order of the windows.
        budget: the most steps to run, over all epochs.
        checks: ``(K, W, S)`` held-out windows to stop early on, or None.
        progress: a progress bar's label (rich), or None for none.
        log: called as ``log(steps, budget, loss)`` after every :data:`LOG_LINES`-th part of
            the budget's steps and at the end (``loss``: the mean training loss of the epoch so
            far), where no progress bar shows (a log file).

    Returns:
        The steps run and the losses.

    Example:
        >>> from cnnlstm.models.detectors import WindowCNNLSTM
        >>> model = WindowCNNLSTM(n_sensors=3, window=8)
        >>> rows = torch.randn(40, 3)
        >>> done = train_windows(
        ...     model, rows, window=8, epochs=2, batch_size=16, lr=1e-3, seed=0, budget=5
        ... )
        >>> done.steps, len(done.train_loss)
        (5, 2)
    """
    device = rows.device
    count = len(rows) - window + 1  # windows: (N-W+1, W, S) if made all at once
    offsets = torch.arange(window, device=device)  # (W,)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    generator = torch.Generator().manual_seed(seed)
    batches = math.ceil(count / batch_size)
    planned = epochs * batches
    budget = min(budget, planned)
    every = max(1, budget // CHECKS)
    told = max(1, budget // LOG_LINES)
    train_loss: list[float] = []
    holdout_loss: list[float] = []
    steps = 0
    bar: Any = None
    task: Any = None
    if progress is not None:
        from rich.progress import Progress

        bar = Progress()
        bar.start()
        what = f"{budget} steps of {planned}" if budget < planned else f"{epochs} epochs"
        task = bar.add_task(f"{progress} ({what})", total=budget)
    model.train()
    try:
        for _ in range(epochs):
            order = torch.randperm(count, generator=generator)
            total, seen = 0.0, 0
            for b in range(batches):
                starts = order[b * batch_size : (b + 1) * batch_size]  # (B,)
                batch = rows[starts[:, None] + offsets]  # (B, W, S)
                loss = model.loss(batch)  # type: ignore[operator]
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                total += float(loss.detach()) * len(batch)
                seen += len(batch)
                steps += 1
                if bar is not None:
                    bar.advance(task)
                if log is not None and steps % told == 0 and steps < budget:
                    log(steps, budget, total / seen)
                if steps >= budget:
                    break
                if (
                    checks is not None
                    and steps % every == 0
                    and _stalled(model, checks, holdout_loss)
                ):
                    budget = steps
                    break
            train_loss.append(total / seen)
            if steps >= budget:
                break
    finally:
        if bar is not None:
            bar.stop()
    model.eval()
    if log is not None:
        log(steps, steps, train_loss[-1] if train_loss else math.nan)
    return Training(steps, train_loss, holdout_loss)


def said_in_lines(log: Callable[[str], None], rows: int) -> Callable[[int, int, float], None]:
    """A ``log`` for :func:`train_windows` that says each call to ``log`` as a line of text,
    with the seconds since it was made; ``rows``: the training rows, for the last line.

    Example:
        >>> said = said_in_lines(print, 100)
        >>> said(5, 50, 0.25)  # doctest: +ELLIPSIS
        fit: step 5 of 50, loss 0.25 (... s)
    """
    started = time.perf_counter()

    def line(steps: int, budget: int, loss: float) -> None:
        seconds = time.perf_counter() - started
        if steps < budget:
            log(f"fit: step {steps} of {budget}, loss {loss:.4g} ({seconds:.1f} s)")
        else:
            log(f"fit: {steps} steps on {rows} rows, loss {loss:.4g} ({seconds:.1f} s)")

    return line


def _stalled(model: nn.Module, checks: Tensor, history: list[float]) -> bool:
    """Measure the held-out loss (appended to ``history``); whether it has not improved by
    0.1 % for :data:`PATIENCE` measurements."""
    model.eval()
    with torch.inference_mode():
        losses = [
            float(model.loss(checks[i : i + 256])) * len(checks[i : i + 256])  # type: ignore[operator]
            for i in range(0, len(checks), 256)
        ]
    model.train()
    history.append(sum(losses) / len(checks))
    if len(history) <= PATIENCE:
        return False
    best_before = min(history[:-PATIENCE])
    return min(history[-PATIENCE:]) > best_before * (1 - 1e-3)
