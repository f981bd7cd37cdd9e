"""``cnnlstm convert``: a saved Keras model to a PyTorch file, checked against Keras.

::

    cnnlstm convert MODEL [--weights FILE] [--output model.pt] [--format pt | onnx]
                          [--tolerance 1e-4] [--batch 2] [--steps 8] [--seed 0]
                          [--hard-sigmoid keras3 | tf_keras2]

``MODEL`` is a ``.keras`` file, a legacy ``.h5`` full model saved by tf.keras 2 (read without
TensorFlow), or an architecture ``.json`` with ``--weights`` (``.weights.h5`` or legacy
``.h5``). The model is converted with :func:`~cnnlstm.interop.keras.from_keras`, then run by
Keras and by PyTorch on the same random input (``--batch`` examples; ``--steps`` for any axis
the model leaves open; boolean inputs all True; a tf.keras 2 file's ``hard_sigmoid`` run as
tf.keras 2 defined it, not as Keras 3 reads it): the largest difference, relative to the largest
output, has to stay within ``--tolerance``, else the command exits 1 (the file is still
written, for a look). ``--format pt`` (the default) writes ``{"config", "state_dict"}`` that
:func:`~cnnlstm.interop.keras.load_converted` rebuilds without Keras; ``--format onnx`` writes
an ONNX file checked again with onnxruntime (:func:`~cnnlstm.export.export_model`; models with
one input and one output). Without ``--output`` the file goes beside ``MODEL`` (``.pt`` or
``.onnx``). User mistakes exit 2 with one ``cnnlstm convert: error: ...`` line.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from cnnlstm.commands import USER_ERRORS, Command, atomic_file, user_error

__all__ = ["add_parser", "build_parser", "main", "random_inputs", "run"]

COMMAND = "convert"
_HELP = "convert a saved Keras model (.keras, legacy .h5, .json + weights) to PyTorch or ONNX"
FORMATS = ("pt", "onnx")


def _configure(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument("model", type=Path, help="a .keras file, a legacy .h5, or a .json")
    parser.add_argument("--weights", type=Path, default=None, help="weights of a .json model")
    parser.add_argument("--output", "-o", type=Path, default=None, help="the file to write")
    parser.add_argument("--format", choices=FORMATS, default="pt", help="pt (default) or onnx")
    parser.add_argument(
        "--tolerance", type=float, default=1e-4, help="largest relative difference (1e-4)"
    )
    parser.add_argument("--batch", type=int, default=2, help="examples in the check (2)")
    parser.add_argument("--steps", type=int, default=8, help="size of open axes (8)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random input (0)")
    parser.add_argument(
        "--hard-sigmoid",
        choices=("keras3", "tf_keras2"),
        default=None,
        help="which hard_sigmoid the model uses (default: from the file's Keras version)",
    )
    parser.set_defaults(func=run)
    return parser


def random_inputs(model: Any, *, batch: int, steps: int, seed: int) -> list[Any]:
    """One random numpy array per Keras model input (open axes ``steps`` long, booleans True).

    An input that feeds an ``Embedding`` gets integer ids in ``[1, input_dim)`` (of the input's
    dtype), the tokens such a model reads; 0, the padding id of ``mask_zero``, is left out.

    Example:
        >>> import keras
        >>> model = keras.Sequential([keras.Input((None, 3)), keras.layers.LSTM(2)])
        >>> random_inputs(model, batch=2, steps=5, seed=0)[0].shape
        (2, 5, 3)
    """
    import numpy as np

    rng = np.random.default_rng(seed)
    vocabulary = _embedding_sizes(model)
    arrays = []
    for index, tensor in enumerate(model.inputs):
        shape = (batch, *(steps if s is None else int(s) for s in tensor.shape[1:]))
        if "bool" in str(tensor.dtype):
            arrays.append(np.ones(shape, dtype=bool))
        elif index in vocabulary:
            ids = rng.integers(1, max(2, vocabulary[index]), size=shape)
            arrays.append(ids.astype(str(tensor.dtype).replace("torch.", "")))
        else:
            arrays.append(rng.normal(size=shape).astype(np.float32))
    return arrays


def _embedding_sizes(model: Any) -> dict[int, int]:
    """``{input index: input_dim}`` for the model inputs that an ``Embedding`` reads directly."""
    sizes: dict[int, int] = {}
    for layer in getattr(model, "layers", []):
        if type(layer).__name__ != "Embedding":
            continue
        try:
            source = layer.input
        except (AttributeError, ValueError):  # a layer called on several inputs
            continue
        for index, tensor in enumerate(model.inputs):
            if source is tensor:
                sizes[index] = int(layer.input_dim)
    return sizes


def _flat(value: Any) -> list[Any]:
    import numpy as np
    import torch

    if isinstance(value, dict):
        value = [value[k] for k in sorted(value)]
    if not isinstance(value, (list, tuple)):
        value = [value]
    out = []
    for item in value:
        item = getattr(item, "value", item)
        if isinstance(item, torch.Tensor):
            item = item.detach().cpu().numpy()
        out.append(np.asarray(item, dtype=np.float64))
    return out


def run(args: argparse.Namespace) -> int:
    """Convert, check, write; 0 when the check passes, 1 when it does not, 2 on a mistake."""
    # Keras 3 on PyTorch: without it a fresh Keras looks for TensorFlow (~/.keras/keras.json).
    os.environ.setdefault("KERAS_BACKEND", "torch")
    try:
        import numpy as np
        import torch

        from cnnlstm.interop.keras import from_keras, load_model, save_converted

        for name in ("batch", "steps"):
            if getattr(args, name) < 1:
                raise ValueError(f"--{name} has to be at least 1, but got {getattr(args, name)}")
        if not args.tolerance > 0:
            raise ValueError(f"--tolerance has to be positive, but got {args.tolerance}")
        loaded = load_model(args.model, weights=args.weights)
        hard_sigmoid = args.hard_sigmoid or loaded.hard_sigmoid
        converted = from_keras(loaded.model, hard_sigmoid=hard_sigmoid)
        inputs = random_inputs(loaded.model, batch=args.batch, steps=args.steps, seed=args.seed)
        keras_in: Any = inputs[0] if len(inputs) == 1 else inputs
        reference = loaded.model
        if hard_sigmoid == "tf_keras2":
            from cnnlstm.interop.keras.io import tf_keras2_reference

            reference = tf_keras2_reference(loaded.model)
        expected = _flat(reference(keras_in, training=False))
        with torch.no_grad():
            got = _flat(converted(*(torch.from_numpy(x) for x in inputs)))
        diff = max(
            float(np.max(np.abs(g - e))) if e.size else 0.0
            for g, e in zip(got, expected, strict=True)
        )
        size = max(float(np.max(np.abs(e))) if e.size else 0.0 for e in expected)
        relative = diff / max(size, 1e-12)
        suffix = ".pt" if args.format == "pt" else ".onnx"
        output = args.output or args.model.with_name(args.model.name.split(".")[0] + suffix)
        notes: list[str] = []
        export_ok = True
        if args.format == "pt":
            with atomic_file(output) as temp:
                save_converted(converted, temp)
        else:
            from cnnlstm.errors import ConfigError
            from cnnlstm.export import export_model

            if len(inputs) != 1 or len(expected) != 1:
                raise ConfigError(
                    f"--format onnx takes a model with one input and one output; "
                    f"{args.model.name} has {len(inputs)} and {len(expected)}. Use --format pt."
                )
            report = export_model(
                converted, output, format="onnx", example_shape=inputs[0].shape[1:]
            )
            notes = list(report.notes)
            export_ok = report.ok
            if not report.ok:
                notes.append(f"onnxruntime differs from PyTorch by {report.max_abs_diff:.2e}")
    except USER_ERRORS as error:
        return user_error(COMMAND, error)
    ok = relative <= args.tolerance and export_ok
    summary = {
        "model": str(args.model),
        "kind": loaded.kind,
        "keras_version": loaded.keras_version,
        "hard_sigmoid": hard_sigmoid,
        "output": str(output),
        "format": args.format,
        "max_abs_diff": diff,
        "relative_diff": relative,
        "tolerance": args.tolerance,
        "ok": ok,
        "notes": notes,
    }
    print(json.dumps(summary, indent=2))
    verdict = "matches Keras" if ok else "DIFFERS from Keras"
    print(
        f"{args.model.name} -> {output}: {verdict} (largest difference {diff:.2e}, "
        f"{relative:.2e} of the output's size; tolerance {args.tolerance:g})",
        file=sys.stderr,
    )
    return 0 if ok else 1


_COMMAND = Command(COMMAND, _HELP, _configure, run)
add_parser = _COMMAND.add_parser
build_parser = _COMMAND.build_parser
main = _COMMAND.main

if __name__ == "__main__":
    sys.exit(main())
