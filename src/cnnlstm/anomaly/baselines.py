"""Two classic detectors to compare against: PCA's Hotelling T² and the largest per-sensor |z|.

Both are fitted on normal rows alone and take their threshold from those rows' scores, as
:class:`~cnnlstm.anomaly.detector.AnomalyDetector` does, so a table can put them beside it:

- :class:`PCABaseline`: the rows are standardised, the principal components that explain
  ``variance`` of the training variance are kept, and a row's score is its Hotelling T²,
  ``sum_k (z . v_k)^2 / lambda_k``: how far the row lies inside the normal subspace, in units of
  each component's spread. Good at slow faults that move several correlated sensors.
- :class:`ZScoreBaseline`: a row's score is its largest ``|x - mean| / sd`` over the sensors.
  Good at a spike or a step on one sensor; blind to a change in how sensors move together.

Scores are per row and use no other row, so a file scores the same whole or in parts.
:data:`BASELINES` names them as ``--model`` takes them (``pca``, ``zscore``).
"""

from __future__ import annotations

from typing import Any, TypeVar

import numpy as np

from cnnlstm.data.scaler import StandardScaler
from cnnlstm.errors import DataError

__all__ = ["BASELINES", "PCABaseline", "ZScoreBaseline"]

_B = TypeVar("_B", bound="_Baseline")


def _rows(x: Any, who: str, width: int | None = None) -> np.ndarray:
    rows = np.asarray(x, dtype=np.float64)
    if rows.ndim != 2 or rows.shape[0] == 0:
        raise ValueError(f"{who}: x has to be (N, S) rows, but got shape {tuple(rows.shape)}")
    if width is not None and rows.shape[1] != width:
        raise ValueError(
            f"{who}: x has to have {width} sensors (it was fitted on that many), but got "
            f"{rows.shape[1]}"
        )
    if not np.isfinite(rows).all():
        row, col = np.argwhere(~np.isfinite(rows))[0]
        raise DataError(
            f"{who}: row {row}, sensor {col} is {rows[row, col]}; fill or drop missing values first"
        )
    return rows


def _check_quantile(quantile: float) -> None:
    if not 0.0 < quantile < 1.0:
        raise ValueError(f"quantile has to be in (0, 1), but got {quantile}")


