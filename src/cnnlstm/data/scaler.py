"""Per-feature standardisation fitted on training rows: :class:`StandardScaler`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from torch import Tensor

__all__ = ["StandardScaler"]


class StandardScaler:
    """Per-feature standardisation, ``(x - mean) / std``, fitted on training rows only.

    ``std`` is the population standard deviation; a constant feature gets ``std = 1`` so it maps
    to 0 instead of dividing by zero. Works on NumPy arrays and torch tensors ``(..., S)``.

    Example:
        >>> scaler = StandardScaler().fit(np.array([[1.0, 10.0], [3.0, 10.0]]))
        >>> scaler.transform(np.array([[2.0, 10.0], [5.0, 11.0]])).tolist()
        [[0.0, 0.0], [3.0, 1.0]]
        >>> scaler.transform(torch.zeros(4, 7, 2)).shape
        torch.Size([4, 7, 2])
    """

    def __init__(self) -> None:
        self.mean: np.ndarray | None = None
        self.std: np.ndarray | None = None

    @property
    def fitted(self) -> bool:
        return self.mean is not None and self.std is not None

    def fit(self, x: np.ndarray | Tensor) -> StandardScaler:
        """Learn the mean and std of each feature of ``x`` ``(N, S)``; returns ``self``."""
        values = np.asarray(x.detach().cpu().numpy() if isinstance(x, Tensor) else x, np.float64)
        if values.ndim != 2 or values.shape[0] == 0:
            raise ValueError(
                f"x has to be (N, S) rows with N >= 1, but got shape {tuple(values.shape)}"
            )
        if not np.isfinite(values).all():
            raise ValueError("x has to be finite to fit a scaler, but got NaN or inf values")
        self.mean = values.mean(axis=0)
        std = values.std(axis=0)
        self.std = np.where(std > 0, std, 1.0)
        return self

    def _params(self, width: int) -> tuple[np.ndarray, np.ndarray]:
        if self.mean is None or self.std is None:
            raise ValueError("StandardScaler has to be fitted first (call fit), but it is not")
        if width != self.mean.shape[0]:
            raise ValueError(
                f"x has to have {self.mean.shape[0]} features (the scaler was fitted on that "
                f"many), but got {width}"
            )
        return self.mean, self.std

    def transform(self, x: Any) -> Any:
        """``(x - mean) / std`` over the last axis; NumPy in, NumPy out; tensor in, tensor out."""
        mean, std = self._params(int(x.shape[-1]))
        if isinstance(x, Tensor):
            m = torch.as_tensor(mean, dtype=x.dtype, device=x.device)
            s = torch.as_tensor(std, dtype=x.dtype, device=x.device)
            return (x - m) / s
        return (np.asarray(x) - mean) / std

    def inverse_transform(self, x: Any) -> Any:
        """``x * std + mean``: back to the units of the file."""
        mean, std = self._params(int(x.shape[-1]))
        if isinstance(x, Tensor):
            m = torch.as_tensor(mean, dtype=x.dtype, device=x.device)
            s = torch.as_tensor(std, dtype=x.dtype, device=x.device)
            return x * s + m
        return np.asarray(x) * std + mean

    def state_dict(self) -> dict[str, Tensor]:
        """``{"mean": (S,), "std": (S,)}`` float64 tensors, to save with a model."""
        if self.mean is None or self.std is None:
            raise ValueError("StandardScaler has to be fitted first (call fit), but it is not")
        return {
            "mean": torch.from_numpy(self.mean.copy()),
            "std": torch.from_numpy(self.std.copy()),
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> StandardScaler:
        """Restore what :meth:`state_dict` saved; returns ``self``."""
        if set(state) != {"mean", "std"}:
            raise ValueError(f"state has to hold 'mean' and 'std', but got keys {sorted(state)}")
        self.mean = np.asarray(torch.as_tensor(state["mean"]).cpu().numpy(), np.float64)
        self.std = np.asarray(torch.as_tensor(state["std"]).cpu().numpy(), np.float64)
        return self

    def __repr__(self) -> str:
        size = "unfitted" if self.mean is None else f"features={self.mean.shape[0]}"
        return f"StandardScaler({size})"
