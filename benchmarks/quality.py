"""Quality bars: the built-in tasks trained for real on the built-in data.

Three subcommands, each a real training run on Lightning's ``Trainer`` through the tasks of
``cnnlstm.tasks`` (no training loop of its own), scored on held-out samples:

- ``digit-clips``: clip classification on ``DigitClips`` (each frame shows a strip of the
  digit). The temporal strategy (TimeDistributed CNN + LSTM), a single-frame CNN and a ConvLSTM
  are trained with the same data, seed, epochs and schedule; the bar is temporal > single frame.
- ``moving-digits``: ``MovingDigits`` 10 -> 10 (two MNIST digits, 64x64) with the ConvLSTM
  encoder-forecaster (frames cut into 4x4 patches), trained with binary cross-entropy and
  scheduled sampling (teacher forcing from 1 down to 0 over the first half of the run, as OpenSTL
  trains its ConvLSTM; ``--loss`` and ``--teacher-forcing`` change them), AdamW with a one-cycle
  rate peaking at 1e-2. The bar is a per-frame MSE (OpenSTL's: the squared error summed over a
  frame's pixels in [0, 1], averaged over frames and sequences) well below repeating the last
  input frame and below a blank frame, on sequences of held-out MNIST digits; OpenSTL's ConvLSTM
  figure is printed beside it.
- ``text-lines``: CRNN on ``TextLines``; word accuracy and character error rate on fresh lines
  (the data module's test set, drawn with another seed), greedy and beam decoding.

Threads: torch runs on ``--threads`` threads, 1 by default, as the tests do. The machine these
figures come from has 2 cores shared with other jobs; there a second OpenMP thread mostly waits at
barriers for a partner that is not scheduled, and the per-step tensors of these small models are
too small to split well anyway (on a quiet machine, try ``--threads 2``). The JSON records
the wall and the CPU seconds; the CPU seconds say what the run costs on one free core.

Digits come from the MNIST files in ``--mnist-root`` (``../shared/data/mnist``, t10k only: images
0-7999 train, 8000-9999 test) for moving-digits when the folder is there, else they are drawn
with Pillow's font; digit-clips draws them, as the ``digit_clips`` config does.

Each run prints JSON and a Markdown table (``benchmarks.common.report``) and writes the JSON to
``--output`` (default ``benchmarks/results/``, which git ignores). Nothing else is written.

Run: ``python -m benchmarks.quality digit-clips`` (and ``moving-digits``, ``text-lines``);
``--quick`` trains a tiny model on a few samples in seconds; ``--epochs`` and ``--seed`` override
the budget and the seed.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import torch
from torch.utils.data import Dataset

from benchmarks.common import cpu_pressure, report
from cnnlstm.data import DigitClipsDataModule, MovingDigitsDataModule, TextLinesDataModule
from cnnlstm.tasks import ClassificationTask, ForecastTask, RecognitionTask
from cnnlstm.tasks.metrics import FrameMSE

RESULTS = Path(__file__).resolve().parent / "results"
SHARED_MNIST = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist"

OPENSTL_CONVLSTM = {
    "mse": 29.80,
    "epochs": 200,
    "layers": "4 ConvLSTM layers x 128 channels, 5x5 kernels, patch 4, scheduled sampling",
    "data": "10,000 training sequences drawn on the fly from the 60,000 MNIST training digits; "
    "tested on the standard mnist_test_seq.npy (10,000 sequences)",
}
"""OpenSTL's ConvLSTM on Moving MNIST (its benchmark table and configs/mmnist/ConvLSTM.py)."""


def _mnist_root(value: str) -> str | None:
    """``--mnist-root``: a folder of MNIST IDX files, or ``none`` to draw the digits."""
    return None if value.lower() in ("", "none") else value


def _cached(dataset: Dataset[Any]) -> list[Any]:
    """Every item of a generated dataset, made once: each model then sees the same tensors, and
    no epoch pays for drawing them again."""
    return [dataset[i] for i in range(len(dataset))]  # type: ignore[arg-type]


def _trainer(epochs: int, output: Path, *, gradient_clip_val: float | None = None) -> pl.Trainer:
    """A CPU ``Trainer`` that validates once, at the end, and writes no logs or checkpoints."""
    return pl.Trainer(
        max_epochs=epochs,
        accelerator="cpu",
        devices=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        check_val_every_n_epoch=epochs,
        gradient_clip_val=gradient_clip_val,
        default_root_dir=output,
    )


def _metrics(trainer: pl.Trainer, prefix: str) -> dict[str, float]:
    """The ``prefix/...`` metrics the trainer last logged, as floats, without the prefix."""
    return {
        key.split("/", 1)[1]: float(value)
        for key, value in trainer.callback_metrics.items()
        if key.startswith(prefix + "/")
    }


