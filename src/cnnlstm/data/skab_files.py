"""Generated recordings as files in SKAB's layout, as the sensor-plant and pick-and-place
generators write them: ``;`` separated, ``datetime`` first as
``YYYY-MM-DD HH:MM:SS``, values with 6 significant digits, labels as ``0.0``/``1.0``
(:func:`write_skab_csv`); :class:`SkabWriter` gives a generator its ``write_csv`` and
``write_normal_csv``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from cnnlstm.extras import importing

if TYPE_CHECKING:  # pandas loads on first use: `import cnnlstm` stays fast
    import pandas as pd

__all__ = ["SkabWriter", "start_time", "write_skab_csv"]


def start_time(start: str) -> pd.Timestamp:
    """A generator's first time, from text like ``"2021-01-01 00:00:00"``.

    Raises:
        ValueError: text that is not a time.
    """
    with importing("generating sensor files (cnnlstm.data.skab_files)", "sensors"):
        import pandas as pd
    try:
        return pd.Timestamp(start)
    except ValueError:
        raise ValueError(
            f"start has to be a time like '2021-01-01 00:00:00', but got {start!r}"
        ) from None


def write_skab_csv(frame: pd.DataFrame, path: str | Path) -> None:
    """Write ``frame`` as SKAB writes its files: ``;`` separated, ``datetime`` first as
    ``YYYY-MM-DD HH:MM:SS``, sensor values with 6 significant digits, labels as ``0.0``/``1.0``.

    Args:
        frame: a frame from :meth:`SensorPlant.generate` or :meth:`SensorPlant.normal`.
        path: the file to write.
    """
    with importing("reading and writing sensor files (cnnlstm.data.skab_files)", "sensors"):
        import pandas as pd

    out = pd.DataFrame(index=frame.index)
    for column in frame.columns:
        values = frame[column]
        if column == "datetime":
            out[column] = pd.to_datetime(values).dt.strftime("%Y-%m-%d %H:%M:%S")
        elif column in ("anomaly", "changepoint"):
            out[column] = np.char.mod("%.1f", values.to_numpy(dtype=np.float64))
        else:
            out[column] = np.char.mod("%.6g", values.to_numpy(dtype=np.float64))
    out.to_csv(path, sep=";", index=False)


class SkabWriter:
    """``write_csv`` and ``write_normal_csv`` for a generator with ``generate(rows, anomalies=,
    index=)`` (a labelled recording) and ``normal(rows, index=)`` (an anomaly-free one)."""

    def generate(self, rows: int, *, anomalies: bool = True, index: int = 0) -> pd.DataFrame:
        """A labelled recording of ``rows`` rows (the generator's own)."""
        raise NotImplementedError

    def normal(self, rows: int, *, index: int = 0) -> pd.DataFrame:
        """An anomaly-free recording of ``rows`` rows (the generator's own)."""
        raise NotImplementedError

    def write_csv(
        self, path: str | Path, rows: int, *, anomalies: bool = True, index: int = 0
    ) -> pd.DataFrame:
        """Write :meth:`generate`'s recording to ``path`` in SKAB's layout and return it: the
        header ``datetime;<sensors>;anomaly;changepoint`` (:func:`write_skab_csv`)."""
        frame = self.generate(rows, anomalies=anomalies, index=index)
        write_skab_csv(frame, path)
        return frame

    def write_normal_csv(self, path: str | Path, rows: int, *, index: int = 0) -> pd.DataFrame:
        """Write :meth:`normal`'s recording to ``path`` as SKAB's ``anomaly-free.csv`` is
        written (no label columns) and return it."""
        frame = self.normal(rows, index=index)
        write_skab_csv(frame, path)
        return frame
