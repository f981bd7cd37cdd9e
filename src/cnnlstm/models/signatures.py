"""MSCRED (Zhang et al. 2019) for sensor streams: signature matrices and the ConvLSTM autoencoder
over them, registered as the ``mscred`` detector family (see :mod:`cnnlstm.models.detectors`)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from cnnlstm.errors import ShapeError
from cnnlstm.functional import format_shape
from cnnlstm.layers.convlstm import ConvLSTM
from cnnlstm.layers.time_distributed import TimeDistributed
from cnnlstm.models.detectors import check_rows
from cnnlstm.models.registry import check_ints, check_positive_int, register_model

__all__ = ["MSCRED", "mscred", "signature_matrices"]


def signature_matrices(
    x: Tensor, *, scales: Sequence[int], steps: int, gap: int, center: bool = False
) -> Tensor:
    """MSCRED's signature matrices: inner products of the sensors over the last ``w`` rows.

    For each of ``steps`` moments ``t`` (the window's last row and the ``steps - 1`` before it,
    ``gap`` rows apart) and each scale ``w``, ``M[t, w, i, j] = sum_k x[t-k, i] x[t-k, j] / w``
    over the ``w`` rows ending at ``t``. With ``center`` each sensor's mean over those ``w``
    rows is subtracted first, so ``M`` is the (biased) covariance: a slow drift of a sensor's
    level, common in plant data, then leaves the matrices alone.

    Args:
        x: ``(B, W, S)`` with ``W >= max(scales) + (steps - 1) * gap``.
        scales: the window lengths ``w``.
        steps: the moments in the sequence.
        gap: rows between moments.
        center: subtract each sensor's mean over the ``w`` rows (covariances).

    Returns:
        ``(B, steps, len(scales), S, S)``, oldest moment first.

    Example:
        >>> signature_matrices(torch.randn(2, 32, 8), scales=(5, 10), steps=3, gap=4).shape
        torch.Size([2, 3, 2, 8, 8])
    """
    need = max(scales) + (steps - 1) * gap
    if x.dim() != 3 or x.shape[1] < need:
        raise ShapeError(
            f"signature_matrices: expected rows (B, W, S) with W >= max(scales) + (steps - 1) * "
            f"gap = {need}, got shape {format_shape(x.shape)}. Pass longer windows or smaller "
            f"scales."
        ) from None
    rows = x.shape[1]
    moments = []
    for step in range(steps):
        end = rows - (steps - 1 - step) * gap
        per_scale = []
        for w in scales:
            rows_w = x[:, end - w : end]  # (B, w, S)
            if center:
                rows_w = rows_w - rows_w.mean(dim=1, keepdim=True)
            per_scale.append(torch.einsum("bki,bkj->bij", rows_w, rows_w) / w)
        moments.append(torch.stack(per_scale, dim=1))  # (B, n_scales, S, S)
    return torch.stack(moments, dim=1)  # (B, steps, n_scales, S, S)


class MSCRED(nn.Module):
    """A small MSCRED: signature matrices -> CNN per moment -> ConvLSTM -> decoder.

    Each window's rows become a sequence of ``steps`` images whose channels are the signature
    matrices at the ``scales`` (:func:`signature_matrices`). A CNN wrapped in
    :class:`~cnnlstm.layers.TimeDistributed` encodes each image, a ConvLSTM runs over the
    moments, and a convolutional decoder reconstructs the last moment's matrices from the last
    hidden state. The error of sensor ``i`` is the mean squared residual of row and column ``i``.

    Args:
        n_sensors: ``S``.
        window: ``W``, rows per window; has to be at least ``max(scales) + (steps - 1) * gap``.
        scales: signature window lengths in rows.
        steps: moments in the ConvLSTM's sequence.
        gap: rows between moments.
        channels: CNN and ConvLSTM channels.
        center: signature matrices of window-centred rows (covariances, see
            :func:`signature_matrices`): robust to slow level drift. False is the paper's
            inner products.

    Example:
        >>> model = MSCRED(n_sensors=8, window=32)
        >>> model(torch.randn(2, 32, 8)).shape
        torch.Size([2, 3, 8, 8])
    """

    causal = False

    def __init__(
        self,
        *,
        n_sensors: int = 8,
        window: int = 32,
        scales: Sequence[int] = (5, 10, 20),
        steps: int = 4,
        gap: int = 4,
        channels: int = 16,
        center: bool = True,
    ) -> None:
        super().__init__()
        who = "mscred"
        self.center = bool(center)
        self.n_sensors = check_positive_int(who, "n_sensors", n_sensors)
        self.window = check_positive_int(who, "window", window)
        self.scales = check_ints(who, "scales", scales)
        self.steps = check_positive_int(who, "steps", steps)
        self.gap = check_positive_int(who, "gap", gap)
        self.channels = check_positive_int(who, "channels", channels)
        need = max(self.scales) + (self.steps - 1) * self.gap
        if self.window < need:
            raise ValueError(
                f"mscred: window has to be at least max(scales) + (steps - 1) * gap = {need}, but "
                f"got {window}"
            )
        n_scales = len(self.scales)
        self.encoder = TimeDistributed(
            nn.Sequential(nn.Conv2d(n_scales, channels, 3, padding=1), nn.ReLU())
        )
        self.convlstm = ConvLSTM(channels, channels, 3)
        self.decoder = nn.Sequential(
            nn.Conv2d(channels, channels, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(channels, n_scales, 3, padding=1),
        )
        self.num_features = channels
        self.example_input_shape = (self.window, self.n_sensors)

    def signatures(self, x: Tensor) -> Tensor:
        """``(B, W, S)`` -> ``(B, steps, n_scales, S, S)`` signature matrices."""
        check_rows("MSCRED", x, self.n_sensors, self.window)
        return signature_matrices(
            x, scales=self.scales, steps=self.steps, gap=self.gap, center=self.center
        )

    def forward_features(self, x: Tensor) -> Tensor:
        """``(B, W, S)`` -> ``(B, channels, S, S)``: the ConvLSTM's last hidden map."""
        encoded = self.encoder(self.signatures(x))  # (B, steps, channels, S, S)
        out, _ = self.convlstm(encoded)  # (B, steps, channels, S, S)
        return out[:, -1]  # type: ignore[no-any-return]  # (B, channels, S, S)

    def forward_head(self, features: Tensor) -> Tensor:
        """``(B, channels, S, S)`` -> ``(B, n_scales, S, S)`` reconstructed last matrices."""
        return self.decoder(features)  # type: ignore[no-any-return]

    def forward(self, x: Tensor) -> Tensor:
        """``x: (B, W, S)`` -> ``(B, n_scales, S, S)``, the last moment's matrices rebuilt."""
        return self.forward_head(self.forward_features(x))

    def _residuals(self, x: Tensor) -> Tensor:
        target = self.signatures(x)[:, -1]  # (B, n_scales, S, S)
        return (self.forward(x) - target) ** 2

    def errors(self, x: Tensor) -> Tensor:
        """``(B, W, S)`` -> ``(B, S)``: mean squared residual of each sensor's row and column."""
        residual = self._residuals(x)  # (B, n_scales, S, S)
        return (residual.mean(dim=(1, 3)) + residual.mean(dim=(1, 2))) / 2  # (B, S)

    def loss(self, x: Tensor) -> Tensor:
        """Mean squared residual of the reconstructed signature matrices."""
        return self._residuals(x).mean()


@register_model("mscred")
def mscred(
    *,
    n_sensors: int = 8,
    window: int = 32,
    scales: Sequence[int] = (5, 10, 20),
    steps: int = 4,
    gap: int = 4,
    channels: int = 16,
    center: bool = True,
) -> MSCRED:
    """MSCRED-style signature-matrix ConvLSTM autoencoder for sensor anomaly detection.

    See :class:`MSCRED`.
    """
    return MSCRED(
        n_sensors=n_sensors,
        window=window,
        scales=scales,
        steps=steps,
        gap=gap,
        channels=channels,
        center=center,
    )
