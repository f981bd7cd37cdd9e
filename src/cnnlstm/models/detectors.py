"""Anomaly-detection model families for multivariate sensor streams, fitted on normal rows only.

Three families, registered with :func:`~cnnlstm.models.registry.register_model`. Each takes rows
of ``S`` standardised sensors and gives, besides its training loss, per-sensor squared errors
that :class:`cnnlstm.anomaly.detector.AnomalyDetector` turns into one score per row:

=================  ===================================================================
``window_cnnlstm``  causal Conv2D over a ``(1, W, S)`` window image, rows as a sequence,
                    an LSTM, and a next-row prediction head. Causal and recurrent, so a
                    whole stream is scored in one pass and streams row by row in O(1)
                    (:class:`RowStepper`: the weights as plain numpy arrays).
``mscred``          MSCRED (Zhang et al. 2019, :mod:`cnnlstm.models.signatures`): signature
                    matrices over several lengths, a CNN + ConvLSTM encoder, a decoder
                    reconstructing the last matrices; the residuals are the error. By
                    default the matrices are covariances of window-centred rows.
``convlstm_ae``     a ConvLSTM1d autoencoder over the window's rows (sensors as a 1-D
                    grid); the reconstruction error of the (window-centred) rows is the
                    error.
=================  ===================================================================

Shared interface: ``example_input_shape = (W, S)``, ``forward_features`` / ``forward_head``,
``num_features``, ``loss(x)`` (the training objective on windows ``(B, W, S)``) and
``errors(x)``: ``(B, W - 1, S)`` next-row errors for ``window_cnnlstm`` (``causal = True``),
``(B, S)`` errors of the whole window for the window models (``causal = False``).

The window models centre their windows because plant sensors drift, and the paper's inner
products and a plain reconstruction follow those levels; centred, they see changes of shape and
co-movement, not a sensor holding a new level (``center=False`` restores the original; the
design notes have the figures). :data:`DETECTOR_FAMILIES` names the three.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import cast

import numpy as np
import torch
import torch.nn.functional as F
from einops import rearrange
from torch import Tensor, nn

from cnnlstm.errors import ShapeError
from cnnlstm.functional import format_shape
from cnnlstm.layers.convlstm import ConvLSTM1d
from cnnlstm.layers.spatial import SpatialSequence
from cnnlstm.models.registry import check_ints, check_positive_int, register_model

__all__ = [
    "DETECTOR_FAMILIES",
    "ConvLSTMAutoencoder",
    "RowStepper",
    "WindowCNNLSTM",
    "check_rows",
    "convlstm_ae",
    "window_cnnlstm",
]

LSTMState = tuple[Tensor, Tensor]

DETECTOR_FAMILIES = ("window_cnnlstm", "mscred", "convlstm_ae")
"""The registered names of the anomaly-detection families defined here, the default first: what
:class:`~cnnlstm.anomaly.detector.AnomalyDetector` and ``cnnlstm detect --model`` take."""


def check_rows(who: str, x: Tensor, sensors: int, min_rows: int) -> None:
    """Raise ShapeError unless ``x`` is ``(B, W, S)`` with ``S = sensors`` and ``W >= min_rows``
    (the check every detector family runs on its input)."""
    if x.dim() != 3 or x.shape[-1] != sensors or x.shape[1] < min_rows:
        raise ShapeError(
            f"{who}: expected windows of rows (B, W, S) with S={sensors} sensors and "
            f"W >= {min_rows} rows, got shape {format_shape(x.shape)}. Build the model with "
            f"n_sensors equal to the number of sensor columns, and pass at least {min_rows} rows."
        ) from None


class WindowCNNLSTM(nn.Module):
    """Next-row predictor: causal Conv2D over a window image, rows as a sequence, an LSTM.

    A window of ``W`` rows of ``S`` sensors is a one-channel image ``(1, W, S)`` with time as
    the height. Each Conv2D pads ``kernel_time - 1`` rows on the past side only (and "same" along
    the sensors) and never strides, so output row ``t`` sees input rows ``<= t``.
    ``SpatialSequence("rows")`` reads the map as ``(B, W, C*S)``; an LSTM and a linear head give
    at step ``t`` the change from row ``t`` to row ``t + 1``, so the prediction of row ``t + 1``
    is row ``t`` plus that change. Predicting the change keeps the model sane when a test
    stream wanders to levels the (short) training stream never reached.

    Args:
        n_sensors: ``S``.
        window: ``W``, the rows of a training window (``example_input_shape``).
        channels: output channels of each causal Conv2D layer (ReLU after each).
        kernel_time: the kernel's extent along time (rows).
        kernel_sensors: the kernel's extent along the sensors (odd).
        hidden_size: LSTM units.
        num_layers: stacked LSTM layers.

    Example:
        >>> model = WindowCNNLSTM(n_sensors=8, window=32)
        >>> model(torch.randn(4, 32, 8)).shape
        torch.Size([4, 32, 8])
    """

    causal = True

    def __init__(
        self,
        *,
        n_sensors: int = 8,
        window: int = 32,
        channels: Sequence[int] = (8, 8),
        kernel_time: int = 3,
        kernel_sensors: int = 9,
        hidden_size: int = 32,
        num_layers: int = 1,
    ) -> None:
        super().__init__()
        who = "window_cnnlstm"
        self.n_sensors = check_positive_int(who, "n_sensors", n_sensors)
        self.window = check_positive_int(who, "window", window)
        self.channels = check_ints(who, "channels", channels)
        self.kernel_time = check_positive_int(who, "kernel_time", kernel_time)
        self.kernel_sensors = check_positive_int(who, "kernel_sensors", kernel_sensors)
        if self.kernel_sensors % 2 == 0:
            raise ValueError(
                f"window_cnnlstm: kernel_sensors has to be odd (for 'same' padding along the "
                f"sensors), but got {kernel_sensors}"
            )
        if self.window < 2:
            raise ValueError(f"window_cnnlstm: window has to be at least 2, but got {window}")
        self.hidden_size = check_positive_int(who, "hidden_size", hidden_size)
        self.num_layers = check_positive_int(who, "num_layers", num_layers)
        convs: list[nn.Module] = []
        in_channels = 1
        for out_channels in self.channels:
            convs.append(nn.Conv2d(in_channels, out_channels, (self.kernel_time, kernel_sensors)))
            in_channels = out_channels
        self.convs = nn.ModuleList(convs)
        self.bridge = SpatialSequence("rows")
        features = self.bridge.out_features((1, in_channels, self.window, self.n_sensors))
        self.lstm = nn.LSTM(features, self.hidden_size, self.num_layers, batch_first=True)
        self.head = nn.Linear(self.hidden_size, self.n_sensors)
        self.num_features = self.hidden_size
        self.example_input_shape = (self.window, self.n_sensors)

    @property
    def receptive_field(self) -> int:
        """Rows the conv stack sees behind (and including) each output row."""
        return len(self.channels) * (self.kernel_time - 1) + 1

    def conv_sequence(self, x: Tensor) -> Tensor:
        """``(B, L, S)`` rows -> ``(B, L, C*S)`` causal conv features, one step per row.

        The rows before the first are taken as zeros (padding), so a later part of a stream
        gets its features by putting the ``receptive_field - 1`` rows before it in front and
        dropping their steps.
        """
        image = rearrange(x, "b l s -> b 1 l s")  # (B, 1, L, S)
        side = self.kernel_sensors // 2
        for conv in self.convs:
            image = F.pad(image, (side, side, self.kernel_time - 1, 0))  # past rows only
            image = torch.relu_(conv(image))  # (B, C, L, S), in place: conv keeps no output
        return self.bridge(image)  # type: ignore[no-any-return]  # (B, L, C*S)

    def forward_features(self, x: Tensor, state: LSTMState | None = None) -> Tensor:
        """``(B, L, S)`` rows -> ``(B, L, hidden_size)`` LSTM outputs."""
        check_rows("WindowCNNLSTM", x, self.n_sensors, 1)
        out, _ = self.lstm(self.conv_sequence(x), state)
        return out  # type: ignore[no-any-return]  # (B, L, hidden)

    def forward_head(self, features: Tensor) -> Tensor:
        """``(B, L, hidden_size)`` -> ``(B, L, S)``: at step ``t`` the change to row t+1."""
        return self.head(features)  # type: ignore[no-any-return]

    def forward(self, x: Tensor) -> Tensor:
        """``x: (B, L, S)`` -> ``(B, L, S)`` changes: row ``t + 1`` is predicted as ``x[:, t]``
        plus output ``t`` (see :meth:`predict_next`)."""
        return self.forward_head(self.forward_features(x))

    def predict_next(self, x: Tensor) -> Tensor:
        """``x: (B, L, S)`` -> ``(B, L, S)`` predictions; step ``t`` predicts row ``t + 1``."""
        return x + self.forward(x)

    def errors(self, x: Tensor) -> Tensor:
        """``(B, L, S)`` -> ``(B, L - 1, S)`` squared errors of rows ``1 .. L-1``."""
        check_rows("WindowCNNLSTM", x, self.n_sensors, 2)
        prediction = self.predict_next(x[:, :-1])  # (B, L-1, S)
        return (prediction - x[:, 1:]) ** 2

    def loss(self, x: Tensor) -> Tensor:
        """Mean squared next-row error over the windows ``(B, W, S)``."""
        return self.errors(x).mean()

    def step(self, recent: Tensor, state: LSTMState | None) -> tuple[Tensor, LSTMState]:
        """One streaming step: the newest row's prediction of the next row, and the new state.

        Args:
            recent: ``(B, k, S)``, the last ``k`` rows up to and including the newest, with
                ``k = min(rows seen, receptive_field)``: the conv output of the newest row
                depends on these alone, so the result equals the offline pass.
            state: the LSTM ``(h, c)`` returned by the previous step, or None at the start.

        Returns:
            ``(prediction (B, S), (h, c))``.
        """
        check_rows("WindowCNNLSTM.step", recent, self.n_sensors, 1)
        field = self.receptive_field
        if recent.shape[1] >= field:  # no past padding needed: each conv drops kernel_time - 1 rows
            image = rearrange(recent[:, -field:], "b l s -> b 1 l s")  # (B, 1, R, S)
            side = self.kernel_sensors // 2
            for module in self.convs:
                conv = cast(nn.Conv2d, module)
                image = torch.relu(F.conv2d(image, conv.weight, conv.bias, padding=(0, side)))
            newest = rearrange(image, "b c 1 s -> b (c s)")  # (B, C*S), as SpatialSequence("rows")
        else:  # the first rows of a stream: pad the past as the offline pass does
            newest = self.conv_sequence(recent)[:, -1]  # (B, C*S)
        if state is None:
            zeros = newest.new_zeros(self.num_layers, newest.shape[0], self.hidden_size)
            state = (zeros, zeros)
        hs, cs = [], []
        layer_input = newest
        for layer in range(self.num_layers):  # torch.lstm_cell: the same gates as nn.LSTM
            h, c = torch.lstm_cell(
                layer_input,
                (state[0][layer], state[1][layer]),
                getattr(self.lstm, f"weight_ih_l{layer}"),
                getattr(self.lstm, f"weight_hh_l{layer}"),
                getattr(self.lstm, f"bias_ih_l{layer}"),
                getattr(self.lstm, f"bias_hh_l{layer}"),
            )
            hs.append(h)
            cs.append(c)
            layer_input = h
        prediction = recent[:, -1] + self.head(layer_input)  # (B, S)
        return prediction, (torch.stack(hs), torch.stack(cs))  # (num_layers, B, hidden) each

    def stepper(self) -> RowStepper:
        """A :class:`RowStepper`: this model's weights as plain arrays, for fast streaming."""
        return RowStepper(self)