def _fit_and_test(
    task: pl.LightningModule,
    data: pl.LightningDataModule,
    *,
    epochs: int,
    output: Path,
    gradient_clip_val: float | None = None,
) -> tuple[dict[str, float], dict[str, float], float, pl.Trainer]:
    """Train, validate at the end, test: ``(val metrics, test metrics, train seconds, trainer)``."""
    trainer = _trainer(epochs, output, gradient_clip_val=gradient_clip_val)
    start = time.perf_counter()
    trainer.fit(task, datamodule=data)
    seconds = time.perf_counter() - start
    val = _metrics(trainer, "val")
    trainer.test(task, datamodule=data, verbose=False)
    return val, _metrics(trainer, "test"), seconds, trainer


def _params(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


Counts = tuple[int, int, int]


def _budget(
    args: argparse.Namespace, *, epochs: int, quick: Counts, full: Counts
) -> tuple[int, dict[str, int]]:
    """Epochs and ``{train,val,test}_samples`` of a bar: ``--quick`` or full size, then
    ``--epochs`` and ``--train-samples`` when given."""
    counts = quick if args.quick else full
    sizes = dict(zip(("train_samples", "val_samples", "test_samples"), counts, strict=True))
    sizes["train_samples"] = args.train_samples or sizes["train_samples"]
    return args.epochs or (1 if args.quick else epochs), sizes


# --------------------------------------------------------------------------- DigitClips


def digit_clips(args: argparse.Namespace) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Temporal vs single frame vs ConvLSTM on DigitClips, same data, seed and budget."""
    quick = args.quick
    epochs, sizes = _budget(args, epochs=10, quick=(32, 16, 16), full=(2000, 400, 400))
    data = DigitClipsDataModule(
        **sizes,
        label="digit",
        frames=10,
        canvas_size=32,
        digit_size=18,
        mnist_root=_mnist_root(args.mnist_root),
        batch_size=args.batch_size or 32,
        seed=args.seed,
    )
    for split in ("train", "val", "test"):
        setattr(data, f"{split}_set", _cached(getattr(data, f"{split}_set")))
    model_args = {
        "frames": 10,
        "in_channels": 1,
        "image_size": (32, 32),
        "pool": "avg",
        "channels": (4, 8) if quick else (16, 32),
        "hidden_size": 8 if quick else 64,
    }
    rows = []
    for bridge in args.bridges.split(","):
        pl.seed_everything(args.seed, verbose=False)
        task = ClassificationTask(
            "clip_classifier",
            {**model_args, "bridge": bridge},
            num_classes=10,
            lr=args.lr or 3e-3,
            scheduler="cosine",
        )
        val, test, seconds, _ = _fit_and_test(task, data, epochs=epochs, output=args.output)
        rows.append(
            {
                "bridge": bridge,
                "test_acc": test["acc"],
                "val_acc": val["acc"],
                "params": _params(task.model),
                "seconds": seconds,
                "s_per_epoch": seconds / epochs,
            }
        )
        print(
            f"digit-clips {bridge}: test acc {test['acc']:.3f} ({seconds:.0f} s)",
            file=sys.stderr,
            flush=True,
        )
    by_bridge = {row["bridge"]: row["test_acc"] for row in rows}
    extra: dict[str, Any] = {"epochs": epochs, **sizes}
    if "temporal" in by_bridge and "single_frame" in by_bridge:
        extra["temporal_minus_single_frame"] = by_bridge["temporal"] - by_bridge["single_frame"]
        extra["bar_met"] = by_bridge["temporal"] > by_bridge["single_frame"]
    return rows, extra


# --------------------------------------------------------------------------- MovingDigits


def _blank_frame_mse(dataset: Dataset[tuple[torch.Tensor, torch.Tensor]]) -> float:
    """Per-frame MSE of predicting black frames: how much a model gains by drawing nothing.

    Copy-last pays twice for a digit that moved (ink where it was, none where it is), so a blurry
    model can beat it without learning motion; beating this baseline too shows the model draws
    the digits where they are.
    """
    metric = FrameMSE()
    for index in range(len(dataset)):  # type: ignore[arg-type]
        _, targets = dataset[index]
        metric.update(torch.zeros_like(targets), targets)
    return float(metric.compute())


def moving_digits(args: argparse.Namespace) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """ConvLSTM forecaster vs copy-last-frame on MovingDigits 10 -> 10, 64x64, two digits."""
    quick = args.quick
    epochs, sizes = _budget(args, epochs=5, quick=(8, 4, 4), full=(2000, 200, 1000))
    mnist_root = _mnist_root(args.mnist_root)
    data = MovingDigitsDataModule(
        **sizes,
        num_digits=2,
        canvas_size=64,
        digit_size=28,
        frames=20,
        input_frames=10,
        mnist_root=mnist_root,
        batch_size=args.batch_size or 16,
        seed=args.seed,
    )
    model_args = {
        "in_channels": 1,
        "image_size": (64, 64),
        "input_frames": 10,
        "output_frames": 10,
        "hidden_channels": (4,) if quick else args.hidden,
        "kernel_size": args.kernel_size,
        "patch_size": args.patch_size,
    }
    pl.seed_everything(args.seed, verbose=False)
    task = ForecastTask(
        "convlstm_forecaster",
        model_args,
        loss=args.loss,
        lr=args.lr or 1e-2,
        scheduler="onecycle",
        teacher_forcing=args.teacher_forcing,
        teacher_forcing_decay=0.5,
    )
    val, test, seconds, _ = _fit_and_test(
        task, data, epochs=epochs, output=args.output, gradient_clip_val=1.0
    )
    print(
        f"moving-digits: test mse {test['mse']:.2f} ({seconds:.0f} s)", file=sys.stderr, flush=True
    )
    blank = _blank_frame_mse(data.test_set)  # type: ignore[arg-type]
    digits = "MNIST t10k" if mnist_root else "drawn (Pillow font)"
    held_out = f"{sizes['test_samples']} sequences, seed {args.seed + 2}, held-out digits"
    rows = [
        {
            "model": "ours: convlstm_forecaster",
            "mse_per_frame": test["mse"],
            "mae_per_frame": test["mae"],
            "ssim": test["ssim"],
            "psnr": test["psnr"],
            "params": _params(task.model),
            "epochs": epochs,
            "train_sequences": sizes["train_samples"],
            "test_set": held_out,
        },
        {
            "model": "copy last input frame",
            "mse_per_frame": test["mse_copy_last"],
            "mae_per_frame": "",
            "ssim": "",
            "psnr": "",
            "params": 0,
            "epochs": 0,
            "train_sequences": 0,
            "test_set": held_out,
        },
        {
            "model": "blank frame (all zeros)",
            "mse_per_frame": blank,
            "mae_per_frame": "",
            "ssim": "",
            "psnr": "",
            "params": 0,
            "epochs": 0,
            "train_sequences": 0,
            "test_set": held_out,
        },
        {
            "model": "OpenSTL ConvLSTM (published)",
            "mse_per_frame": OPENSTL_CONVLSTM["mse"],
            "mae_per_frame": "",
            "ssim": "",
            "psnr": "",
            "params": "",
            "epochs": OPENSTL_CONVLSTM["epochs"],
            "train_sequences": 10000,
            "test_set": "mnist_test_seq.npy (10,000)",
        },
    ]
    extra: dict[str, Any] = {
        "digits": digits,
        "hidden_channels": list(model_args["hidden_channels"]),
        "kernel_size": args.kernel_size,
        "patch_size": args.patch_size,
        "loss": args.loss,
        "teacher_forcing": args.teacher_forcing,
        "lr": task.lr,
        "batch_size": data.batch_size,
        "train_seconds": seconds,
        "val_mse": val.get("mse"),
        "val_mse_copy_last": val.get("mse_copy_last"),
        "mse_ratio_to_copy_last": test["mse"] / test["mse_copy_last"],
        "mse_ratio_to_blank": test["mse"] / blank,
        "bar_met": test["mse"] < 0.5 * test["mse_copy_last"] and test["mse"] < blank,
        "openstl": OPENSTL_CONVLSTM,
    }
    return rows, extra


# --------------------------------------------------------------------------- TextLines


def text_lines(args: argparse.Namespace) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """CRNN on TextLines: word accuracy and CER on fresh lines, greedy and beam decoding."""
    quick = args.quick
    epochs, sizes = _budget(args, epochs=12, quick=(32, 8, 8), full=(8000, 500, 1000))
    data = TextLinesDataModule(
        train_samples=sizes["train_samples"],
        val_samples=sizes["val_samples"],
        test_samples=sizes["test_samples"],
        height=32,
        width=128,
        batch_size=args.batch_size or 32,
        seed=args.seed,
    )
    data.train_set = _cached(data.train_set)  # type: ignore[arg-type, assignment]
    model_args = {
        "in_channels": 1,
        "image_height": 32,
        "channels": (4, 8) if quick else (32, 64, 96),
        "hidden_size": 8 if quick else 96,
        "num_layers": 1 if quick else 2,
    }
    pl.seed_everything(args.seed, verbose=False)
    task = RecognitionTask(
        "crnn", model_args, decoder="greedy", lr=args.lr or 2e-3, scheduler="onecycle"
    )
    val, test, seconds, trainer = _fit_and_test(
        task, data, epochs=epochs, output=args.output, gradient_clip_val=5.0
    )
    rows = [{"decoder": "greedy", "word_acc": test["word_acc"], "cer": test["cer"]}]
    task.decoder = "beam"
    trainer.test(task, datamodule=data, verbose=False)
    beam = _metrics(trainer, "test")
    rows.append(
        {"decoder": f"beam ({task.beam_width})", "word_acc": beam["word_acc"], "cer": beam["cer"]}
    )
    for row in rows:
        row.update(params=_params(task.model), epochs=epochs, seconds=seconds)
    print(
        f"text-lines: greedy word acc {test['word_acc']:.3f} ({seconds:.0f} s)",
        file=sys.stderr,
        flush=True,
    )
    extra = {
        **sizes,
        "test_set": f"{sizes['test_samples']} lines drawn with seed {args.seed + 2} "
        f"(training: seed {args.seed})",
        "val_word_acc": val.get("word_acc"),
        "val_cer": val.get("cer"),
    }
    return rows, extra


BENCHMARKS: dict[str, tuple[str, Callable[[argparse.Namespace], Any]]] = {
    "digit-clips": ("DigitClips: temporal vs single frame vs ConvLSTM", digit_clips),
    "moving-digits": ("MovingDigits 10 -> 10: per-frame MSE on held-out sequences", moving_digits),
    "text-lines": ("TextLines: CRNN on fresh lines", text_lines),
}


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.quality", description=__doc__.splitlines()[0]
    )
    parser.add_argument("benchmark", choices=list(BENCHMARKS))
    parser.add_argument("--quick", action="store_true", help="a tiny run in seconds (for tests)")
    parser.add_argument("--epochs", type=int, default=None, help="override the epochs")
    parser.add_argument("--seed", type=int, default=0, help="seed of the data and the weights")
    parser.add_argument("--lr", type=float, default=None, help="override the learning rate")
    parser.add_argument("--train-samples", type=int, default=None, help="override the training set")
    parser.add_argument("--batch-size", type=int, default=None, help="override the batch size")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument(
        "--bridges",
        default="temporal,single_frame,convlstm",
        help="digit-clips: the clip_classifier bridges to train",
    )
    parser.add_argument(
        "--hidden",
        type=lambda text: tuple(int(size) for size in text.split(",")),
        default=(32, 32),
        help="moving-digits: ConvLSTM hidden channels per layer, e.g. 32,32",
    )
    parser.add_argument("--kernel-size", type=int, default=3, help="moving-digits: kernel size")
    parser.add_argument("--patch-size", type=int, default=4, help="moving-digits: patch size")
    parser.add_argument(
        "--loss", choices=["mse", "l1+l2", "bce"], default="bce", help="moving-digits: the loss"
    )
    parser.add_argument(
        "--teacher-forcing",
        type=float,
        default=1.0,
        help="moving-digits: scheduled sampling, falling to 0 over the first half of the run",
    )
    parser.add_argument(
        "--mnist-root",
        default=None,
        help="MNIST IDX folder, or 'none' to draw digits (default: ../shared/data/mnist for "
        "moving-digits when present; drawn digits for digit-clips)",
    )
    parser.add_argument(
        "--output", type=Path, default=RESULTS, help="folder for the JSON (benchmarks/results)"
    )
    args = parser.parse_args(argv)
    if args.mnist_root is None:
        shared = args.benchmark == "moving-digits" and SHARED_MNIST.is_dir()
        args.mnist_root = str(SHARED_MNIST) if shared else "none"
    return args


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Run one benchmark, print JSON and a table, write the JSON, and return what was printed."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    for name in ("lightning.pytorch", "lightning.fabric"):
        logging.getLogger(name).setLevel(logging.WARNING)
    title, run = BENCHMARKS[args.benchmark]
    start, cpu_start = time.perf_counter(), time.process_time()
    rows, extra = run(args)
    extra = {
        **extra,
        "seed": args.seed,
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "wall_seconds": time.perf_counter() - start,
        "cpu_seconds": time.process_time() - cpu_start,
        "cpu_pressure_pct": cpu_pressure(),
        "command": "python -m benchmarks.quality " + " ".join(argv),
    }
    report(title, rows, extra=extra)
    args.output.mkdir(parents=True, exist_ok=True)
    suffix = "-quick" if args.quick else ""
    path = args.output / f"quality_{args.benchmark.replace('-', '_')}{suffix}.json"
    path.write_text(json.dumps({"benchmark": title, "rows": rows, **extra}, indent=2) + "\n")
    return {"rows": rows, **extra}


if __name__ == "__main__":
    main()
