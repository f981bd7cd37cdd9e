"""Windows of sensor files as a DataModule, split by time: :class:`SensorDataModule`."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from cnnlstm.data.loading import BaseDataModule, split_sizes
from cnnlstm.data.sensors import NanPolicy, SensorCSV, SensorWindows, StandardScaler
from cnnlstm.errors import DataError

__all__ = ["SensorDataModule"]


class SensorDataModule(BaseDataModule):
    """Windows of a sensor file, split by time, scaled with statistics of the training rows.

    The rows are cut in time order: the first ones train, the next ones validate, the last ones
    test; each window lies inside one part, so no window reaches across a boundary and the
    training loader shuffles training windows only. The :class:`StandardScaler` is fitted on the
    training rows alone. With ``train_path`` (a file of normal operation) training and
    validation rows come from that file and the whole of ``path`` is the test set.

    Args:
        path: the sensor file (the test file when ``train_path`` is given).
        train_path: a separate file to train and validate on.
        window: ``W``, rows per window.
        stride: rows between training window starts.
        eval_stride: rows between validation/test window starts; ``None`` uses ``stride``.
        val_split: fraction or count of (training file) rows for validation.
        test_split: fraction or count of rows for testing (ignored with ``train_path``).
        label_columns: label columns, never used as features.
        datetime_column: the datetime column, ``"auto"`` or ``None``.
        nan_policy: ``"fail"``, ``"ffill"`` or ``"interpolate"``.
        columns: the feature columns (default: all but time and labels).
        scale: standardise features with the training rows' mean and std.
        batch_size: windows per batch.
        num_workers: ``DataLoader`` worker processes.
        seed: fixes the shuffling of training windows.

    Example:
        >>> import tempfile
        >>> path = Path(tempfile.mkdtemp()) / "pump.csv"
        >>> rows = [f"{t};{np.sin(t / 5):.4f};{t % 7};{int(t > 150)}" for t in range(200)]
        >>> _ = path.write_text("\\n".join(["time;flow;level;anomaly", *rows]))
        >>> module = SensorDataModule(path, window=16, stride=4, batch_size=5)
        >>> module.setup()
        >>> module.row_splits
        {'train': (0, 140), 'val': (140, 160), 'test': (160, 200)}
        >>> next(iter(module.train_dataloader()))[0].shape
        torch.Size([5, 16, 2])
    """

    def __init__(
        self,
        path: str | Path,
        *,
        train_path: str | Path | None = None,
        window: int = 64,
        stride: int = 1,
        eval_stride: int | None = None,
        val_split: int | float = 0.1,
        test_split: int | float = 0.2,
        label_columns: Sequence[str] = ("anomaly", "changepoint"),
        datetime_column: str | None = "auto",
        nan_policy: NanPolicy = "fail",
        columns: list[str] | None = None,
        scale: bool = True,
        batch_size: int = 32,
        num_workers: int = 0,
        seed: int = 0,
    ) -> None:
        super().__init__(batch_size=batch_size, num_workers=num_workers, seed=seed)
        if window < 1:
            raise ValueError(f"window has to be a positive int, but got {window}")
        if stride < 1 or (eval_stride is not None and eval_stride < 1):
            raise ValueError(
                f"stride and eval_stride have to be positive ints, but got stride={stride}, "
                f"eval_stride={eval_stride}"
            )
        self.save_hyperparameters()
        self.path = Path(path)
        self.train_path = None if train_path is None else Path(train_path)
        self.window = window
        self.stride = stride
        self.eval_stride = eval_stride or stride
        self.val_split = val_split
        self.test_split = test_split
        self.options: dict[str, Any] = {
            "label_columns": tuple(label_columns),
            "datetime_column": datetime_column,
            "nan_policy": nan_policy,
            "columns": columns,
        }
        self.scale = scale
        self.scaler: StandardScaler | None = None
        self.row_splits: dict[str, tuple[int, int]] = {}

    def _read(self, path: Path) -> SensorCSV:
        return SensorCSV(path, window=self.window, stride=self.stride, **self.options)

    def setup(self, stage: str | None = None) -> None:
        if self.train_set is not None:
            return
        source = self._read(self.train_path or self.path)
        rows = len(source.features)
        test_share = 0 if self.train_path is not None else self.test_split
        n_train, n_val, _ = split_sizes(rows, self.val_split, test_share, what="rows")
        self.row_splits = {
            "train": (0, n_train),
            "val": (n_train, n_train + n_val),
            "test": (n_train + n_val, rows),
        }
        self.feature_names = source.feature_names
        self.num_features = len(source.feature_names)
        self.scaler = StandardScaler().fit(source.features[:n_train]) if self.scale else None

        def scaled(data: SensorCSV) -> np.ndarray:
            values = data.features if self.scaler is None else self.scaler.transform(data.features)
            return np.asarray(values, dtype=np.float32)

        values = scaled(source)
        where = str(source.path)

        def part(name: str, stride: int) -> SensorWindows:
            start, stop = self.row_splits[name]
            return SensorWindows(
                values,
                source.targets,
                window=self.window,
                stride=stride,
                start=start,
                stop=stop,
                source=f"{where} ({name} split)",
            )

        self.train_set = part("train", self.stride)
        self.val_set = part("val", self.eval_stride) if n_val else None
        if self.train_path is not None:
            test = self._read(self.path)
            if test.feature_names != source.feature_names:
                raise DataError(
                    f"{test.path}: its sensor columns {test.feature_names} differ from the "
                    f"training file's {source.feature_names}."
                )
            self.test_data = test
            self.test_set = SensorWindows(
                scaled(test),
                test.targets,
                window=self.window,
                stride=self.eval_stride,
                source=str(test.path),
            )
        else:
            self.test_data = source
            self.test_set = part("test", self.eval_stride) if rows > n_train + n_val else None
        self.source = source