@dataclass(frozen=True)
class _LSTMViews:
    """One LSTM layer of a :class:`RowStepper`: its matrix and views into its buffers."""

    joined: np.ndarray  # [input, h, 1]
    matrix: np.ndarray  # (4*hidden, F + hidden + 1), gate rows f, i, o, g
    gates: np.ndarray  # (4*hidden,)
    sigmoids: np.ndarray  # (3*hidden,): f, i, o
    forget_input: np.ndarray  # (2, hidden): f, i
    cell_candidate: np.ndarray  # (2, hidden): c, g
    products: np.ndarray  # (2, hidden): f * c, i * g
    forget_product: np.ndarray  # (hidden,): f * c, a view of products
    input_product: np.ndarray  # (hidden,): i * g, a view of products
    cell: np.ndarray  # (hidden,)
    out_gate: np.ndarray  # (hidden,)
    h: np.ndarray  # (hidden,), a view of joined
    next_input: np.ndarray | None  # the next layer's input, a view of its joined


class RowStepper:
    """A :class:`WindowCNNLSTM`'s next-row prediction, one new row at a time, in plain numpy.

    Built once from the model's weights (:meth:`WindowCNNLSTM.stepper`): each causal Conv2D
    becomes one dense matrix (bias included) that maps the last ``kernel_time`` rows of its
    input, kept in a ring buffer, to its output row ``(C*S,)``; each LSTM layer becomes one
    matrix over ``[input, h, 1]``. A new row costs one matrix-vector product per conv layer,
    one per LSTM layer and one for the head, and a few element-wise operations: no module
    calls, hooks or autograd. The buffers start at zeros, which is the past padding of the
    offline pass, so the predictions equal :meth:`WindowCNNLSTM.predict_next` on the whole
    stream (float32, up to rounding). Later weight changes are not seen: build a new stepper.

    At these sizes a numpy call costs more than its arithmetic, so :meth:`update` makes few
    calls and allocates only its result: each product writes straight into the buffer that
    reads it (a conv layer's output row into the next layer's ring, the last one into the
    LSTM's input), and the views into the buffers are made once, in :meth:`reset`.

    Example:
        >>> model = WindowCNNLSTM(n_sensors=3, window=8).eval()
        >>> stepper = model.stepper()
        >>> stepper.update(np.zeros(3, dtype=np.float32)).shape
        (3,)
    """

    def __init__(self, model: WindowCNNLSTM) -> None:
        self.n_sensors = model.n_sensors
        self.hidden_size = hidden = model.hidden_size
        sensors, side = model.n_sensors, model.kernel_sensors // 2
        # Each conv layer: one matrix over [its last kt input rows; 1]. The rows sit in a ring
        # of kt slots (the newest overwrites the oldest), so there is one matrix per position
        # of the ring, with the column blocks permuted to match it: no shifting of buffers.
        self.kernel_time = kt = model.kernel_time
        self._convs: list[list[np.ndarray]] = []
        for module in model.convs:
            conv = cast(nn.Conv2d, module)
            weight = conv.weight.detach().double().cpu().numpy()  # (C_out, C_in, kt, ks)
            bias = cast(Tensor, conv.bias).detach().double().cpu().numpy()  # (C_out,)
            c_out, c_in, _, ks = weight.shape
            dense = np.zeros((c_out, sensors, kt, c_in, sensors))  # out (o, s) <- in (t, i, r)
            for s in range(sensors):
                for k in range(ks):
                    source = s + k - side
                    if 0 <= source < sensors:  # "same" zero padding along the sensors
                        dense[:, s, :, :, source] = rearrange(weight[:, :, :, k], "o i t -> o t i")
            column = np.repeat(bias, sensors)[:, None]  # (C_out*S, 1)
            ring = []
            for newest in range(kt):  # block j (0 = oldest) lives in slot (newest + 1 + j) % kt
                slots = [(newest + 1 + j) % kt for j in range(kt)]
                blocks = np.empty_like(dense)
                blocks[:, :, slots] = dense
                matrix = rearrange(blocks, "o s t i r -> (o s) (t i r)")  # (C_out*S, kt*C_in*S)
                ring.append(np.concatenate([matrix, column], axis=1).astype(np.float32))
            self._convs.append(ring)
        # Each LSTM layer: one matrix over [input, h, 1], gate rows reordered to (f, i, o, g)
        # and the sigmoid rows halved: sigmoid(x) = (tanh(x / 2) + 1) / 2, so one tanh serves
        # all four gates.
        i, f, g, o = (np.arange(k * hidden, (k + 1) * hidden) for k in range(4))
        order = np.concatenate([f, i, o, g])
        half = np.where(np.arange(4 * hidden) < 3 * hidden, 0.5, 1.0)[:, None]  # (4*hidden, 1)
        self._lstm: list[np.ndarray] = []
        for layer in range(model.num_layers):
            w_ih = getattr(model.lstm, f"weight_ih_l{layer}").detach().double()
            w_hh = getattr(model.lstm, f"weight_hh_l{layer}").detach().double()
            b_ih = getattr(model.lstm, f"bias_ih_l{layer}").detach().double()
            b_hh = getattr(model.lstm, f"bias_hh_l{layer}").detach().double()
            joined = torch.cat([w_ih, w_hh, (b_ih + b_hh)[:, None]], dim=1).cpu().numpy()
            self._lstm.append((joined[order] * half).astype(np.float32))  # (4*hidden, F+hidden+1)
        head = torch.cat([model.head.weight, model.head.bias[:, None]], dim=1)  # over [h, 1]
        self._head = head.detach().cpu().numpy().astype(np.float32)  # (S, hidden + 1)
        # 0-d constants: a Python float would be converted again on every call.
        self._zero = np.zeros((), dtype=np.float32)
        self._one = np.ones((), dtype=np.float32)
        self._half = np.full((), 0.5, dtype=np.float32)
        self.reset()

    def reset(self) -> None:
        """Back to the start of a stream: zero buffers (the past padding) and LSTM state."""

        def buffer(width: int) -> np.ndarray:
            values = np.zeros(width, dtype=np.float32)
            values[-1] = 1.0  # the bias column's input
            return values

        kt, hidden = self.kernel_time, self.hidden_size
        self._newest = kt - 1  # the ring slot the next row goes to
        # Conv layer l reads [its kt input rows; 1] from _rings[l]; _slots[l][k] is slot k.
        self._rings = [buffer(ring[0].shape[1]) for ring in self._convs]
        self._slots = [
            list(rearrange(values[:-1], "(t w) -> t w", t=kt))  # kt views (w,), one per slot
            for values in self._rings
        ]
        # LSTM layer l reads [input, h, 1] from _joined[l]. Its cell and gates share one buffer
        # [c, f, i, o, g] (hidden each), so [f, i] * [c, g] is one product of two views.
        self._joined = [buffer(matrix.shape[1]) for matrix in self._lstm]
        products = np.zeros((2, hidden), dtype=np.float32)  # f * c and i * g
        self._layers: list[_LSTMViews] = []
        for layer, (joined, matrix) in enumerate(zip(self._joined, self._lstm, strict=True)):
            blocks = np.zeros((5, hidden), dtype=np.float32)  # c, f, i, o, g
            after = self._joined[layer + 1][: -hidden - 1] if layer + 1 < len(self._lstm) else None
            self._layers.append(
                _LSTMViews(
                    joined=joined,
                    matrix=matrix,
                    gates=blocks[1:].reshape(-1),  # (4*hidden,) f, i, o, g
                    sigmoids=blocks[1:4].reshape(-1),  # (3*hidden,) f, i, o
                    forget_input=blocks[1:3],  # (2, hidden) f, i
                    cell_candidate=blocks[::4],  # (2, hidden) c, g
                    products=products,
                    forget_product=products[0],
                    input_product=products[1],
                    cell=blocks[0],
                    out_gate=blocks[3],
                    h=joined[-hidden - 1 : -1],
                    next_input=after,
                )
            )
        # Where conv layer l writes its output row for each ring position: the next layer's
        # slot, or (the last layer) the first LSTM layer's input.
        self._targets = [*self._slots[1:], [self._joined[0][: -hidden - 1]] * kt]
        self._head_input = self._joined[-1][-hidden - 1 :]  # [h, 1] of the last layer
        self._change = np.zeros(self.n_sensors, dtype=np.float32)  # the head's output

    def update(self, row: np.ndarray) -> np.ndarray:
        """Take the newest standardised row ``(S,)``; return the prediction of the next row."""
        value = np.asarray(row, dtype=np.float32)
        if value.shape != (self.n_sensors,):
            raise ShapeError(
                f"RowStepper.update: expected one row (S,) with S={self.n_sensors} sensors, got "
                f"shape {format_shape(value.shape)}. Pass rows one at a time."
            ) from None
        newest = self._newest = (self._newest + 1) % self.kernel_time
        self._slots[0][newest][...] = value  # over the oldest row
        for ring, matrices, targets in zip(self._rings, self._convs, self._targets, strict=True):
            features = targets[newest]
            np.dot(matrices[newest], ring, out=features)
            np.maximum(features, self._zero, out=features)  # (C*S,): ReLU(conv) of the newest row
        for layer in self._layers:
            gates, sigmoids = layer.gates, layer.sigmoids
            np.dot(layer.matrix, layer.joined, out=gates)  # (4*hidden,)
            np.tanh(gates, out=gates)  # tanh(f/2), tanh(i/2), tanh(o/2), tanh(g)
            np.add(sigmoids, self._one, out=sigmoids)
            np.multiply(sigmoids, self._half, out=sigmoids)  # sigmoid(f), (i), (o)
            # c = f * c + i * g
            np.multiply(layer.forget_input, layer.cell_candidate, out=layer.products)
            np.add(layer.forget_product, layer.input_product, out=layer.cell)
            # h = o * tanh(c), kept in [input, h, 1] for the next step
            np.tanh(layer.cell, out=layer.h)
            np.multiply(layer.h, layer.out_gate, out=layer.h)
            if layer.next_input is not None:
                layer.next_input[...] = layer.h
        np.dot(self._head, self._head_input, out=self._change)
        prediction: np.ndarray = np.add(self._change, value)  # (S,): the row plus its change
        return prediction


