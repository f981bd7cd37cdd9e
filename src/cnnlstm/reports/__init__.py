"""Reports: plots and written summaries of runs (matplotlib loads only when a plot is drawn)."""

from __future__ import annotations

from cnnlstm.reports.anomaly import plot_detection, write_summary
from cnnlstm.reports.plots import plot_bridge_comparison

__all__ = ["plot_bridge_comparison", "plot_detection", "write_summary"]
