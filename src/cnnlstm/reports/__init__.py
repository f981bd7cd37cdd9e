"""Reports: plots and written summaries of runs (matplotlib loads only when a plot is drawn)."""

from __future__ import annotations

from cnnlstm.reports.anomaly import plot_detection, write_summary

__all__ = ["plot_detection", "write_summary"]