class ConvLSTMAutoencoder(nn.Module):
    """ConvLSTM autoencoder of a window: rows as time, the sensors as a 1-D grid.

    The window ``(B, W, S)`` is a sequence of ``W`` one-channel signals of width ``S``.
    A :class:`~cnnlstm.layers.ConvLSTM1d` encoder reads it; its last hidden map, repeated ``W``
    times, feeds a ConvLSTM1d decoder, and a 1x1 convolution gives back the ``W`` rows.
    With ``center`` (the default) the window is first centred, each sensor's mean over its
    ``W`` rows subtracted, and the model reconstructs the centred rows: the error then reflects
    the window's shape across sensors and time, not a sensor's slowly drifting level.

    Args:
        n_sensors: ``S``.
        window: ``W``.
        hidden_channels: channels of the encoder and decoder state.
        kernel_size: extent of the convolutions along the sensors.
        center: reconstruct window-centred rows (False: the rows as they are).

    Example:
        >>> model = ConvLSTMAutoencoder(n_sensors=8, window=16)
        >>> model(torch.randn(2, 16, 8)).shape
        torch.Size([2, 16, 8])
    """

    causal = False

    def __init__(
        self,
        *,
        n_sensors: int = 8,
        window: int = 32,
        hidden_channels: int = 8,
        kernel_size: int = 3,
        center: bool = True,
    ) -> None:
        super().__init__()
        who = "convlstm_ae"
        self.center = bool(center)
        self.n_sensors = check_positive_int(who, "n_sensors", n_sensors)
        self.window = check_positive_int(who, "window", window)
        self.hidden_channels = check_positive_int(who, "hidden_channels", hidden_channels)
        self.kernel_size = check_positive_int(who, "kernel_size", kernel_size)
        self.encoder = ConvLSTM1d(1, hidden_channels, kernel_size)
        self.decoder = ConvLSTM1d(hidden_channels, hidden_channels, kernel_size)
        self.output = nn.Conv1d(hidden_channels, 1, 1)
        self.num_features = hidden_channels
        self.example_input_shape = (self.window, self.n_sensors)

    def target(self, x: Tensor) -> Tensor:
        """``(B, W, S)`` -> ``(B, W, S)``: what is reconstructed (the centred rows, or ``x``)."""
        check_rows("ConvLSTMAutoencoder", x, self.n_sensors, 1)
        return x - x.mean(dim=1, keepdim=True) if self.center else x

    def forward_features(self, x: Tensor) -> Tensor:
        """``(B, W, S)`` -> ``(B, hidden, S)``: the encoder's last hidden map (the code)."""
        sequence = rearrange(self.target(x), "b w s -> b w 1 s")  # (B, W, 1, S)
        out, _ = self.encoder(sequence)  # (B, W, hidden, S)
        return out[:, -1]  # type: ignore[no-any-return]  # (B, hidden, S)

    def forward_head(self, features: Tensor, steps: int | None = None) -> Tensor:
        """``(B, hidden, S)`` -> ``(B, steps, S)`` reconstructed rows (``steps = W``)."""
        steps = self.window if steps is None else steps
        repeated = features.unsqueeze(1).expand(-1, steps, -1, -1)  # (B, W, hidden, S)
        out, _ = self.decoder(repeated)  # (B, W, hidden, S)
        rows = self.output(rearrange(out, "b w c s -> (b w) c s"))  # (B*W, 1, S)
        reconstruction: Tensor = rearrange(rows, "(b w) 1 s -> b w s", w=steps)  # (B, W, S)
        return reconstruction

    def forward(self, x: Tensor) -> Tensor:
        """``x: (B, W, S)`` -> ``(B, W, S)`` reconstruction of :meth:`target`."""
        return self.forward_head(self.forward_features(x), x.shape[1])

    def errors(self, x: Tensor) -> Tensor:
        """``(B, W, S)`` -> ``(B, S)``: each sensor's squared error averaged over the rows."""
        return ((self.forward(x) - self.target(x)) ** 2).mean(dim=1)  # (B, S)

    def loss(self, x: Tensor) -> Tensor:
        """Mean squared reconstruction error."""
        return ((self.forward(x) - self.target(x)) ** 2).mean()