class _Baseline:
    """What both baselines share: a scaler, a threshold from the training scores, predict."""

    name = ""

    def __init__(self, quantile: float) -> None:
        _check_quantile(quantile)
        self.quantile = quantile
        self.scaler = StandardScaler()
        self.threshold_: float | None = None

    def _fit_scores(self, z: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _scores(self, z: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def fit(self: _B, x: Any) -> _B:
        """Fit on normal rows ``x: (N, S)`` and set ``threshold_``; returns ``self``."""
        rows = _rows(x, f"{type(self).__name__}.fit")
        z = self.scaler.fit(rows).transform(rows)
        self.threshold_ = float(np.quantile(self._fit_scores(z), self.quantile))
        return self

    def score(self, x: Any) -> np.ndarray:
        """Each row's score ``(N,)`` for ``x: (N, S)``; above ``threshold_`` is flagged."""
        if self.threshold_ is None or self.scaler.mean is None:
            raise ValueError(f"{type(self).__name__} has to be fitted first (call fit)")
        rows = _rows(x, f"{type(self).__name__}.score", self.scaler.mean.shape[0])
        return self._scores(self.scaler.transform(rows))

    def predict(self, x: Any) -> np.ndarray:
        """``(N,)`` 0/1 flags: 1 where a row's score is above ``threshold_``."""
        scores = self.score(x)
        assert self.threshold_ is not None  # score checked it
        return (scores > self.threshold_).astype(np.int64)


class PCABaseline(_Baseline):
    """Hotelling T² in the principal components that explain ``variance`` of normal rows.

    Args:
        variance: the share of the standardised training variance the kept components explain
            (the fewest components that reach it, at least one).
        quantile: the threshold is this quantile of the training rows' scores.

    Attributes:
        components_: ``(K, S)`` the kept principal directions.
        eigenvalues_: ``(K,)`` the training variance along each.
        threshold_: the score above which a row is flagged.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> mix = np.array([[1.0, 1.0, 0.0], [0.0, 0.1, 1.0], [0.0, 0.0, 0.1]])
        >>> normal = rng.normal(size=(500, 3)) @ mix
        >>> pca = PCABaseline().fit(normal)
        >>> pca.components_.shape, pca.score(normal[:4]).shape
        ((2, 3), (4,))
    """

    name = "pca"

    def __init__(self, *, variance: float = 0.95, quantile: float = 0.99) -> None:
        if not 0.0 < variance <= 1.0:
            raise ValueError(f"variance has to be in (0, 1], but got {variance}")
        super().__init__(quantile)
        self.variance = variance
        self.components_: np.ndarray | None = None
        self.eigenvalues_: np.ndarray | None = None

    def _fit_scores(self, z: np.ndarray) -> np.ndarray:
        # the covariance's eigenvectors: one (S, S) product and a symmetric eigensolver, several
        # times faster than an SVD of the (N, S) rows when the sensors are many
        values, vectors = np.linalg.eigh(z.T @ z / z.shape[0])
        order = np.argsort(values)[::-1]
        eigenvalues = np.maximum(values[order], 0.0)  # the variance along each direction
        share = np.cumsum(eigenvalues) / max(float(eigenvalues.sum()), np.finfo(float).tiny)
        keep = int(np.searchsorted(share, self.variance - 1e-12) + 1)
        keep = min(max(keep, 1), int((eigenvalues > 1e-12 * eigenvalues[0]).sum()) or 1)
        self.components_ = np.ascontiguousarray(vectors[:, order[:keep]].T)
        self.eigenvalues_ = eigenvalues[:keep]
        return self._scores(z)

    def _scores(self, z: np.ndarray) -> np.ndarray:
        assert self.components_ is not None and self.eigenvalues_ is not None
        projected = z @ self.components_.T  # (N, K)
        scores: np.ndarray = (projected**2 / self.eigenvalues_).sum(axis=1)
        return scores

    def sensor_terms(self, x: Any) -> np.ndarray:
        """``(N, S)``: each sensor's term of each row's T², ``z_s * sum_k v_ks p_k / l_k`` (``p_k``
        the row's projection on component ``k``, ``l_k`` its variance); a row's terms sum to its
        score. A term may be negative: a sensor that moves against the others lowers T².

        Example:
            >>> rng = np.random.default_rng(0)
            >>> pca = PCABaseline().fit(rng.normal(size=(300, 4)))
            >>> rows = rng.normal(size=(5, 4))
            >>> bool(np.allclose(pca.sensor_terms(rows).sum(axis=1), pca.score(rows)))
            True
        """
        if self.components_ is None or self.eigenvalues_ is None or self.scaler.mean is None:
            raise ValueError("PCABaseline has to be fitted first (call fit)")
        rows = _rows(x, "PCABaseline.sensor_terms", self.scaler.mean.shape[0])
        z = self.scaler.transform(rows)
        projected = z @ self.components_.T  # (N, K)
        terms: np.ndarray = z * ((projected / self.eigenvalues_) @ self.components_)  # (N, S)
        return terms

    def state_dict(self) -> dict[str, Any]:
        """Plain values and the scaler's tensors, for ``torch.save(..., weights_only=True)``."""
        if self.components_ is None or self.eigenvalues_ is None or self.threshold_ is None:
            raise ValueError("PCABaseline has to be fitted first (call fit)")
        return {
            "variance": self.variance,
            "quantile": self.quantile,
            "threshold": self.threshold_,
            "scaler": self.scaler.state_dict(),
            "components": self.components_.tolist(),
            "eigenvalues": self.eigenvalues_.tolist(),
        }

    @classmethod
    def from_state_dict(cls, state: dict[str, Any]) -> PCABaseline:
        """The fitted :class:`PCABaseline` that :meth:`state_dict` described."""
        pca = cls(variance=float(state["variance"]), quantile=float(state["quantile"]))
        pca.threshold_ = float(state["threshold"])
        pca.scaler = StandardScaler().load_state_dict(state["scaler"])
        pca.eigenvalues_ = np.asarray(state["eigenvalues"], dtype=np.float64)
        pca.components_ = np.asarray(state["components"], dtype=np.float64).reshape(
            len(pca.eigenvalues_), -1
        )
        return pca


class ZScoreBaseline(_Baseline):
    """The largest per-sensor ``|x - mean| / sd`` of a row, the sd from normal rows.

    Args:
        quantile: the threshold is this quantile of the training rows' scores.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> z = ZScoreBaseline().fit(rng.normal(size=(1000, 4)))
        >>> z.predict(np.array([[0.0, 0.0, 0.0, 0.0], [0.0, 9.0, 0.0, 0.0]])).tolist()
        [0, 1]
    """

    name = "zscore"

    def __init__(self, *, quantile: float = 0.995) -> None:
        super().__init__(quantile)

    def _fit_scores(self, z: np.ndarray) -> np.ndarray:
        return self._scores(z)

    def _scores(self, z: np.ndarray) -> np.ndarray:
        scores: np.ndarray = np.abs(z).max(axis=1)
        return scores


BASELINES: dict[str, type[PCABaseline] | type[ZScoreBaseline]] = {
    PCABaseline.name: PCABaseline,
    ZScoreBaseline.name: ZScoreBaseline,
}
"""The baselines by their ``name``: ``"pca"`` and ``"zscore"``; ``BASELINES[name]()`` makes one
with its default settings."""