@register_model("window_cnnlstm")
def window_cnnlstm(
    *,
    n_sensors: int = 8,
    window: int = 32,
    channels: Sequence[int] = (8, 8),
    kernel_time: int = 3,
    kernel_sensors: int = 9,
    hidden_size: int = 32,
    num_layers: int = 1,
) -> WindowCNNLSTM:
    """Causal CNN-LSTM next-row predictor for sensor streams (anomaly detection, streams O(1)).

    See :class:`WindowCNNLSTM`.
    """
    return WindowCNNLSTM(
        n_sensors=n_sensors,
        window=window,
        channels=channels,
        kernel_time=kernel_time,
        kernel_sensors=kernel_sensors,
        hidden_size=hidden_size,
        num_layers=num_layers,
    )


@register_model("convlstm_ae")
def convlstm_ae(
    *,
    n_sensors: int = 8,
    window: int = 32,
    hidden_channels: int = 8,
    kernel_size: int = 3,
    center: bool = True,
) -> ConvLSTMAutoencoder:
    """ConvLSTM1d autoencoder of windows of sensor rows for anomaly detection.

    See :class:`ConvLSTMAutoencoder`.
    """
    return ConvLSTMAutoencoder(
        n_sensors=n_sensors,
        window=window,
        hidden_channels=hidden_channels,
        kernel_size=kernel_size,
        center=center,
    )
